//! The HTTP adapter of provider sign-in (oauth.md): providers, authorize, link, callback,
//! exchange, identities.

use serde::Serialize;
use utoipa::ToSchema;

use super::authorize::{self, Mode, StartError, BINDING_COOKIE};
use super::callback::{self, CallbackError, Returned};
use super::exchange::{self, ExchangeError};
use super::identities::{self, UnlinkError};
use super::provider::{Provider, ProviderConfig};
use super::redirect::{RedirectTarget, ResponseMode};
use super::{
    OAuthSettings, INVALID_CODE, INVALID_REDIRECT, INVALID_STATE, LAST_CREDENTIAL, OAUTH_EXCHANGE_IP, OAUTH_IP,
    PROVIDER_NOT_CONFIGURED,
};
use crate::features::sessions::{self, client_of};
use crate::features::signing::SigningSettings;
use crate::kernel::feature::Ctx;
use crate::kernel::fetch::form_decode;
use crate::kernel::fields::from_fields;
use crate::kernel::ids::rfc3339;
use crate::kernel::problem::{ApiError, NOT_FOUND};
use crate::kernel::web::{body, Request, Response};

/// An exchange code longer than this was never handed out.
const MAX_CODE_CHARS: usize = 512;

/// The provider a path names (`{p}/auth/oauth/{provider}/…` or `{p}/auth/identities/{provider}`):
/// 404 `not_found` for a name that is none, 404 `provider_not_configured` for one without
/// a client id.
fn provider<'a>(ctx: &Ctx<'a>, request: &Request, segment_from_end: usize) -> Result<&'a ProviderConfig, ApiError> {
    let name = request.path.rsplit('/').nth(segment_from_end).unwrap_or_default();
    let provider = Provider::parse(name).ok_or_else(|| ApiError::new(&NOT_FOUND, "no such provider"))?;
    ctx.settings::<OAuthSettings>().provider(provider).ok_or_else(|| {
        ApiError::new(
            &PROVIDER_NOT_CONFIGURED,
            format!("sign-in with {} is not configured", provider.display_name()),
        )
    })
}

/// The Worker's public origin (`PUBLIC_URL`, else the request's): the redirect URI's.
fn origin(ctx: &Ctx<'_>, request: &Request) -> String {
    ctx.settings::<SigningSettings>()
        .public_url
        .clone()
        .unwrap_or_else(|| request.origin.clone())
}

fn query(request: &Request) -> Vec<(String, String)> {
    form_decode(&request.query)
}

fn param<'q>(pairs: &'q [(String, String)], name: &str) -> Option<&'q str> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn redirect_target(ctx: &Ctx<'_>, raw: Option<&str>) -> Result<RedirectTarget, ApiError> {
    RedirectTarget::parse(raw, ctx.config).ok_or_else(|| {
        ApiError::new(
            &INVALID_REDIRECT,
            "redirect_to must be an absolute URL on FRONTEND_URL's origin or one of CORS_ORIGINS, without fragment",
        )
    })
}

fn response_mode(raw: Option<&str>) -> Result<ResponseMode, ApiError> {
    ResponseMode::parse(raw).ok_or_else(|| ApiError::invalid_field("response_mode", "must be fragment or query"))
}

impl From<StartError> for ApiError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Store(e) => e.into(),
            StartError::Crypto(e) => ApiError::internal_cause(e),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderItem {
    #[schema(example = "google")]
    pub provider: &'static str,
    #[schema(example = "Google")]
    pub name: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersResponse {
    pub items: Vec<ProviderItem>,
}

#[utoipa::path(get, path = "/balance_hub/auth/oauth/providers", tag = "oauth",
    responses((status = 200, body = ProvidersResponse, description = "The configured providers only")))]
pub async fn providers(ctx: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    let items = ctx
        .settings::<OAuthSettings>()
        .providers
        .iter()
        .map(|p| ProviderItem {
            provider: p.provider.name(),
            name: p.provider.display_name(),
        })
        .collect();
    Ok(Response::json(200, &ProvidersResponse { items }))
}

