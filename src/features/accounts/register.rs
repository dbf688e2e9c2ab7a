//! Registration and resend. The answer is the same whether or not the address is taken,
//! in body and in time: every path hashes the password, then runs the same statements in
//! one round trip; only the mail sent (after the answer) differs.

use super::mails::{self, VERIFICATION_CODE};
use super::{AccountsSettings, RESEND_COOLDOWN_SECONDS, VERIFY_EMAIL};
use crate::features::one_time_tokens::{self, Issue, OneTimeTokens, Owner};
use crate::features::users::passwords::{self, HashError};
use crate::features::users::{self as users, Registered, User, UsersSettings};
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

/// A new code for the unverified account at `email`, if there is one and none was mailed
/// within the cooldown (then the code already mailed stays valid).
struct CodeFor {
    code: VerificationCode,
    token_id: String,
}

impl CodeFor {
    fn new() -> Self {
        Self {
            code: VerificationCode::generate(),
            token_id: random_uuid(),
        }
    }

    fn issue<'a>(&'a self, ctx: &Ctx<'_>, email: &'a EmailAddress) -> Issue<'a> {
        let now = ctx.clock.now();
        Issue {
            id: &self.token_id,
            purpose: VERIFY_EMAIL,
            owner: Owner::AccountAt { unverified_only: true },
            sent_to: email.as_str(),
            // Bound to the address it is mailed to, so a guess needs no account lookup.
            digest: ctx.digester.digest(VERIFY_EMAIL.0, email.as_str(), self.code.expose()),
            now,
            lifetime_seconds: ctx.settings::<AccountsSettings>().code_minutes * 60,
            cooldown_since: Some(now - RESEND_COOLDOWN_SECONDS),
        }
    }

    fn mail(&self, ctx: &Ctx<'_>, email: &EmailAddress) {
        let minutes = ctx.settings::<AccountsSettings>().code_minutes;
        ctx.outbox.send(mails::code(
            &VERIFICATION_CODE,
            email.as_str(),
            self.code.expose(),
            minutes,
        ));
    }
}

pub async fn register(ctx: &Ctx<'_>, registration: Registration) -> Result<(), RegisterError> {
    // Hash first: every path spends the same bcrypt time.
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
        mfa_enabled: false,
        passkey_count: 0,
        identity_providers: Vec::new(),
    };
    let code = CodeFor::new();
    // The account unless the address is taken (marking an unverified one contested), and a
    // code for the address's account if it is unverified: one batch, whatever the address.
    let mut statements = users::register(&user).to_vec();
    statements.extend(one_time_tokens::issue(&code.issue(ctx, &registration.email)));
    let results = ctx.db.batch(&statements).await.map_err(StoreError::from)?;
    if one_time_tokens::issued(&results, 3) {
        code.mail(ctx, &registration.email);
    } else if users::registered(&results, 0)? == Registered::TakenVerified {
        // Taken (possibly by a concurrent registration a moment ago): tell the owner, never
        // the caller.
        ctx.outbox.send(mails::account_exists(ctx, registration.email.as_str()));
    }
    ctx.emit(AuthEvent::RegistrationAccepted);
    Ok(())
}

/// Resend: the same answer for unknown, verified and unverified addresses, and the same
/// statements; only an unverified account gets mail, at most once per cooldown.
pub async fn resend_verification(ctx: &Ctx<'_>, email: &EmailAddress) -> Result<(), StoreError> {
    let code = CodeFor::new();
    if OneTimeTokens(ctx.db).issue(&code.issue(ctx, email)).await? {
        code.mail(ctx, email);
    }
    Ok(())
}
