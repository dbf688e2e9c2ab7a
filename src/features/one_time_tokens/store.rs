//! The `one_time_tokens` table, in both dialects side by side.
//!
//! Issuing a token is three statements for the caller's batch (a Postgres advisory lock,
//! superseding the owner's unused tokens of the purpose, inserting the new one unless one
//! is cooling down), so it commits with whatever else the flow writes, and it runs the
//! same statements whether or not the address has an account. A code is guessed with one
//! atomic statement (`attempt`), a link token consumed with one (`consume`).

use super::Purpose;
use crate::kernel::fields::from_fields;
use crate::kernel::sql::{Database, Rows, Sql, Statement, StoreError, Value};
use crate::kernel::{SessionId, UnixSeconds, UserId};

/// A stored one-time secret: its digest only, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub id: String,
    pub user_id: UserId,
    pub purpose: Purpose,
    pub digest: String,
    /// The address the secret was mailed to (for an email change, the new address).
    pub sent_to: Option<String>,
    /// The session that asked for it (an email change keeps it when confirmed).
    pub session_id: Option<String>,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub attempts: i64,
}

/// Whose token it is, for issuing: the owner's unused tokens of the purpose are superseded,
/// and a cooldown is counted per owner.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// The account whose address is `sent_to` — only if unverified when `unverified_only`.
    /// No account, no token (and the same statements ran).
    AccountAt { unverified_only: bool },
    /// This user, for an address that must not belong to any account (an email change),
    /// asked from this session.
    UserMovingTo(&'a UserId, &'a SessionId),
}

/// A token to issue: its digest (already bound to purpose, subject and secret).
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub id: &'a str,
    pub purpose: Purpose,
    pub owner: Owner<'a>,
    pub sent_to: &'a str,
    pub digest: String,
    pub now: UnixSeconds,
    pub lifetime_seconds: i64,
    /// With a cooldown, nothing is issued while an unused token of the owner and purpose
    /// created after this instant exists (the one already mailed stays valid).
    pub cooldown_since: Option<UnixSeconds>,
}

macro_rules! token_columns {
    (sqlite) => {
        "id, user_id, purpose, digest, sent_to, session_id, created_at, expires_at, attempts"
    };
    (postgres) => {
        "id::text AS id, user_id::text AS user_id, purpose, digest, sent_to, session_id::text AS session_id, \
         extract(epoch FROM created_at)::bigint AS created_at, \
         extract(epoch FROM expires_at)::bigint AS expires_at, attempts::bigint AS attempts"
    };
}

/// Postgres serialises issuing per owner and purpose (a D1 batch runs alone anyway).
const LOCK: Sql = Sql::new(
    "",
    "SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtext(?1 || ':' || ?2))",
);

/// Marks the owner's unused tokens of the purpose used, unless one is cooling down:
/// `?1` owner (address or user id), `?2` purpose, `?3` cooldown start or null, `?4` now.
const SUPERSEDE_AT_ADDRESS: Sql = Sql::new(
    "UPDATE one_time_tokens SET used_at = ?4 WHERE purpose = ?2 AND used_at IS NULL \
     AND user_id IN (SELECT id FROM users WHERE email = ?1) \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE purpose = ?2 AND used_at IS NULL AND created_at > ?3 \
                     AND user_id IN (SELECT id FROM users WHERE email = ?1))",
    "UPDATE one_time_tokens SET used_at = to_timestamp(?4) WHERE purpose = ?2 AND used_at IS NULL \
     AND user_id IN (SELECT id FROM users WHERE email = ?1) \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE purpose = ?2 AND used_at IS NULL \
                     AND created_at > to_timestamp(?3) AND user_id IN (SELECT id FROM users WHERE email = ?1))",
);
const SUPERSEDE_OF_USER: Sql = Sql::new(
    "UPDATE one_time_tokens SET used_at = ?4 WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL \
                     AND created_at > ?3)",
    "UPDATE one_time_tokens SET used_at = to_timestamp(?4) WHERE user_id = ?1::text::uuid AND purpose = ?2 \
     AND used_at IS NULL AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = ?1::text::uuid \
     AND purpose = ?2 AND used_at IS NULL AND created_at > to_timestamp(?3))",
);