#[utoipa::path(get, path = "/balance_hub/auth/oauth/{provider}/authorize", tag = "oauth",
    params(
        ("provider" = String, Path, description = "`google`, `microsoft` or `github`"),
        ("redirect_to" = Option<String>, Query, description = "Where the sign-in returns (default FRONTEND_URL): an absolute URL on FRONTEND_URL's origin or one of CORS_ORIGINS, at most 2048 characters, no fragment or userinfo"),
        ("response_mode" = Option<String>, Query, description = "`fragment` (default) or `query`: where `code` or `error` goes in redirect_to"),
    ),
    responses((status = 302, description = "To the provider; sets the HttpOnly `oauth_binding` cookie (Path={p}/auth/oauth/, 10 minutes) the callback needs",
        headers(("Location" = String), ("Set-Cookie" = String)))))]
pub async fn authorize(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let provider = provider(ctx, request, 1)?;
    ctx.enforce(&[(&OAUTH_IP, ctx.ip())]).await?;
    let pairs = query(request);
    let target = redirect_target(ctx, param(&pairs, "redirect_to"))?;
    let mode = response_mode(param(&pairs, "response_mode"))?;
    let binding = request.cookie(BINDING_COOKIE);
    let origin = origin(ctx, request);
    let started = authorize::start(ctx, provider, &origin, &target, mode, Mode::Login, binding).await?;
    Ok(Response::empty(302)
        .with_header("Location", started.url)
        .with_header("Set-Cookie", started.binding_cookie))
}

#[derive(Debug, Default, ToSchema)]
pub struct LinkRequest {
    pub redirect_to: Option<String>,
    /// `fragment` (default) or `query`.
    pub response_mode: Option<String>,
    /// Reauthentication: required for a user with a password.
    pub current_password: Option<String>,
}
from_fields!(LinkRequest {
    redirect_to,
    response_mode,
    current_password
});

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// Navigate the browser here (the provider's authorize URL).
    pub url: String,
}

#[utoipa::path(post, path = "/balance_hub/auth/oauth/{provider}/link", tag = "oauth",
    params(("provider" = String, Path, description = "`google`, `microsoft` or `github`")),
    request_body(content = LinkRequest, content_type = "application/json"),
    responses((status = 200, body = LinkResponse, description = "The provider URL to navigate the browser to; sets the `oauth_binding` cookie. The callback then redirects to redirect_to with `linked=<provider>` or `error=<code>`",
        headers(("Set-Cookie" = String)))))]
pub async fn link(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let provider = provider(ctx, request, 1)?;
    let caller = sessions::caller(ctx, request).await?;
    ctx.enforce(&[(&OAUTH_IP, ctx.ip())]).await?;
    let input: LinkRequest = body::optional_json(request)?.unwrap_or_default();
    let target = redirect_target(ctx, input.redirect_to.as_deref())?;
    let mode = response_mode(input.response_mode.as_deref())?;
    sessions::reauthenticate(ctx, &caller, input.current_password.as_deref()).await?;
    let link = Mode::Link {
        user: &caller.user.id,
        session: &caller.session_id,
    };
    let binding = request.cookie(BINDING_COOKIE);
    let origin = origin(ctx, request);
    let started = authorize::start(ctx, provider, &origin, &target, mode, link, binding).await?;
    Ok(Response::json(200, &LinkResponse { url: started.url }).with_header("Set-Cookie", started.binding_cookie))
}

#[utoipa::path(get, path = "/balance_hub/auth/oauth/{provider}/callback", tag = "oauth",
    params(
        ("provider" = String, Path, description = "`google`, `microsoft` or `github`"),
        ("code" = Option<String>, Query, description = "The provider's authorization code"),
        ("state" = String, Query, description = "The state of the authorize request"),
        ("error" = Option<String>, Query, description = "The provider's error instead of a code"),
    ),
    responses((status = 302, description = "To the state's redirect_to with `code=<exchange code>` (login), `linked=<provider>` (link) or `error=` one of access_denied, oauth_failed, provider_unavailable, email_not_verified, provider_already_linked, identity_in_use (in the fragment or the query, per response_mode)",
        headers(("Location" = String)))))]
