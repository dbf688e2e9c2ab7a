//! Authorize and link (oauth.md): a state record (single use, 10 minutes, kept as a
//! digest), the PKCE verifier sealed beside it, an OIDC nonce, the browser binding, and
//! the provider URL the browser goes to.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::provider::ProviderConfig;
use super::redirect::{RedirectTarget, ResponseMode};
use super::{store, OAuthSettings};
use crate::kernel::crypto::{seal_text, CryptoError};
use crate::kernel::feature::Ctx;
use crate::kernel::fetch::form_encode;
use crate::kernel::secrets::OpaqueToken;
use crate::kernel::sql::StoreError;
use crate::kernel::{SessionId, UserId};

/// A state is good for this long.
pub const STATE_SECONDS: i64 = 600;
/// The browser binding cookie (HttpOnly, scoped to the oauth routes).
pub const BINDING_COOKIE: &str = "oauth_binding";

/// What the state digests are bound to (`SecretDigester::digest`'s purposes).
pub const STATE_PURPOSE: &str = "oauth_state";
pub const BINDING_PURPOSE: &str = "oauth_binding";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// A sign-in (`login`) or a link of the signed-in user's session.
pub enum Mode<'a> {
    Login,
    Link { user: &'a UserId, session: &'a SessionId },
}

/// Where the browser goes, and the binding cookie to set.
pub struct Started {
    pub url: String,
    pub binding_cookie: String,
}

/// `{origin}{p}/auth/oauth/{provider}/callback`: the redirect URI to register, sent in the
/// authorize URL and again at the token endpoint.
pub fn redirect_uri(ctx: &Ctx<'_>, origin: &str, provider: &ProviderConfig) -> String {
    format!(
        "{origin}{}/auth/oauth/{}/callback",
        ctx.config.api_prefix,
        provider.provider.name()
    )
}

/// Stores the state and answers the provider URL. `binding` is the request's cookie: a
/// valid one is reused (parallel tabs), anything else is replaced.
pub async fn start(
    ctx: &Ctx<'_>,
    provider: &ProviderConfig,
    origin: &str,
    target: &RedirectTarget,
    response_mode: ResponseMode,
    mode: Mode<'_>,
    binding: Option<&str>,
) -> Result<Started, StartError> {
    let binding = binding
        .and_then(OpaqueToken::parse)
        .unwrap_or_else(OpaqueToken::generate);
    let (state, verifier, nonce) = (
        OpaqueToken::generate(),
        OpaqueToken::generate(),
        OpaqueToken::generate(),
    );
    let state_digest = ctx.digester.digest(STATE_PURPOSE, "", state.expose());
    let sealing_key = &ctx.settings::<OAuthSettings>().sealing_key;
    let sealed = seal_text(
        ctx.crypto,
        sealing_key,
        state_digest.as_bytes(),
        verifier.expose().as_bytes(),
    )
    .await?;
    let now = ctx.clock.now();
    let (mode_name, user, session) = match mode {
        Mode::Login => ("login", None, None),
        Mode::Link { user, session } => ("link", Some(user.0.as_str()), Some(session.0.as_str())),
    };
    let params = [
        state_digest.as_str().into(),
        provider.provider.name().into(),
        target.as_str().into(),
        response_mode.name().into(),
        sealed.as_str().into(),
        nonce.expose().into(),
        mode_name.into(),
        user.into(),
        session.into(),
        ctx.digester.digest(BINDING_PURPOSE, "", binding.expose()).into(),
        now.into(),
        (now + STATE_SECONDS).into(),
    ];
    ctx.db.execute(&store::INSERT_STATE, &params).await?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()));
    let redirect_uri = redirect_uri(ctx, origin, provider);
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", provider.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", provider.provider.scope()),
        ("state", state.expose()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if provider.provider.is_oidc() {
        query.push(("nonce", nonce.expose()));
    }
    let query = query
        .iter()
        .map(|(name, value)| format!("{name}={}", form_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let separator = if provider.authorize_url.contains('?') { '&' } else { '?' };
    Ok(Started {
        url: format!("{}{separator}{query}", provider.authorize_url),
        binding_cookie: binding_cookie(ctx, binding.expose()),
    })
}

/// `oauth_binding=<value>; HttpOnly; Secure; SameSite=Lax; Path={p}/auth/oauth/; Max-Age=600`
/// (`Secure` left out only with `COOKIE_SECURE=false`). Lax: the callback is a top-level
/// navigation from the provider, which Lax cookies accompany.
fn binding_cookie(ctx: &Ctx<'_>, value: &str) -> String {
    let secure = if ctx.config.cookie_secure { " Secure;" } else { "" };
    format!(
        "{BINDING_COOKIE}={value}; HttpOnly;{secure} SameSite=Lax; Path={}/auth/oauth/; Max-Age={STATE_SECONDS}",
        ctx.config.api_prefix
    )
}
