//! The `one_time_tokens` table, in both dialects side by side.

use serde::Deserialize;

use super::Purpose;
use crate::kernel::secrets::random_uuid;
use crate::kernel::sql::{Database, Sql, Statement, StoreError, Value};
use crate::kernel::{EmailAddress, UnixSeconds, UserId};

/// A stored one-time secret: its digest only, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub id: String,
    pub user_id: UserId,
    pub purpose: Purpose,
    pub digest: String,
    /// For an email change: the address that becomes the account's once confirmed.
    pub new_email: Option<String>,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub attempts: i64,
}

impl OneTimeToken {
    /// A fresh token of `purpose` for `user`, kept as `digest`, living `lifetime_seconds`.
    pub fn issue(purpose: Purpose, user: &UserId, digest: String, now: UnixSeconds, lifetime_seconds: i64) -> Self {
        Self {
            id: random_uuid(),
            user_id: user.clone(),
            purpose,
            digest,
            new_email: None,
            created_at: now,
            expires_at: now + lifetime_seconds,
            attempts: 0,
        }
    }
}

macro_rules! token_columns {
    (sqlite) => {
        "id, user_id, purpose, digest, new_email, created_at, expires_at, attempts"
    };
    (postgres) => {
        "id::text AS id, user_id::text AS user_id, purpose, digest, new_email, \
         extract(epoch FROM created_at)::bigint AS created_at, \
         extract(epoch FROM expires_at)::bigint AS expires_at, attempts::bigint AS attempts"
    };
}

/// Postgres serialises replacements per user and purpose (D1 runs a batch alone anyway).
const LOCK: Sql = Sql::new(
    "",
    "SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtext(?1 || ':' || ?2))",
);
/// Drops the user's unused tokens of the purpose, unless one is newer than the cooldown.
const DELETE_UNUSED: Sql = Sql::new(
    "DELETE FROM one_time_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = ?1 AND purpose = ?2 \
                     AND used_at IS NULL AND created_at > ?3)",
    "DELETE FROM one_time_tokens WHERE user_id = ?1::text::uuid AND purpose = ?2 AND used_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = ?1::text::uuid AND purpose = ?2 \
                     AND used_at IS NULL AND created_at > to_timestamp(?3))",
);
const INSERT_UNLESS_COOLING: Sql = Sql::new(
    "INSERT INTO one_time_tokens (id, user_id, purpose, digest, new_email, created_at, expires_at, attempts) \
     SELECT ?4, ?1, ?2, ?5, ?6, ?7, ?8, 0 WHERE NOT EXISTS (SELECT 1 FROM one_time_tokens \
     WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL AND created_at > ?3) RETURNING id",
    "INSERT INTO one_time_tokens (id, user_id, purpose, digest, new_email, created_at, expires_at, attempts) \
     SELECT ?4::text::uuid, ?1::text::uuid, ?2, ?5, ?6, to_timestamp(?7), to_timestamp(?8), 0 \
     WHERE NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = ?1::text::uuid AND purpose = ?2 \
     AND used_at IS NULL AND created_at > to_timestamp(?3)) RETURNING id::text AS id",
);
/// One statement: of two concurrent consumers only one sees `used_at IS NULL`.
const CONSUME: Sql = Sql::new(
    concat!(
        "UPDATE one_time_tokens SET used_at = ?3 WHERE digest = ?1 AND purpose = ?2 AND used_at IS NULL \
         AND expires_at > ?3 AND attempts < ?4 RETURNING ",
        token_columns!(sqlite)
    ),
    concat!(
        "UPDATE one_time_tokens SET used_at = to_timestamp(?3) WHERE digest = ?1 AND purpose = ?2 \
         AND used_at IS NULL AND expires_at > to_timestamp(?3) AND attempts < ?4::bigint RETURNING ",
        token_columns!(postgres)
    ),
);
const RECORD_FAILURE: Sql = Sql::new(
    "UPDATE one_time_tokens SET attempts = attempts + 1 \
     WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3",
    "UPDATE one_time_tokens SET attempts = attempts + 1 \
     WHERE user_id = ?1::text::uuid AND purpose = ?2 AND used_at IS NULL AND expires_at > to_timestamp(?3)",
);
const LIVE_BY_NEW_EMAIL: Sql = Sql::new(
    concat!(
        "SELECT ",
        token_columns!(sqlite),
        " FROM one_time_tokens WHERE new_email = ?1 AND purpose = ?2 AND used_at IS NULL \
         AND expires_at > ?3 ORDER BY created_at DESC LIMIT 1"
    ),
    concat!(
        "SELECT ",
        token_columns!(postgres),
        " FROM one_time_tokens WHERE new_email = ?1 AND purpose = ?2 AND used_at IS NULL \
         AND expires_at > to_timestamp(?3) ORDER BY created_at DESC LIMIT 1"
    ),
);

#[derive(Deserialize)]
struct TokenRow {
    id: String,
    user_id: String,
    purpose: String,
    digest: String,
    new_email: Option<String>,
    created_at: i64,
    expires_at: i64,
    attempts: i64,
}

impl TokenRow {
    /// The token, if it has the purpose it was looked up for.
    fn into_token(self, purpose: Purpose) -> Option<OneTimeToken> {
        (self.purpose == purpose.0).then_some(OneTimeToken {
            id: self.id,
            user_id: UserId(self.user_id),
            purpose,
            digest: self.digest,
            new_email: self.new_email,
            created_at: self.created_at,
            expires_at: self.expires_at,
            attempts: self.attempts,
        })
    }
}

/// The one-time tokens table, reached through whichever database the request has.
pub struct OneTimeTokens<'a>(pub &'a dyn Database);

