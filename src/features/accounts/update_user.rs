//! Profile updates. Changing the password or the email needs the current password,
//! checked inside the account's login lockout.

use super::mails::{self, EMAIL_CHANGE_CODE};
use super::{AccountsSettings, CHANGE_EMAIL, RESEND_COOLDOWN_SECONDS};
use crate::features::one_time_tokens::{self, Issue, Owner};
use crate::features::sessions::{self, Caller, LoginError};
use crate::features::users::passwords::{self, HashError};
use crate::features::users::{self, FullName, User, Users, UsersSettings};
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::{random_uuid, VerificationCode};
use crate::kernel::sql::StoreError;
use crate::kernel::{EmailAddress, Password, UnixSeconds};
use crate::rate_limit::LimiterError;

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
    /// The account has no password (it signs in by a provider or a passkey): a first one
    /// is set only through forget + reset, whose mailed link proves the address again.
    #[error("the account has no password to change")]
    PasswordNotSet,
    /// A password-less account's email change without a recent login (sessions.md §1).
    #[error("reauthentication required")]
    Reauthentication(crate::kernel::problem::ApiError),
    /// Too many wrong passwords for this account (at login or here): wait.
    #[error("too many wrong passwords; retry in {retry_after_seconds} s")]
    Locked { retry_after_seconds: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Limiter(#[from] LimiterError),
}

impl From<LoginError> for UpdateUserError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::Locked { retry_after_seconds } => Self::Locked { retry_after_seconds },
            LoginError::Limiter(e) => Self::Limiter(e),
            LoginError::Store(e) => Self::Store(e),
            LoginError::Hash(e) => Self::Hash(e),
            _ => Self::InvalidCredentials,
        }
    }
}

pub async fn update_user(ctx: &Ctx<'_>, caller: &Caller, update: UserUpdate) -> Result<User, UpdateUserError> {
    let user = &caller.user;
    let now = ctx.clock.now();
    let users = Users(ctx.db);
    let email_change = update.email.filter(|e| e.as_str() != user.email);
    if !user.has_password() {
        if update.password.is_some() {
            return Err(UpdateUserError::PasswordNotSet);
        }
        if email_change.is_some() {
            sessions::reauthenticate(ctx, caller, None)
                .await
                .map_err(UpdateUserError::Reauthentication)?;
        }
    } else if email_change.is_some() || update.password.is_some() {
        let current = update
            .current_password
            .as_deref()
            .ok_or(UpdateUserError::CurrentPasswordRequired)?;
        // A stolen token must not allow silent guesses: wrong answers count in the lockout.
        if !sessions::check_password(ctx, user, current).await? {
            return Err(UpdateUserError::InvalidCredentials);
        }
    }
    if let Some(name) = update.full_name {
        users.set_full_name(&user.id, name.into_inner().as_deref(), now).await?;
    }
    if let Some(password) = update.password {
        change_password(ctx, caller, &password, now).await?;
    }
    if let Some(new_email) = email_change {
        request_email_change(ctx, caller, &new_email, now).await?;
    }
    Ok(users.by_id(&user.id).await?.unwrap_or_else(|| user.clone()))
}

/// The new hash, the end of every other session and of every unused reset or email-change
/// token, in one transaction: a failure leaves none of them half done.
async fn change_password(
    ctx: &Ctx<'_>,
    caller: &Caller,
    password: &Password,
    now: UnixSeconds,
) -> Result<(), UpdateUserError> {
    let user = &caller.user;
    let hash = passwords::hash(password.expose(), ctx.settings::<UsersSettings>().bcrypt_cost)?;
    ctx.db
        .batch(&[
            users::set_password_hash(&user.id, &hash, now),
            sessions::revoke_all_but(&user.id, Some(&caller.session_id), now),
            one_time_tokens::end_all_of_user(&user.id, now),
        ])
        .await
        .map_err(StoreError::from)?;
    ctx.outbox.send(users::password_changed(&user.email));
    Ok(())
}

/// The new address gets a code and becomes the account's only once it is confirmed
/// through verify-email; the old address is told. If the new address already belongs to
/// an account, its owner is told instead and no code exists. Both cases run the same
/// statements in one round trip, and the caller's answer is the same. A new code is
/// issued at most once per cooldown per user (the one already mailed stays valid).
async fn request_email_change(
    ctx: &Ctx<'_>,
    caller: &Caller,
    new_email: &EmailAddress,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    let user = &caller.user;
    let code = VerificationCode::generate();
    let token_id = random_uuid();
    let minutes = ctx.settings::<AccountsSettings>().code_minutes;
    let issue = Issue {
        id: &token_id,
        purpose: CHANGE_EMAIL,
        owner: Owner::UserMovingTo(&user.id, &caller.session_id),
        sent_to: new_email.as_str(),
        digest: ctx.digester.digest(CHANGE_EMAIL.0, new_email.as_str(), code.expose()),
        now,
        lifetime_seconds: minutes * 60,
        cooldown_since: Some(now - RESEND_COOLDOWN_SECONDS),
    };
    let mut statements = one_time_tokens::issue(&issue).to_vec();
    statements.push(users::account_at(new_email.as_str()));
    let results = ctx.db.batch(&statements).await?;
    if one_time_tokens::issued(&results, 0) {
        ctx.outbox.send(mails::code(
            &EMAIL_CHANGE_CODE,
            new_email.as_str(),
            code.expose(),
            minutes,
        ));
    } else if users::exists(&results, 3) {
        ctx.outbox.send(mails::account_exists(ctx, new_email.as_str()));
    } else {
        // Cooling down: the code mailed a moment ago stays the one.
        return Ok(());
    }
    ctx.outbox.send(mails::email_change_notice(&user.email, new_email));
    Ok(())
}
