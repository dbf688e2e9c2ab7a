//! The HTTP adapter of accounts: `register`, `verify-email`, `resend-verification`, `me`
//! and `update-user`. Each handler parses the request into domain types, calls one flow
//! and maps the result.

use utoipa::ToSchema;

use super::register::{self, RegisterError, Registration};
use super::update_user::{self, UpdateUserError, UserUpdate};
use super::verify_email::{self, VerifyEmailError};
use super::{
    EMAIL_CHANGE_TARGET, EMAIL_CHANGE_USER, EMAIL_TAKEN, INVALID_CODE, REGISTER_EMAIL, REGISTER_IP, RESEND_EMAIL,
    RESEND_IP, VERIFY_ACCOUNT, VERIFY_IP,
};
use crate::features::sessions::{caller, CURRENT_PASSWORD_REQUIRED, INVALID_CREDENTIALS};
use crate::features::users::{FullName, UserBody};
use crate::kernel::feature::Ctx;
use crate::kernel::fields::from_fields;
use crate::kernel::problem::ApiError;
use crate::kernel::secrets::VerificationCode;
use crate::kernel::web::{body, email_only, Fields, Message, Request, Response};

pub const REGISTERED: &str = "If the address can be registered, a verification code is on its way. Check your inbox.";
pub const RESENT: &str = "If the address belongs to an unverified account, a new verification code is on its way.";

#[derive(Debug, ToSchema)]
pub struct RegisterRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// 8 to 72 bytes of UTF-8; refused if among the shipped common passwords.
    #[schema(min_length = 8, max_length = 72, example = "correct horse battery")]
    pub password: String,
    /// Up to 100 characters, no control characters; blank means none.
    #[schema(max_length = 100)]
    pub full_name: Option<String>,
}
from_fields!(RegisterRequest {
    email,
    password,
    full_name
});

#[derive(Debug, ToSchema)]
pub struct VerifyEmailRequest {
    /// The account's address, or the new address of a pending email change.
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// The six digits from the mail.
    #[schema(pattern = "^[0-9]{6}$", example = "042817")]
    pub code: String,
}
from_fields!(VerifyEmailRequest { email, code });

// Documents the body `email_only` reads.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ResendRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
}

#[derive(Debug, Default, ToSchema)]
pub struct UpdateUserRequest {
    /// Up to 100 characters, no control characters; blank clears it.
    #[schema(max_length = 100)]
    pub full_name: Option<String>,
    /// Mailed a code; replaces the current address once confirmed through verify-email.
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// 8 to 72 bytes; ends every other session of the account.
    #[schema(min_length = 8, max_length = 72)]
    pub password: Option<String>,
    /// Required when `email` or `password` is present.
    pub current_password: Option<String>,
}
from_fields!(UpdateUserRequest {
    full_name,
    email,
    password,
    current_password
});

/// The same 201 whether or not the email is taken; only the mail sent differs.
#[utoipa::path(post, path = "/balance_hub/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = Message, description = "Same answer for new and taken emails"),
))]
pub async fn register(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&REGISTER_IP, ctx.ip())]).await?;
    let input: RegisterRequest = body::json(request)?;
    let common = ctx.common_passwords().await?;
    let mut fields = Fields::default();
    let email = fields.email("email", &input.email);
    let password = fields.password("password", &input.password, common);
    let full_name = input
        .full_name
        .as_deref()
        .and_then(|raw| fields.parse("full_name", FullName::parse(raw)))
        .and_then(FullName::into_inner);
    let registration = fields.finish(|| {
        Some(Registration {
            email: email?,
            password: password?,
            full_name,
        })
    })?;
    let subject = ctx.pseudonym(registration.email.as_str());
    ctx.enforce(&[(&REGISTER_EMAIL, &subject)]).await?;
    register::register(ctx, registration).await.map_err(|e| match e {
        RegisterError::Store(e) => ApiError::from(e),
        RegisterError::Hash(e) => ApiError::internal_cause(e),
    })?;
    Ok(Response::json(201, &Message::new(REGISTERED)))
}

