//! Signing in with a passkey (passkeys.md, "Login checks"), and a passkey as the second
//! factor of a 2FA sign-in (mfa.md): options, then the assertion checked against the
//! stored credential, its counter advanced atomically.

use serde_json::{json, Value};

use super::ceremony::{self, Ceremony};
use super::store::{Found, PasskeyStore};
use super::webauthn::{self, b64, Assertion, AuthenticatorData, CoseKey, Expected, Refused, FLAG_BS, FLAG_UV};
use super::PasskeySettings;
use crate::features::sessions::{self, ClientInfo, LoginError, LoginResult, PendingSignIn};
use crate::features::users::User;
use crate::kernel::crypto::KeyAlg;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;
use crate::kernel::EmailAddress;

/// The method's name, as `auth_methods` and the MFA challenge's `methods` spell it.
pub const PASSKEY: &str = "passkey";

/// A challenge id and the options for `navigator.credentials.get()`.
#[derive(Debug)]
pub struct LoginOptions {
    pub challenge_id: String,
    pub options: Value,
}

fn request_options(
    settings: &PasskeySettings,
    challenge: &str,
    allow: &[(String, Vec<String>)],
    user_verification: &str,
) -> Value {
    let allow: Vec<Value> = allow
        .iter()
        .map(|(id, transports)| json!({"type": "public-key", "id": id, "transports": transports}))
        .collect();
    json!({
        "challenge": challenge,
        "timeout": settings.challenge_seconds * 1000,
        "rpId": settings.rp_id,
        "allowCredentials": allow,
        "userVerification": user_verification,
    })
}

/// Login options: without an email, for discoverable credentials (`allowCredentials`
/// empty); with one, the account's passkeys, or for an unknown address or an account
/// without passkeys 1–3 decoys derived from the address, the same on every call. The same
/// statements run in every case.
pub async fn options(ctx: &Ctx<'_>, email: Option<&EmailAddress>) -> Result<LoginOptions, StoreError> {
    let settings = ctx.settings::<PasskeySettings>();
    let binding = email.map(|e| ceremony::email_binding(ctx, e.as_str()));
    let issued = ceremony::issue(ctx, &Ceremony::Login { email: binding });
    let mut allow = PasskeyStore(ctx.db)
        .login_options(email.map(EmailAddress::as_str), issued.store)
        .await?;
    if let (Some(email), true) = (email, allow.is_empty()) {
        allow = decoys(ctx, email.as_str());
    }
    Ok(LoginOptions {
        challenge_id: issued.id,
        options: request_options(settings, &issued.challenge, &allow, "preferred"),
    })
}

