//! The Postgres adapter of the storage ports, over `tokio-postgres` on a Worker socket to
//! the Hyperdrive binding. Instants are `timestamptz` in the database and Unix seconds in
//! the domain; ids are `uuid`. Every round trip has a deadline, so a dead database gives a
//! 503 within seconds, never a hang.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::{select, Either};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use worker::postgres_tls::PassthroughTls;
use worker::{Delay, Hyperdrive, SecureTransport, Socket};

use crate::domain::{
    EmailAddress, OneTimeToken, Session, SessionId, SessionStore, StoreError, TokenPurpose, TokenStore, UnixSeconds,
    User, UserId, UserStore, WriteUserError,
};

/// Connecting (through Hyperdrive's pool) and each query must finish within these.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

const USER_COLUMNS: &str = "id::text AS id, email, full_name, password_hash, email_verified, \
     extract(epoch FROM created_at)::bigint AS created_at, extract(epoch FROM updated_at)::bigint AS updated_at";
const TOKEN_COLUMNS: &str = "id::text AS id, user_id::text AS user_id, purpose, digest, new_email, \
     extract(epoch FROM created_at)::bigint AS created_at, extract(epoch FROM expires_at)::bigint AS expires_at, \
     attempts::bigint AS attempts";

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A failed round trip: no connection (or too slow), or an error Postgres answered.
enum DbError {
    Unavailable(StoreError),
    Postgres(tokio_postgres::Error),
}

impl DbError {
    fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Postgres(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION))
    }
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(e) => e,
            DbError::Postgres(e) => StoreError(format!("Postgres: {e}")),
        }
    }
}

pub struct PgStore {
    hyperdrive: Result<Hyperdrive, String>,
    /// One connection per request, opened on first use.
    client: RefCell<Option<Rc<Client>>>,
}

impl PgStore {
    pub fn new(hyperdrive: worker::Result<Hyperdrive>) -> Self {
        Self {
            hyperdrive: hyperdrive.map_err(|e| e.to_string()),
            client: RefCell::new(None),
        }
    }

    async fn client(&self) -> Result<Rc<Client>, StoreError> {
        if let Some(client) = self.client.borrow().clone() {
            return Ok(client);
        }
        let hyperdrive = self
            .hyperdrive
            .as_ref()
            .map_err(|e| StoreError(format!("binding HYPERDRIVE: {e}")))?;
        let config: tokio_postgres::Config = hyperdrive
            .connection_string()
            .parse()
            .map_err(|e| StoreError(format!("Postgres config: {e}")))?;
        let socket = Socket::builder()
            .secure_transport(SecureTransport::StartTls)
            .connect(hyperdrive.host(), hyperdrive.port())
            .map_err(|e| StoreError(format!("Postgres socket: {e}")))?;
        let (client, connection) = deadline(CONNECT_TIMEOUT, "connect", config.connect_raw(socket, PassthroughTls))
            .await?
            .map_err(|e| StoreError(format!("Postgres connect: {e}")))?;
        wasm_bindgen_futures::spawn_local(async move {
            let _ = connection.await;
        });
        let client = Rc::new(client);
        self.client.replace(Some(client.clone()));
        Ok(client)
    }

    async fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        let client = self.client().await.map_err(DbError::Unavailable)?;
        deadline(QUERY_TIMEOUT, "query", client.query(sql, params))
            .await
            .map_err(DbError::Unavailable)?
            .map_err(DbError::Postgres)
    }

    async fn first<T>(&self, sql: &str, params: Params<'_>, map: fn(&Row) -> T) -> Result<Option<T>, StoreError> {
        Ok(self.rows(sql, params).await?.first().map(map))
    }

    async fn execute(&self, sql: &str, params: Params<'_>) -> Result<(), StoreError> {
        self.rows(sql, params).await.map(drop).map_err(StoreError::from)
    }

    async fn write_user(&self, sql: &str, params: Params<'_>) -> Result<(), WriteUserError> {
        match self.rows(sql, params).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_unique_violation() => Err(WriteUserError::EmailTaken),
            Err(e) => Err(WriteUserError::Store(e.into())),
        }
    }
}

