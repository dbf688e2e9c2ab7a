//! Forgotten passwords: a mailed single-use link, then a new password that ends every session.

use super::{PasswordResetSettings, PASSWORD_RESET_LINK, RESET_PASSWORD};
use crate::features::one_time_tokens::{OneTimeToken, OneTimeTokens};
use crate::features::sessions::Sessions;
use crate::features::users::passwords::{self, HashError};
use crate::features::users::{self, Users, UsersSettings};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::mail::Mail;
use crate::kernel::secrets::OpaqueToken;
use crate::kernel::sql::StoreError;
use crate::kernel::{EmailAddress, Password};

/// Reset tokens are looked up by digest alone: there is no user to bind them to yet.
const RESET_SUBJECT: &str = "";

#[derive(Debug, thiserror::Error)]
pub enum ResetPasswordError {
    #[error("the reset token is invalid, used or expired")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// `FRONTEND_URL/reset-password?token=...`.
fn reset_url(ctx: &Ctx<'_>, token: &str) -> String {
    format!("{}/reset-password?token={token}", ctx.config.frontend_url)
}

/// Mails a reset link if the account exists; answers the same either way.
pub async fn forget_password(ctx: &Ctx<'_>, email: &EmailAddress) -> Result<(), StoreError> {
    let Some(user) = Users(ctx.db).by_email(email).await? else {
        return Ok(());
    };
    let now = ctx.clock.now();
    let minutes = ctx.settings::<PasswordResetSettings>().link_minutes;
    let token = OpaqueToken::generate();
    let digest = ctx.digester.digest(RESET_PASSWORD.0, RESET_SUBJECT, token.expose());
    let stored = OneTimeToken::issue(RESET_PASSWORD, &user.id, digest, now, minutes * 60);
    OneTimeTokens(ctx.db).replace(&stored, None).await?;
    ctx.outbox.send(
        Mail::new(&PASSWORD_RESET_LINK, user.email)
            .with("reset_url", reset_url(ctx, token.expose()))
            .with("expires_minutes", minutes),
    );
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
    let consumed = OneTimeTokens(ctx.db)
        .consume(RESET_PASSWORD, &digest, now, i64::MAX)
        .await?
        .ok_or(ResetPasswordError::InvalidToken)?;
    let user_id = consumed.user_id;
    let users = Users(ctx.db);
    users.set_password_hash(&user_id, &hash, now).await?;
    Sessions(ctx.db).revoke_all_but(&user_id, None, now).await?;
    // The link reached the mailbox, which proves the address as well as a code would.
    users.mark_email_verified(&user_id, now).await?;
    if let Some(user) = users.by_id(&user_id).await? {
        ctx.outbox.send(users::password_changed(&user.email));
    }
    ctx.emit(AuthEvent::PasswordReset { user_id });
    Ok(())
}