#[utoipa::path(post, path = "/balance_hub/auth/resend-verification", tag = "auth", request_body = ResendRequest, responses(
    (status = 202, body = Message, description = "Same answer for unknown, verified and unverified emails; mails at most once per 60 s"),
))]
pub async fn resend_verification(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&RESEND_IP, ctx.ip())]).await?;
    let email = email_only(request)?;
    ctx.enforce(&[(&RESEND_EMAIL, &ctx.pseudonym(email.as_str()))]).await?;
    register::resend_verification(ctx, &email).await?;
    Ok(Response::json(202, &Message::new(RESENT)))
}

#[utoipa::path(post, path = "/balance_hub/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest, responses(
    (status = 200, body = Message),
))]
pub async fn verify_email(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&VERIFY_IP, ctx.ip())]).await?;
    let input: VerifyEmailRequest = body::json(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &input.email);
    let email = fields.finish(|| email)?;
    ctx.enforce(&[(&VERIFY_ACCOUNT, &ctx.pseudonym(email.as_str()))])
        .await?;
    // A code of the wrong shape is just another wrong code: it counts as a try.
    let code = VerificationCode::parse(&input.code);
    verify_email::verify_email(ctx, &email, code.as_ref())
        .await
        .map_err(|e| match e {
            VerifyEmailError::InvalidCode => ApiError::new(&INVALID_CODE, "the code is invalid or expired"),
            VerifyEmailError::EmailTaken => ApiError::new(&EMAIL_TAKEN, "the new email address is already in use"),
            VerifyEmailError::Store(e) => e.into(),
        })?;
    Ok(Response::json(200, &Message::new("Email verified.")))
}

#[utoipa::path(get, path = "/balance_hub/auth/me", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses(
    (status = 200, body = UserBody),
))]
pub async fn me(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    Ok(Response::json(200, &UserBody::from(&caller.user)))
}

#[utoipa::path(put, path = "/balance_hub/auth/update-user", tag = "auth", security(("bearer" = []), ("cookie" = [])), request_body = UpdateUserRequest, responses(
    (status = 200, body = UserBody, description = "The user after the update; a new email shows only once confirmed"),
))]
pub async fn update_user(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    let input: UpdateUserRequest = body::json(request)?;
    let common = match input.password {
        Some(_) => Some(ctx.common_passwords().await?),
        None => None,
    };
    let mut fields = Fields::default();
    let update = UserUpdate {
        full_name: input
            .full_name
            .as_deref()
            .and_then(|raw| fields.parse("full_name", FullName::parse(raw))),
        email: input.email.as_deref().and_then(|raw| fields.email("email", raw)),
        password: input
            .password
            .as_deref()
            .zip(common)
            .and_then(|(raw, common)| fields.password("password", raw, common)),
        current_password: input.current_password,
    };
    let update = fields.finish(|| Some(update))?;
    if let Some(target) = update.email.as_ref().filter(|e| e.as_str() != caller.user.email) {
        // Each request mails the target (a code or an account-exists notice): limited per
        // user and per target, so update-user cannot be turned into a mail cannon.
        let target = ctx.pseudonym(target.as_str());
        ctx.enforce(&[(&EMAIL_CHANGE_USER, &caller.user.id.0), (&EMAIL_CHANGE_TARGET, &target)])
            .await?;
    }
    let user = update_user::update_user(ctx, &caller, update)
        .await
        .map_err(|e| match e {
            UpdateUserError::CurrentPasswordRequired => ApiError::new(
                &CURRENT_PASSWORD_REQUIRED,
                "changing the email or password requires current_password",
            ),
            UpdateUserError::InvalidCredentials => ApiError::new(&INVALID_CREDENTIALS, "current_password is incorrect"),
            UpdateUserError::PasswordNotSet => ApiError::new(
                &super::PASSWORD_NOT_SET,
                "this account has no password: set one through password/forget and password/reset",
            ),
            UpdateUserError::Reauthentication(refused) => refused,
            UpdateUserError::Locked { retry_after_seconds } => ApiError::rate_limited(retry_after_seconds),
            UpdateUserError::Limiter(e) => e.into(),
            UpdateUserError::Store(e) => e.into(),
            UpdateUserError::Hash(e) => ApiError::internal_cause(e),
        })?;
    Ok(Response::json(200, &UserBody::from(&user)))
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(paths(register, verify_email, resend_verification, me, update_user))]
pub(super) struct Doc;
