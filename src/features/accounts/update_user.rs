//! Profile updates. Changing the password or the email needs the current password.

use super::mails::{self, EMAIL_CHANGE_CODE};
use super::{AccountsSettings, CHANGE_EMAIL};
use crate::features::one_time_tokens::{OneTimeToken, OneTimeTokens};
use crate::features::sessions::{Caller, Sessions};
use crate::features::users::passwords::{self, HashError};
use crate::features::users::{self, FullName, User, Users, UsersSettings};
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::VerificationCode;
use crate::kernel::sql::StoreError;
use crate::kernel::{EmailAddress, Password, UnixSeconds};

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

pub async fn update_user(ctx: &Ctx<'_>, caller: &Caller, update: UserUpdate) -> Result<User, UpdateUserError> {
    let user = &caller.user;
    let now = ctx.clock.now();
    let users = Users(ctx.db);
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
        users.set_full_name(&user.id, name.into_inner().as_deref(), now).await?;
    }
    if let Some(password) = update.password {
        let hash = passwords::hash(password.expose(), ctx.settings::<UsersSettings>().bcrypt_cost)?;
        users.set_password_hash(&user.id, &hash, now).await?;
        // Whoever else holds a session of this account is logged out; the caller stays.
        Sessions(ctx.db)
            .revoke_all_but(&user.id, Some(&caller.session_id), now)
            .await?;
        ctx.outbox.send(users::password_changed(&user.email));
    }
    if let Some(new_email) = email_change {
        request_email_change(ctx, user, &new_email, now).await?;
    }
    Ok(users.by_id(&user.id).await?.unwrap_or_else(|| user.clone()))
}

/// The new address gets a code and becomes the account's only once it is confirmed
/// through verify-email; the old address is told. If the new address already belongs to
/// an account, its owner is told instead and no code exists — the caller's answer is the same.
async fn request_email_change(
    ctx: &Ctx<'_>,
    user: &User,
    new_email: &EmailAddress,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    if Users(ctx.db).by_email(new_email).await?.is_some() {
        ctx.outbox.send(mails::account_exists(ctx, new_email.as_str()));
    } else {
        let minutes = ctx.settings::<AccountsSettings>().code_minutes;
        let code = VerificationCode::generate();
        let digest = ctx.digester.digest(CHANGE_EMAIL.0, &user.id.0, code.expose());
        let token = OneTimeToken {
            new_email: Some(new_email.as_str().to_owned()),
            ..OneTimeToken::issue(CHANGE_EMAIL, &user.id, digest, now, minutes * 60)
        };
        OneTimeTokens(ctx.db).replace(&token, None).await?;
        ctx.outbox.send(mails::code(
            &EMAIL_CHANGE_CODE,
            new_email.as_str(),
            code.expose(),
            minutes,
        ));
    }
    ctx.outbox.send(mails::email_change_notice(&user.email, new_email));
    Ok(())
}
