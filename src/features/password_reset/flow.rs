//! Forgotten passwords: a mailed single-use link, then a new password that ends every
//! session, every other unused token and the account's login lockout.

use super::store;
use super::{PasswordResetSettings, PASSWORD_RESET_LINK, RESET_PASSWORD};
use crate::features::one_time_tokens::{Issue, OneTimeTokens, Owner};
use crate::features::sessions;
use crate::features::users::passwords::{self, HashError};
use crate::features::users::{self, UsersSettings};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::mail::Mail;
use crate::kernel::secrets::{random_uuid, OpaqueToken};
use crate::kernel::sql::StoreError;
use crate::kernel::{EmailAddress, Password};
use crate::rate_limit::LimiterError;

/// Reset tokens are looked up by digest alone: the link carries nothing else.
const RESET_SUBJECT: &str = "";

#[derive(Debug, thiserror::Error)]
pub enum ResetPasswordError {
    #[error("the reset token is invalid, used or expired")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Limiter(#[from] LimiterError),
}

/// `FRONTEND_URL/reset-password?token=...`.
fn reset_url(ctx: &Ctx<'_>, token: &str) -> String {
    format!("{}/reset-password?token={token}", ctx.config.frontend_url)
}

/// Mails a reset link if the address has an account (replacing any link mailed before);
/// the same statements run, in one round trip, either way.
pub async fn forget_password(ctx: &Ctx<'_>, email: &EmailAddress) -> Result<(), StoreError> {
    let now = ctx.clock.now();
    let minutes = ctx.settings::<PasswordResetSettings>().link_minutes;
    let token = OpaqueToken::generate();
    let id = random_uuid();
    let issue = Issue {
        id: &id,
        purpose: RESET_PASSWORD,
        owner: Owner::AccountAt { unverified_only: false },
        sent_to: email.as_str(),
        digest: ctx.digester.digest(RESET_PASSWORD.0, RESET_SUBJECT, token.expose()),
        now,
        lifetime_seconds: minutes * 60,
        cooldown_since: None,
    };
    if OneTimeTokens(ctx.db).issue(&issue).await? {
        ctx.outbox.send(
            Mail::new(&PASSWORD_RESET_LINK, email.as_str())
                .with("reset_url", reset_url(ctx, token.expose()))
                .with("expires_minutes", minutes),
        );
    }
    Ok(())
}

/// `token` is `None` when the caller sent something that cannot be a token.
pub async fn reset_password(
    ctx: &Ctx<'_>,
    token: Option<&OpaqueToken>,
    new_password: &Password,
) -> Result<(), ResetPasswordError> {
    let token = token.ok_or(ResetPasswordError::InvalidToken)?;
    // Hash first, so a token is consumed only when the new password can be stored.
    let hash = passwords::hash(new_password.expose(), ctx.settings::<UsersSettings>().bcrypt_cost)?;
    let now = ctx.clock.now();
    let digest = ctx.digester.digest(RESET_PASSWORD.0, RESET_SUBJECT, token.expose());
    // The link reached the mailbox, which proves the address as well as a code would.
    let results = ctx
        .db
        .batch(&store::reset(&digest, &hash, now, &random_uuid()))
        .await
        .map_err(StoreError::from)?;
    let (user_id, email) = store::reset_account(results)?.ok_or(ResetPasswordError::InvalidToken)?;
    ctx.outbox.send(users::password_changed(&email));
    // The owner can log in at once with the new password, whatever was guessed before.
    sessions::end_lockout(ctx, &email).await?;
    ctx.emit(AuthEvent::PasswordReset { user_id });
    Ok(())
}
