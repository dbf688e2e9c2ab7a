//! The HTTP adapter of passkeys (passkeys.md): registration, the list, rename, delete and
//! the login ceremony.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::login::{self, PasskeyLoginError};
use super::manage;
use super::register::{self, PasskeyName, RegisterError};
use super::store::{DeleteOutcome, PasskeyRow, PasskeyStore};
use super::{
    INVALID_CHALLENGE, LAST_CREDENTIAL, PASSKEY_ALREADY_REGISTERED, PASSKEY_INVALID, PASSKEY_INVALID_REGISTRATION,
    PASSKEY_LIMIT_REACHED, PASSKEY_LOGIN_EMAIL, PASSKEY_LOGIN_IP,
};
use crate::features::sessions::{self, EMAIL_NOT_VERIFIED};
use crate::kernel::feature::Ctx;
use crate::kernel::fields::from_fields;
use crate::kernel::ids::rfc3339;
use crate::kernel::problem::{ApiError, NOT_FOUND};
use crate::kernel::web::{body, Fields, Request, Response};

#[derive(Debug, Default, ToSchema)]
pub struct RegisterOptionsRequest {
    /// Reauthentication: required for a user with a password.
    pub current_password: Option<String>,
}
from_fields!(RegisterOptionsRequest { current_password });

/// A challenge and the options of a ceremony, in WebAuthn's JSON form: pass `options` to
/// `PublicKeyCredential.parseCreationOptionsFromJSON` (registration) or
/// `parseRequestOptionsFromJSON` (login), and send `challenge_id` back with the credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptionsResponse {
    pub challenge_id: String,
    #[schema(value_type = Object)]
    pub options: Value,
}

#[derive(Debug, ToSchema)]
pub struct RegisterVerifyRequest {
    pub challenge_id: String,
    /// `credential.toJSON()` of `navigator.credentials.create()`.
    #[schema(value_type = Object)]
    pub credential: Value,
    /// 1–64 characters after trimming; default the device label of the request, or `Passkey`.
    pub name: Option<String>,
}
from_fields!(RegisterVerifyRequest {
    challenge_id,
    credential,
    name
});

/// A passkey; `id` is the service's own id, not the credential id.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyBody {
    pub id: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; null until first used.
    pub last_used_at: Option<String>,
    /// The backup-state flag (BS) as last seen: the passkey is synced.
    pub backed_up: bool,
}

impl From<PasskeyRow> for PasskeyBody {
    fn from(row: PasskeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            backed_up: row.backed_up,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    /// Newest first.
    pub items: Vec<PasskeyBody>,
}

#[derive(Debug, ToSchema)]
pub struct RenameRequest {
    /// 1–64 characters after trimming.
    pub name: String,
}
from_fields!(RenameRequest { name });

#[derive(Debug, Default, ToSchema)]
pub struct LoginOptionsRequest {
    /// Without it, the options are for discoverable credentials (`allowCredentials` empty).
    pub email: Option<String>,
}
from_fields!(LoginOptionsRequest { email });

#[derive(Debug, ToSchema)]
pub struct LoginVerifyRequest {
    pub challenge_id: String,
    /// `credential.toJSON()` of `navigator.credentials.get()`.
    #[schema(value_type = Object)]
    pub credential: Value,
}
from_fields!(LoginVerifyRequest {
    challenge_id,
    credential
});

fn name_field(raw: &str) -> Result<PasskeyName, ApiError> {
    let mut fields = Fields::default();
    let name = fields.parse("name", PasskeyName::parse(raw));
    fields.finish(|| name)
}

/// Passkey ids are UUIDs; anything else is no passkey of anyone's.
fn passkey_id(request: &Request) -> Option<String> {
    let id = request.path.rsplit('/').next()?;
    let shaped = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    shaped.then(|| id.to_ascii_lowercase())
}

fn not_found() -> ApiError {
    ApiError::new(&NOT_FOUND, "no such passkey of yours")
}

fn register_error(error: RegisterError) -> ApiError {
    match error {
        RegisterError::InvalidChallenge => ApiError::new(
            &INVALID_CHALLENGE,
            "the challenge is unknown, used, expired or not this registration's: ask for new options",
        ),
        RegisterError::Invalid(_) => ApiError::new(&PASSKEY_INVALID_REGISTRATION, "the credential was not accepted"),
        RegisterError::AlreadyRegistered => {
            ApiError::new(&PASSKEY_ALREADY_REGISTERED, "this passkey is registered already")
        }
        RegisterError::LimitReached => ApiError::new(&PASSKEY_LIMIT_REACHED, "delete a passkey before adding one"),
        RegisterError::Store(e) => e.into(),
    }
}

#[utoipa::path(post, path = "/balance_hub/auth/passkeys/register/options", tag = "passkeys",
    request_body(content = Option<RegisterOptionsRequest>, content_type = "application/json"),
    responses((status = 200, body = OptionsResponse,
        description = "Options for `navigator.credentials.create()`, with a challenge valid `WEBAUTHN_CHALLENGE_EXPIRE_SECONDS` for this user and session")))]
pub async fn register_options(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let input: RegisterOptionsRequest = body::optional_json(request)?.unwrap_or_default();
    sessions::reauthenticate(ctx, &caller, input.current_password.as_deref()).await?;
    let options = register::options(ctx, &caller).await.map_err(register_error)?;
    Ok(Response::json(
        200,
        &OptionsResponse {
            challenge_id: options.challenge_id,
            options: options.options,
        },
    ))
}

