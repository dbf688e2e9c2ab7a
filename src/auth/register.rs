//! Registration. The answer is the same whether or not the email is taken; only the mail differs.

use super::{Deps, RESEND_COOLDOWN_SECONDS};
use crate::auth::passwords::{self, HashError};
use crate::domain::{
    secrets::random_uuid, EmailAddress, Mail, OneTimeToken, Password, StoreError, TokenPurpose, User, UserId,
    VerificationCode, WriteUserError,
};

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

pub async fn register(deps: &Deps<'_>, registration: Registration) -> Result<(), RegisterError> {
    // Hash before looking the email up: every path then spends the same bcrypt time.
    let password_hash = passwords::hash(registration.password.expose(), deps.config.bcrypt_cost)?;
    let now = deps.clock.now();
    let user = User {
        id: UserId(random_uuid()),
        email: registration.email.as_str().to_owned(),
        full_name: registration.full_name,
        password_hash,
        email_verified: false,
        created_at: now,
        updated_at: now,
    };
    match deps.store.insert_user(&user).await {
        Ok(()) => {
            send_verification_code(deps, &user).await?;
            Ok(())
        }
        // Taken (possibly by a concurrent registration a moment ago): tell the owner,
        // never the caller.
        Err(WriteUserError::EmailTaken) => {
            if let Some(existing) = deps.store.user_by_email(&registration.email).await? {
                notify_existing_account(deps, &existing).await?;
            }
            Ok(())
        }
        Err(WriteUserError::Store(e)) => Err(e.into()),
    }
}

async fn notify_existing_account(deps: &Deps<'_>, existing: &User) -> Result<(), StoreError> {
    if existing.email_verified {
        deps.outbox.send(Mail::AccountExists {
            to: existing.email.clone(),
            reset_url: deps.forgot_password_url(),
        });
        Ok(())
    } else {
        // An unverified owner gets a fresh code, exactly as resend would; the stored
        // password stays as it was.
        send_verification_code(deps, existing).await.map(|_| ())
    }
}

/// Issues a new code replacing the old one and mails it — unless one was mailed within
/// the cooldown, in which case the code already mailed stays valid. Answers whether it mailed.
pub async fn send_verification_code(deps: &Deps<'_>, user: &User) -> Result<bool, StoreError> {
    let now = deps.clock.now();
    let code = VerificationCode::generate();
    let token = OneTimeToken {
        id: random_uuid(),
        user_id: user.id.clone(),
        purpose: TokenPurpose::VerifyEmail,
        digest: deps
            .digester
            .digest(TokenPurpose::VerifyEmail, &user.id.0, code.expose()),
        new_email: None,
        created_at: now,
        expires_at: now + deps.config.email_code_minutes * 60,
        attempts: 0,
    };
    let stored = deps
        .store
        .replace_token(&token, Some(now - RESEND_COOLDOWN_SECONDS))
        .await?;
    if stored {
        deps.outbox.send(Mail::VerificationCode {
            to: user.email.clone(),
            code: code.expose().to_owned(),
            expires_minutes: deps.config.email_code_minutes,
        });
    }
    Ok(stored)
}

/// Resend: the same answer for unknown, verified and unverified emails; only an
/// unverified account gets mail.
pub async fn resend_verification(deps: &Deps<'_>, email: &EmailAddress) -> Result<(), StoreError> {
    if let Some(user) = deps.store.user_by_email(email).await? {
        if !user.email_verified {
            send_verification_code(deps, &user).await?;
        }
    }
    Ok(())
}