/// `?1` id, `?2` purpose, `?3` cooldown start or null, `?4` created, `?5` expires, `?6`
/// digest, `?7` address, `?8` 1 when only an unverified account may get it.
const INSERT_AT_ADDRESS: Sql = Sql::new(
    "INSERT INTO one_time_tokens (id, user_id, purpose, digest, sent_to, new_email, created_at, expires_at, attempts) \
     SELECT ?1, u.id, ?2, ?6, ?7, NULL, ?4, ?5, 0 FROM users u WHERE u.email = ?7 AND (?8 = 0 OR u.email_verified = 0) \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens t WHERE t.user_id = u.id AND t.purpose = ?2 \
                     AND t.used_at IS NULL AND t.created_at > ?3) RETURNING id",
    "INSERT INTO one_time_tokens (id, user_id, purpose, digest, sent_to, new_email, created_at, expires_at, attempts) \
     SELECT ?1::text::uuid, u.id, ?2, ?6, ?7, NULL, to_timestamp(?4), to_timestamp(?5), 0 FROM users u \
     WHERE u.email = ?7 AND (?8 = 0 OR NOT u.email_verified) \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens t WHERE t.user_id = u.id AND t.purpose = ?2 \
                     AND t.used_at IS NULL AND t.created_at > to_timestamp(?3)) RETURNING id::text AS id",
);
/// `?1` id, `?2` purpose, `?3` cooldown start or null, `?4` created, `?5` expires, `?6`
/// digest, `?7` the new address, `?8` the user, `?9` the session asking.
const INSERT_FOR_MOVE: Sql = Sql::new(
    "INSERT INTO one_time_tokens (id, user_id, purpose, digest, sent_to, new_email, session_id, created_at, expires_at, attempts) \
     SELECT ?1, ?8, ?2, ?6, ?7, ?7, ?9, ?4, ?5, 0 WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = ?7) \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = ?8 AND purpose = ?2 AND used_at IS NULL \
                     AND created_at > ?3) RETURNING id",
    "INSERT INTO one_time_tokens (id, user_id, purpose, digest, sent_to, new_email, session_id, created_at, expires_at, attempts) \
     SELECT ?1::text::uuid, ?8::text::uuid, ?2, ?6, ?7, ?7, ?9::text::uuid, to_timestamp(?4), to_timestamp(?5), 0 \
     WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = ?7) \
     AND NOT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = ?8::text::uuid AND purpose = ?2 \
                     AND used_at IS NULL AND created_at > to_timestamp(?3)) RETURNING id::text AS id",
);

/// One guess: every live token of the two purposes mailed to `?1` counts a try, and the one
/// whose digest is `?5` (first purpose `?3`) or `?6` (second purpose `?4`) is consumed —
/// in one statement, so a burst of parallel guesses is counted as it arrives. A token is
/// live while unused, unexpired (`?2` now), tried fewer than `?7` times, and its address
/// has had fewer than `?9` tries since `?8` (the daily cap across re-issued codes).
const ATTEMPT: Sql = Sql::new(
    concat!(
        "UPDATE one_time_tokens SET attempts = attempts + 1, \
         used_at = CASE WHEN (purpose = ?3 AND digest = ?5) OR (purpose = ?4 AND digest = ?6) THEN ?2 ELSE NULL END \
         WHERE sent_to = ?1 AND purpose IN (?3, ?4) AND used_at IS NULL AND expires_at > ?2 AND attempts < ?7 \
         AND (SELECT coalesce(sum(attempts), 0) FROM one_time_tokens WHERE sent_to = ?1 AND created_at > ?8) < ?9 \
         RETURNING ",
        token_columns!(sqlite),
        ", used_at IS NOT NULL AS consumed"
    ),
    concat!(
        "UPDATE one_time_tokens SET attempts = attempts + 1, used_at = CASE WHEN (purpose = ?3 AND digest = ?5) \
         OR (purpose = ?4 AND digest = ?6) THEN to_timestamp(?2) ELSE NULL END \
         WHERE sent_to = ?1 AND purpose IN (?3, ?4) AND used_at IS NULL AND expires_at > to_timestamp(?2) \
         AND attempts < ?7::bigint AND (SELECT coalesce(sum(attempts), 0) FROM one_time_tokens \
         WHERE sent_to = ?1 AND created_at > to_timestamp(?8)) < ?9::bigint RETURNING ",
        token_columns!(postgres),
        ", used_at IS NOT NULL AS consumed"
    ),
);
/// Consumes the live token with digest `?1` of purpose `?2` for the request `?4`.
const CONSUME: Sql = Sql::new(
    "UPDATE one_time_tokens SET used_at = ?3, consumed_by = ?4 \
     WHERE digest = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 RETURNING user_id",
    "UPDATE one_time_tokens SET used_at = to_timestamp(?3), consumed_by = ?4 \
     WHERE digest = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > to_timestamp(?3) \
     RETURNING user_id::text AS user_id",
);
/// Ends every unused token of user `?1` (`?2` now): what a password or address change ends.
const END_ALL_OF_USER: Sql = Sql::new(
    "UPDATE one_time_tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
    "UPDATE one_time_tokens SET used_at = to_timestamp(?2) WHERE user_id = ?1::text::uuid AND used_at IS NULL",
);