/// 1–3 credential descriptors of 32 bytes, from HMAC(`SECRET_KEY`, email): stable, so two
/// calls for an address without passkeys cannot be told from an address with some.
fn decoys(ctx: &Ctx<'_>, email: &str) -> Vec<(String, Vec<String>)> {
    let count = 1 + ctx.digester.mac("passkey_decoy_count", "", email)[0] % 3;
    (0..count)
        .map(|i| {
            let id = ctx.digester.mac("passkey_decoy", &i.to_string(), email);
            (b64(&id), vec!["internal".to_owned(), "hybrid".to_owned()])
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PasskeyLoginError {
    #[error("the challenge is unknown, used, expired or not a login's")]
    InvalidChallenge,
    #[error(transparent)]
    Invalid(#[from] Refused),
    #[error("the account's email is not verified")]
    EmailNotVerified,
    #[error(transparent)]
    Login(#[from] LoginError),
}

impl From<StoreError> for PasskeyLoginError {
    fn from(error: StoreError) -> Self {
        Self::Login(error.into())
    }
}

/// Why an assertion was refused: a failed check, or a counter that did not advance (which
/// is told apart only in the event).
enum Failure {
    Refused(Refused),
    CounterRegression,
    Store(StoreError),
}

impl From<Refused> for Failure {
    fn from(refused: Refused) -> Self {
        Self::Refused(refused)
    }
}

/// The login ceremony: the assertion of a registered credential (of the address the
/// options were asked for, if one was) signs the user in. With user verification it is
/// both factors; without, a 2FA account is answered the MFA challenge.
pub async fn verify(
    ctx: &Ctx<'_>,
    challenge_id: &str,
    credential: &Value,
    client: ClientInfo,
) -> Result<LoginResult, PasskeyLoginError> {
    let (challenge, email_binding) = ceremony::consume_login(ctx, challenge_id)
        .await?
        .ok_or(PasskeyLoginError::InvalidChallenge)?;
    let refused = |reason| {
        ctx.emit(AuthEvent::LoginFailed);
        PasskeyLoginError::Invalid(Refused(reason))
    };
    let assertion = Assertion::parse(credential).map_err(|r| refused(r.0))?;
    let Some(found) = PasskeyStore(ctx.db).find(&b64(&assertion.raw_id)).await? else {
        return Err(refused("the credential is not registered"));
    };
    if email_binding.is_some_and(|b| b != ceremony::email_binding(ctx, &found.user.email)) {
        return Err(refused("the credential is not of the address asked for"));
    }
    let auth_data = match check_assertion(ctx, &assertion, &challenge, &found).await {
        Ok(auth_data) => auth_data,
        Err(Failure::Refused(r)) => return Err(refused(r.0)),
        Err(Failure::CounterRegression) => return Err(refused("the signature counter did not advance")),
        Err(Failure::Store(e)) => return Err(e.into()),
    };
    let user = found.user;
    if !user.email_verified {
        return Err(PasskeyLoginError::EmailNotVerified);
    }
    if auth_data.has(FLAG_UV) {
        // User verification is a second factor in itself: no MFA challenge.
        let logged_in = sessions::open_session(ctx, user, client, &[PASSKEY]).await?;
        return Ok(LoginResult::LoggedIn(logged_in));
    }
    Ok(sessions::sign_in(ctx, user, client, PASSKEY).await?)
}

/// Checks `assertion` against the challenge and the stored credential `found`, then
/// records the use: the counter (which must advance), BS and `last_used_at`, atomically.
async fn check_assertion(
    ctx: &Ctx<'_>,
    assertion: &Assertion,
    challenge: &str,
    found: &Found,
) -> Result<AuthenticatorData, Failure> {
    let settings = ctx.settings::<PasskeySettings>();
    webauthn::check_client_data(
        &assertion.client_data_json,
        &Expected {
            kind: "webauthn.get",
            challenge,
            origins: &settings.origins,
        },
    )?;
    let auth_data = AuthenticatorData::parse(&assertion.authenticator_data)?;
    auth_data.check(&settings.rp_id)?;
    if let Some(handle) = &assertion.user_handle {
        if found.handle.as_deref() != Some(b64(handle).as_str()) {
            return Err(Refused("userHandle is not the credential owner's").into());
        }
    }
    let key = webauthn::unb64(&found.public_key)
        .ok_or(Refused("stored key"))
        .and_then(|bytes| CoseKey::parse(&bytes))?;
    let signature = match key.public.alg {
        KeyAlg::Es256 => webauthn::der_to_raw(&assertion.signature)
            .ok_or(Refused("signature is not DER"))?
            .to_vec(),
        KeyAlg::EdDsa => assertion.signature.clone(),
    };
    let input = webauthn::signed_input(&assertion.authenticator_data, &assertion.client_data_json);
    // Not cached by id: a passkey's key is used once per sign-in.
    match ctx.crypto.verify("", &key.public, &input, &signature).await {
        Ok(true) => {}
        Ok(false) | Err(_) => return Err(Refused("signature").into()),
    }
    let advanced = PasskeyStore(ctx.db)
        .record_use(
            &found.passkey_id,
            auth_data.sign_count,
            auth_data.has(FLAG_BS),
            ctx.clock.now(),
        )
        .await
        .map_err(Failure::Store)?;
    if !advanced {
        ctx.emit(AuthEvent::PasskeyCounterRegression {
            user_id: found.user.id.clone(),
            passkey_id: found.passkey_id.clone(),
        });
        return Err(Failure::CounterRegression);
    }
    Ok(auth_data)
}

#[derive(Debug, thiserror::Error)]
pub enum MfaOptionsError {
    #[error("the mfa_token is unknown, expired, used or out of tries")]
    InvalidToken,
    #[error("the user has no passkey to complete the sign-in with")]
    NotRegistered,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `mfa/passkey/options`: a challenge bound to the `mfa_token` (which is not spent) for the
/// user's passkeys, user verification discouraged. A sign-in whose first factor was a
/// passkey has none to offer.
pub async fn mfa_options(ctx: &Ctx<'_>, mfa_token: &str) -> Result<LoginOptions, MfaOptionsError> {
    let pending = sessions::waiting_sign_in(ctx, mfa_token)
        .await?
        .ok_or(MfaOptionsError::InvalidToken)?;
    if pending.first_factor == PASSKEY {
        return Err(MfaOptionsError::NotRegistered);
    }
    let issued = ceremony::issue(
        ctx,
        &Ceremony::Mfa {
            mfa_token: pending.digest().to_owned(),
        },
    );
    let allow = PasskeyStore(ctx.db)
        .credentials_of_user(&pending.user_id, issued.store)
        .await?;
    if allow.is_empty() {
        return Err(MfaOptionsError::NotRegistered);
    }
    let settings = ctx.settings::<PasskeySettings>();
    Ok(LoginOptions {
        challenge_id: issued.id,
        options: request_options(settings, &issued.challenge, &allow, "discouraged"),
    })
}

/// A passkey presented as the second factor of `pending`.
#[derive(Debug, PartialEq, Eq)]
pub enum SecondFactorCheck {
    Valid,
    /// 400 `invalid_challenge`: not a live challenge of this `mfa_token`.
    InvalidChallenge,
    /// 401 `passkey_invalid`.
    Invalid,
}

/// Checks a passkey assertion as the second factor of `pending` (user verification not
/// required); the credential must be `user`'s.
pub async fn check_second_factor(
    ctx: &Ctx<'_>,
    pending: &PendingSignIn,
    user: &User,
    challenge_id: &str,
    credential: &Value,
) -> Result<SecondFactorCheck, StoreError> {
    let ceremony = Ceremony::Mfa {
        mfa_token: pending.digest().to_owned(),
    };
    let Some(challenge) = ceremony::consume(ctx, challenge_id, &ceremony).await? else {
        return Ok(SecondFactorCheck::InvalidChallenge);
    };
    if pending.first_factor == PASSKEY {
        return Ok(SecondFactorCheck::Invalid);
    }
    let Ok(assertion) = Assertion::parse(credential) else {
        return Ok(SecondFactorCheck::Invalid);
    };
    let Some(found) = PasskeyStore(ctx.db).find(&b64(&assertion.raw_id)).await? else {
        return Ok(SecondFactorCheck::Invalid);
    };
    if found.user.id != user.id {
        return Ok(SecondFactorCheck::Invalid);
    }
    match check_assertion(ctx, &assertion, &challenge, &found).await {
        Ok(_) => Ok(SecondFactorCheck::Valid),
        Err(Failure::Store(e)) => Err(e),
        Err(Failure::Refused(_) | Failure::CounterRegression) => Ok(SecondFactorCheck::Invalid),
    }
}
