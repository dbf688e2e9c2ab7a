//! Email verification, for a new account or for an email change.

use super::{Deps, MAX_CODE_ATTEMPTS};
use crate::domain::{EmailAddress, Mail, OneTimeToken, StoreError, TokenPurpose, VerificationCode, WriteUserError};

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
    deps: &Deps<'_>,
    email: &EmailAddress,
    code: Option<&VerificationCode>,
) -> Result<(), VerifyEmailError> {
    let now = deps.clock.now();
    let (purpose, user_id) = match deps.store.user_by_email(email).await? {
        Some(user) if !user.email_verified => (TokenPurpose::VerifyEmail, user.id),
        _ => match deps.store.pending_email_change(email, now).await? {
            Some(pending) => (TokenPurpose::ChangeEmail, pending.user_id),
            None => return Err(VerifyEmailError::InvalidCode),
        },
    };
    let consumed = match code {
        Some(code) => {
            let digest = deps.digester.digest(purpose, &user_id.0, code.expose());
            deps.store
                .consume_token(purpose, &digest, now, MAX_CODE_ATTEMPTS)
                .await?
        }
        None => None,
    };
    let Some(token) = consumed.filter(|t| t.user_id == user_id) else {
        deps.store.record_failed_attempt(&user_id, purpose, now).await?;
        return Err(VerifyEmailError::InvalidCode);
    };
    match purpose {
        TokenPurpose::ChangeEmail => confirm_email_change(deps, &token, now).await,
        _ => Ok(deps.store.mark_email_verified(&user_id, now).await?),
    }
}

async fn confirm_email_change(deps: &Deps<'_>, token: &OneTimeToken, now: i64) -> Result<(), VerifyEmailError> {
    let new_email = token
        .new_email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok())
        .ok_or(VerifyEmailError::InvalidCode)?;
    match deps.store.set_email(&token.user_id, &new_email, now).await {
        Ok(()) => Ok(()),
        Err(WriteUserError::EmailTaken) => Err(VerifyEmailError::EmailTaken),
        Err(WriteUserError::Store(e)) => Err(e.into()),
    }
}

/// Sent to the old address when a change is requested, so a hijacked session cannot
/// move an account away silently.
pub fn email_change_notice(old_email: &str, new_email: &EmailAddress) -> Mail {
    Mail::EmailChangeRequested {
        to: old_email.to_owned(),
        new_email: new_email.redacted(),
    }
}