/// The user whose token the request `?N` consumed, as a subquery for the statements that
/// follow a `consume` in the same batch (the placeholder number is the caller's).
#[macro_export]
macro_rules! consumed_by {
    ($n:literal) => {
        concat!("(SELECT user_id FROM one_time_tokens WHERE consumed_by = ?", $n, ")")
    };
}

struct TokenRow {
    id: String,
    user_id: String,
    purpose: String,
    digest: String,
    sent_to: Option<String>,
    session_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    attempts: i64,
    consumed: bool,
}
from_fields!(TokenRow { id, user_id, purpose, digest, sent_to, session_id, created_at, expires_at, attempts; default: consumed });

impl TokenRow {
    /// The token, if it has one of the purposes it was looked up for.
    fn into_token(self, purposes: &[Purpose]) -> Option<OneTimeToken> {
        let purpose = purposes.iter().find(|p| p.0 == self.purpose).copied()?;
        Some(OneTimeToken {
            id: self.id,
            user_id: UserId(self.user_id),
            purpose,
            digest: self.digest,
            sent_to: self.sent_to,
            session_id: self.session_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            attempts: self.attempts,
        })
    }
}

/// The statements that issue `issue`, for the caller's batch; `issued` reads the answer.
pub fn issue(issue: &Issue<'_>) -> [Statement; 3] {
    let (scope, supersede, insert, owner) = match issue.owner {
        Owner::AccountAt { unverified_only } => (
            issue.sent_to.to_owned(),
            SUPERSEDE_AT_ADDRESS,
            INSERT_AT_ADDRESS,
            vec![Value::Int(i64::from(unverified_only))],
        ),
        Owner::UserMovingTo(user, session) => (
            user.0.clone(),
            SUPERSEDE_OF_USER,
            INSERT_FOR_MOVE,
            vec![user.0.as_str().into(), session.0.as_str().into()],
        ),
    };
    let mut inserted = vec![
        issue.id.into(),
        issue.purpose.0.into(),
        issue.cooldown_since.into(),
        issue.now.into(),
        (issue.now + issue.lifetime_seconds).into(),
        issue.digest.as_str().into(),
        issue.sent_to.into(),
    ];
    inserted.extend(owner);
    [
        Statement::new(LOCK, vec![scope.as_str().into(), issue.purpose.0.into()]),
        Statement::new(
            supersede,
            vec![
                scope.as_str().into(),
                issue.purpose.0.into(),
                issue.cooldown_since.into(),
                issue.now.into(),
            ],
        ),
        Statement::new(insert, inserted),
    ]
}

/// Whether the three statements of `issue`, answered at `results[at..at + 3]`, stored a token.
pub fn issued(results: &[Rows], at: usize) -> bool {
    results.get(at + 2).is_some_and(|inserted| !inserted.rows.is_empty())
}

