//! WebAuthn challenges: 32 random bytes, valid `WEBAUTHN_CHALLENGE_EXPIRE_SECONDS`, bound
//! to their ceremony (a registration to its user and session, a login to the email it was
//! asked for, a second factor to its `mfa_token`) and consumed by the first verify call,
//! whatever its outcome (passkeys.md, "Options").

use super::store::{PasskeyStore, INSERT_CHALLENGE};
use super::webauthn::b64;
use super::PasskeySettings;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::{random_bytes, random_uuid};
use crate::kernel::sql::{Statement, StoreError};
use crate::kernel::{SessionId, UserId};

/// What a challenge is for, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ceremony {
    Register {
        user: UserId,
        session: SessionId,
    },
    /// `email`: the digest of the address the options were asked for, if one was.
    Login {
        email: Option<String>,
    },
    /// The digest of the `mfa_token` (sessions' own).
    Mfa {
        mfa_token: String,
    },
}

impl Ceremony {
    fn name(&self) -> &'static str {
        match self {
            Self::Register { .. } => "register",
            Self::Login { .. } => "login",
            Self::Mfa { .. } => "mfa",
        }
    }
}

/// The digest a login challenge keeps of the address it was asked for.
pub fn email_binding(ctx: &Ctx<'_>, email: &str) -> String {
    ctx.digester.digest("passkey_login_email", "", email)
}

/// A challenge made for `ceremony`, and the statement that stores it (for the options
/// route's batch).
pub struct Issued {
    pub id: String,
    /// base64url, as `options.challenge` carries it.
    pub challenge: String,
    pub store: Statement,
}

pub fn issue(ctx: &Ctx<'_>, ceremony: &Ceremony) -> Issued {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes);
    let id = random_uuid();
    let challenge = b64(&bytes);
    let expires_at = ctx.clock.now() + ctx.settings::<PasskeySettings>().challenge_seconds;
    let (user, session, binding) = match ceremony {
        Ceremony::Register { user, session } => (Some(user.0.clone()), Some(session.0.clone()), None),
        Ceremony::Login { email } => (None, None, email.clone()),
        Ceremony::Mfa { mfa_token } => (None, None, Some(mfa_token.clone())),
    };
    let store = Statement::new(
        INSERT_CHALLENGE,
        vec![
            id.as_str().into(),
            challenge.as_str().into(),
            ceremony.name().into(),
            user.into(),
            session.into(),
            binding.into(),
            expires_at.into(),
        ],
    );
    Issued { id, challenge, store }
}

/// Consumes challenge `id` and answers its challenge (base64url) if it was live and made
/// for exactly `ceremony`; `None` (400 `invalid_challenge`) for one that is unknown, used,
/// expired, of another ceremony, user, session, address or `mfa_token`.
pub async fn consume(ctx: &Ctx<'_>, id: &str, ceremony: &Ceremony) -> Result<Option<String>, StoreError> {
    // Never longer than a UUID; anything else was never handed out.
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let Some(row) = PasskeyStore(ctx.db).consume_challenge(id, ctx.clock.now()).await? else {
        return Ok(None);
    };
    let bound = match ceremony {
        Ceremony::Register { user, session } => {
            row.user_id.as_deref() == Some(user.0.as_str()) && row.session_id.as_deref() == Some(session.0.as_str())
        }
        Ceremony::Login { email } => row.binding == *email,
        Ceremony::Mfa { mfa_token } => row.binding.as_deref() == Some(mfa_token.as_str()),
    };
    Ok((row.ceremony == ceremony.name() && bound).then_some(row.challenge))
}

/// Consumes a login challenge: its challenge and the email digest it is bound to, if any
/// (the login verify learns the binding from the challenge; one asked for without an
/// email serves any credential).
pub async fn consume_login(ctx: &Ctx<'_>, id: &str) -> Result<Option<(String, Option<String>)>, StoreError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let Some(row) = PasskeyStore(ctx.db).consume_challenge(id, ctx.clock.now()).await? else {
        return Ok(None);
    };
    Ok((row.ceremony == "login").then_some((row.challenge, row.binding)))
}