pub async fn callback(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let provider = provider(ctx, request, 1)?;
    ctx.enforce(&[(&OAUTH_IP, ctx.ip())]).await?;
    let pairs = query(request);
    let returned = Returned {
        code: param(&pairs, "code").map(str::to_owned),
        state: param(&pairs, "state").map(str::to_owned),
        error: param(&pairs, "error").map(str::to_owned),
    };
    let origin = origin(ctx, request);
    let binding = request.cookie(BINDING_COOKIE);
    match callback::callback(ctx, provider, &origin, &returned, binding).await {
        Ok(location) => Ok(Response::empty(302).with_header("Location", location)),
        Err(CallbackError::InvalidState) => Err(ApiError::new(
            &INVALID_STATE,
            "the sign-in is unknown, used or expired, or was started in another browser: start it again",
        )),
        Err(CallbackError::Store(e)) => Err(e.into()),
    }
}

#[derive(Debug, ToSchema)]
pub struct ExchangeRequest {
    /// The `code` the callback appended to redirect_to (single use, 60 s).
    pub code: String,
}
from_fields!(ExchangeRequest { code });

#[utoipa::path(post, path = "/balance_hub/auth/oauth/exchange", tag = "oauth",
    request_body(content = ExchangeRequest, content_type = "application/json"),
    responses((status = 200, body = crate::features::sessions::LoginResultBody,
        description = "A login response (`auth_methods: [\"<provider>\"]`, cookies set), or for an account with two-factor sign-in on the MFA challenge (`mfa_required: true`)")))]
pub async fn exchange(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    // Login CSRF as at login: a foreign page must not post an exchange code of the
    // attacker's own sign-in from the victim's browser (the answer sets the cookies).
    sessions::refuse_foreign_origin(ctx, request)?;
    ctx.enforce(&[(&OAUTH_EXCHANGE_IP, ctx.ip())]).await?;
    let input: ExchangeRequest = body::json(request)?;
    let invalid = || ApiError::new(&INVALID_CODE, "the code is unknown, used or expired");
    if input.code.is_empty() || input.code.len() > MAX_CODE_CHARS {
        return Err(invalid());
    }
    match exchange::redeem(ctx, &input.code, client_of(ctx, request)).await {
        Ok(result) => Ok(sessions::login_result_response(ctx, result)),
        Err(ExchangeError::InvalidCode) => Err(invalid()),
        Err(ExchangeError::Login(e)) => Err(e.into()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityBody {
    #[schema(example = "github")]
    pub provider: String,
    /// The provider's address at the latest sign-in.
    pub email: String,
    #[schema(example = "2026-11-24T03:00:00Z")]
    pub created_at: String,
    #[schema(example = "2026-11-24T03:00:00Z")]
    pub last_used_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentitiesResponse {
    pub items: Vec<IdentityBody>,
}

#[utoipa::path(get, path = "/balance_hub/auth/identities", tag = "oauth",
    responses((status = 200, body = IdentitiesResponse, description = "The caller's linked identities, oldest link first")))]
pub async fn list_identities(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let items = identities::list(ctx, &caller.user)
        .await?
        .into_iter()
        .map(|row| IdentityBody {
            provider: row.provider,
            email: row.email,
            created_at: rfc3339(row.created_at),
            last_used_at: rfc3339(row.last_used_at),
        })
        .collect();
    Ok(Response::json(200, &IdentitiesResponse { items }))
}

#[utoipa::path(delete, path = "/balance_hub/auth/identities/{provider}", tag = "oauth",
    params(("provider" = String, Path, description = "`google`, `microsoft` or `github`")),
    responses((status = 204, description = "Unlinked; mails identity_unlinked")))]
pub async fn unlink(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let provider = provider(ctx, request, 0)?.provider;
    let caller = sessions::caller(ctx, request).await?;
    let not_linked = || ApiError::new(&NOT_FOUND, "no identity of this provider is linked");
    match identities::unlink(ctx, &caller.user, provider).await {
        Ok(()) => Ok(Response::empty(204)),
        Err(UnlinkError::NotLinked) => Err(not_linked()),
        Err(UnlinkError::LastCredential) => Err(ApiError::new(
            &LAST_CREDENTIAL,
            "it is the account's last way to sign in: set a password or add a passkey or another provider first",
        )),
        Err(UnlinkError::Store(e)) => Err(e.into()),
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(providers, authorize, link, callback, exchange, list_identities, unlink),
    components(schemas(
        ProvidersResponse,
        ProviderItem,
        LinkRequest,
        LinkResponse,
        ExchangeRequest,
        IdentitiesResponse,
        IdentityBody
    ))
)]
pub struct Doc;
