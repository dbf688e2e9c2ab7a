//! `POST {p}/auth/password/forget` and `POST {p}/auth/password/reset`.

use super::body;
use super::dto::{EmailRequest, Fields, Message, ResetPasswordRequest};
use super::error::{ApiError, Problem};
use super::limits::{self, ip, pseudonym};
use super::{Ctx, Request, Response};
use crate::auth::password_reset::{self as flow, ResetPasswordError};
use crate::domain::ResetToken;
use crate::rate_limit::limits::Limit;

pub const FORGET_SENT: &str = "If the address belongs to an account, a password reset link is on its way.";

#[utoipa::path(post, path = "/balance_hub/auth/password/forget", tag = "auth", request_body = EmailRequest, responses(
    (status = 202, body = Message, description = "Same answer whether or not the account exists"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
pub async fn forget(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    limits::enforce(ctx, &[(Limit::ForgetIp, ip(ctx))]).await?;
    let input: EmailRequest = body::json(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &input.email);
    let email = fields.finish(|| email)?;
    limits::enforce(ctx, &[(Limit::ForgetEmail, &pseudonym(ctx, email.as_str()))]).await?;
    flow::forget_password(&ctx.deps, &email).await?;
    Ok(Response::json(202, &Message::new(FORGET_SENT)))
}

#[utoipa::path(post, path = "/balance_hub/auth/password/reset", tag = "auth", request_body = ResetPasswordRequest, responses(
    (status = 200, body = Message, description = "Password changed; every session of the user ended"),
    (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_token`: unknown, used or expired"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "`validation_error` or `password_too_common`; the token stays usable"),
))]
pub async fn reset(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    limits::enforce(ctx, &[(Limit::ResetIp, ip(ctx))]).await?;
    let input: ResetPasswordRequest = body::json(request)?;
    limits::enforce(ctx, &[(Limit::ResetToken, &pseudonym(ctx, input.token.trim()))]).await?;
    let mut fields = Fields::default();
    let password = fields.password("new_password", &input.new_password);
    let password = fields.finish(|| password)?;
    let token = ResetToken::parse(&input.token);
    flow::reset_password(&ctx.deps, token.as_ref(), &password)
        .await
        .map_err(|e| match e {
            ResetPasswordError::InvalidToken => {
                ApiError::new(400, "invalid_token", "the reset link is invalid, used or expired")
            }
            ResetPasswordError::Store(e) => e.into(),
            ResetPasswordError::Hash(e) => ApiError::internal_cause(e),
        })?;
    Ok(Response::json(
        200,
        &Message::new("Your password has been reset. Log in with the new password."),
    ))
}
