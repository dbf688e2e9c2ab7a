//! `POST {p}/auth/login` (JSON or OAuth2 form), `POST {p}/auth/logout`, and how the
//! caller of an authenticated route is recognised.

use futures_util::future::join;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::authenticate::{self, AuthenticateError, Caller};
use super::login::{self as flow, ClientInfo, LoginError};
use super::{EMAIL_NOT_VERIFIED, INVALID_CREDENTIALS, LOGIN_IP, USER_API};
use crate::features::users::UserBody;
use crate::kernel::feature::Ctx;
use crate::kernel::problem::{ApiError, NOT_AUTHENTICATED};
use crate::kernel::web::{body, Fields, Request, Response};

pub const ACCESS_COOKIE: &str = "access_token";

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    #[schema(min_length = 1)]
    pub password: String,
}

/// OAuth2 password-flow form (`application/x-www-form-urlencoded`), as FastAPI clients send it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The email address.
    #[schema(format = Email, max_length = 254)]
    pub username: String,
    #[schema(min_length = 1)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: UserBody,
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => ApiError::new(&INVALID_CREDENTIALS, "incorrect email or password"),
            LoginError::EmailNotVerified => {
                ApiError::new(&EMAIL_NOT_VERIFIED, "verify your email address before logging in")
            }
            LoginError::Store(e) => e.into(),
            LoginError::Hash(e) => ApiError::internal_cause(e),
            LoginError::Token(e) => ApiError::internal_cause(e),
            LoginError::Locked { retry_after_seconds } => ApiError::rate_limited(retry_after_seconds),
            LoginError::Limiter(e) => e.into(),
        }
    }
}

#[utoipa::path(post, path = "/balance_hub/auth/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, body = LoginResponse, description = "Also sets the HttpOnly cookie `access_token`",
            headers(("Set-Cookie" = String, description = "access_token=...; HttpOnly; Secure; SameSite=Lax; Path=/"))),
    ))]
pub async fn login(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let (email, password) = credentials(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &email);
    if password.is_empty() {
        fields.push("password", "field required");
    }
    let email = fields.finish(|| email)?;
    let client = ClientInfo {
        user_agent: request.header("user-agent").map(str::to_owned),
        ip: ctx.client_ip.map(str::to_owned),
    };
    // The per-IP limit, the account's lockout and the account lookup in one round trip.
    // A login the IP limit refuses still counts as an attempt on the account's streak.
    let (admitted, attempt) = join(ctx.enforce(&[(&LOGIN_IP, ctx.ip())]), flow::begin(ctx, &email)).await;
    admitted?;
    let logged_in = flow::complete(ctx, attempt?, &password, client).await?;
    ctx.identify(&logged_in.user.id.0);
    let cookie = format!(
        "{ACCESS_COOKIE}={}; HttpOnly;{} SameSite=Lax; Path=/; Max-Age={}",
        logged_in.access_token,
        secure(ctx),
        logged_in.expires_in
    );
    let body = LoginResponse {
        access_token: logged_in.access_token,
        token_type: "bearer",
        expires_in: logged_in.expires_in,
        user: UserBody::from(&logged_in.user),
    };
    Ok(Response::json(200, &body).with_header("Set-Cookie", cookie))
}

fn secure(ctx: &Ctx<'_>) -> &'static str {
    if ctx.config.cookie_secure {
        " Secure;"
    } else {
        ""
    }
}

/// JSON `{email, password}` or the OAuth2 form `username` / `password`.
fn credentials(request: &Request) -> Result<(String, String), ApiError> {
    if body::media_type(request).as_deref() == Some("application/x-www-form-urlencoded") {
        let pairs = body::form_pairs(&request.body)?;
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let form = LoginForm {
            username: field("username"),
            password: field("password"),
        };
        return Ok((form.username, form.password));
    }
    let json = body::json::<LoginRequest>(request).map_err(|e| match e.status() {
        415 => body::unsupported_media_type("application/json or application/x-www-form-urlencoded"),
        _ => e,
    })?;
    Ok((json.email, json.password))
}

#[utoipa::path(post, path = "/balance_hub/auth/logout", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses(
    (status = 204, description = "Session revoked; cookie cleared"),
))]
pub async fn logout(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    super::logout::logout(ctx, &caller).await?;
    let clear = format!(
        "{ACCESS_COOKIE}=; HttpOnly;{} SameSite=Lax; Path=/; Max-Age=0",
        secure(ctx)
    );
    Ok(Response::empty(204).with_header("Set-Cookie", clear))
}

/// The bearer token, else the `access_token` cookie.
fn presented_token(request: &Request) -> Option<&str> {
    let bearer = request.header("authorization").and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    bearer
        .or_else(|| request.cookie(ACCESS_COOKIE))
        .filter(|t| !t.is_empty())
}

/// The authenticated caller, within the per-user API limit: what every `Auth::User` route
/// starts with. The limit is keyed by the signed token's user and taken while the session
/// is looked up (one round trip of latency); an ended session still answers 401, whatever
/// the limit says.
pub async fn caller(ctx: &Ctx<'_>, request: &Request) -> Result<Caller, ApiError> {
    let unauthorized = |e| match e {
        AuthenticateError::Missing => ApiError::new(&NOT_AUTHENTICATED, "log in and send the access token"),
        AuthenticateError::Token(_) | AuthenticateError::SessionEnded => ApiError::new(
            &crate::kernel::problem::INVALID_TOKEN,
            "the access token is invalid, expired or revoked",
        ),
        AuthenticateError::Store(e) => e.into(),
    };
    let claims = authenticate::claims(ctx, presented_token(request))
        .await
        .map_err(unauthorized)?;
    let user_id = claims.user_id.0.clone();
    let (limited, caller) = join(
        ctx.enforce(&[(&USER_API, &user_id)]),
        authenticate::session(ctx, claims),
    )
    .await;
    let caller = caller.map_err(unauthorized)?;
    ctx.identify(&user_id);
    limited?;
    Ok(caller)
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(paths(login, logout), components(schemas(LoginResponse)))]
pub(super) struct Doc;
