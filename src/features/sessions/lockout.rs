//! The account's login lockout, as the flows that check a secret use it: one attempt is
//! reserved before the secret is checked (so parallel guesses cannot overshoot), a wrong
//! secret leaves it counted, and only a completed sign-in (or a reset) ends the streak.
//! Passwords at login and for reauthentication, and second factors at `mfa/verify`,
//! disable and recovery-codes, all count in the same streak of the account.

use super::{SessionsSettings, ACCOUNT_LOCKED, LOGIN_ACCOUNT};
use crate::features::users::User;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::mail::Mail;
use crate::rate_limit::{Gate, LimiterError};

use super::login::LoginError;

/// The counter of the account behind `email`: keyed by a pseudonym, known account or not.
pub(super) fn lockout_key(ctx: &Ctx<'_>, email: &str) -> String {
    format!("lockout:{}", ctx.pseudonym(email))
}

/// When a wrong secret started a lockout, the owner (if any) is told once.
pub(super) fn lockout_started(ctx: &Ctx<'_>, owner: Option<&User>, notify: bool) {
    if !notify {
        return;
    }
    ctx.emit(AuthEvent::LockoutStarted);
    if let Some(user) = owner {
        let wait = ctx.settings::<SessionsSettings>().lockout.backoff_seconds(1);
        ctx.outbox.send(
            Mail::new(&ACCOUNT_LOCKED, &user.email)
                .with("reset_url", ctx.config.forgot_password_url())
                .with("retry_after_seconds", wait),
        );
    }
}

/// One attempt on an account's lockout, reserved before any secret is checked.
#[derive(Debug)]
pub struct LockoutAttempt {
    key: String,
    notify_on_failure: bool,
}

impl LockoutAttempt {
    /// Reserves an attempt for the account behind `email`, or `LoginError::Locked`.
    pub async fn begin(ctx: &Ctx<'_>, email: &str) -> Result<Self, LoginError> {
        let key = lockout_key(ctx, email);
        let gate = ctx
            .limiter
            .begin_login(
                &key,
                ctx.settings::<SessionsSettings>().lockout,
                ctx.policy(&LOGIN_ACCOUNT),
            )
            .await?;
        match gate {
            Gate::Blocked { retry_after_seconds } => Err(LoginError::Locked { retry_after_seconds }),
            Gate::Open { notify_on_failure } => Ok(Self { key, notify_on_failure }),
        }
    }

    /// The secret was wrong: the attempt stays counted (`begin` did that); if it started a
    /// lockout, the owner is told.
    pub fn failed(&self, ctx: &Ctx<'_>, owner: &User) {
        lockout_started(ctx, Some(owner), self.notify_on_failure);
    }

    /// Everything the sign-in needs was right: the streak ends.
    pub async fn succeeded(&self, ctx: &Ctx<'_>) -> Result<(), LimiterError> {
        ctx.limiter.login_succeeded(&self.key).await
    }

    /// Nothing was checked after all (the request lacked what it needed): the attempt no
    /// longer counts.
    pub async fn take_back(&self, ctx: &Ctx<'_>) -> Result<(), LimiterError> {
        refund(ctx, &self.key).await
    }

    /// The password of `owner` was right. Without 2FA that ends the streak; with 2FA on a
    /// password is only half of a sign-in: the attempt is taken back (a right password is
    /// no failure) but the streak stays, or a password alone would wipe the wrong codes
    /// before it and let whoever holds it guess codes forever.
    pub async fn password_right(&self, ctx: &Ctx<'_>, owner: &User) -> Result<(), LimiterError> {
        if owner.mfa_enabled {
            refund(ctx, &self.key).await
        } else {
            self.succeeded(ctx).await
        }
    }
}

/// Takes back the attempt reserved on the counter `key` (see `LockoutAttempt::password_right`).
pub(super) async fn refund(ctx: &Ctx<'_>, key: &str) -> Result<(), LimiterError> {
    ctx.limiter
        .login_refunded(key, ctx.settings::<SessionsSettings>().lockout)
        .await
}
