//! The HTTP adapter of two-factor sign-in: enroll, confirm, disable, recovery-codes and
//! verify (mfa.md).

use serde::Serialize;
use utoipa::ToSchema;

use super::enroll::{self, ConfirmError, EnrollError};
use super::factor::{FactorError, Presented};
use super::manage::{self, ManageError};
use super::recovery::RecoveryCode;
use super::totp::TotpCode;
use super::verify::{self, SecondFactor, VerifyError};
use super::{
    INVALID_CODE, INVALID_MFA_CODE, INVALID_MFA_TOKEN, MFA_ALREADY_ENABLED, MFA_ENROLLMENT_MISSING, MFA_NOT_ENABLED,
    MFA_VERIFY_IP,
};
use crate::features::passkeys::{self, MfaOptionsError, OptionsResponse, INVALID_CHALLENGE, PASSKEY_INVALID};
use crate::features::sessions::{self, LoginResponse};
use crate::kernel::feature::Ctx;
use crate::kernel::fields::from_fields;
use crate::kernel::problem::ApiError;
use crate::kernel::web::{body, Fields, Request, Response};

/// An `mfa_token` longer than this was never handed out.
const MAX_MFA_TOKEN_CHARS: usize = 512;

#[derive(Debug, Default, ToSchema)]
pub struct EnrollRequest {
    /// Reauthentication: required for a user with a password.
    pub current_password: Option<String>,
}
from_fields!(EnrollRequest { current_password });

/// Shown once; the secret is never returned again.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollResponse {
    /// Base32 (RFC 4648, upper case, no padding), 32 characters.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// `otpauth://totp/<APP_NAME>:<email>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`.
    pub otpauth_uri: String,
    /// An SVG element (no XML prolog, no script): the QR code of `otpauth_uri`, level M.
    pub qr_svg: String,
}

#[derive(Debug, ToSchema)]
pub struct ConfirmRequest {
    /// A current code of the pending secret: 6 digits (spaces ignored).
    #[schema(example = "123456")]
    pub code: String,
}
from_fields!(ConfirmRequest { code });

/// Shown once; only digests are kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// 10 codes `xxxxx-xxxxx`, each usable once.
    #[schema(example = json!(["7hx2k-q9m4d", "..."]))]
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, ToSchema)]
pub struct DisableRequest {
    /// Reauthentication: required for a user with a password.
    pub current_password: Option<String>,
    /// A current TOTP code; or send `recovery_code` instead (exactly one of the two).
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}
from_fields!(DisableRequest {
    current_password,
    code,
    recovery_code
});

#[derive(Debug, ToSchema)]
pub struct RecoveryCodesRequest {
    /// Reauthentication: required for a user with a password.
    pub current_password: Option<String>,
    /// A current TOTP code (a recovery code does not do here).
    pub code: String,
}
from_fields!(RecoveryCodesRequest { current_password, code });

/// The second half of a sign-in: the challenge's `mfa_token` and exactly one second
/// factor: `code` (TOTP), `recovery_code`, or a passkey assertion (`challenge_id` from
/// `mfa/passkey/options` and `credential`, `credential.toJSON()` of
/// `navigator.credentials.get()`).
#[derive(Debug, ToSchema)]
pub struct VerifyRequest {
    pub mfa_token: String,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
    pub challenge_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}
from_fields!(VerifyRequest {
    mfa_token,
    code,
    recovery_code,
    challenge_id,
    credential
});

#[derive(Debug, ToSchema)]
pub struct PasskeyOptionsRequest {
    pub mfa_token: String,
}
from_fields!(PasskeyOptionsRequest { mfa_token });

/// `code` or `recovery_code`, exactly one, each parsed (422 naming the field otherwise).
fn second_factor(code: Option<&str>, recovery_code: Option<&str>) -> Result<Presented, ApiError> {
    let mut fields = Fields::default();
    let presented = match (code, recovery_code) {
        (Some(code), None) => fields.parse("code", TotpCode::parse(code)).map(Presented::Totp),
        (None, Some(code)) => fields
            .parse("recovery_code", RecoveryCode::parse(code))
            .map(Presented::RecoveryCode),
        (Some(_), Some(_)) => {
            fields.push("code", "send code or recovery_code, not both");
            None
        }
        (None, None) => {
            fields.push("code", "send code or recovery_code");
            None
        }
    };
    fields.finish(|| presented)
}

