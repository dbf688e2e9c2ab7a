//! Registration (passkeys.md, "Registration checks"): options for the signed-in user, then
//! the authenticator's answer checked step by step and stored.

use serde_json::{json, Value};

use super::ceremony::{self, Ceremony};
use super::mails;
use super::store::{InsertOutcome, NewPasskey, PasskeyRow, PasskeyStore};
use super::webauthn::{
    self, b64, AuthenticatorData, Expected, Refused, Registration, COSE_EDDSA, COSE_ES256, FLAG_AT, FLAG_BE, FLAG_BS,
};
use super::PasskeySettings;
use crate::features::sessions::{self, Caller, ClientInfo};
use crate::kernel::crypto::CryptoError;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::{hex, random_bytes, random_uuid};
use crate::kernel::sql::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the challenge is unknown, used, expired or not this registration's")]
    InvalidChallenge,
    #[error(transparent)]
    Invalid(#[from] Refused),
    #[error("the credential is registered already")]
    AlreadyRegistered,
    #[error("the user has PASSKEYS_MAX_PER_USER passkeys")]
    LimitReached,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A challenge id and the options for `navigator.credentials.create()`.
pub struct Options {
    pub challenge_id: String,
    pub options: Value,
}

/// Options for the caller (who reauthenticated): their fixed user handle, every passkey
/// they hold in `excludeCredentials`, a challenge bound to them and this session.
pub async fn options(ctx: &Ctx<'_>, caller: &Caller) -> Result<Options, RegisterError> {
    let settings = ctx.settings::<PasskeySettings>();
    let issued = ceremony::issue(
        ctx,
        &Ceremony::Register {
            user: caller.user.id.clone(),
            session: caller.session_id.clone(),
        },
    );
    let mut new_handle = [0u8; 32];
    random_bytes(&mut new_handle);
    let (handle, passkeys) = PasskeyStore(ctx.db)
        .registration_options(&caller.user.id, &b64(&new_handle), issued.store)
        .await?;
    if passkeys.len() as i64 >= settings.max_per_user {
        return Err(RegisterError::LimitReached);
    }
    let user = &caller.user;
    let exclude: Vec<Value> = passkeys
        .iter()
        .map(|p| json!({"type": "public-key", "id": p.credential_id, "transports": p.transports()}))
        .collect();
    let options = json!({
        "rp": {"id": settings.rp_id, "name": settings.rp_name},
        "user": {
            "id": handle,
            "name": user.email,
            "displayName": user.full_name.as_deref().unwrap_or(&user.email),
        },
        "challenge": issued.challenge,
        "timeout": settings.challenge_seconds * 1000,
        "pubKeyCredParams": [
            {"type": "public-key", "alg": COSE_EDDSA as i64},
            {"type": "public-key", "alg": COSE_ES256 as i64},
        ],
        "excludeCredentials": exclude,
        "authenticatorSelection": {
            "residentKey": "preferred",
            "requireResidentKey": false,
            "userVerification": "preferred",
        },
        "attestation": "none",
        "extensions": {"credProps": true},
    });
    Ok(Options {
        challenge_id: issued.id,
        options,
    })
}

/// A passkey name: 1–64 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("name must not be empty");
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("name must be at most 64 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("name must not contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    /// The default: the device label of the request, or `Passkey`.
    pub fn default_for(client: &ClientInfo) -> Self {
        let label = sessions::device_label(client.user_agent.as_deref()).unwrap_or_else(|| "Passkey".to_owned());
        Self(label.chars().take(Self::MAX_CHARS).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the authenticator answered, checked against the caller's challenge and stored.
pub async fn verify(
    ctx: &Ctx<'_>,
    caller: &Caller,
    challenge_id: &str,
    credential: &Value,
    name: Option<PasskeyName>,
    client: &ClientInfo,
) -> Result<PasskeyRow, RegisterError> {
    let settings = ctx.settings::<PasskeySettings>();
    let ceremony = Ceremony::Register {
        user: caller.user.id.clone(),
        session: caller.session_id.clone(),
    };
    let challenge = ceremony::consume(ctx, challenge_id, &ceremony)
        .await?
        .ok_or(RegisterError::InvalidChallenge)?;
    let registration = Registration::parse(credential)?;
    webauthn::check_client_data(
        &registration.client_data_json,
        &Expected {
            kind: "webauthn.create",
            challenge: &challenge,
            origins: &settings.origins,
        },
    )?;
    let auth_data = AuthenticatorData::parse(&webauthn::attested_auth_data(&registration.attestation_object)?)?;
    auth_data.check(&settings.rp_id)?;
    let attested = match (&auth_data.attested, auth_data.has(FLAG_AT)) {
        (Some(attested), true) => attested,
        _ => return Err(Refused("attested credential data missing").into()),
    };
    if attested.credential_id != registration.raw_id {
        return Err(Refused("rawId is not the attested credential id").into());
    }
    usable(ctx, attested).await?;
    // Step 6 answers an over-long id as it answers one taken: 409 (passkeys.md).
    if registration.raw_id.len() > webauthn::MAX_CREDENTIAL_ID_BYTES {
        return Err(RegisterError::AlreadyRegistered);
    }
    let now = ctx.clock.now();
    let name = name.unwrap_or_else(|| PasskeyName::default_for(client));
    let id = random_uuid();
    let credential_id = b64(&registration.raw_id);
    let public_key = b64(&attested.key.bytes);
    let transports = registration.transports.join(",");
    let aaguid = hex(&attested.aaguid);
    let new = NewPasskey {
        id: &id,
        user_id: &caller.user.id,
        credential_id: &credential_id,
        public_key: &public_key,
        sign_count: auth_data.sign_count,
        transports: &transports,
        backup_eligible: auth_data.has(FLAG_BE),
        backed_up: auth_data.has(FLAG_BS),
        aaguid: &aaguid,
        name: name.as_str(),
        now,
    };
    match PasskeyStore(ctx.db).insert(&new, settings.max_per_user).await? {
        InsertOutcome::Added => {}
        InsertOutcome::LimitReached => return Err(RegisterError::LimitReached),
        InsertOutcome::AlreadyRegistered => return Err(RegisterError::AlreadyRegistered),
    }
    let device = sessions::device_label(client.user_agent.as_deref()).unwrap_or_else(|| "Unknown device".into());
    ctx.outbox.send(mails::notice(
        ctx,
        &mails::PASSKEY_ADDED,
        &caller.user.email,
        name.as_str(),
        &device,
        now,
    ));
    ctx.emit(AuthEvent::PasskeyAdded {
        user_id: caller.user.id.clone(),
    });
    Ok(PasskeyRow {
        id,
        credential_id,
        transports,
        name: name.0,
        created_at: now,
        last_used_at: None,
        backed_up: auth_data.has(FLAG_BS),
    })
}

/// A key the platform cannot import (a point off the curve, say) would refuse every
/// sign-in: refuse it now. A check with a zero signature answers `false` for a good key.
async fn usable(ctx: &Ctx<'_>, attested: &webauthn::AttestedCredential) -> Result<(), RegisterError> {
    match ctx.crypto.verify("", &attested.key.public, b"probe", &[0u8; 64]).await {
        Ok(_) => Ok(()),
        Err(CryptoError(_)) => Err(Refused("the public key does not import").into()),
    }
}
