//! `POST {p}/auth/token/refresh`, `GET {p}/auth/sessions` and
//! `DELETE {p}/auth/sessions/{id}`.

use serde::Serialize;
use utoipa::ToSchema;

use super::api::{caller, client_of, LoginResponse};
use super::cookies::{self, REFRESH_COOKIE};
use super::rotation::{self, RefreshError};
use super::{Sessions, INVALID_REFRESH_TOKEN, REFRESH_IP, REFRESH_SESSION, REFRESH_TOKEN_REUSED};
use crate::kernel::feature::Ctx;
use crate::kernel::fields::from_fields;
use crate::kernel::ids::rfc3339;
use crate::kernel::problem::{ApiError, NOT_AUTHENTICATED};
use crate::kernel::web::{body, Request, Response};
use crate::kernel::SessionId;

#[derive(Debug, ToSchema)]
pub struct RefreshRequest {
    /// Wins over the `refresh_token` cookie when both are sent.
    #[schema(max_length = 512)]
    pub refresh_token: Option<String>,
}
from_fields!(RefreshRequest { refresh_token });

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Missing => ApiError::new(&NOT_AUTHENTICATED, "send the refresh token"),
            RefreshError::Invalid => ApiError::new(
                &INVALID_REFRESH_TOKEN,
                "the refresh token is invalid, expired or of an ended session",
            ),
            RefreshError::Reused => ApiError::new(
                &REFRESH_TOKEN_REUSED,
                "a replaced refresh token was used again; the session is ended",
            ),
            RefreshError::Store(e) => e.into(),
            RefreshError::Token(e) => ApiError::internal_cause(e),
        }
    }
}

#[utoipa::path(post, path = "/balance_hub/auth/token/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, content_type = "application/json", description = "Or no body, and the `refresh_token` cookie"),
    responses(
        (status = 200, body = LoginResponse, description = "A new pair; both cookies set. The previous token presented again within REFRESH_REUSE_INTERVAL_SECONDS answers the current one; an older one ends the session (401 `refresh_token_reused`)"),
    ))]
pub async fn refresh(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&REFRESH_IP, ctx.ip())]).await?;
    let input: Option<RefreshRequest> = body::optional_json(request)?;
    let presented = input
        .and_then(|i| i.refresh_token)
        .or_else(|| request.cookie(REFRESH_COOKIE).map(str::to_owned));
    let outcome = async {
        let located = rotation::locate(ctx, presented.as_deref())
            .await
            .map_err(Refused::Refresh)?;
        ctx.enforce(&[(&REFRESH_SESSION, &ctx.pseudonym(&located.found.session_id))])
            .await
            .map_err(Refused::Limited)?;
        rotation::refresh(ctx, located, client_of(ctx, request))
            .await
            .map_err(Refused::Refresh)
    };
    match outcome.await {
        Ok(done) => {
            ctx.identify(&done.user.id.0);
            Ok(LoginResponse::answer(
                ctx,
                done.access_token,
                done.expires_in,
                done.refresh_token.expose(),
                done.refresh_expires_in,
                &done.user,
            ))
        }
        Err(Refused::Limited(limited)) => Err(limited),
        Err(Refused::Refresh(refused)) => Err(with_cookies_cleared(ctx, refused)),
    }
}

/// Why a refresh got no new pair: a limit, or the token.
enum Refused {
    Limited(ApiError),
    Refresh(RefreshError),
}

/// A refused refresh clears the refresh cookie (a reused one, the access cookie too).
fn with_cookies_cleared(ctx: &Ctx<'_>, error: RefreshError) -> ApiError {
    let (invalid, reused) = (
        matches!(error, RefreshError::Invalid),
        matches!(error, RefreshError::Reused),
    );
    let mut answer = ApiError::from(error);
    if invalid || reused {
        answer = answer.with_header("Set-Cookie", cookies::clear_refresh(ctx));
    }
    if reused {
        answer = answer.with_header("Set-Cookie", cookies::clear_access(ctx));
    }
    answer
}

/// A live session of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub id: String,
    pub created_at: String,
    /// The latest login, refresh or authenticated request (recorded at most once per 5 minutes).
    pub last_seen_at: String,
    /// The earlier of the idle and the absolute expiry.
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `"<browser> on <os>"`, a non-browser client's product, or `Unknown device`.
    #[schema(example = "Firefox on Linux")]
    pub device: String,
    /// ISO 3166-1 alpha-2, from Cloudflare; null when unknown.
    pub country: Option<String>,
    pub city: Option<String>,
    /// The session of the access token presented.
    pub current: bool,
    /// The factors of the login, first factor first.
    #[schema(example = json!(["password"]))]
    pub auth_methods: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionBody>,
}

#[utoipa::path(get, path = "/balance_hub/auth/sessions", tag = "auth", responses(
    (status = 200, body = SessionList, description = "The caller's live sessions, latest seen first"),
))]
pub async fn list(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    let rows = Sessions(ctx.db).live_of_user(&caller.user.id, ctx.clock.now()).await?;
    let items = rows
        .into_iter()
        .map(|row| SessionBody {
            current: row.id == caller.session_id.0,
            last_seen_at: rfc3339(row.last_seen_at.unwrap_or(row.created_at)),
            created_at: rfc3339(row.created_at),
            expires_at: rfc3339(row.expires_at),
            device: row.device.unwrap_or_else(|| "Unknown device".to_owned()),
            auth_methods: super::store::split_methods(&row.auth_methods),
            id: row.id,
            ip: row.ip,
            user_agent: row.user_agent,
            country: row.country,
            city: row.city,
        })
        .collect();
    Ok(Response::json(200, &SessionList { items }))
}

/// Session ids are UUIDs; anything else is no session of anyone's.
fn session_id(request: &Request) -> Option<SessionId> {
    let id = request.path.rsplit('/').next()?;
    let shaped = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    shaped.then(|| SessionId(id.to_ascii_lowercase()))
}

#[utoipa::path(delete, path = "/balance_hub/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "A session id from the list")),
    responses(
        (status = 204, description = "Revoked; revoking the current session also clears both cookies"),
    ))]
pub async fn revoke(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    let not_found = || ApiError::new(&crate::kernel::problem::NOT_FOUND, "no such session of yours");
    let id = session_id(request).ok_or_else(not_found)?;
    // Another user's session is as unknown as a made-up one, and stays alive.
    if !Sessions(ctx.db)
        .revoke_of_user(&id, &caller.user.id, ctx.clock.now())
        .await?
    {
        return Err(not_found());
    }
    let answer = Response::empty(204);
    Ok(if id == caller.session_id {
        answer
            .with_header("Set-Cookie", cookies::clear_access(ctx))
            .with_header("Set-Cookie", cookies::clear_refresh(ctx))
    } else {
        answer
    })
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(refresh, list, revoke),
    components(schemas(RefreshRequest, SessionBody, SessionList))
)]
pub(super) struct Doc;