fn totp_code(raw: &str) -> Result<TotpCode, ApiError> {
    let mut fields = Fields::default();
    let code = fields.parse("code", TotpCode::parse(raw));
    fields.finish(|| code)
}

fn factor_error(error: FactorError) -> ApiError {
    match error {
        FactorError::Store(e) => e.into(),
        e => ApiError::internal_cause(e),
    }
}

#[utoipa::path(post, path = "/balance_hub/auth/mfa/totp/enroll", tag = "mfa",
    request_body(content = Option<EnrollRequest>, content_type = "application/json"),
    responses((status = 200, body = EnrollResponse,
        description = "A pending enrollment of a fresh secret (replacing an earlier pending one), valid `MFA_ENROLL_EXPIRE_MINUTES`; confirm it with a code")))]
pub async fn enroll(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let input: EnrollRequest = body::optional_json(request)?.unwrap_or_default();
    if caller.user.mfa_enabled {
        return Err(ApiError::new(&MFA_ALREADY_ENABLED, "turn two-factor sign-in off first"));
    }
    sessions::reauthenticate(ctx, &caller, input.current_password.as_deref()).await?;
    let enrollment = enroll::enroll(ctx, &caller).await.map_err(|e| match e {
        EnrollError::AlreadyEnabled => ApiError::new(&MFA_ALREADY_ENABLED, "turn two-factor sign-in off first"),
        EnrollError::Store(e) => e.into(),
        e => ApiError::internal_cause(e),
    })?;
    Ok(Response::json(
        200,
        &EnrollResponse {
            secret: enrollment.secret,
            otpauth_uri: enrollment.otpauth_uri,
            qr_svg: enrollment.qr_svg,
        },
    ))
}

#[utoipa::path(post, path = "/balance_hub/auth/mfa/totp/confirm", tag = "mfa", request_body = ConfirmRequest,
    responses((status = 200, body = RecoveryCodesResponse,
        description = "Two-factor sign-in is on; the first recovery codes, shown once. Five wrong codes end the enrollment")))]
pub async fn confirm(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let input: ConfirmRequest = body::json(request)?;
    let code = totp_code(&input.code)?;
    let codes = enroll::confirm(ctx, &caller, &code).await.map_err(|e| match e {
        ConfirmError::InvalidCode => ApiError::new(&INVALID_CODE, "the code does not match the new secret"),
        ConfirmError::EnrollmentMissing => {
            ApiError::new(&MFA_ENROLLMENT_MISSING, "no enrollment is pending: enroll again")
        }
        ConfirmError::AlreadyEnabled => ApiError::new(&MFA_ALREADY_ENABLED, "two-factor sign-in is already on"),
        ConfirmError::Factor(e) => factor_error(e),
    })?;
    Ok(Response::json(200, &RecoveryCodesResponse { recovery_codes: codes }))
}

fn manage_error(error: ManageError) -> ApiError {
    match error {
        ManageError::NotEnabled => ApiError::new(&MFA_NOT_ENABLED, "two-factor sign-in is not on"),
        ManageError::InvalidCode => ApiError::new(&INVALID_MFA_CODE, "the code is wrong or already used"),
        ManageError::Reauth(e) => e,
        ManageError::Factor(e) => factor_error(e),
        ManageError::Limiter(e) => e.into(),
    }
}

#[utoipa::path(post, path = "/balance_hub/auth/mfa/totp/disable", tag = "mfa", request_body = DisableRequest,
    responses((status = 204,
        description = "Two-factor sign-in is off: the secret and every recovery code are deleted and every other session of the user ended")))]
pub async fn disable(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let input: DisableRequest = body::json(request)?;
    let presented = second_factor(input.code.as_deref(), input.recovery_code.as_deref())?;
    manage::disable(ctx, &caller, input.current_password.as_deref(), &presented)
        .await
        .map_err(manage_error)?;
    Ok(Response::empty(204))
}

#[utoipa::path(post, path = "/balance_hub/auth/mfa/recovery-codes", tag = "mfa", request_body = RecoveryCodesRequest,
    responses((status = 200, body = RecoveryCodesResponse,
        description = "A new generation of recovery codes, shown once; every earlier code stops working")))]
