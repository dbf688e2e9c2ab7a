//! The D1 (SQLite) adapter of the storage ports.

use async_trait::async_trait;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use crate::domain::{
    EmailAddress, OneTimeToken, Session, SessionId, SessionStore, StoreError, TokenPurpose, TokenStore, UnixSeconds,
    User, UserId, UserStore, WriteUserError,
};

pub struct D1Store {
    db: Result<D1Database, String>,
}

impl D1Store {
    /// A missing binding is kept as an error, so the routes that need it answer 503.
    pub fn new(db: worker::Result<D1Database>) -> Self {
        Self {
            db: db.map_err(|e| e.to_string()),
        }
    }

    fn db(&self) -> Result<&D1Database, StoreError> {
        self.db.as_ref().map_err(|e| StoreError(format!("binding DB: {e}")))
    }

    fn statement(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, StoreError> {
        self.db()?.prepare(sql).bind(args).map_err(store_error)
    }

    async fn run(&self, sql: &str, args: &[JsValue]) -> Result<usize, StoreError> {
        let result = self.statement(sql, args)?.run().await.map_err(store_error)?;
        Ok(result.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
    }

    async fn first<T: for<'de> Deserialize<'de>>(&self, sql: &str, args: &[JsValue]) -> Result<Option<T>, StoreError> {
        self.statement(sql, args)?.first::<T>(None).await.map_err(store_error)
    }

    async fn write_user(&self, sql: &str, args: &[JsValue]) -> Result<(), WriteUserError> {
        match self.statement(sql, args)?.run().await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("UNIQUE constraint failed: users.email") => {
                Err(WriteUserError::EmailTaken)
            }
            Err(e) => Err(store_error(e).into()),
        }
    }
}

fn store_error(error: impl std::fmt::Display) -> StoreError {
    StoreError(format!("D1: {error}"))
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

fn opt_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

const USER_COLUMNS: &str = "id, email, full_name, password_hash, email_verified, created_at, updated_at";
const TOKEN_COLUMNS: &str = "id, user_id, purpose, digest, new_email, created_at, expires_at, attempts";

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email: String,
    full_name: Option<String>,
    password_hash: String,
    email_verified: i64,
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
            email_verified: row.email_verified != 0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

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

impl TryFrom<TokenRow> for OneTimeToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            purpose: TokenPurpose::parse(&row.purpose)
                .ok_or_else(|| StoreError(format!("unknown token purpose {}", row.purpose)))?,
            id: row.id,
            user_id: UserId(row.user_id),
            digest: row.digest,
            new_email: row.new_email,
            created_at: row.created_at,
            expires_at: row.expires_at,
            attempts: row.attempts,
        })
    }
}

#[async_trait(?Send)]
impl UserStore for D1Store {
    async fn insert_user(&self, user: &User) -> Result<(), WriteUserError> {
        let sql = format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        let args = [
            text(&user.id.0),
            text(&user.email),
            opt_text(user.full_name.as_deref()),
            text(&user.password_hash),
            int(user.email_verified.into()),
            int(user.created_at),
            int(user.updated_at),
        ];
        self.write_user(&sql, &args).await
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1");
        Ok(self
            .first::<UserRow>(&sql, &[text(email.as_str())])
            .await?
            .map(User::from))
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
        Ok(self.first::<UserRow>(&sql, &[text(&id.0)]).await?.map(User::from))
    }

    async fn mark_email_verified(&self, id: &UserId, now: UnixSeconds) -> Result<(), StoreError> {
        self.run(
            "UPDATE users SET email_verified = 1, updated_at = ?2 WHERE id = ?1",
            &[text(&id.0), int(now)],
        )
        .await
        .map(drop)
    }

    async fn set_password_hash(&self, id: &UserId, hash: &str, now: UnixSeconds) -> Result<(), StoreError> {
        self.run(
            "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
            &[text(&id.0), text(hash), int(now)],
        )
        .await
        .map(drop)
    }

    async fn set_full_name(&self, id: &UserId, name: Option<&str>, now: UnixSeconds) -> Result<(), StoreError> {
        self.run(
            "UPDATE users SET full_name = ?2, updated_at = ?3 WHERE id = ?1",
            &[text(&id.0), opt_text(name), int(now)],
        )
        .await
        .map(drop)
    }

    async fn set_email(&self, id: &UserId, email: &EmailAddress, now: UnixSeconds) -> Result<(), WriteUserError> {
        let sql = "UPDATE users SET email = ?2, email_verified = 1, updated_at = ?3 WHERE id = ?1";
        self.write_user(sql, &[text(&id.0), text(email.as_str()), int(now)])
            .await
    }