impl OneTimeTokens<'_> {
    /// Stores `token` and invalidates every other unused token of its user and purpose,
    /// in one transaction — unless an unused token of that user and purpose was created
    /// after `cooldown_since`; then nothing changes and it answers `false`.
    pub async fn replace(&self, token: &OneTimeToken, cooldown_since: Option<UnixSeconds>) -> Result<bool, StoreError> {
        let owner = || -> Vec<Value> {
            vec![
                token.user_id.0.as_str().into(),
                token.purpose.0.into(),
                cooldown_since.into(),
            ]
        };
        let mut insert = owner();
        insert.extend([
            token.id.as_str().into(),
            token.digest.as_str().into(),
            token.new_email.as_deref().into(),
            token.created_at.into(),
            token.expires_at.into(),
        ]);
        let results = self
            .0
            .batch(&[
                Statement::new(LOCK, owner()[..2].to_vec()),
                Statement::new(DELETE_UNUSED, owner()),
                Statement::new(INSERT_UNLESS_COOLING, insert),
            ])
            .await?;
        Ok(results.get(2).is_some_and(|inserted| !inserted.rows.is_empty()))
    }

    /// Atomically marks the live token with this digest used and returns it. A token is
    /// live while unused, unexpired and tried fewer than `max_attempts` times wrongly.
    /// Of two concurrent calls at most one gets `Some`.
    pub async fn consume(
        &self,
        purpose: Purpose,
        digest: &str,
        now: UnixSeconds,
        max_attempts: i64,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let params = [digest.into(), purpose.0.into(), now.into(), max_attempts.into()];
        let row: Option<TokenRow> = self.0.first(&CONSUME, &params).await?;
        Ok(row.and_then(|r| r.into_token(purpose)))
    }

    /// Counts one wrong guess against the user's live tokens of `purpose`.
    pub async fn record_failed_attempt(
        &self,
        user: &UserId,
        purpose: Purpose,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let params = [user.0.as_str().into(), purpose.0.into(), now.into()];
        self.0.execute(&RECORD_FAILURE, &params).await.map(drop)
    }

    /// The newest live token of `purpose` whose new address is `email`, if any.
    pub async fn live_by_new_email(
        &self,
        purpose: Purpose,
        email: &EmailAddress,
        now: UnixSeconds,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let params = [email.as_str().into(), purpose.0.into(), now.into()];
        let row: Option<TokenRow> = self.0.first(&LIVE_BY_NEW_EMAIL, &params).await?;
        Ok(row.and_then(|r| r.into_token(purpose)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::users::testing::insert_user;
    use crate::kernel::testing::SqliteDatabase;

    const CODE: Purpose = Purpose("verify_email");
    const OTHER: Purpose = Purpose("reset_password");

    fn token(id: &str, digest: &str, created_at: i64) -> OneTimeToken {
        OneTimeToken {
            id: id.into(),
            user_id: UserId("u1".into()),
            purpose: CODE,
            digest: digest.into(),
            new_email: None,
            created_at,
            expires_at: created_at + 900,
            attempts: 0,
        }
    }

    fn database() -> SqliteDatabase {
        let db = SqliteDatabase::default();
        insert_user(&db, "u1", "ada@example.com", false);
        db
    }

    #[test]
    fn a_replacement_kills_the_old_token_unless_it_is_cooling_down() {
        let db = database();
        let tokens = OneTimeTokens(&db);
        pollster::block_on(async {
            assert!(tokens.replace(&token("t1", "d1", 100), None).await.unwrap());
            assert!(
                !tokens.replace(&token("t2", "d2", 130), Some(130 - 60)).await.unwrap(),
                "within the cooldown"
            );
            assert!(tokens.replace(&token("t3", "d3", 200), Some(200 - 60)).await.unwrap());
            assert!(tokens.consume(CODE, "d1", 210, 5).await.unwrap().is_none(), "replaced");
            assert!(
                tokens.consume(CODE, "d2", 210, 5).await.unwrap().is_none(),
                "never stored"
            );
            assert_eq!(tokens.consume(CODE, "d3", 210, 5).await.unwrap().unwrap().id, "t3");
        });
    }

    #[test]
    fn a_token_is_consumed_once_within_its_life_and_tries() {
        let db = database();
        let tokens = OneTimeTokens(&db);
        pollster::block_on(async {
            tokens.replace(&token("t1", "d1", 100), None).await.unwrap();
            assert!(
                tokens.consume(OTHER, "d1", 110, 5).await.unwrap().is_none(),
                "another purpose"
            );
            assert!(
                tokens.consume(CODE, "d1", 100 + 900, 5).await.unwrap().is_none(),
                "expired"
            );
            for _ in 0..5 {
                tokens
                    .record_failed_attempt(&UserId("u1".into()), CODE, 110)
                    .await
                    .unwrap();
            }
            assert!(
                tokens.consume(CODE, "d1", 110, 5).await.unwrap().is_none(),
                "five wrong tries"
            );
            assert!(tokens.consume(CODE, "d1", 110, 6).await.unwrap().is_some());
            assert!(tokens.consume(CODE, "d1", 110, 6).await.unwrap().is_none(), "used");
        });
    }

    #[test]
    fn a_pending_address_finds_the_newest_live_token() {
        let db = database();
        let tokens = OneTimeTokens(&db);
        let mut change = token("t1", "d1", 100);
        change.new_email = Some("new@example.com".into());
        let new_email = EmailAddress::parse("new@example.com").unwrap();
        pollster::block_on(async {
            tokens.replace(&change, None).await.unwrap();
            let found = tokens.live_by_new_email(CODE, &new_email, 110).await.unwrap();
            assert_eq!(found.map(|t| t.id), Some("t1".into()));
            assert!(tokens
                .live_by_new_email(CODE, &new_email, 1000)
                .await
                .unwrap()
                .is_none());
        });
    }
}
