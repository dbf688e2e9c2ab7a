//! `mfa/verify`: the second half of a sign-in that was answered an MFA challenge. The
//! order of checks is mfa.md's: the token (one of its tries spent first), the account's
//! lockout, the second factor, then the session by both factors.

use serde_json::Value;

use super::factor::{self, FactorError, Presented};
use super::mails;
use super::store::MfaStore;
use crate::features::passkeys::{self, SecondFactorCheck};
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
    #[error("the passkey challenge is unknown, used, expired or not this mfa_token's")]
    InvalidChallenge,
    #[error("the passkey assertion is wrong")]
    InvalidPasskey,
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

/// What `mfa/verify` was sent: a code, or a passkey assertion for a challenge of
/// `mfa/passkey/options`.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    Code(Presented),
    Passkey { challenge_id: String, credential: Value },
}

impl SecondFactor {
    fn method(&self) -> &'static str {
        match self {
            Self::Code(presented) => presented.method(),
            Self::Passkey { .. } => passkeys::PASSKEY,
        }
    }
}

/// Completes the sign-in of `mfa_token` with `presented`: the session, opened by
/// [first factor, this method]; its opening ends the lockout streak and applies the
/// new-device mail rule.
pub async fn verify(
    ctx: &Ctx<'_>,
    mfa_token: &str,
    presented: &SecondFactor,
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
    let checked_at = ctx.clock.now();
    let right = match presented {
        SecondFactor::Code(code) => factor::check(ctx, &user.id, code).await?,
        SecondFactor::Passkey {
            challenge_id,
            credential,
        } => match passkeys::check_second_factor(ctx, &pending, &user, challenge_id, credential).await? {
            SecondFactorCheck::Valid => true,
            SecondFactorCheck::Invalid => false,
            SecondFactorCheck::InvalidChallenge => {
                // No factor was checked: not a failed login (the token's try is spent).
                attempt.take_back(ctx).await.map_err(LoginError::from)?;
                return Err(VerifyError::InvalidChallenge);
            }
        },
    };
    if !right {
        attempt.failed(ctx, &user);
        ctx.emit(AuthEvent::SecondFactorFailed {
            user_id: user.id.clone(),
        });
        return Err(match presented {
            SecondFactor::Code(_) => VerifyError::InvalidCode,
            SecondFactor::Passkey { .. } => VerifyError::InvalidPasskey,
        });
    }
    let email = user.email.clone();
    let user_id = user.id.clone();
    let Some(logged_in) = sessions::complete_sign_in(ctx, &pending, user, client, presented.method()).await? else {
        // Another verify of this mfa_token won between the two steps: this one's factor
        // signed nobody in, so a recovery code it spent is not lost.
        if let SecondFactor::Code(code) = presented {
            factor::give_back(ctx, &user_id, code, checked_at).await?;
        }
        return Err(VerifyError::InvalidToken);
    };
    if let SecondFactor::Code(Presented::RecoveryCode(_)) = presented {
        let remaining = MfaStore(ctx.db).unused_recovery_codes(&user_id).await?;
        ctx.outbox.send(mails::recovery_code_used(ctx, &email, remaining));
        ctx.emit(AuthEvent::RecoveryCodeUsed {
            user_id,
            remaining: u32::try_from(remaining).unwrap_or(0),
        });
    }
    Ok(logged_in)
}
