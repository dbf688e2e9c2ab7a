//! The callback (oauth.md §Callback): the state first (unknown, used, expired, of another
//! provider, or without its browser binding: 400 `invalid_state`, no redirect), consumed
//! at once; then every outcome is a redirect to the state's `redirect_to`.

use super::authorize::{redirect_uri, BINDING_PURPOSE, STATE_PURPOSE};
use super::flow_error::Failure;
use super::id_token::ProviderIdentity;
use super::provider::{Provider, ProviderConfig};
use super::redirect::{RedirectTarget, ResponseMode};
use super::sign_up::{self, Decided};
use super::{exchange, exchange_code, linking, store, OAuthSettings};
use crate::features::sessions::Sessions;
use crate::kernel::crypto::open_text;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;
use crate::kernel::text::lowercase;
use crate::kernel::{SessionId, UserId};

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct Returned {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the state is unknown, used, expired, of another provider, or not this browser's")]
    InvalidState,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `Location` the browser goes to: `redirect_to` with `code`, `linked` or `error`.
pub async fn callback(
    ctx: &Ctx<'_>,
    provider: &ProviderConfig,
    origin: &str,
    returned: &Returned,
    binding: Option<&str>,
) -> Result<String, CallbackError> {
    let state = returned
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(CallbackError::InvalidState)?;
    let digest = ctx.digester.digest(STATE_PURPOSE, "", state);
    let now = ctx.clock.now();
    let row: store::StateRow = ctx
        .db
        .first(&store::CONSUME_STATE, &[digest.as_str().into(), now.into()])
        .await?
        .ok_or(CallbackError::InvalidState)?;
    let bound = binding.is_some_and(|b| ctx.digester.digest(BINDING_PURPOSE, "", b) == row.binding);
    if row.provider != provider.provider.name() || !bound {
        return Err(CallbackError::InvalidState);
    }
    let target = RedirectTarget::stored(row.redirect_to.clone());
    let mode = ResponseMode::parse(Some(&row.response_mode)).unwrap_or(ResponseMode::Fragment);
    match complete(ctx, provider, origin, returned, &row, &digest).await {
        Ok(Outcome::Code(code)) => Ok(target.with(mode, &[("code", &code)])),
        Ok(Outcome::Linked) => Ok(target.with(mode, &[("linked", provider.provider.name())])),
        Err(Failure::Store(error)) => Err(error.into()),
        Err(failure) => Ok(target.with(mode, &[("error", failure.code().unwrap_or("oauth_failed"))])),
    }
}

enum Outcome {
    /// A sign-in: the exchange code.
    Code(String),
    /// Link mode's success.
    Linked,
}

async fn complete(
    ctx: &Ctx<'_>,
    provider: &ProviderConfig,
    origin: &str,
    returned: &Returned,
    row: &store::StateRow,
    state_digest: &str,
) -> Result<Outcome, Failure> {
    if let Some(error) = &returned.error {
        return Err(if error == "access_denied" {
            Failure::AccessDenied
        } else {
            Failure::OauthFailed("the provider answered an error")
        });
    }
    let code = returned
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(Failure::OauthFailed("no code"))?;
    let sealing_key = &ctx.settings::<OAuthSettings>().sealing_key;
    let verifier = open_text(ctx.crypto, sealing_key, state_digest.as_bytes(), &row.verifier)
        .await
        .ok()
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(Failure::OauthFailed("the state's verifier does not open"))?;
    let redirect_uri = redirect_uri(ctx, origin, provider);
    let identity = exchange_code::identify(ctx, provider, code, &redirect_uri, &verifier, &row.nonce).await?;
    if row.mode == "link" {
        link_mode(ctx, provider.provider, &identity, row).await?;
        return Ok(Outcome::Linked);
    }
    let Decided { user, pending_link } = sign_up::decide(ctx, provider.provider, &identity).await?;
    let code = exchange::issue(ctx, &user, provider.provider, pending_link.as_ref()).await?;
    Ok(Outcome::Code(code))
}

/// §Callback 7: the session that asked must still be live; the identity must be nobody
/// else's, and the user must not hold another identity of this provider.
async fn link_mode(
    ctx: &Ctx<'_>,
    provider: Provider,
    identity: &ProviderIdentity,
    row: &store::StateRow,
) -> Result<(), Failure> {
    let now = ctx.clock.now();
    let (Some(user_id), Some(session_id)) = (&row.user_id, &row.session_id) else {
        return Err(Failure::OauthFailed("a link state without its user"));
    };
    let live = Sessions(ctx.db).live(&SessionId(session_id.clone()), now).await?;
    let user = match live {
        Some(live) if live.user.id.0 == *user_id => live.user,
        _ => return Err(Failure::OauthFailed("the session that asked for the link ended")),
    };
    let owner: Option<store::UserIdRow> = ctx
        .db
        .first(
            &store::USER_OF_IDENTITY,
            &[provider.name().into(), identity.subject.as_str().into()],
        )
        .await?;
    match owner {
        Some(owner) if owner.user_id == user.id.0 => return Ok(()),
        Some(_) => return Err(Failure::IdentityInUse),
        None => {}
    }
    let other = ctx
        .db
        .exists(
            &store::SUBJECT_OF_USER,
            &[user.id.0.as_str().into(), provider.name().into()],
        )
        .await?;
    if other {
        return Err(Failure::ProviderAlreadyLinked);
    }
    let email = lowercase(identity.email.as_deref().unwrap_or_default().trim());
    let written = linking::link(ctx, &user.id, &user.email, provider, &identity.subject, &email, "user").await?;
    if written {
        return Ok(());
    }
    // A unique rule refused it: a concurrent link took the identity or the slot.
    let owner: Option<store::UserIdRow> = ctx
        .db
        .first(
            &store::USER_OF_IDENTITY,
            &[provider.name().into(), identity.subject.as_str().into()],
        )
        .await?;
    match owner {
        Some(owner) if UserId(owner.user_id.clone()) == user.id => Ok(()),
        Some(_) => Err(Failure::IdentityInUse),
        None => Err(Failure::ProviderAlreadyLinked),
    }
}
