//! Applies the configured limits to a request: 429 with `Retry-After` when one is met,
//! `X-RateLimit-*` from the tightest one, 503 when the limiter cannot answer.

use super::error::ApiError;
use super::Ctx;
use crate::rate_limit::limits::Limit;

/// Takes one token from each `(limit, subject)` counter, in order; stops at the first refusal.
pub async fn enforce(ctx: &Ctx<'_>, checks: &[(Limit, &str)]) -> Result<(), ApiError> {
    for (limit, subject) in checks {
        let policy = ctx.deps.config.limits.policy(*limit);
        let key = format!("{}:{subject}", limit.name());
        let decision = ctx.deps.limiter.take(&key, policy).await?;
        let tighter = ctx
            .quota
            .get()
            .is_none_or(|(_, remaining)| decision.remaining < remaining);
        if tighter {
            ctx.quota.set(Some((decision.limit, decision.remaining)));
        }
        if !decision.allowed {
            return Err(ApiError::rate_limited(decision.retry_after_seconds));
        }
    }
    Ok(())
}

/// The caller's IP as Cloudflare reports it (`CF-Connecting-IP`).
pub fn ip<'c>(ctx: &'c Ctx<'_>) -> &'c str {
    ctx.client_ip.as_deref().unwrap_or("unknown")
}

/// A counter subject for an email or token that does not reveal it.
pub fn pseudonym(ctx: &Ctx<'_>, value: &str) -> String {
    ctx.deps.digester.pseudonym(value)
}