/// Consuming a link token for the request `nonce`, for a batch whose later statements use
/// `consumed_by!` to act on its user.
pub fn consume(purpose: Purpose, digest: &str, now: UnixSeconds, nonce: &str) -> Statement {
    Statement::new(CONSUME, vec![digest.into(), purpose.0.into(), now.into(), nonce.into()])
}

/// Ending every unused token of `user`, for a batch.
pub fn end_all_of_user(user: &UserId, now: UnixSeconds) -> Statement {
    Statement::new(END_ALL_OF_USER, vec![user.0.as_str().into(), now.into()])
}

/// One guess at a code: what `ATTEMPT` needs.
#[derive(Debug, Clone)]
pub struct Guess<'a> {
    pub sent_to: &'a str,
    /// Each purpose a code for this address may have, with the digest the guess has under it.
    pub candidates: [(Purpose, String); 2],
    pub now: UnixSeconds,
    pub max_attempts: i64,
    pub daily_cap: i64,
}

/// The one-time tokens table, reached through whichever database the request has.
pub struct OneTimeTokens<'a>(pub &'a dyn Database);

impl OneTimeTokens<'_> {
    /// Stores a token on its own (its three statements as one batch); answers whether it was.
    pub async fn issue(&self, token: &Issue<'_>) -> Result<bool, StoreError> {
        let results = self.0.batch(&issue(token)).await?;
        Ok(issued(&results, 0))
    }

    /// Counts the guess against every live code mailed to the address and consumes the one
    /// it matches, atomically; the consumed token, if any.
    pub async fn attempt(&self, guess: &Guess<'_>) -> Result<Option<OneTimeToken>, StoreError> {
        let [(first, first_digest), (second, second_digest)] = &guess.candidates;
        let params = [
            guess.sent_to.into(),
            guess.now.into(),
            first.0.into(),
            second.0.into(),
            first_digest.as_str().into(),
            second_digest.as_str().into(),
            guess.max_attempts.into(),
            (guess.now - SECONDS_PER_DAY).into(),
            guess.daily_cap.into(),
        ];
        let rows: Vec<TokenRow> = self.0.all(&ATTEMPT, &params).await?;
        Ok(rows
            .into_iter()
            .find(|row| row.consumed)
            .and_then(|row| row.into_token(&[*first, *second])))
    }
}

