//! The `users` table: its statements in both dialects, side by side, and the code that
//! runs them. Postgres keeps ids as `uuid` and instants as `timestamptz`; the domain sees
//! text ids and Unix seconds either way.

use super::model::User;
use crate::kernel::fields::from_fields;
use crate::kernel::sql::{Database, DbError, Rows, Sql, Statement, StoreError, Value};
use crate::kernel::{EmailAddress, UnixSeconds, UserId};

/// The columns of a `User`, for tables joined under the alias `$t` (`users` when alone).
#[macro_export]
macro_rules! user_columns {
    (sqlite, $t:literal) => {
        concat!(
            $t,
            ".id, ",
            $t,
            ".email, ",
            $t,
            ".full_name, ",
            $t,
            ".password_hash, ",
            $t,
            ".email_verified, ",
            $t,
            ".created_at, ",
            $t,
            ".updated_at, ",
            $t,
            ".mfa_enabled, ",
            $t,
            ".passkey_count, ",
            $t,
            ".identity_providers"
        )
    };
    (postgres, $t:literal) => {
        concat!(
            $t,
            ".id::text AS id, ",
            $t,
            ".email, ",
            $t,
            ".full_name, ",
            $t,
            ".password_hash, ",
            $t,
            ".email_verified, extract(epoch FROM ",
            $t,
            ".created_at)::bigint AS created_at, ",
            "extract(epoch FROM ",
            $t,
            ".updated_at)::bigint AS updated_at, ",
            $t,
            ".mfa_enabled, ",
            $t,
            ".passkey_count, ",
            $t,
            ".identity_providers"
        )
    };
}

const INSERT: Sql = Sql::new(
    "INSERT INTO users (id, email, full_name, password_hash, email_verified, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO users (id, email, full_name, password_hash, email_verified, created_at, updated_at) \
     VALUES (?1::text::uuid, ?2, ?3, ?4, ?5, to_timestamp(?6), to_timestamp(?7))",
);
const BY_EMAIL: Sql = Sql::new(
    concat!(
        "SELECT ",
        user_columns!(sqlite, "users"),
        " FROM users WHERE email = ?1"
    ),
    concat!(
        "SELECT ",
        user_columns!(postgres, "users"),
        " FROM users WHERE email = ?1"
    ),
);
const BY_ID: Sql = Sql::new(
    concat!("SELECT ", user_columns!(sqlite, "users"), " FROM users WHERE id = ?1"),
    concat!(
        "SELECT ",
        user_columns!(postgres, "users"),
        " FROM users WHERE id = ?1::text::uuid"
    ),
);
const MARK_VERIFIED: Sql = Sql::new(
    "UPDATE users SET email_verified = 1, updated_at = ?2 WHERE id = ?1",
    "UPDATE users SET email_verified = true, updated_at = to_timestamp(?2) WHERE id = ?1::text::uuid",
);
const SET_PASSWORD_HASH: Sql = Sql::new(
    "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
    "UPDATE users SET password_hash = ?2, updated_at = to_timestamp(?3) WHERE id = ?1::text::uuid",
);
const SET_FULL_NAME: Sql = Sql::new(
    "UPDATE users SET full_name = ?2, updated_at = ?3 WHERE id = ?1",
    "UPDATE users SET full_name = ?2, updated_at = to_timestamp(?3) WHERE id = ?1::text::uuid",
);
const SET_EMAIL: Sql = Sql::new(
    "UPDATE users SET email = ?2, email_verified = 1, updated_at = ?3 WHERE id = ?1",
    "UPDATE users SET email = ?2, email_verified = true, updated_at = to_timestamp(?3) WHERE id = ?1::text::uuid",
);
/// A new account, unless the address is taken (then nothing: no error, no aborted batch).
const INSERT_UNLESS_TAKEN: Sql = Sql::new(
    "INSERT INTO users (id, email, full_name, password_hash, email_verified, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5) ON CONFLICT (email) DO NOTHING RETURNING id",
    "INSERT INTO users (id, email, full_name, password_hash, email_verified, created_at, updated_at) \
     VALUES (?1::text::uuid, ?2, ?3, ?4, false, to_timestamp(?5), to_timestamp(?5)) \
     ON CONFLICT (email) DO NOTHING RETURNING id::text AS id",
);
/// A registration met the unverified account at `?1` (not the one it just made, `?2`).
const MARK_CONTESTED: Sql = Sql::new(
    "UPDATE users SET registration_contested = 1 WHERE email = ?1 AND email_verified = 0 AND id <> ?2",
    "UPDATE users SET registration_contested = true \
     WHERE email = ?1 AND NOT email_verified AND id <> ?2::text::uuid",
);
/// Whether the address has a verified account: `?1`.
const VERIFIED_AT: Sql = Sql::new(
    "SELECT email_verified FROM users WHERE email = ?1",
    "SELECT email_verified FROM users WHERE email = ?1",
);
/// The account `?1` proved the address `?2` it was registered with (`?3` now). A contested
/// registration loses its password on the way (`must_reset`).
const PROVE_ADDRESS: Sql = Sql::new(
    "UPDATE users SET email_verified = 1, updated_at = ?3, \
     password_hash = CASE WHEN registration_contested = 1 THEN '!' ELSE password_hash END, \
     registration_contested = 0 WHERE id = ?1 AND email = ?2 AND email_verified = 0 \
     RETURNING password_hash = '!' AS must_reset",
    "UPDATE users SET email_verified = true, updated_at = to_timestamp(?3), \
     password_hash = CASE WHEN registration_contested THEN '!' ELSE password_hash END, \
     registration_contested = false WHERE id = ?1::text::uuid AND email = ?2 AND NOT email_verified \
     RETURNING password_hash = '!' AS must_reset",
);