    fn backend(&self) -> &'static str {
        "d1"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        #[derive(Deserialize)]
        struct Count {
            #[allow(dead_code)]
            users: i64,
        }
        // Touches a real table, so a missing migration fails the check too.
        self.first::<Count>("SELECT COUNT(*) AS users FROM (SELECT 1 FROM users LIMIT 1)", &[])
            .await
            .map(drop)
    }
}

#[async_trait(?Send)]
impl SessionStore for D1Store {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        let sql = "INSERT INTO sessions (id, user_id, created_at, expires_at, user_agent, ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        let args = [
            text(&session.id.0),
            text(&session.user_id.0),
            int(session.created_at),
            int(session.expires_at),
            opt_text(session.user_agent.as_deref()),
            opt_text(session.ip.as_deref()),
        ];
        self.run(sql, &args).await.map(drop)
    }

    async fn session_user(&self, id: &SessionId, now: UnixSeconds) -> Result<Option<User>, StoreError> {
        let sql = "SELECT u.id, u.email, u.full_name, u.password_hash, u.email_verified, u.created_at, u.updated_at \
                   FROM sessions s JOIN users u ON u.id = s.user_id \
                   WHERE s.id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2";
        Ok(self
            .first::<UserRow>(sql, &[text(&id.0), int(now)])
            .await?
            .map(User::from))
    }

    async fn revoke_session(&self, id: &SessionId, now: UnixSeconds) -> Result<(), StoreError> {
        self.run(
            "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            &[text(&id.0), int(now)],
        )
        .await
        .map(drop)
    }

    async fn revoke_sessions_of(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?3";
        self.run(sql, &[text(&user.0), int(now), opt_text(keep.map(|k| k.0.as_str()))])
            .await
            .map(drop)
    }
}

#[async_trait(?Send)]
impl TokenStore for D1Store {
    async fn replace_token(
        &self,
        token: &OneTimeToken,
        cooldown_since: Option<UnixSeconds>,
    ) -> Result<bool, StoreError> {
        // Without a cooldown no token can be "newer than the end of time".
        let since = cooldown_since.unwrap_or(i64::MAX);
        let recent =
            "SELECT 1 FROM one_time_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL AND created_at > ?3";
        let delete = self.statement(
            &format!("DELETE FROM one_time_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL AND NOT EXISTS ({recent})"),
            &[text(&token.user_id.0), text(token.purpose.as_str()), int(since)],
        )?;
        let insert = self.statement(
            &format!(
                "INSERT INTO one_time_tokens ({TOKEN_COLUMNS}) SELECT ?4, ?1, ?2, ?5, ?6, ?7, ?8, 0 WHERE NOT EXISTS ({recent})"
            ),
            &[
                text(&token.user_id.0),
                text(token.purpose.as_str()),
                int(since),
                text(&token.id),
                text(&token.digest),
                opt_text(token.new_email.as_deref()),
                int(token.created_at),
                int(token.expires_at),
            ],
        )?;
        // A batch is one transaction: the check, the delete and the insert cannot interleave.
        let results = self.db()?.batch(vec![delete, insert]).await.map_err(store_error)?;
        let inserted = results
            .get(1)
            .and_then(|r| r.meta().ok().flatten())
            .and_then(|m| m.changes)
            .unwrap_or(0);
        Ok(inserted == 1)
    }

    async fn consume_token(
        &self,
        purpose: TokenPurpose,
        digest: &str,
        now: UnixSeconds,
        max_attempts: i64,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        // One statement: of two concurrent consumers only one sees used_at IS NULL.
        let sql = format!(
            "UPDATE one_time_tokens SET used_at = ?3 \
             WHERE digest = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 AND attempts < ?4 \
             RETURNING {TOKEN_COLUMNS}"
        );
        let row = self
            .first::<TokenRow>(
                &sql,
                &[text(digest), text(purpose.as_str()), int(now), int(max_attempts)],
            )
            .await?;
        row.map(OneTimeToken::try_from).transpose()
    }

    async fn record_failed_attempt(
        &self,
        user: &UserId,
        purpose: TokenPurpose,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE one_time_tokens SET attempts = attempts + 1 \
                   WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3";
        self.run(sql, &[text(&user.0), text(purpose.as_str()), int(now)])
            .await
            .map(drop)
    }

    async fn pending_email_change(
        &self,
        email: &EmailAddress,
        now: UnixSeconds,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM one_time_tokens \
             WHERE new_email = ?1 AND purpose = 'change_email' AND used_at IS NULL AND expires_at > ?2 \
             ORDER BY created_at DESC LIMIT 1"
        );
        let row = self.first::<TokenRow>(&sql, &[text(email.as_str()), int(now)]).await?;
        row.map(OneTimeToken::try_from).transpose()
    }
}
