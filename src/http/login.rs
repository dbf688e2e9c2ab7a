//! `POST {p}/auth/login` (JSON or OAuth2 form) and `POST {p}/auth/logout`.

use futures_util::future::join;

use super::account::caller;
use super::body;
use super::dto::{Fields, LoginForm, LoginRequest, LoginResponse, UserBody};
use super::error::{ApiError, Problem};
use super::limits::{self, ip};
use super::{Ctx, Request, Response};
use crate::auth::login::{self as flow, ClientInfo, LoginError};
use crate::rate_limit::limits::Limit;

pub const ACCESS_COOKIE: &str = "access_token";

#[utoipa::path(post, path = "/balance_hub/auth/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, body = LoginResponse, description = "Also sets the HttpOnly cookie `access_token`",
            headers(("Set-Cookie" = String, description = "access_token=...; HttpOnly; Secure; SameSite=Lax; Path=/"))),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`invalid_credentials`, for unknown emails and wrong passwords alike"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`email_not_verified` (only with the right password)"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        ip: ctx.client_ip.clone(),
    };
    // The per-IP limit, the account's lockout and the account lookup in one round trip.
    // A login the IP limit refuses still counts as an attempt on the account's streak.
    let (admitted, attempt) = join(
        limits::enforce(ctx, &[(Limit::LoginIp, ip(ctx))]),
        flow::begin(&ctx.deps, &email),
    )
    .await;
    admitted?;
    let logged_in = async { flow::complete(&ctx.deps, attempt?, &password, client).await }
        .await
        .map_err(|e| match e {
            LoginError::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", "incorrect email or password")
            }
            LoginError::EmailNotVerified => {
                ApiError::new(403, "email_not_verified", "verify your email address before logging in")
            }
            LoginError::Store(e) => e.into(),
            LoginError::Hash(e) => ApiError::internal_cause(e),
            LoginError::Token(e) => ApiError::internal_cause(e),
            LoginError::Locked { retry_after_seconds } => ApiError::rate_limited(retry_after_seconds),
            LoginError::Limiter(e) => e.into(),
        })?;
    ctx.user_id.replace(Some(logged_in.user.id.0.clone()));
    let cookie = format!(
        "{ACCESS_COOKIE}={}; HttpOnly;{} SameSite=Lax; Path=/; Max-Age={}",
        logged_in.access_token,
        if ctx.deps.config.cookie_secure { " Secure;" } else { "" },
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
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
pub async fn logout(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    crate::auth::logout::logout(&ctx.deps, &caller).await?;
    let clear = format!(
        "{ACCESS_COOKIE}=; HttpOnly;{} SameSite=Lax; Path=/; Max-Age=0",
        if ctx.deps.config.cookie_secure { " Secure;" } else { "" }
    );
    Ok(Response::empty(204).with_header("Set-Cookie", clear))
}
