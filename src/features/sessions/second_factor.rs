//! Sign-in with a second factor: after a right first factor, an account with 2FA on is
//! answered an MFA challenge (an `mfa_token`) instead of a session, and the session opens
//! when a second factor completes it (mfa.md). Sessions owns the `mfa_tokens` and the
//! decision; which second factors exist, and whether a user can use one, the features that
//! offer them register (`Feature::second_factors`), so this file names none of them.

use super::login::{open_session, ClientInfo, LoggedIn, LoginError};
use super::SessionsSettings;
use crate::features::users::{User, Users};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::{CompletedSignIn, Ctx};
use crate::kernel::fields::from_fields;
use crate::kernel::secrets::OpaqueToken;
use crate::kernel::sql::{Sql, Statement, StoreError};
use crate::kernel::UserId;

/// An `mfa_token` dies after this many second factors were tried with it.
pub const MFA_TOKEN_TRIES: i64 = 5;

/// What the digests of `mfa_tokens` are bound to (`SecretDigester::digest`'s purpose).
const PURPOSE: &str = "mfa_token";

/// What a right first factor leads to (sessions.md §1, "login result").
#[derive(Debug)]
pub enum LoginResult {
    LoggedIn(LoggedIn),
    Challenge(MfaChallenge),
}

/// The MFA challenge: a sign-in that waits for a second factor.
#[derive(Debug)]
pub struct MfaChallenge {
    pub mfa_token: OpaqueToken,
    /// The digest its `mfa_token` is stored as: names the challenge (no secret), so a
    /// capability can leave something waiting for it (`Feature::sign_in_completed`).
    pub digest: String,
    /// The second factors the user can complete it with, in registration order.
    pub methods: Vec<&'static str>,
    pub expires_in: i64,
}

/// Signs `user` in after a right `first_factor` (`password`, ...): the MFA challenge when
/// 2FA is on (no session, no lockout reset, no new-device mail: none of that is due before
/// the second factor), else a session.
pub async fn sign_in(
    ctx: &Ctx<'_>,
    user: User,
    client: ClientInfo,
    first_factor: &'static str,
) -> Result<LoginResult, LoginError> {
    if !user.mfa_enabled {
        return open_session(ctx, user, client, &[first_factor])
            .await
            .map(LoginResult::LoggedIn);
    }
    let now = ctx.clock.now();
    let expires_in = ctx.settings::<SessionsSettings>().mfa_token_seconds;
    let mfa_token = OpaqueToken::generate();
    let token_digest = digest(ctx, mfa_token.expose());
    // The probes of every registered second factor and the token, in one round trip.
    let mut statements: Vec<Statement> = ctx
        .second_factors()
        .iter()
        .map(|factor| Statement::new(factor.available, vec![user.id.0.as_str().into()]))
        .collect();
    statements.push(Statement::new(
        INSERT,
        vec![
            token_digest.as_str().into(),
            user.id.0.as_str().into(),
            first_factor.into(),
            now.into(),
            (now + expires_in).into(),
        ],
    ));
    let results = ctx.db.batch(&statements).await.map_err(StoreError::from)?;
    let mut methods = Vec::new();
    for (factor, rows) in ctx.second_factors().iter().zip(results) {
        let available = rows.first::<Count>()?.is_some_and(|count| count.n > 0);
        // A second factor is never the first one again (a passkey without user
        // verification cannot complete its own sign-in).
        if available && factor.method != first_factor {
            methods.push(factor.method);
        }
    }
    ctx.emit(AuthEvent::MfaChallenged { user_id: user.id });
    Ok(LoginResult::Challenge(MfaChallenge {
        mfa_token,
        digest: token_digest,
        methods,
        expires_in,
    }))
}

struct Count {
    n: i64,
}
from_fields!(Count { n });

/// A sign-in waiting for its second factor, as one try of its `mfa_token` admitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    digest: String,
    pub user_id: UserId,
    pub first_factor: String,
}

