//! `mfa/verify`: the second half of a sign-in that was answered an MFA challenge. The
//! order of checks is mfa.md's: the token (one of its tries spent first), the account's
//! lockout, the second factor, then the session by both factors.

use super::factor::{self, FactorError, Presented};
use super::mails;
use super::store::MfaStore;
use crate::features::sessions::{self, ClientInfo, LockoutAttempt, LoggedIn, LoginError};
use crate::features::users::Users;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the mfa_token is unknown, expired, used or out of tries")]
    InvalidToken,
    #[error("the second factor is wrong")]
    InvalidCode,
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Factor(#[from] FactorError),
}

impl From<StoreError> for VerifyError {
    fn from(error: StoreError) -> Self {
        Self::Factor(error.into())
    }
}

/// Completes the sign-in of `mfa_token` with `presented`: the session, opened by
/// [first factor, this method]; its opening ends the lockout streak and applies the
/// new-device mail rule.
pub async fn verify(
    ctx: &Ctx<'_>,
    mfa_token: &str,
    presented: &Presented,
    client: ClientInfo,
) -> Result<LoggedIn, VerifyError> {
    let pending = sessions::pending_sign_in(ctx, mfa_token)
        .await?
        .ok_or(VerifyError::InvalidToken)?;
    let user = Users(ctx.db)
        .by_id(&pending.user_id)
        .await?
        .ok_or(VerifyError::InvalidToken)?;
    let attempt = LockoutAttempt::begin(ctx, &user.email).await?;
    if !factor::check(ctx, &user.id, presented).await? {
        attempt.failed(ctx, &user);
        ctx.emit(AuthEvent::SecondFactorFailed {
            user_id: user.id.clone(),
        });
        return Err(VerifyError::InvalidCode);
    }
    let email = user.email.clone();
    let user_id = user.id.clone();
    let logged_in = sessions::complete_sign_in(ctx, &pending, user, client, presented.method())
        .await?
        .ok_or(VerifyError::InvalidToken)?;
    if let Presented::RecoveryCode(_) = presented {
        let remaining = MfaStore(ctx.db).unused_recovery_codes(&user_id).await?;
        ctx.outbox.send(mails::recovery_code_used(ctx, &email, remaining));
        ctx.emit(AuthEvent::RecoveryCodeUsed {
            user_id,
            remaining: u32::try_from(remaining).unwrap_or(0),
        });
    }
    Ok(logged_in)
}
