//! `POST {p}/auth/verify-email`.

use super::body;
use super::dto::{Fields, Message, VerifyEmailRequest};
use super::error::{ApiError, Problem};
use super::limits::{self, ip, pseudonym};
use super::{Ctx, Request, Response};
use crate::auth::verify_email::{self as flow, VerifyEmailError};
use crate::domain::VerificationCode;
use crate::rate_limit::limits::Limit;

#[utoipa::path(post, path = "/balance_hub/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest, responses(
    (status = 200, body = Message),
    (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_code`: wrong, expired, used or dead code, or an unknown email"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "`email_taken`: the new address of an email change was registered meanwhile"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
pub async fn verify_email(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    limits::enforce(ctx, &[(Limit::VerifyIp, ip(ctx))]).await?;
    let input: VerifyEmailRequest = body::json(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &input.email);
    let email = fields.finish(|| email)?;
    limits::enforce(ctx, &[(Limit::VerifyAccount, &pseudonym(ctx, email.as_str()))]).await?;
    // A code of the wrong shape is just another wrong code: it counts as a try.
    let code = VerificationCode::parse(&input.code);
    flow::verify_email(&ctx.deps, &email, code.as_ref())
        .await
        .map_err(|e| match e {
            VerifyEmailError::InvalidCode => ApiError::new(400, "invalid_code", "the code is invalid or expired"),
            VerifyEmailError::EmailTaken => {
                ApiError::new(409, "email_taken", "the new email address is already in use")
            }
            VerifyEmailError::Store(e) => e.into(),
        })?;
    Ok(Response::json(200, &Message::new("Email verified.")))
}