/// Spends one of the token's tries, before any second factor is checked (so parallel
/// guesses cannot exceed `MFA_TOKEN_TRIES`): the sign-in it stands for, or `None` for a
/// token that is unknown, expired, used or dead (400 `invalid_mfa_token`).
pub async fn pending_sign_in(ctx: &Ctx<'_>, mfa_token: &str) -> Result<Option<PendingSignIn>, StoreError> {
    let digest = digest(ctx, mfa_token);
    let now = ctx.clock.now();
    let row: Option<PendingRow> = ctx
        .db
        .first(&TRY, &[digest.as_str().into(), now.into(), MFA_TOKEN_TRIES.into()])
        .await?;
    Ok(row.map(|row| PendingSignIn {
        digest,
        user_id: UserId(row.user_id),
        first_factor: row.first_factor,
    }))
}

/// The sign-in `mfa_token` stands for, without spending a try (`mfa/passkey/options`
/// hands out a challenge for it, and checks nothing); `None` when a try would be refused.
pub async fn waiting_sign_in(ctx: &Ctx<'_>, mfa_token: &str) -> Result<Option<PendingSignIn>, StoreError> {
    let digest = digest(ctx, mfa_token);
    let now = ctx.clock.now();
    let row: Option<PendingRow> = ctx
        .db
        .first(&WAITING, &[digest.as_str().into(), now.into(), MFA_TOKEN_TRIES.into()])
        .await?;
    Ok(row.map(|row| PendingSignIn {
        digest,
        user_id: UserId(row.user_id),
        first_factor: row.first_factor,
    }))
}

impl PendingSignIn {
    /// The token's digest: what a challenge bound to this sign-in keeps.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

struct PendingRow {
    user_id: String,
    first_factor: String,
}
from_fields!(PendingRow { user_id, first_factor });

/// The second factor `method` was right: consumes the token (only the first success
/// does), lets the features finish what waited for it (`sign_in_completed`) and opens the
/// session by both factors. `None` when another request consumed
/// the token first, or it expired meanwhile.
pub async fn complete_sign_in(
    ctx: &Ctx<'_>,
    pending: &PendingSignIn,
    user: User,
    client: ClientInfo,
    method: &'static str,
) -> Result<Option<LoggedIn>, LoginError> {
    let now = ctx.clock.now();
    let consumed = ctx
        .db
        .execute(&CONSUME, &[pending.digest.as_str().into(), now.into()])
        .await?;
    if consumed != 1 {
        return Ok(None);
    }
    let completed = CompletedSignIn {
        user_id: &user.id,
        email: &user.email,
        first_factor: &pending.first_factor,
        challenge: &pending.digest,
    };
    let mut changed = false;
    for hook in ctx.sign_in_hooks() {
        changed |= hook(ctx, &completed).await?;
    }
    let user = match changed {
        true => Users(ctx.db).by_id(&user.id).await?.unwrap_or(user),
        false => user,
    };
    open_session(ctx, user, client, &[pending.first_factor.as_str(), method])
        .await
        .map(Some)
}

fn digest(ctx: &Ctx<'_>, mfa_token: &str) -> String {
    ctx.digester.digest(PURPOSE, "", mfa_token)
}

/// `?1` digest, `?2` user, `?3` first factor, `?4` now, `?5` expiry.
const INSERT: Sql = Sql::new(
    "INSERT INTO mfa_tokens (digest, user_id, first_factor, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO mfa_tokens (digest, user_id, first_factor, created_at, expires_at) \
     VALUES (?1, ?2::text::uuid, ?3, ?4, ?5)",
);

/// One try: counted only while the token is live (`?2` now) and has tries left (`?3`).
const TRY: Sql = Sql::new(
    "UPDATE mfa_tokens SET attempts = attempts + 1 \
     WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 AND attempts < ?3 \
     RETURNING user_id, first_factor",
    "UPDATE mfa_tokens SET attempts = attempts + 1 \
     WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 AND attempts < ?3 \
     RETURNING user_id::text AS user_id, first_factor",
);

/// A live token with tries left, read only.
const WAITING: Sql = Sql::new(
    "SELECT user_id, first_factor FROM mfa_tokens \
     WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 AND attempts < ?3",
    "SELECT user_id::text AS user_id, first_factor FROM mfa_tokens \
     WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 AND attempts < ?3",
);

/// The first success: 1 row changed, for one request only.
const CONSUME: Sql =
    Sql::same("UPDATE mfa_tokens SET used_at = ?2 WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2");

/// Housekeeping: tokens past their expiry (used or not) are of no use to anyone. `?1` now.
pub const PURGE_EXPIRED: Sql = Sql::same("DELETE FROM mfa_tokens WHERE expires_at < ?1");