async fn deadline<T>(limit: Duration, what: &str, work: impl Future<Output = T>) -> Result<T, StoreError> {
    let work = std::pin::pin!(work);
    let timer = Delay::from(limit);
    match select(work, timer).await {
        Either::Left((done, _)) => Ok(done),
        Either::Right(_) => Err(StoreError(format!(
            "Postgres {what} timed out after {} s",
            limit.as_secs()
        ))),
    }
}

fn user(row: &Row) -> User {
    User {
        id: UserId(row.get("id")),
        email: row.get("email"),
        full_name: row.get("full_name"),
        password_hash: row.get("password_hash"),
        email_verified: row.get("email_verified"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn token(row: &Row) -> Option<OneTimeToken> {
    Some(OneTimeToken {
        id: row.get("id"),
        user_id: UserId(row.get("user_id")),
        purpose: TokenPurpose::parse(row.get("purpose"))?,
        digest: row.get("digest"),
        new_email: row.get("new_email"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        attempts: row.get("attempts"),
    })
}

#[async_trait(?Send)]
impl UserStore for PgStore {
    async fn insert_user(&self, user: &User) -> Result<(), WriteUserError> {
        let sql = "INSERT INTO users (id, email, full_name, password_hash, email_verified, created_at, updated_at) \
                   VALUES ($1::text::uuid, $2, $3, $4, $5, to_timestamp($6::bigint), to_timestamp($7::bigint))";
        let params: Params = &[
            &user.id.0,
            &user.email,
            &user.full_name,
            &user.password_hash,
            &user.email_verified,
            &user.created_at,
            &user.updated_at,
        ];
        self.write_user(sql, params).await
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        self.first(&sql, &[&email.as_str()], user).await
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1::text::uuid");
        self.first(&sql, &[&id.0], user).await
    }

    async fn mark_email_verified(&self, id: &UserId, now: UnixSeconds) -> Result<(), StoreError> {
        let sql =
            "UPDATE users SET email_verified = true, updated_at = to_timestamp($2::bigint) WHERE id = $1::text::uuid";
        self.execute(sql, &[&id.0, &now]).await
    }

    async fn set_password_hash(&self, id: &UserId, hash: &str, now: UnixSeconds) -> Result<(), StoreError> {
        let sql =
            "UPDATE users SET password_hash = $2, updated_at = to_timestamp($3::bigint) WHERE id = $1::text::uuid";
        self.execute(sql, &[&id.0, &hash, &now]).await
    }

    async fn set_full_name(&self, id: &UserId, name: Option<&str>, now: UnixSeconds) -> Result<(), StoreError> {
        let sql = "UPDATE users SET full_name = $2, updated_at = to_timestamp($3::bigint) WHERE id = $1::text::uuid";
        self.execute(sql, &[&id.0, &name, &now]).await
    }

    async fn set_email(&self, id: &UserId, email: &EmailAddress, now: UnixSeconds) -> Result<(), WriteUserError> {
        let sql = "UPDATE users SET email = $2, email_verified = true, updated_at = to_timestamp($3::bigint) \
                   WHERE id = $1::text::uuid";
        self.write_user(sql, &[&id.0, &email.as_str(), &now]).await
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Touches a real table, so a missing migration fails the check too.
        self.execute("SELECT 1 FROM users LIMIT 1", &[]).await
    }
}

#[async_trait(?Send)]
impl SessionStore for PgStore {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        let sql = "INSERT INTO sessions (id, user_id, created_at, expires_at, user_agent, ip) \
                   VALUES ($1::text::uuid, $2::text::uuid, to_timestamp($3::bigint), to_timestamp($4::bigint), $5, $6::text::inet)";
        // An address Postgres cannot parse is stored as unknown rather than failing the login.
        let ip = session
            .ip
            .as_deref()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        self.execute(
            sql,
            &[
                &session.id.0,
                &session.user_id.0,
                &session.created_at,
                &session.expires_at,
                &session.user_agent,
                &ip,
            ],
        )
        .await
    }

    async fn session_user(&self, id: &SessionId, now: UnixSeconds) -> Result<Option<User>, StoreError> {
        let sql = "SELECT u.id::text AS id, u.email, u.full_name, u.password_hash, u.email_verified, \
                   extract(epoch FROM u.created_at)::bigint AS created_at, extract(epoch FROM u.updated_at)::bigint AS updated_at \
                   FROM sessions s JOIN users u ON u.id = s.user_id \
                   WHERE s.id = $1::text::uuid AND s.revoked_at IS NULL AND s.expires_at > to_timestamp($2::bigint)";
        self.first(sql, &[&id.0, &now], user).await
    }

    async fn revoke_session(&self, id: &SessionId, now: UnixSeconds) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET revoked_at = to_timestamp($2::bigint) WHERE id = $1::text::uuid AND revoked_at IS NULL";
        self.execute(sql, &[&id.0, &now]).await
    }

    async fn revoke_sessions_of(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET revoked_at = to_timestamp($2::bigint) \
                   WHERE user_id = $1::text::uuid AND revoked_at IS NULL AND id IS DISTINCT FROM $3::text::uuid";
        self.execute(sql, &[&user.0, &now, &keep.map(|k| k.0.as_str())]).await
    }
}

#[async_trait(?Send)]
impl TokenStore for PgStore {
    async fn replace_token(
        &self,
        token: &OneTimeToken,
        cooldown_since: Option<UnixSeconds>,
    ) -> Result<bool, StoreError> {
        // In one transaction behind a per-user-and-purpose advisory lock: a concurrent
        // replacement waits, then sees this one's token (each statement takes a new snapshot).
        let sql = "WITH recent AS (SELECT 1 FROM one_time_tokens WHERE user_id = $1::text::uuid AND purpose = $2 \
                              AND used_at IS NULL AND $3::bigint IS NOT NULL AND created_at > to_timestamp($3::bigint)), \
                   removed AS (DELETE FROM one_time_tokens WHERE user_id = $1::text::uuid AND purpose = $2 \
                              AND used_at IS NULL AND NOT EXISTS (SELECT 1 FROM recent)) \
                   INSERT INTO one_time_tokens (id, user_id, purpose, digest, new_email, created_at, expires_at, attempts) \
                   SELECT $4::text::uuid, $1::text::uuid, $2, $5, $6, to_timestamp($7::bigint), to_timestamp($8::bigint), 0 \
                   WHERE NOT EXISTS (SELECT 1 FROM recent) RETURNING 1";
        let params: Params = &[
            &token.user_id.0,
            &token.purpose.as_str(),
            &cooldown_since,
            &token.id,
            &token.digest,
            &token.new_email,
            &token.created_at,
            &token.expires_at,
        ];
        let lock_key = format!("{}:{}", token.user_id.0, token.purpose.as_str());
        self.execute("BEGIN", &[]).await?;
        let outcome = async {
            self.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_key])
                .await?;
            Ok::<bool, StoreError>(!self.rows(sql, params).await?.is_empty())
        }
        .await;
        match outcome {
            Ok(inserted) => self.execute("COMMIT", &[]).await.map(|()| inserted),
            Err(error) => {
                let _ = self.execute("ROLLBACK", &[]).await;
                Err(error)
            }
        }
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
            "UPDATE one_time_tokens SET used_at = to_timestamp($3::bigint) \
             WHERE digest = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > to_timestamp($3::bigint) \
             AND attempts < $4::bigint RETURNING {TOKEN_COLUMNS}"
        );
        Ok(self
            .first(&sql, &[&digest, &purpose.as_str(), &now, &max_attempts], token)
            .await?
            .flatten())
    }

    async fn record_failed_attempt(
        &self,
        user: &UserId,
        purpose: TokenPurpose,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE one_time_tokens SET attempts = attempts + 1 \
                   WHERE user_id = $1::text::uuid AND purpose = $2 AND used_at IS NULL AND expires_at > to_timestamp($3::bigint)";
        self.execute(sql, &[&user.0, &purpose.as_str(), &now]).await
    }

    async fn pending_email_change(
        &self,
        email: &EmailAddress,
        now: UnixSeconds,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM one_time_tokens \
             WHERE new_email = $1 AND purpose = 'change_email' AND used_at IS NULL AND expires_at > to_timestamp($2::bigint) \
             ORDER BY created_at DESC LIMIT 1"
        );
        Ok(self.first(&sql, &[&email.as_str(), &now], token).await?.flatten())
    }
}
