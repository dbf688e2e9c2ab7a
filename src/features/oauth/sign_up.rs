//! Login mode's account rules (oauth.md §Callback 6): an identity already linked signs its
//! user in; otherwise only a provider-verified email leads anywhere: to the verified
//! account that has it (linked; for a 2FA account only once the MFA challenge is passed),
//! or to a new password-less account, which replaces an unverified one at that address.
//! (`account_disabled` is not decided here: accounts have no disabled state yet.)

use super::flow_error::Failure;
use super::id_token::ProviderIdentity;
use super::provider::Provider;
use super::{linking, store};
use crate::features::users::{self, FullName, User, Users, MAX_FULL_NAME_CHARS};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::random_uuid;
use crate::kernel::sql::{DbError, Statement, StoreError};
use crate::kernel::text::lowercase;
use crate::kernel::{EmailAddress, UserId};

/// Whom the sign-in is for, and the email-match link still to be written once that
/// user's MFA challenge is passed.
#[derive(Debug)]
pub struct Decided {
    pub user: UserId,
    pub pending_link: Option<PendingLink>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLink {
    pub subject: String,
    pub email: String,
}

/// Rules a–e, in order. A concurrent sign-up of the same address (the unique email
/// refuses ours) is decided again: it finds that account then.
pub async fn decide(ctx: &Ctx<'_>, provider: Provider, identity: &ProviderIdentity) -> Result<Decided, Failure> {
    match decide_once(ctx, provider, identity).await {
        Err(Attempt::Raced) => match decide_once(ctx, provider, identity).await {
            Err(Attempt::Raced) => Err(Failure::OauthFailed("the account changed during the sign-in")),
            other => other.map_err(Attempt::into_failure),
        },
        other => other.map_err(Attempt::into_failure),
    }
}

enum Attempt {
    Failed(Failure),
    Raced,
}

impl Attempt {
    fn into_failure(self) -> Failure {
        match self {
            Self::Failed(failure) => failure,
            Self::Raced => Failure::OauthFailed("the account changed during the sign-in"),
        }
    }
}

impl<E: Into<Failure>> From<E> for Attempt {
    fn from(error: E) -> Self {
        Self::Failed(error.into())
    }
}

async fn decide_once(ctx: &Ctx<'_>, provider: Provider, identity: &ProviderIdentity) -> Result<Decided, Attempt> {
    let now = ctx.clock.now();
    let email = lowercase(identity.email.as_deref().unwrap_or_default().trim());
    // a. A linked identity: its user, with the address the provider gives now.
    let linked: Option<store::UserIdRow> = ctx
        .db
        .first(
            &store::USER_OF_IDENTITY,
            &[provider.name().into(), identity.subject.as_str().into()],
        )
        .await?;
    if let Some(linked) = linked {
        let params = [
            provider.name().into(),
            identity.subject.as_str().into(),
            email.as_str().into(),
            now.into(),
        ];
        ctx.db.execute(&store::TOUCH_IDENTITY, &params).await?;
        return Ok(Decided {
            user: UserId(linked.user_id),
            pending_link: None,
        });
    }
    // b. Only an address the provider vouches for is anyone's.
    let address = match EmailAddress::parse(&email) {
        Ok(address) if identity.email_verified => address,
        _ => return Err(Attempt::Failed(Failure::EmailNotVerified)),
    };
    match Users(ctx.db).by_email(&address).await? {
        Some(user) if user.email_verified => link_to_verified(ctx, provider, identity, user, &address).await,
        found => sign_up(ctx, provider, identity, found, &address).await,
    }
}

/// c. The verified account at that address gets the identity, unless it has another one
/// of this provider; with 2FA on, only once the challenge is passed.
async fn link_to_verified(
    ctx: &Ctx<'_>,
    provider: Provider,
    identity: &ProviderIdentity,
    user: User,
    address: &EmailAddress,
) -> Result<Decided, Attempt> {
    let other = ctx
        .db
        .exists(
            &store::SUBJECT_OF_USER,
            &[user.id.0.as_str().into(), provider.name().into()],
        )
        .await?;
    if other {
        return Err(Attempt::Failed(Failure::ProviderAlreadyLinked));
    }
    let pending = PendingLink {
        subject: identity.subject.clone(),
        email: address.as_str().to_owned(),
    };
    if user.mfa_enabled {
        return Ok(Decided {
            user: user.id,
            pending_link: Some(pending),
        });
    }
    let written = linking::link(
        ctx,
        &user.id,
        &user.email,
        provider,
        &pending.subject,
        &pending.email,
        "email_match",
    )
    .await?;
    // Refused by a unique rule: someone linked meanwhile; decide again from the start.
    if !written {
        return Err(Attempt::Raced);
    }
    Ok(Decided {
        user: user.id,
        pending_link: None,
    })
}

/// d and e. A new password-less account with the proven address, the provider's name and
/// the identity, in one transaction; an unverified account at that address is deleted in
/// it first (its registrant never proved the address; the provider just did).
async fn sign_up(
    ctx: &Ctx<'_>,
    provider: Provider,
    identity: &ProviderIdentity,
    unverified: Option<User>,
    address: &EmailAddress,
) -> Result<Decided, Attempt> {
    let now = ctx.clock.now();
    let name: Option<String> = identity
        .name
        .as_deref()
        .map(|name| name.trim().chars().take(MAX_FULL_NAME_CHARS).collect::<String>())
        .and_then(|name| FullName::parse(&name).ok())
        .and_then(FullName::into_inner);
    let user = User {
        id: UserId(random_uuid()),
        email: address.as_str().to_owned(),
        full_name: name,
        password_hash: String::new(),
        email_verified: true,
        created_at: now,
        updated_at: now,
        mfa_enabled: false,
        passkey_count: 0,
        identity_providers: Vec::new(),
    };
    let mut statements: Vec<Statement> = Vec::new();
    if let Some(old) = &unverified {
        statements.push(Statement::new(
            store::DELETE_UNVERIFIED_USER,
            vec![old.id.0.as_str().into()],
        ));
    }
    statements.push(users::insert(&user));
    let link_at = statements.len();
    statements.extend(linking::statements(
        ctx,
        &user.id,
        provider,
        &identity.subject,
        address.as_str(),
    ));
    let results = match ctx.db.batch(&statements).await {
        Ok(results) => results,
        // The address was taken (or the identity linked) by a concurrent sign-in.
        Err(DbError::Unique(_)) => return Err(Attempt::Raced),
        Err(DbError::Store(error)) => return Err(Attempt::Failed(error.into())),
    };
    if !linking::written(&results, link_at) {
        return Err(Attempt::Failed(Failure::Store(StoreError(
            "the new account's identity was not written".into(),
        ))));
    }
    if let Some(old) = unverified {
        ctx.emit(AuthEvent::UserDeleted {
            user_id: old.id,
            reason: "replaced_unverified",
        });
    }
    ctx.emit(AuthEvent::UserCreated {
        user_id: user.id.clone(),
        method: provider.name(),
    });
    ctx.emit(AuthEvent::IdentityLinked {
        user_id: user.id.clone(),
        provider: provider.name(),
        by: "sign_up",
    });
    Ok(Decided {
        user: user.id,
        pending_link: None,
    })
}
