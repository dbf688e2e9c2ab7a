//! Turning 2FA off and making new recovery codes: both need reauthentication and a second
//! factor, and both count a wrong one in the account's login lockout, like a wrong
//! password (a stolen session must not be a way to guess codes).

use super::factor::{self, FactorError, Presented};
use super::store;
use super::{mails, recovery};
use crate::features::sessions::{self, Caller, LockoutAttempt, LoginError};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::problem::ApiError;
use crate::kernel::sql::StoreError;
use crate::rate_limit::LimiterError;

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("two-factor sign-in is not on")]
    NotEnabled,
    #[error("the second factor is wrong")]
    InvalidCode,
    /// Reauthentication failed, or the account is locked out: its own answer.
    #[error("reauthentication: {0:?}")]
    Reauth(ApiError),
    #[error(transparent)]
    Factor(#[from] FactorError),
    #[error(transparent)]
    Limiter(#[from] LimiterError),
}

impl From<StoreError> for ManageError {
    fn from(error: StoreError) -> Self {
        Self::Factor(error.into())
    }
}

impl From<LoginError> for ManageError {
    fn from(error: LoginError) -> Self {
        Self::Reauth(error.into())
    }
}

/// Reauthentication and the second factor inside one lockout attempt: only when both are
/// right does the streak end (a right password alone must not wipe a wrong code).
async fn authorize(
    ctx: &Ctx<'_>,
    caller: &Caller,
    current_password: Option<&str>,
    presented: &Presented,
) -> Result<(), ManageError> {
    let user = &caller.user;
    if !user.mfa_enabled {
        return Err(ManageError::NotEnabled);
    }
    let attempt = LockoutAttempt::begin(ctx, &user.email).await?;
    sessions::reauthenticate_within(ctx, caller, current_password, &attempt)
        .await
        .map_err(ManageError::Reauth)?;
    if !factor::check(ctx, &user.id, presented).await? {
        attempt.failed(ctx, user);
        ctx.emit(AuthEvent::SecondFactorFailed {
            user_id: user.id.clone(),
        });
        return Err(ManageError::InvalidCode);
    }
    attempt.succeeded(ctx).await?;
    Ok(())
}

/// Turns 2FA off: the secret and every recovery code go, and every other session of the
/// user ends (the caller's stays).
pub async fn disable(
    ctx: &Ctx<'_>,
    caller: &Caller,
    current_password: Option<&str>,
    presented: &Presented,
) -> Result<(), ManageError> {
    authorize(ctx, caller, current_password, presented).await?;
    let user = &caller.user;
    let now = ctx.clock.now();
    let mut statements = store::disable(&user.id, now);
    statements.push(sessions::revoke_all_but(&user.id, Some(&caller.session_id), now));
    ctx.db.batch(&statements).await.map_err(StoreError::from)?;
    ctx.outbox.send(mails::notice(ctx, &mails::MFA_DISABLED, &user.email));
    ctx.emit(AuthEvent::MfaDisabled {
        user_id: user.id.clone(),
    });
    Ok(())
}

/// Replaces the recovery codes with a new generation (returned, shown once); needs a TOTP
/// code, not a recovery code.
pub async fn regenerate_recovery_codes(
    ctx: &Ctx<'_>,
    caller: &Caller,
    current_password: Option<&str>,
    code: &super::totp::TotpCode,
) -> Result<Vec<String>, ManageError> {
    authorize(ctx, caller, current_password, &Presented::Totp(code.clone())).await?;
    let user = &caller.user;
    let codes = recovery::generation();
    let digests: Vec<String> = codes
        .iter()
        .map(|code| recovery::digest_of(code, ctx.digester, &user.id))
        .collect();
    let statements = store::replace_recovery_codes(&user.id, ctx.clock.now(), &digests);
    ctx.db.batch(&statements).await.map_err(StoreError::from)?;
    ctx.outbox
        .send(mails::notice(ctx, &mails::RECOVERY_CODES_REGENERATED, &user.email));
    ctx.emit(AuthEvent::RecoveryCodesRegenerated {
        user_id: user.id.clone(),
    });
    Ok(codes)
}
