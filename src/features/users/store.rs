//! The `users` table: its statements in both dialects, side by side, and the code that
//! runs them. Postgres keeps ids as `uuid` and instants as `timestamptz`; the domain sees
//! text ids and Unix seconds either way.

use serde::Deserialize;

use super::model::User;
use crate::kernel::sql::{flag, Database, DbError, Sql, Statement, StoreError, Value};
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
            ".updated_at"
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
            ".updated_at)::bigint AS updated_at"
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
#[derive(Deserialize)]
pub struct UserRow {
    id: String,
    email: String,
    full_name: Option<String>,
    password_hash: String,
    #[serde(deserialize_with = "flag")]
    email_verified: bool,
    created_at: i64,
    updated_at: i64,
}

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
        }
    }
}

/// The users table, reached through whichever database the request has.
pub struct Users<'a>(pub &'a dyn Database);

impl Users<'_> {
    pub async fn insert(&self, user: &User) -> Result<(), WriteUserError> {
        let params = [
            user.id.0.as_str().into(),
            user.email.as_str().into(),
            user.full_name.as_deref().into(),
            user.password_hash.as_str().into(),
            user.email_verified.into(),
            user.created_at.into(),
            user.updated_at.into(),
        ];
        self.0.run(&INSERT, &params).await?;
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
        let params = [id.0.as_str().into(), email.as_str().into(), now.into()];
        self.0.run(&SET_EMAIL, &params).await?;
        Ok(())
    }
}

/// The password change as a statement, for a batch that must commit with it.
pub fn set_password_hash(id: &UserId, hash: &str, now: UnixSeconds) -> Statement {
    Statement::new(
        SET_PASSWORD_HASH,
        vec![id.0.as_str().into(), Value::from(hash), now.into()],
    )
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
