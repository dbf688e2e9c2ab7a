//! Registration. The answer is the same whether or not the email is taken; only the mail differs.

use super::mails::{self, VERIFICATION_CODE};
use super::{AccountsSettings, RESEND_COOLDOWN_SECONDS, VERIFY_EMAIL};
use crate::features::one_time_tokens::{OneTimeToken, OneTimeTokens};
use crate::features::users::passwords::{self, HashError};
use crate::features::users::{User, Users, UsersSettings, WriteUserError};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::{random_uuid, VerificationCode};
use crate::kernel::sql::StoreError;
use crate::kernel::{EmailAddress, Password, UserId};

pub struct Registration {
    pub email: EmailAddress,
    pub password: Password,
    pub full_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

pub async fn register(ctx: &Ctx<'_>, registration: Registration) -> Result<(), RegisterError> {
    // Hash before looking the email up: every path then spends the same bcrypt time.
    let cost = ctx.settings::<UsersSettings>().bcrypt_cost;
    let password_hash = passwords::hash(registration.password.expose(), cost)?;
    let now = ctx.clock.now();
    let user = User {
        id: UserId(random_uuid()),
        email: registration.email.as_str().to_owned(),
        full_name: registration.full_name,
        password_hash,
        email_verified: false,
        created_at: now,
        updated_at: now,
    };
    let users = Users(ctx.db);
    match users.insert(&user).await {
        Ok(()) => {
            send_verification_code(ctx, &user).await?;
        }
        // Taken (possibly by a concurrent registration a moment ago): tell the owner,
        // never the caller.
        Err(WriteUserError::EmailTaken) => {
            if let Some(existing) = users.by_email(&registration.email).await? {
                notify_existing_account(ctx, &existing).await?;
            }
        }
        Err(WriteUserError::Store(e)) => return Err(e.into()),
    }
    ctx.emit(AuthEvent::RegistrationAccepted);
    Ok(())
}

async fn notify_existing_account(ctx: &Ctx<'_>, existing: &User) -> Result<(), StoreError> {
    if existing.email_verified {
        ctx.outbox.send(mails::account_exists(ctx, &existing.email));
        Ok(())
    } else {
        // An unverified owner gets a fresh code, exactly as resend would; the stored
        // password stays as it was.
        send_verification_code(ctx, existing).await.map(|_| ())
    }
}

/// Issues a new code replacing the old one and mails it — unless one was mailed within
/// the cooldown, in which case the code already mailed stays valid. Answers whether it mailed.
pub async fn send_verification_code(ctx: &Ctx<'_>, user: &User) -> Result<bool, StoreError> {
    let now = ctx.clock.now();
    let minutes = ctx.settings::<AccountsSettings>().code_minutes;
    let code = VerificationCode::generate();
    let digest = ctx.digester.digest(VERIFY_EMAIL.0, &user.id.0, code.expose());
    let token = OneTimeToken::issue(VERIFY_EMAIL, &user.id, digest, now, minutes * 60);
    let stored = OneTimeTokens(ctx.db)
        .replace(&token, Some(now - RESEND_COOLDOWN_SECONDS))
        .await?;
    if stored {
        ctx.outbox
            .send(mails::code(&VERIFICATION_CODE, &user.email, code.expose(), minutes));
    }
    Ok(stored)
}

/// Resend: the same answer for unknown, verified and unverified emails; only an
/// unverified account gets mail.
pub async fn resend_verification(ctx: &Ctx<'_>, email: &EmailAddress) -> Result<(), StoreError> {
    if let Some(user) = Users(ctx.db).by_email(email).await? {
        if !user.email_verified {
            send_verification_code(ctx, &user).await?;
        }
    }
    Ok(())
}
