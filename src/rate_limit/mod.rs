//! Rate limits and the login lockout, as plain Rust: the arithmetic (`gcra` buckets,
//! the `lockout`, and the `counter` that applies both per key), the port the flows call
//! (`RateLimiter`), the per-isolate stock of leased tokens that approximate limits spend
//! (`allowance`), and an in-process limiter running the same arithmetic for native tests
//! (`memory`). The Worker keeps each counter in a Durable
//! Object (`platform::counter`, reached through `platform::limiter`). Which limits exist is
//! each capability's business: it registers them (`kernel::feature::LimitSpec`).

mod allowance;
pub mod counter;
mod gcra;
mod lockout;
mod memory;
mod wire;

use async_trait::async_trait;

pub use allowance::Allowances;
pub use gcra::{Bucket, Decision, InvalidPolicy, Lease, Policy};
pub use lockout::{Gate, Lockout, LockoutPolicy};
pub use memory::MemoryLimiter;
pub use wire::Reply;

/// The rate limiter could not answer; limited routes then fail closed.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

/// Exact counters, shared by every isolate (Durable Objects in the Worker).
#[async_trait(?Send)]
pub trait RateLimiter {
    /// Takes one token from the bucket `key` under `policy`.
    async fn take(&self, key: &str, policy: Policy) -> Result<Decision, LimiterError>;
    /// Takes up to `tokens` tokens at once, for an isolate to spend (approximate limits).
    /// A limiter that cannot lease takes one.
    async fn lease(&self, key: &str, policy: Policy, tokens: u32) -> Result<Lease, LimiterError> {
        let _ = tokens;
        let decision = self.take(key, policy).await?;
        Ok(Lease {
            granted: u32::from(decision.allowed),
            decision,
        })
    }
    /// Takes a token of the account's login `limit` and reserves a password check for the
    /// account behind `key`, or says how long it must wait.
    async fn begin_login(&self, key: &str, policy: LockoutPolicy, limit: Policy) -> Result<Gate, LimiterError>;
    /// Ends the account's streak after a right password (a failure was counted by `begin_login`).
    async fn login_succeeded(&self, key: &str) -> Result<(), LimiterError>;
    /// Takes back the attempt `begin_login` reserved: the secret was right but the sign-in
    /// is not complete (a second factor is due), so the streak neither grows nor ends.
    async fn login_refunded(&self, key: &str, policy: LockoutPolicy) -> Result<(), LimiterError>;
    /// A round trip to the limiter, for `/health`.
    async fn ping(&self) -> Result<(), LimiterError>;
}