/// Touches the table, so a missing migration fails `/health` too.
pub const PING: Sql = Sql::same("SELECT 1 AS ok FROM users LIMIT 1");

#[derive(Debug, thiserror::Error)]
pub enum WriteUserError {
    /// The unique index on the normalised email refused the write.
    #[error("the email address is already taken")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbError> for WriteUserError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unique(_) => Self::EmailTaken,
            DbError::Store(e) => Self::Store(e),
        }
    }
}

/// A `User` as a row of either dialect.
pub struct UserRow {
    id: String,
    email: String,
    full_name: Option<String>,
    password_hash: String,
    email_verified: bool,
    created_at: i64,
    updated_at: i64,
    /// Mirrors a confirmed TOTP factor (written by `mfa` in the same transaction).
    mfa_enabled: bool,
    /// Mirrors the user's passkeys (written by `passkeys`).
    passkey_count: i64,
    /// Mirrors the user's linked providers, comma-separated (written by `oauth`).
    identity_providers: String,
}
from_fields!(UserRow { id, email, full_name, password_hash, email_verified, created_at, updated_at; default: mfa_enabled, passkey_count, identity_providers });

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId(row.id),
            email: row.email,
            full_name: row.full_name,
            password_hash: row.password_hash,
            email_verified: row.email_verified,
            created_at: row.created_at,
            updated_at: row.updated_at,
            mfa_enabled: row.mfa_enabled,
            passkey_count: row.passkey_count,
            identity_providers: row
                .identity_providers
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The users table, reached through whichever database the request has.
pub struct Users<'a>(pub &'a dyn Database);

impl Users<'_> {
    /// Marks the account verified with the address the code was mailed to; answers whether
    /// it must now reset its password (a contested registration), `None` when the account
    /// no longer has that address or was verified meanwhile.
    pub async fn prove_address(&self, id: &UserId, email: &str, now: UnixSeconds) -> Result<Option<bool>, StoreError> {
        struct Proven {
            must_reset: bool,
        }
        from_fields!(Proven { must_reset });
        let params = [id.0.as_str().into(), email.into(), now.into()];
        let proven: Option<Proven> = self.0.first(&PROVE_ADDRESS, &params).await?;
        Ok(proven.map(|p| p.must_reset))
    }

    pub async fn insert(&self, user: &User) -> Result<(), WriteUserError> {
        let statement = insert(user);
        self.0.run(&statement.sql, &statement.params).await?;
        Ok(())
    }

    pub async fn by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self.0.first(&BY_EMAIL, &[email.as_str().into()]).await?;
        Ok(row.map(User::from))
    }

    pub async fn by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self.0.first(&BY_ID, &[id.0.as_str().into()]).await?;
        Ok(row.map(User::from))
    }

    pub async fn mark_email_verified(&self, id: &UserId, now: UnixSeconds) -> Result<(), StoreError> {
        self.0
            .execute(&MARK_VERIFIED, &[id.0.as_str().into(), now.into()])
            .await
            .map(drop)
    }

    pub async fn set_password_hash(&self, id: &UserId, hash: &str, now: UnixSeconds) -> Result<(), StoreError> {
        let statement = set_password_hash(id, hash, now);
        self.0.execute(&statement.sql, &statement.params).await.map(drop)
    }

    pub async fn set_full_name(&self, id: &UserId, name: Option<&str>, now: UnixSeconds) -> Result<(), StoreError> {
        let params = [id.0.as_str().into(), name.into(), now.into()];
        self.0.execute(&SET_FULL_NAME, &params).await.map(drop)
    }

    /// Moves the account to a proven address (verified by the move).
    pub async fn set_email(&self, id: &UserId, email: &EmailAddress, now: UnixSeconds) -> Result<(), WriteUserError> {
        let statement = set_email(id, email, now);
        self.0.run(&statement.sql, &statement.params).await?;
        Ok(())
    }
}

/// A new account as a statement, for a batch that must commit with it (a taken address
/// fails the batch with `DbError::Unique`).
pub fn insert(user: &User) -> Statement {
    Statement::new(
        INSERT,
        vec![
            user.id.0.as_str().into(),
            user.email.as_str().into(),
            user.full_name.as_deref().into(),
            user.password_hash.as_str().into(),
            user.email_verified.into(),
            user.created_at.into(),
            user.updated_at.into(),
        ],
    )
}

