//! `POST {p}/auth/register` and `POST {p}/auth/resend-verification`.

use super::body;
use super::dto::{EmailRequest, Fields, Message, RegisterRequest};
use super::error::{ApiError, Problem};
use super::limits::{self, ip, pseudonym};
use super::{Ctx, Request, Response};
use crate::auth::register::{self as flow, RegisterError, Registration};
use crate::domain::FullName;
use crate::rate_limit::limits::Limit;

pub const REGISTERED: &str = "If the address can be registered, a verification code is on its way. Check your inbox.";
pub const RESENT: &str = "If the address belongs to an unverified account, a new verification code is on its way.";

/// The same 201 whether or not the email is taken; only the mail sent differs.
#[utoipa::path(post, path = "/balance_hub/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = Message, description = "Same answer for new and taken emails"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "`validation_error` or `password_too_common`"),
))]
pub async fn register(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    limits::enforce(ctx, &[(Limit::RegisterIp, ip(ctx))]).await?;
    let input: RegisterRequest = body::json(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &input.email);
    let password = fields.password("password", &input.password);
    let full_name = match input.full_name.as_deref().map(FullName::parse).transpose() {
        Ok(name) => name.and_then(FullName::into_inner),
        Err(e) => {
            fields.push("full_name", e.to_string());
            None
        }
    };
    let registration = fields.finish(|| {
        Some(Registration {
            email: email?,
            password: password?,
            full_name,
        })
    })?;
    limits::enforce(
        ctx,
        &[(Limit::RegisterEmail, &pseudonym(ctx, registration.email.as_str()))],
    )
    .await?;
    flow::register(&ctx.deps, registration).await.map_err(|e| match e {
        RegisterError::Store(e) => ApiError::from(e),
        RegisterError::Hash(e) => ApiError::internal_cause(e),
    })?;
    Ok(Response::json(201, &Message::new(REGISTERED)))
}

#[utoipa::path(post, path = "/balance_hub/auth/resend-verification", tag = "auth", request_body = EmailRequest, responses(
    (status = 202, body = Message, description = "Same answer for unknown, verified and unverified emails; mails at most once per 60 s"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
pub async fn resend_verification(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    limits::enforce(ctx, &[(Limit::ResendIp, ip(ctx))]).await?;
    let input: EmailRequest = body::json(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &input.email);
    let email = fields.finish(|| email)?;
    limits::enforce(ctx, &[(Limit::ResendEmail, &pseudonym(ctx, email.as_str()))]).await?;
    flow::resend_verification(&ctx.deps, &email).await?;
    Ok(Response::json(202, &Message::new(RESENT)))
}
