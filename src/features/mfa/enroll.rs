//! Enrollment: a fresh secret shown once (enroll), then turned on by a first code from
//! the user's app (confirm), which also hands out the first recovery codes.

use super::factor::{self, FactorError};
use super::secret::{otpauth_uri, TotpSecret};
use super::store::{self, MfaStore};
use super::{mails, qr, recovery, totp, MfaSettings};
use crate::features::sessions::Caller;
use crate::kernel::crypto::CryptoError;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::random_uuid;
use crate::kernel::sql::StoreError;

/// What enroll shows, once.
#[derive(Debug)]
pub struct Enrollment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("two-factor sign-in is already on")]
    AlreadyEnabled,
    #[error("the otpauth URI does not fit a QR code")]
    TooLong,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Starts (or restarts, replacing) the caller's enrollment of a fresh secret. The caller
/// has reauthenticated.
pub async fn enroll(ctx: &Ctx<'_>, caller: &Caller) -> Result<Enrollment, EnrollError> {
    let user = &caller.user;
    if user.mfa_enabled {
        return Err(EnrollError::AlreadyEnabled);
    }
    let secret = TotpSecret::generate();
    let sealed = factor::seal(ctx, &user.id, &secret).await?;
    let now = ctx.clock.now();
    let expires_at = now + ctx.settings::<MfaSettings>().enroll_seconds;
    if !MfaStore(ctx.db)
        .begin_enrollment(&user.id, &sealed, now, expires_at)
        .await?
    {
        return Err(EnrollError::AlreadyEnabled);
    }
    let otpauth_uri = otpauth_uri(&ctx.config.app_name, &user.email, &secret);
    let qr_svg = qr::svg(&otpauth_uri).ok_or(EnrollError::TooLong)?;
    Ok(Enrollment {
        secret: secret.base32(),
        otpauth_uri,
        qr_svg,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("the code is not the enrollment's")]
    InvalidCode,
    #[error("no enrollment is pending (none, expired, or too many wrong codes)")]
    EnrollmentMissing,
    #[error("two-factor sign-in is already on")]
    AlreadyEnabled,
    #[error(transparent)]
    Factor(#[from] FactorError),
}

impl From<StoreError> for ConfirmError {
    fn from(error: StoreError) -> Self {
        Self::Factor(error.into())
    }
}

/// Turns 2FA on with a code of the pending secret: its step is the first one accepted,
/// and the first recovery codes (returned, shown once) are stored with it.
pub async fn confirm(ctx: &Ctx<'_>, caller: &Caller, code: &totp::TotpCode) -> Result<Vec<String>, ConfirmError> {
    let user = &caller.user;
    let store = MfaStore(ctx.db);
    let now = ctx.clock.now();
    // The try is counted before the code is checked: five wrong ones and it is gone.
    let Some(enrollment) = store.try_enrollment(&user.id, now).await? else {
        let row = store.totp(&user.id).await?;
        return Err(match factor::is_confirmed(row.as_ref()) {
            true => ConfirmError::AlreadyEnabled,
            false => ConfirmError::EnrollmentMissing,
        });
    };
    let sealed = enrollment.secret;
    let secret = factor::open(ctx, &user.id, &sealed).await?;
    let Some(step) = totp::matching_step(&secret.0, code, now, enrollment.last_step) else {
        return Err(ConfirmError::InvalidCode);
    };
    let codes = recovery::generation();
    let digests: Vec<String> = codes
        .iter()
        .map(|code| recovery::digest_of(code, ctx.digester, &user.id))
        .collect();
    // Names this confirmation for the statements after it in the batch. Not the request id:
    // a client can choose that (`X-Request-Id`), and two requests must never share it.
    let confirmation = random_uuid();
    let statements = store::confirm(&user.id, &sealed, step, now, &confirmation, &digests);
    let results = ctx.db.batch(&statements).await.map_err(StoreError::from)?;
    if results.first().map(|r| r.changes) != Some(1) {
        // Another request confirmed it, or a new enroll replaced the secret meanwhile.
        let row = store.totp(&user.id).await?;
        return Err(match factor::is_confirmed(row.as_ref()) {
            true => ConfirmError::AlreadyEnabled,
            false => ConfirmError::EnrollmentMissing,
        });
    }
    ctx.outbox.send(mails::notice(ctx, &mails::MFA_ENABLED, &user.email));
    ctx.emit(AuthEvent::MfaEnabled {
        user_id: user.id.clone(),
    });
    Ok(codes)
}
