//! `POST {p}/auth/password/forget` and `POST {p}/auth/password/reset`.

use utoipa::ToSchema;

use super::flow::{self, ResetPasswordError};
use super::{FORGET_EMAIL, FORGET_IP, INVALID_RESET_TOKEN, RESET_IP, RESET_TOKEN};
use crate::kernel::feature::Ctx;
use crate::kernel::fields::from_fields;
use crate::kernel::problem::ApiError;
use crate::kernel::secrets::OpaqueToken;
use crate::kernel::web::{body, email_only, Fields, Message, Request, Response};

pub const FORGET_SENT: &str = "If the address belongs to an account, a password reset link is on its way.";

// Documents the body `email_only` reads.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ForgetPasswordRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
}

#[derive(Debug, ToSchema)]
pub struct ResetPasswordRequest {
    /// The `token` query parameter of the mailed link.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub token: String,
    /// 8 to 72 bytes; refused if among the shipped common passwords.
    #[schema(min_length = 8, max_length = 72)]
    pub new_password: String,
}
from_fields!(ResetPasswordRequest { token, new_password });

#[utoipa::path(post, path = "/balance_hub/auth/password/forget", tag = "auth", request_body = ForgetPasswordRequest, responses(
    (status = 202, body = Message, description = "Same answer whether or not the account exists"),
))]
pub async fn forget(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&FORGET_IP, ctx.ip())]).await?;
    let email = email_only(request)?;
    ctx.enforce(&[(&FORGET_EMAIL, &ctx.pseudonym(email.as_str()))]).await?;
    flow::forget_password(ctx, &email).await?;
    Ok(Response::json(202, &Message::new(FORGET_SENT)))
}

#[utoipa::path(post, path = "/balance_hub/auth/password/reset", tag = "auth", request_body = ResetPasswordRequest, responses(
    (status = 200, body = Message, description = "Password changed; every session of the user ended. A weak new password is a 422 and the token stays usable"),
))]
pub async fn reset(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&RESET_IP, ctx.ip())]).await?;
    let input: ResetPasswordRequest = body::json(request)?;
    ctx.enforce(&[(&RESET_TOKEN, &ctx.pseudonym(input.token.trim()))])
        .await?;
    let common = ctx.common_passwords().await?;
    let mut fields = Fields::default();
    let password = fields.password("new_password", &input.new_password, common);
    let password = fields.finish(|| password)?;
    let token = OpaqueToken::parse(&input.token);
    flow::reset_password(ctx, token.as_ref(), &password)
        .await
        .map_err(|e| match e {
            ResetPasswordError::InvalidToken => {
                ApiError::new(&INVALID_RESET_TOKEN, "the reset link is invalid, used or expired")
            }
            ResetPasswordError::Store(e) => e.into(),
            ResetPasswordError::Hash(e) => ApiError::internal_cause(e),
            ResetPasswordError::Limiter(e) => e.into(),
        })?;
    Ok(Response::json(
        200,
        &Message::new("Your password has been reset. Log in with the new password."),
    ))
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(paths(forget, reset))]
pub(super) struct Doc;
