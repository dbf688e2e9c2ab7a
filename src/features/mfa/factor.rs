//! Checking a second factor, on whichever route presents one: a TOTP code (its step
//! accepted at most once, atomically, in storage) or a recovery code (spent atomically).

use super::recovery::RecoveryCode;
use super::secret::TotpSecret;
use super::store::{MfaStore, TotpRow};
use super::totp::{self, TotpCode};
use super::MfaSettings;
use crate::kernel::crypto::{open_text, seal_text, CryptoError};
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;
use crate::kernel::{UnixSeconds, UserId};

/// The methods' names, as `auth_methods` and the challenge's `methods` spell them.
pub const TOTP: &str = "totp";
pub const RECOVERY_CODE: &str = "recovery_code";

/// A second factor as presented.
#[derive(Debug, Clone)]
pub enum Presented {
    Totp(TotpCode),
    RecoveryCode(RecoveryCode),
}

impl Presented {
    pub fn method(&self) -> &'static str {
        match self {
            Self::Totp(_) => TOTP,
            Self::RecoveryCode(_) => RECOVERY_CODE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A stored secret that does not open under the current key (`SECRET_KEY` changed?).
    #[error("the stored TOTP secret of a user does not open")]
    Unsealable,
}

/// Whether `presented` is right for `user` now; a right one is used up by this call.
pub async fn check(ctx: &Ctx<'_>, user: &UserId, presented: &Presented) -> Result<bool, FactorError> {
    match presented {
        Presented::Totp(code) => check_totp(ctx, user, code).await,
        Presented::RecoveryCode(code) => {
            let digest = code.digest(ctx.digester, user);
            Ok(MfaStore(ctx.db)
                .spend_recovery_code(user, &digest, ctx.clock.now())
                .await?)
        }
    }
}

/// Gives back what `check` used up since `since` when it signed nobody in (another verify
/// of the same mfa_token won meanwhile): a recovery code is unused again. A TOTP step stays
/// spent (the next step's code is 30 s away).
pub async fn give_back(
    ctx: &Ctx<'_>,
    user: &UserId,
    presented: &Presented,
    since: UnixSeconds,
) -> Result<(), FactorError> {
    if let Presented::RecoveryCode(code) = presented {
        let digest = code.digest(ctx.digester, user);
        MfaStore(ctx.db).restore_recovery_code(user, &digest, since).await?;
    }
    Ok(())
}

/// A TOTP code of the user's confirmed factor for a step later than the last accepted
/// one; accepting records that step in the same statement (`accept_step`), so of any
/// number of requests with one code, one wins.
pub async fn check_totp(ctx: &Ctx<'_>, user: &UserId, code: &TotpCode) -> Result<bool, FactorError> {
    let store = MfaStore(ctx.db);
    let Some(row) = store.totp(user).await?.filter(|row| row.confirmed_at.is_some()) else {
        return Ok(false);
    };
    let secret = open(ctx, user, &row.secret).await?;
    match totp::matching_step(&secret.0, code, ctx.clock.now(), row.last_step) {
        Some(step) => Ok(store.accept_step(user, step).await?),
        None => Ok(false),
    }
}

/// The secret of a stored row.
pub async fn open(ctx: &Ctx<'_>, user: &UserId, sealed: &str) -> Result<TotpSecret, FactorError> {
    let key = &ctx.settings::<MfaSettings>().sealing_key;
    open_text(ctx.crypto, key, user.0.as_bytes(), sealed)
        .await?
        .and_then(|bytes| TotpSecret::from_bytes(&bytes))
        .ok_or(FactorError::Unsealable)
}

/// The secret as stored: sealed under the feature's key, bound to its user.
pub async fn seal(ctx: &Ctx<'_>, user: &UserId, secret: &TotpSecret) -> Result<String, CryptoError> {
    let key = &ctx.settings::<MfaSettings>().sealing_key;
    seal_text(ctx.crypto, key, user.0.as_bytes(), &secret.0).await
}

/// Whether 2FA is on in storage (the row, not the user object read earlier).
pub fn is_confirmed(row: Option<&TotpRow>) -> bool {
    row.is_some_and(|row| row.confirmed_at.is_some())
}
