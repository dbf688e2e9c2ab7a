//! Plain Rust: the values the service deals in and the ports its flows need.
//! Nothing here knows it runs in a Worker.

pub mod email;
pub mod mail;
pub mod password;
pub mod ports;
pub mod secrets;
pub mod user;

pub use email::EmailAddress;
pub use mail::Mail;
pub use password::Password;
pub use ports::{
    Clock, LimiterError, Outbox, RateLimiter, SessionStore, Store, StoreError, Telemetry, TokenStore, UserStore,
    WriteUserError,
};
pub use secrets::{ResetToken, SecretDigester, TokenPurpose, VerificationCode};
pub use user::{FullName, OneTimeToken, Session, SessionId, UnixSeconds, User, UserId};