#[utoipa::path(post, path = "/balance_hub/auth/passkeys/register/verify", tag = "passkeys",
    request_body = RegisterVerifyRequest,
    responses((status = 201, body = PasskeyBody,
        description = "The passkey is registered (mail `passkey_added`); the challenge is used up whatever the outcome")))]
pub async fn register_verify(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let input: RegisterVerifyRequest = body::json(request)?;
    let name = input.name.as_deref().map(name_field).transpose()?;
    let client = sessions::client_of(ctx, request);
    let row = register::verify(ctx, &caller, &input.challenge_id, &input.credential, name, &client)
        .await
        .map_err(register_error)?;
    Ok(Response::json(201, &PasskeyBody::from(row)))
}

#[utoipa::path(get, path = "/balance_hub/auth/passkeys", tag = "passkeys",
    responses((status = 200, body = PasskeyList, description = "The caller's passkeys, newest first")))]
pub async fn list(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let rows = PasskeyStore(ctx.db).list(&caller.user.id).await?;
    let items = rows.into_iter().map(PasskeyBody::from).collect();
    Ok(Response::json(200, &PasskeyList { items }))
}

#[utoipa::path(patch, path = "/balance_hub/auth/passkeys/{id}", tag = "passkeys", request_body = RenameRequest,
    params(("id" = String, Path, description = "A passkey id from the list")),
    responses((status = 200, body = PasskeyBody, description = "Renamed")))]
pub async fn rename(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let input: RenameRequest = body::json(request)?;
    let name = name_field(&input.name)?;
    let id = passkey_id(request).ok_or_else(not_found)?;
    let row = manage::rename(ctx, &caller, &id, &name).await?.ok_or_else(not_found)?;
    Ok(Response::json(200, &PasskeyBody::from(row)))
}

#[utoipa::path(delete, path = "/balance_hub/auth/passkeys/{id}", tag = "passkeys",
    params(("id" = String, Path, description = "A passkey id from the list")),
    responses((status = 204,
        description = "Deleted (mail `passkey_removed`); refused while it is the account's last way to sign in")))]
pub async fn delete(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let id = passkey_id(request).ok_or_else(not_found)?;
    let client = sessions::client_of(ctx, request);
    match manage::delete(ctx, &caller, &id, &client).await? {
        DeleteOutcome::Deleted(_) => Ok(Response::empty(204)),
        DeleteOutcome::NotFound => Err(not_found()),
        DeleteOutcome::LastCredential => Err(ApiError::new(
            &LAST_CREDENTIAL,
            "the account would have no password, passkey or linked provider left",
        )),
    }
}

#[utoipa::path(post, path = "/balance_hub/auth/passkeys/login/options", tag = "passkeys",
    request_body(content = Option<LoginOptionsRequest>, content_type = "application/json"),
    responses((status = 200, body = OptionsResponse,
        description = "Options for `navigator.credentials.get()`. With an `email`, `allowCredentials` holds that account's passkeys; an address without any gets the same shape")))]
pub async fn login_options(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&PASSKEY_LOGIN_IP, ctx.ip())]).await?;
    let input: LoginOptionsRequest = body::optional_json(request)?.unwrap_or_default();
    let email = match input.email.as_deref() {
        Some(raw) => {
            let mut fields = Fields::default();
            let email = fields.email("email", raw);
            Some(fields.finish(|| email)?)
        }
        None => None,
    };
    if let Some(email) = &email {
        ctx.enforce(&[(&PASSKEY_LOGIN_EMAIL, &ctx.pseudonym(email.as_str()))])
            .await?;
    }
    let options = login::options(ctx, email.as_ref()).await?;
    Ok(Response::json(
        200,
        &OptionsResponse {
            challenge_id: options.challenge_id,
            options: options.options,
        },
    ))
}

#[utoipa::path(post, path = "/balance_hub/auth/passkeys/login/verify", tag = "passkeys",
    request_body = LoginVerifyRequest,
    responses((status = 200, body = sessions::LoginResponse,
        description = "The login response (cookies set) — with user verification also for a 2FA account; without it, a 2FA account gets the MFA challenge (`mfa_required`) instead",
        headers(("Set-Cookie" = String, description = "access_token and refresh_token, as at login")))))]
pub async fn login_verify(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&PASSKEY_LOGIN_IP, ctx.ip())]).await?;
    let input: LoginVerifyRequest = body::json(request)?;
    let client = sessions::client_of(ctx, request);
    let result = login::verify(ctx, &input.challenge_id, &input.credential, client)
        .await
        .map_err(|e| match e {
            PasskeyLoginError::InvalidChallenge => ApiError::new(
                &INVALID_CHALLENGE,
                "the challenge is unknown, used, expired or not a login's: ask for new options",
            ),
            PasskeyLoginError::Invalid(_) => ApiError::new(&PASSKEY_INVALID, "the passkey was not accepted"),
            PasskeyLoginError::EmailNotVerified => {
                ApiError::new(&EMAIL_NOT_VERIFIED, "verify your email address before logging in")
            }
            PasskeyLoginError::Login(e) => e.into(),
        })?;
    Ok(sessions::login_result_response(ctx, result))
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(register_options, register_verify, list, rename, delete, login_options, login_verify),
    components(schemas(OptionsResponse, PasskeyBody, PasskeyList))
)]
pub(super) struct Doc;
