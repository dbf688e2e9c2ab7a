//! Email verification, for a new account or for an email change.

use super::{CHANGE_EMAIL, MAX_CODE_ATTEMPTS, VERIFY_EMAIL};
use crate::features::one_time_tokens::{OneTimeToken, OneTimeTokens};
use crate::features::users::{Users, WriteUserError};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::VerificationCode;
use crate::kernel::sql::StoreError;
use crate::kernel::{EmailAddress, UnixSeconds};

#[derive(Debug, thiserror::Error)]
pub enum VerifyEmailError {
    /// Wrong, expired, used or dead code, or an email with nothing to verify: all alike.
    #[error("the code is invalid or expired")]
    InvalidCode,
    /// The new address was taken by another account after the change was requested.
    #[error("the new email address is already in use")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `code` is `None` when the caller sent something that cannot be a code: it counts as a
/// wrong guess like any other.
pub async fn verify_email(
    ctx: &Ctx<'_>,
    email: &EmailAddress,
    code: Option<&VerificationCode>,
) -> Result<(), VerifyEmailError> {
    let now = ctx.clock.now();
    let tokens = OneTimeTokens(ctx.db);
    let (purpose, user_id) = match Users(ctx.db).by_email(email).await? {
        Some(user) if !user.email_verified => (VERIFY_EMAIL, user.id),
        _ => match tokens.live_by_new_email(CHANGE_EMAIL, email, now).await? {
            Some(pending) => (CHANGE_EMAIL, pending.user_id),
            None => return Err(VerifyEmailError::InvalidCode),
        },
    };
    let consumed = match code {
        Some(code) => {
            let digest = ctx.digester.digest(purpose.0, &user_id.0, code.expose());
            tokens.consume(purpose, &digest, now, MAX_CODE_ATTEMPTS).await?
        }
        None => None,
    };
    let Some(token) = consumed.filter(|t| t.user_id == user_id) else {
        tokens.record_failed_attempt(&user_id, purpose, now).await?;
        return Err(VerifyEmailError::InvalidCode);
    };
    if purpose == CHANGE_EMAIL {
        confirm_email_change(ctx, &token, now).await?;
    } else {
        Users(ctx.db).mark_email_verified(&user_id, now).await?;
    }
    ctx.emit(AuthEvent::EmailVerified { user_id });
    Ok(())
}

async fn confirm_email_change(ctx: &Ctx<'_>, token: &OneTimeToken, now: UnixSeconds) -> Result<(), VerifyEmailError> {
    let new_email = token
        .new_email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok())
        .ok_or(VerifyEmailError::InvalidCode)?;
    match Users(ctx.db).set_email(&token.user_id, &new_email, now).await {
        Ok(()) => Ok(()),
        Err(WriteUserError::EmailTaken) => Err(VerifyEmailError::EmailTaken),
        Err(WriteUserError::Store(e)) => Err(e.into()),
    }
}