/// The statements of a registration, for one batch with its code: the account (unless the
/// address is taken), a contested mark on an unverified account it met, and whether the
/// address's account is verified. Answered by `registered`.
pub fn register(user: &User) -> [Statement; 3] {
    [
        Statement::new(
            INSERT_UNLESS_TAKEN,
            vec![
                user.id.0.as_str().into(),
                user.email.as_str().into(),
                user.full_name.as_deref().into(),
                user.password_hash.as_str().into(),
                user.created_at.into(),
            ],
        ),
        Statement::new(
            MARK_CONTESTED,
            vec![user.email.as_str().into(), user.id.0.as_str().into()],
        ),
        Statement::new(VERIFIED_AT, vec![user.email.as_str().into()]),
    ]
}

/// What the statements of `register`, answered at `results[at..at + 3]`, found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    New,
    /// The address belongs to a verified account.
    TakenVerified,
    /// The address belongs to an account still unverified (now contested).
    TakenUnverified,
}

pub fn registered(results: &[Rows], at: usize) -> Result<Registered, StoreError> {
    struct Verified {
        email_verified: bool,
    }
    from_fields!(Verified { email_verified });
    if results.get(at).is_some_and(|inserted| !inserted.rows.is_empty()) {
        return Ok(Registered::New);
    }
    let found = results.get(at + 2).cloned().unwrap_or_default().first::<Verified>()?;
    Ok(match found {
        Some(Verified { email_verified: true }) => Registered::TakenVerified,
        _ => Registered::TakenUnverified,
    })
}

/// The password no password matches: what a contested registration has once proven.
pub const NO_PASSWORD: &str = "!";

/// The password change as a statement, for a batch that must commit with it.
pub fn set_password_hash(id: &UserId, hash: &str, now: UnixSeconds) -> Statement {
    Statement::new(
        SET_PASSWORD_HASH,
        vec![id.0.as_str().into(), Value::from(hash), now.into()],
    )
}

/// Moving the account to a proven address, for a batch (a taken address fails it with
/// `DbError::Unique`).
pub fn set_email(id: &UserId, email: &EmailAddress, now: UnixSeconds) -> Statement {
    Statement::new(SET_EMAIL, vec![id.0.as_str().into(), email.as_str().into(), now.into()])
}

/// Whether an account has the address, for a batch; `exists` reads the answer.
pub fn account_at(email: &str) -> Statement {
    Statement::new(VERIFIED_AT, vec![email.into()])
}

/// Whether the statement of `account_at`, answered at `results[at]`, found an account.
pub fn exists(results: &[Rows], at: usize) -> bool {
    results.get(at).is_some_and(|found| !found.rows.is_empty())
}

/// Marking the address verified, for a batch.
pub fn mark_email_verified(id: &UserId, now: UnixSeconds) -> Statement {
    Statement::new(MARK_VERIFIED, vec![id.0.as_str().into(), now.into()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::SqliteDatabase;

    fn user(id: &str, email: &str) -> User {
        User {
            id: UserId(id.into()),
            email: email.into(),
            full_name: Some("Ada".into()),
            password_hash: "$2b$04$hash".into(),
            email_verified: false,
            created_at: 10,
            updated_at: 10,
            mfa_enabled: false,
            passkey_count: 0,
            identity_providers: Vec::new(),
        }
    }

    #[test]
    fn a_user_round_trips_and_its_email_is_unique() {
        let db = SqliteDatabase::default();
        let users = Users(&db);
        pollster::block_on(async {
            users.insert(&user("u1", "ada@example.com")).await.unwrap();
            let email = EmailAddress::parse("ada@example.com").unwrap();
            let found = users.by_email(&email).await.unwrap().unwrap();
            assert_eq!(found, user("u1", "ada@example.com"));
            assert!(matches!(
                users.insert(&user("u2", "ada@example.com")).await,
                Err(WriteUserError::EmailTaken)
            ));
            users.mark_email_verified(&found.id, 20).await.unwrap();
            users.set_full_name(&found.id, None, 21).await.unwrap();
            let updated = users.by_id(&found.id).await.unwrap().unwrap();
            assert!(updated.email_verified && updated.full_name.is_none() && updated.updated_at == 21);
        });
    }

    #[test]
    fn moving_to_a_taken_address_is_refused() {
        let db = SqliteDatabase::default();
        let users = Users(&db);
        pollster::block_on(async {
            users.insert(&user("u1", "a@example.com")).await.unwrap();
            users.insert(&user("u2", "b@example.com")).await.unwrap();
            let taken = EmailAddress::parse("b@example.com").unwrap();
            let moved = users.set_email(&UserId("u1".into()), &taken, 30).await;
            assert!(matches!(moved, Err(WriteUserError::EmailTaken)));
        });
    }
}
