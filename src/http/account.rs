//! `GET {p}/auth/me` and `PUT {p}/auth/update-user`, and how callers are recognised.

use futures_util::future::join;

use super::body;
use super::dto::{Fields, UpdateUserRequest, UserBody};
use super::error::{ApiError, Problem};
use super::limits;
use super::login::ACCESS_COOKIE;
use super::{Ctx, Request, Response};
use crate::auth::authenticate::{self, AuthenticateError, Caller};
use crate::auth::update_user::{self as flow, UpdateUserError, UserUpdate};
use crate::domain::FullName;
use crate::rate_limit::limits::Limit;

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

/// The authenticated caller, within the per-user API limit. The limit is keyed by the
/// signed token's user and taken while the session is looked up (one round trip of
/// latency); an ended session still answers 401, whatever the limit says.
pub async fn caller(ctx: &Ctx<'_>, request: &Request) -> Result<Caller, ApiError> {
    let unauthorized = |e| match e {
        AuthenticateError::Missing => ApiError::unauthorized("not_authenticated", "log in and send the access token"),
        AuthenticateError::Token(_) | AuthenticateError::SessionEnded => {
            ApiError::unauthorized("invalid_token", "the access token is invalid, expired or revoked")
        }
        AuthenticateError::Store(e) => e.into(),
    };
    let claims = authenticate::claims(&ctx.deps, presented_token(request)).map_err(unauthorized)?;
    let user_id = claims.user_id.0.clone();
    let (limited, caller) = join(
        limits::enforce(ctx, &[(Limit::UserApi, &user_id)]),
        authenticate::session(&ctx.deps, claims),
    )
    .await;
    let caller = caller.map_err(unauthorized)?;
    ctx.user_id.replace(Some(user_id));
    limited?;
    Ok(caller)
}

#[utoipa::path(get, path = "/balance_hub/auth/me", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses(
    (status = 200, body = UserBody),
    (status = 401, body = Problem, content_type = "application/problem+json", description = "`not_authenticated` or `invalid_token`"),
))]
pub async fn me(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    Ok(Response::json(200, &UserBody::from(&caller.user)))
}

#[utoipa::path(put, path = "/balance_hub/auth/update-user", tag = "auth", security(("bearer" = []), ("cookie" = [])), request_body = UpdateUserRequest, responses(
    (status = 200, body = UserBody, description = "The user after the update; a new email shows only once confirmed"),
    (status = 401, body = Problem, content_type = "application/problem+json", description = "`invalid_token`, or `invalid_credentials` for a wrong current_password"),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "`current_password_required`"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
pub async fn update_user(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    let input: UpdateUserRequest = body::json(request)?;
    let mut fields = Fields::default();
    let mut update = UserUpdate {
        current_password: input.current_password,
        ..UserUpdate::default()
    };
    if let Some(raw) = input.full_name.as_deref() {
        match FullName::parse(raw) {
            Ok(name) => update.full_name = Some(name),
            Err(e) => fields.push("full_name", e.to_string()),
        }
    }
    if let Some(raw) = input.email.as_deref() {
        update.email = fields.email("email", raw);
    }
    if let Some(raw) = input.password.as_deref() {
        update.password = fields.password("password", raw);
    }
    let update = fields.finish(|| Some(update))?;
    let user = flow::update_user(&ctx.deps, &caller, update)
        .await
        .map_err(|e| match e {
            UpdateUserError::CurrentPasswordRequired => ApiError::new(
                403,
                "current_password_required",
                "changing the email or password requires current_password",
            ),
            UpdateUserError::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", "current_password is incorrect")
            }
            UpdateUserError::Store(e) => e.into(),
            UpdateUserError::Hash(e) => ApiError::internal_cause(e),
        })?;
    Ok(Response::json(200, &UserBody::from(&user)))
}
