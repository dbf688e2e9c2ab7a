//! `POST {p}/auth/token/refresh`: the rules of sessions.md §3, in order. A presented token
//! is found by its digest; the rotation step runs as one transaction; its outcome decides:
//! the current token rotates, the previous one within the reuse interval answers the
//! current pair again (two tabs refreshing at once are never logged out), anything older
//! ends the session and tells its owner.

use super::device::Device;
use super::login::ClientInfo;
use super::refresh::{ChainKey, Client, Found, RefreshToken, RefreshTokens};
use super::{mails, Sessions, SessionsSettings};
use crate::features::users::User;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;
use crate::kernel::SessionId;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("no refresh token was presented")]
    Missing,
    /// Malformed, unknown, of an ended session, or expired.
    #[error("the refresh token is invalid, expired or of an ended session")]
    Invalid,
    /// A replaced token came back: its session was ended.
    #[error("a replaced refresh token was used again; the session is ended")]
    Reused,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] super::tokens::TokenError),
}

/// A presented token, found: what the per-session limit is keyed by.
pub struct Located {
    token: RefreshToken,
    digest: String,
    pub found: Found,
}

/// Rules 1 and 2 up to the lookup: the token's shape, then its row.
pub async fn locate(ctx: &Ctx<'_>, presented: Option<&str>) -> Result<Located, RefreshError> {
    let presented = presented
        .filter(|p| !p.trim().is_empty())
        .ok_or(RefreshError::Missing)?;
    let token = RefreshToken::parse(presented).ok_or(RefreshError::Invalid)?;
    let digest = token.digest(ctx.digester);
    let found = RefreshTokens(ctx.db)
        .find(&digest)
        .await?
        .ok_or(RefreshError::Invalid)?;
    Ok(Located { token, digest, found })
}

/// A new pair: the access token and the session's current refresh token.
#[derive(Debug)]
pub struct Refreshed {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    pub refresh_expires_in: i64,
    pub user: User,
}

/// Rules 2 to 6 for a located token.
pub async fn refresh(ctx: &Ctx<'_>, located: Located, client: ClientInfo) -> Result<Refreshed, RefreshError> {
    let settings = ctx.settings::<SessionsSettings>();
    let now = ctx.clock.now();
    let next = located
        .token
        .next(&ChainKey::new(ctx.config.secret_key.expose().as_bytes()));
    let device = Device::of(client.user_agent.as_deref()).describe();
    let user_agent = client.stored_user_agent();
    let recorded = Client {
        ip: client.ip.as_deref(),
        user_agent: user_agent.as_deref(),
        device: &device,
        country: client.country.as_deref(),
        city: client.city.as_deref(),
    };
    let (state, user) = RefreshTokens(ctx.db)
        .rotate(
            &located.found,
            &located.digest,
            &next.digest(ctx.digester),
            now,
            now + settings.refresh_seconds,
            &recorded,
        )
        .await?
        .ok_or(RefreshError::Invalid)?;
    let session_id = SessionId(located.found.session_id.clone());
    // Rule 2: an ended session, or a token past its life from issue.
    if !state.live || state.issued_at + settings.refresh_seconds <= now {
        return Err(RefreshError::Invalid);
    }
    let user = User::from(user);
    // Rules 3, 4 and 6: the counter stands just past the presented token, which was used
    // (by this request, or a concurrent one) within the reuse interval.
    let current = state.refresh_counter == located.found.n + 1;
    let recent = state
        .used_at
        .is_some_and(|used| used >= now - settings.reuse_interval_seconds);
    if !(current && recent) {
        return Err(reused(ctx, &user, &session_id, &recorded).await);
    }
    let remaining = state.session_expires_at - now;
    let expires_in = settings.access_seconds.min(remaining);
    let access_token = super::tokens::issue(ctx, &user.id, &session_id, now, expires_in).await?;
    Ok(Refreshed {
        access_token,
        expires_in,
        refresh_token: next,
        refresh_expires_in: remaining,
        user,
    })
}

/// Rule 5: the whole session ends, its owner is told, the event recorded — once: of
/// concurrent replays, the one whose statement ended the session answers "reused", every
/// other one met an ended session (rule 2).
async fn reused(ctx: &Ctx<'_>, user: &User, session: &SessionId, client: &Client<'_>) -> RefreshError {
    let now = ctx.clock.now();
    match Sessions(ctx.db).revoke(session, now).await {
        Ok(true) => {}
        Ok(false) => return RefreshError::Invalid,
        Err(error) => return error.into(),
    }
    ctx.outbox.send(mails::suspicious_refresh(
        ctx,
        &user.email,
        client.device,
        client.ip,
        (client.country, client.city),
        now,
    ));
    ctx.emit(AuthEvent::RefreshReused {
        user_id: user.id.clone(),
        session_id: session.clone(),
    });
    RefreshError::Reused
}
