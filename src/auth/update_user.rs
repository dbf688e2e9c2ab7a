//! Profile updates. Changing the password or the email needs the current password.

use super::authenticate::Caller;
use super::passwords::{self, HashError};
use super::verify_email::email_change_notice;
use super::Deps;
use crate::domain::{
    secrets::random_uuid, EmailAddress, FullName, Mail, OneTimeToken, Password, StoreError, TokenPurpose, User,
    VerificationCode,
};

#[derive(Default)]
pub struct UserUpdate {
    pub full_name: Option<FullName>,
    pub email: Option<EmailAddress>,
    pub password: Option<Password>,
    pub current_password: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    #[error("changing the email or password requires current_password")]
    CurrentPasswordRequired,
    #[error("current_password is wrong")]
    InvalidCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

pub async fn update_user(deps: &Deps<'_>, caller: &Caller, update: UserUpdate) -> Result<User, UpdateUserError> {
    let user = &caller.user;
    let now = deps.clock.now();
    let email_change = update.email.filter(|e| e.as_str() != user.email);
    if email_change.is_some() || update.password.is_some() {
        let current = update
            .current_password
            .as_deref()
            .ok_or(UpdateUserError::CurrentPasswordRequired)?;
        if !passwords::verify(current, &user.password_hash) {
            return Err(UpdateUserError::InvalidCredentials);
        }
    }
    if let Some(name) = update.full_name {
        deps.store
            .set_full_name(&user.id, name.into_inner().as_deref(), now)
            .await?;
    }
    if let Some(password) = update.password {
        let hash = passwords::hash(password.expose(), deps.config.bcrypt_cost)?;
        deps.store.set_password_hash(&user.id, &hash, now).await?;
        // Whoever else holds a session of this account is logged out; the caller stays.
        deps.store
            .revoke_sessions_of(&user.id, Some(&caller.session_id), now)
            .await?;
        deps.outbox.send(Mail::PasswordChanged { to: user.email.clone() });
    }
    if let Some(new_email) = email_change {
        request_email_change(deps, user, &new_email, now).await?;
    }
    Ok(deps.store.user_by_id(&user.id).await?.unwrap_or_else(|| user.clone()))
}

/// The new address gets a code and becomes the account's only once it is confirmed
/// through verify-email; the old address is told. If the new address already belongs to
/// an account, its owner is told instead and no code exists — the caller's answer is the same.
async fn request_email_change(
    deps: &Deps<'_>,
    user: &User,
    new_email: &EmailAddress,
    now: i64,
) -> Result<(), StoreError> {
    if deps.store.user_by_email(new_email).await?.is_some() {
        deps.outbox.send(Mail::AccountExists {
            to: new_email.as_str().to_owned(),
            reset_url: deps.forgot_password_url(),
        });
    } else {
        let code = VerificationCode::generate();
        let token = OneTimeToken {
            id: random_uuid(),
            user_id: user.id.clone(),
            purpose: TokenPurpose::ChangeEmail,
            digest: deps
                .digester
                .digest(TokenPurpose::ChangeEmail, &user.id.0, code.expose()),
            new_email: Some(new_email.as_str().to_owned()),
            created_at: now,
            expires_at: now + deps.config.email_code_minutes * 60,
            attempts: 0,
        };
        deps.store.replace_token(&token, None).await?;
        deps.outbox.send(Mail::EmailChangeCode {
            to: new_email.as_str().to_owned(),
            code: code.expose().to_owned(),
            expires_minutes: deps.config.email_code_minutes,
        });
    }
    deps.outbox.send(email_change_notice(&user.email, new_email));
    Ok(())
}
