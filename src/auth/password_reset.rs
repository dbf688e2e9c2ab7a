//! Forgotten passwords: a mailed single-use link, then a new password that ends every session.

use super::passwords::{self, HashError};
use super::Deps;
use crate::domain::{
    secrets::random_uuid, EmailAddress, Mail, OneTimeToken, Password, ResetToken, StoreError, TokenPurpose,
};

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

/// Mails a reset link if the account exists; answers the same either way.
pub async fn forget_password(deps: &Deps<'_>, email: &EmailAddress) -> Result<(), StoreError> {
    let Some(user) = deps.store.user_by_email(email).await? else {
        return Ok(());
    };
    let now = deps.clock.now();
    let token = ResetToken::generate();
    let stored = OneTimeToken {
        id: random_uuid(),
        user_id: user.id.clone(),
        purpose: TokenPurpose::ResetPassword,
        digest: deps
            .digester
            .digest(TokenPurpose::ResetPassword, RESET_SUBJECT, token.expose()),
        new_email: None,
        created_at: now,
        expires_at: now + deps.config.password_reset_minutes * 60,
        attempts: 0,
    };
    deps.store.replace_token(&stored, None).await?;
    deps.outbox.send(Mail::PasswordResetLink {
        to: user.email,
        reset_url: deps.reset_url(token.expose()),
        expires_minutes: deps.config.password_reset_minutes,
    });
    Ok(())
}

/// `token` is `None` when the caller sent something that cannot be a token.
pub async fn reset_password(
    deps: &Deps<'_>,
    token: Option<&ResetToken>,
    new_password: &Password,
) -> Result<(), ResetPasswordError> {
    let token = token.ok_or(ResetPasswordError::InvalidToken)?;
    // Hash first, so a token is consumed only when the new password can be stored.
    let hash = passwords::hash(new_password.expose(), deps.config.bcrypt_cost)?;
    let now = deps.clock.now();
    let digest = deps
        .digester
        .digest(TokenPurpose::ResetPassword, RESET_SUBJECT, token.expose());
    let consumed = deps
        .store
        .consume_token(TokenPurpose::ResetPassword, &digest, now, i64::MAX)
        .await?
        .ok_or(ResetPasswordError::InvalidToken)?;
    let user_id = consumed.user_id;
    deps.store.set_password_hash(&user_id, &hash, now).await?;
    deps.store.revoke_sessions_of(&user_id, None, now).await?;
    // The link reached the mailbox, which proves the address as well as a code would.
    deps.store.mark_email_verified(&user_id, now).await?;
    if let Some(user) = deps.store.user_by_id(&user_id).await? {
        deps.outbox.send(Mail::PasswordChanged { to: user.email });
    }
    Ok(())
}
