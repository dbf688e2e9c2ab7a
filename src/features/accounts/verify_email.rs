//! Email verification, for a new account or for an email change. A guess is checked,
//! counted and (if right) consumed in one atomic statement over the codes mailed to the
//! address, so a wrong code takes one round trip whether or not the address has an
//! account, and a burst of parallel guesses meets the try limit as it arrives.

use super::{CHANGE_EMAIL, MAX_CODE_ATTEMPTS, MAX_CODE_TRIES_PER_DAY, VERIFY_EMAIL};
use crate::features::one_time_tokens::{self, Guess, OneTimeToken, OneTimeTokens};
use crate::features::password_reset;
use crate::features::sessions;
use crate::features::users::{self, Users};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::VerificationCode;
use crate::kernel::sql::{DbError, StoreError};
use crate::kernel::{EmailAddress, SessionId, UnixSeconds};

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
    // No code is six digits of nothing: its digest matches no token, and the try counts.
    let secret = code.map_or("", |c| c.expose());
    let digest = |purpose: one_time_tokens::Purpose| ctx.digester.digest(purpose.0, email.as_str(), secret);
    let guess = Guess {
        sent_to: email.as_str(),
        candidates: [
            (VERIFY_EMAIL, digest(VERIFY_EMAIL)),
            (CHANGE_EMAIL, digest(CHANGE_EMAIL)),
        ],
        now,
        max_attempts: MAX_CODE_ATTEMPTS,
        daily_cap: MAX_CODE_TRIES_PER_DAY,
    };
    let token = OneTimeTokens(ctx.db)
        .attempt(&guess)
        .await?
        .ok_or(VerifyEmailError::InvalidCode)?;
    if token.purpose == CHANGE_EMAIL {
        confirm_email_change(ctx, &token, email, now).await?;
    } else {
        prove_registration(ctx, &token, email, now).await?;
    }
    ctx.emit(AuthEvent::EmailVerified { user_id: token.user_id });
    Ok(())
}

/// A new account proved its address. If a second registration met it while unverified, the
/// password it has was chosen before anyone proved the address — maybe by someone else —
/// so it is dropped and the address (now proven) gets a reset link instead.
async fn prove_registration(
    ctx: &Ctx<'_>,
    token: &OneTimeToken,
    email: &EmailAddress,
    now: UnixSeconds,
) -> Result<(), VerifyEmailError> {
    let must_reset = Users(ctx.db).prove_address(&token.user_id, email.as_str(), now).await?;
    if must_reset == Some(true) {
        password_reset::mail_reset_link(ctx, email).await?;
    }
    Ok(())
}

/// The account moves to the proven address; its other sessions and every other unused
/// token of it end in the same transaction.
async fn confirm_email_change(
    ctx: &Ctx<'_>,
    token: &OneTimeToken,
    email: &EmailAddress,
    now: UnixSeconds,
) -> Result<(), VerifyEmailError> {
    let keep = token.session_id.clone().map(SessionId);
    let statements = [
        users::set_email(&token.user_id, email, now),
        sessions::revoke_all_but(&token.user_id, keep.as_ref(), now),
        one_time_tokens::end_all_of_user(&token.user_id, now),
    ];
    match ctx.db.batch(&statements).await {
        Ok(_) => Ok(()),
        Err(DbError::Unique(_)) => Err(VerifyEmailError::EmailTaken),
        Err(DbError::Store(e)) => Err(e.into()),
    }
}
