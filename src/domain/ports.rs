//! The ports the flows need. Adapters live in `storage/`, `email/` and the Worker edge;
//! `storage::memory` implements the stores natively for unit tests.

use async_trait::async_trait;

use super::email::EmailAddress;
use super::mail::Mail;
use super::secrets::TokenPurpose;
use super::user::{OneTimeToken, Session, SessionId, UnixSeconds, User, UserId};
use crate::rate_limit::policy::{Decision, Gate, LockoutPolicy, Policy};

/// A storage failure the flows cannot do anything about (database down, timeout, bad SQL).
#[derive(Debug, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct StoreError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum WriteUserError {
    /// The unique index on the normalised email refused the write.
    #[error("the email address is already taken")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait(?Send)]
pub trait UserStore {
    async fn insert_user(&self, user: &User) -> Result<(), WriteUserError>;
    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError>;
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    async fn mark_email_verified(&self, id: &UserId, now: UnixSeconds) -> Result<(), StoreError>;
    async fn set_password_hash(&self, id: &UserId, hash: &str, now: UnixSeconds) -> Result<(), StoreError>;
    async fn set_full_name(&self, id: &UserId, name: Option<&str>, now: UnixSeconds) -> Result<(), StoreError>;
    async fn set_email(&self, id: &UserId, email: &EmailAddress, now: UnixSeconds) -> Result<(), WriteUserError>;
    /// A real round trip to the database, for `/health`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// `d1`, `postgres` or `memory`, for `/health`.
    fn backend(&self) -> &'static str;
}

#[async_trait(?Send)]
pub trait SessionStore {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session's user, if the session exists, is not revoked and has not expired:
    /// one lookup per authenticated request.
    async fn session_user(&self, id: &SessionId, now: UnixSeconds) -> Result<Option<User>, StoreError>;
    async fn revoke_session(&self, id: &SessionId, now: UnixSeconds) -> Result<(), StoreError>;
    /// Revokes every live session of `user` except `keep`.
    async fn revoke_sessions_of(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
}

#[async_trait(?Send)]
pub trait TokenStore {
    /// Stores `token` and invalidates every other unused token of its user and purpose,
    /// in one transaction — unless an unused token of that user and purpose was created
    /// after `cooldown_since`; then nothing changes and it answers `false`.
    async fn replace_token(
        &self,
        token: &OneTimeToken,
        cooldown_since: Option<UnixSeconds>,
    ) -> Result<bool, StoreError>;
    /// Atomically marks the live token with this digest used and returns it. A token is
    /// live while unused, unexpired and tried fewer than `max_attempts` times wrongly.
    /// Of two concurrent calls at most one gets `Some`.
    async fn consume_token(
        &self,
        purpose: TokenPurpose,
        digest: &str,
        now: UnixSeconds,
        max_attempts: i64,
    ) -> Result<Option<OneTimeToken>, StoreError>;
    /// Counts one wrong guess against the user's live tokens of `purpose`.
    async fn record_failed_attempt(
        &self,
        user: &UserId,
        purpose: TokenPurpose,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// The live email-change token whose new address is `email`, if any.
    async fn pending_email_change(
        &self,
        email: &EmailAddress,
        now: UnixSeconds,
    ) -> Result<Option<OneTimeToken>, StoreError>;
}

/// Everything the flows store; one adapter per database implements all three.
pub trait Store: UserStore + SessionStore + TokenStore {}
impl<T: UserStore + SessionStore + TokenStore> Store for T {}

/// The rate limiter could not answer; auth routes then fail closed.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

/// Exact counters, shared by every isolate (Durable Objects in the Worker).
#[async_trait(?Send)]
pub trait RateLimiter {
    /// Takes one token from the bucket `key` under `policy`.
    async fn take(&self, key: &str, policy: Policy) -> Result<Decision, LimiterError>;
    /// Takes a token of the account's login `limit` and reserves a password check for the
    /// account behind `key`, or says how long it must wait.
    async fn begin_login(&self, key: &str, policy: LockoutPolicy, limit: Policy) -> Result<Gate, LimiterError>;
    /// Ends the account's streak after a right password (a failure was counted by `begin_login`).
    async fn login_succeeded(&self, key: &str) -> Result<(), LimiterError>;
    /// A round trip to the limiter, for `/health`.
    async fn ping(&self) -> Result<(), LimiterError>;
}

/// Takes mail to deliver off the response path (the Worker defers it with `waitUntil`),
/// so neither a slow mail API nor its failure shows in the answer.
pub trait Outbox {
    fn send(&self, mail: Mail);
}

/// Counts auth events (`auth_events_total{event}`) a flow knows of and the edge cannot see.
pub trait Telemetry {
    fn event(&self, name: &'static str);
}

pub trait Clock {
    fn now(&self) -> UnixSeconds;
}