/// The window of the daily cap on tries per address.
const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::users::testing::insert_user;
    use crate::kernel::testing::SqliteDatabase;

    const CODE: Purpose = Purpose("verify_email");
    const OTHER: Purpose = Purpose("change_email");
    const ADDRESS: &str = "ada@example.com";

    fn code(id: &str, digest: &str, now: i64, cooldown_since: Option<i64>) -> Issue<'static> {
        Issue {
            id: Box::leak(id.to_owned().into_boxed_str()),
            purpose: CODE,
            owner: Owner::AccountAt { unverified_only: true },
            sent_to: ADDRESS,
            digest: digest.into(),
            now,
            lifetime_seconds: 900,
            cooldown_since,
        }
    }

    fn guess(digest: &str, now: i64) -> Guess<'static> {
        Guess {
            sent_to: ADDRESS,
            candidates: [(CODE, digest.into()), (OTHER, "never".into())],
            now,
            max_attempts: 5,
            daily_cap: 20,
        }
    }

    fn database(verified: bool) -> SqliteDatabase {
        let db = SqliteDatabase::default();
        insert_user(&db, "u1", ADDRESS, verified);
        db
    }

    #[test]
    fn a_new_code_supersedes_the_old_one_unless_it_is_cooling_down() {
        let db = database(false);
        let tokens = OneTimeTokens(&db);
        pollster::block_on(async {
            assert!(tokens.issue(&code("t1", "d1", 100, None)).await.unwrap());
            assert!(
                !tokens.issue(&code("t2", "d2", 130, Some(70))).await.unwrap(),
                "cooling down"
            );
            assert!(tokens.issue(&code("t3", "d3", 200, Some(140))).await.unwrap());
            assert!(tokens.attempt(&guess("d1", 210)).await.unwrap().is_none(), "superseded");
            assert!(
                tokens.attempt(&guess("d2", 210)).await.unwrap().is_none(),
                "never stored"
            );
            assert_eq!(tokens.attempt(&guess("d3", 210)).await.unwrap().unwrap().id, "t3");
        });
    }

    #[test]
    fn an_address_without_an_unverified_account_gets_no_code() {
        for (db, why) in [(database(true), "verified"), (SqliteDatabase::default(), "no account")] {
            let stored = pollster::block_on(OneTimeTokens(&db).issue(&code("t1", "d1", 100, None))).unwrap();
            assert!(!stored, "{why}");
        }
    }

    #[test]
    fn a_code_dies_after_five_tries_counting_the_right_one() {
        let db = database(false);
        let tokens = OneTimeTokens(&db);
        pollster::block_on(async {
            tokens.issue(&code("t1", "d1", 100, None)).await.unwrap();
            for _ in 0..5 {
                assert!(tokens.attempt(&guess("wrong", 110)).await.unwrap().is_none());
            }
            assert!(
                tokens.attempt(&guess("d1", 110)).await.unwrap().is_none(),
                "dead after five"
            );
            tokens.issue(&code("t2", "d2", 200, None)).await.unwrap();
            for _ in 0..4 {
                tokens.attempt(&guess("wrong", 210)).await.unwrap();
            }
            assert!(
                tokens.attempt(&guess("d2", 210)).await.unwrap().is_some(),
                "the fifth try may be right"
            );
            assert!(tokens.attempt(&guess("d2", 210)).await.unwrap().is_none(), "used");
        });
    }

    #[test]
    fn an_expired_code_or_another_purpose_never_matches() {
        let db = database(false);
        let tokens = OneTimeTokens(&db);
        pollster::block_on(async {
            tokens.issue(&code("t1", "d1", 100, None)).await.unwrap();
            let mut elsewhere = guess("d1", 110);
            elsewhere.candidates = [(OTHER, "d1".into()), (OTHER, "d1".into())];
            assert!(tokens.attempt(&elsewhere).await.unwrap().is_none(), "another purpose");
            assert!(
                tokens.attempt(&guess("d1", 100 + 900)).await.unwrap().is_none(),
                "expired"
            );
        });
    }

    #[test]
    fn tries_per_address_are_capped_per_day_across_reissued_codes() {
        let db = database(false);
        let tokens = OneTimeTokens(&db);
        pollster::block_on(async {
            for round in 0..4 {
                let now = 1000 + round * 100;
                tokens
                    .issue(&code(&format!("t{round}"), &format!("d{round}"), now, None))
                    .await
                    .unwrap();
                for _ in 0..5 {
                    tokens.attempt(&guess("wrong", now + 1)).await.unwrap();
                }
            }
            tokens.issue(&code("t9", "d9", 2000, None)).await.unwrap();
            assert!(
                tokens.attempt(&guess("d9", 2001)).await.unwrap().is_none(),
                "20 tries today"
            );
            let tomorrow = 1300 + SECONDS_PER_DAY + 1;
            tokens.issue(&code("t10", "d10", tomorrow, None)).await.unwrap();
            assert!(
                tokens.attempt(&guess("d10", tomorrow + 1)).await.unwrap().is_some(),
                "a new day"
            );
        });
    }

    #[test]
    fn a_link_token_is_consumed_once_and_names_its_consumer() {
        let db = database(true);
        let tokens = OneTimeTokens(&db);
        let reset = Issue {
            purpose: OTHER,
            owner: Owner::AccountAt { unverified_only: false },
            ..code("t1", "link", 100, None)
        };
        pollster::block_on(async {
            assert!(tokens.issue(&reset).await.unwrap());
            let first = db.batch(&[consume(OTHER, "link", 110, "req-1")]).await.unwrap();
            assert_eq!(first[0].rows.len(), 1);
            let again = db.batch(&[consume(OTHER, "link", 111, "req-2")]).await.unwrap();
            assert!(again[0].rows.is_empty(), "used");
            let who = crate::kernel::sql::Sql::new(concat!("SELECT ", consumed_by!("1"), " AS user_id"), "");
            let row: Option<serde_json::Map<String, serde_json::Value>> =
                (&db as &dyn Database).first(&who, &["req-1".into()]).await.unwrap();
            assert_eq!(row.unwrap()["user_id"], "u1");
        });
    }
}