pub async fn recovery_codes(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = sessions::caller(ctx, request).await?;
    let input: RecoveryCodesRequest = body::json(request)?;
    let code = totp_code(&input.code)?;
    let codes = manage::regenerate_recovery_codes(ctx, &caller, input.current_password.as_deref(), &code)
        .await
        .map_err(manage_error)?;
    Ok(Response::json(200, &RecoveryCodesResponse { recovery_codes: codes }))
}

#[utoipa::path(post, path = "/balance_hub/auth/mfa/verify", tag = "mfa", request_body = VerifyRequest,
    responses((status = 200, body = LoginResponse,
        description = "The login response (cookies set): a session by both factors",
        headers(("Set-Cookie" = String, description = "access_token and refresh_token, as at login")))))]
pub async fn verify(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&MFA_VERIFY_IP, ctx.ip())]).await?;
    let input: VerifyRequest = body::json(request)?;
    let presented = match (input.challenge_id, input.credential) {
        (None, None) => SecondFactor::Code(second_factor(input.code.as_deref(), input.recovery_code.as_deref())?),
        (Some(challenge_id), Some(credential)) if input.code.is_none() && input.recovery_code.is_none() => {
            SecondFactor::Passkey {
                challenge_id,
                credential,
            }
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "credential",
                "send a passkey assertion or a code, not both",
            ))
        }
        (None, Some(_)) => return Err(ApiError::invalid_field("challenge_id", "send it with credential")),
        (Some(_), None) => return Err(ApiError::invalid_field("credential", "send it with challenge_id")),
    };
    if !token_shaped(&input.mfa_token) {
        return Err(invalid_token());
    }
    let client = sessions::client_of(ctx, request);
    let logged_in = verify::verify(ctx, &input.mfa_token, &presented, client)
        .await
        .map_err(|e| match e {
            VerifyError::InvalidToken => invalid_token(),
            VerifyError::InvalidCode => ApiError::new(&INVALID_MFA_CODE, "the code is wrong or already used"),
            VerifyError::InvalidChallenge => ApiError::new(
                &INVALID_CHALLENGE,
                "the challenge is unknown, used, expired or not this mfa_token's: ask for new options",
            ),
            VerifyError::InvalidPasskey => ApiError::new(&PASSKEY_INVALID, "the passkey was not accepted"),
            VerifyError::Login(e) => e.into(),
            VerifyError::Factor(e) => factor_error(e),
        })?;
    Ok(sessions::login_response(ctx, logged_in))
}

fn invalid_token() -> ApiError {
    ApiError::new(
        &INVALID_MFA_TOKEN,
        "the mfa_token is invalid, expired or used: log in again",
    )
}

/// An `mfa_token` that is empty or longer than any handed out is checked no further.
fn token_shaped(mfa_token: &str) -> bool {
    !mfa_token.is_empty() && mfa_token.len() <= MAX_MFA_TOKEN_CHARS
}

#[utoipa::path(post, path = "/balance_hub/auth/mfa/passkey/options", tag = "mfa", request_body = PasskeyOptionsRequest,
    responses((status = 200, body = OptionsResponse,
        description = "Options for `navigator.credentials.get()` with the user's passkeys and a challenge bound to the `mfa_token`, which is not spent")))]
pub async fn passkey_options(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    ctx.enforce(&[(&MFA_VERIFY_IP, ctx.ip())]).await?;
    let input: PasskeyOptionsRequest = body::json(request)?;
    if !token_shaped(&input.mfa_token) {
        return Err(invalid_token());
    }
    let options = passkeys::mfa_options(ctx, &input.mfa_token)
        .await
        .map_err(|e| match e {
            MfaOptionsError::InvalidToken => invalid_token(),
            MfaOptionsError::NotRegistered => ApiError::new(
                &passkeys::PASSKEY_NOT_REGISTERED,
                "no passkey can complete this sign-in: use a code",
            ),
            MfaOptionsError::Store(e) => e.into(),
        })?;
    Ok(Response::json(
        200,
        &OptionsResponse {
            challenge_id: options.challenge_id,
            options: options.options,
        },
    ))
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(enroll, confirm, disable, recovery_codes, verify, passkey_options),
    components(schemas(EnrollResponse, RecoveryCodesResponse))
)]
pub(super) struct Doc;
