//! Who is calling: a valid token whose session is still live.

use super::tokens::{TokenError, VerifiedToken};
use super::Sessions;
use crate::features::users::User;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;
use crate::kernel::{SessionId, UnixSeconds};

/// The caller of an authenticated route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub session_id: SessionId,
    /// When the session was last recorded as seen (written at most once per interval).
    pub last_seen_at: Option<UnixSeconds>,
    /// The session's login, for reauthentication by a recent login.
    pub logged_in_at: UnixSeconds,
    /// The factors of that login, first factor first.
    pub auth_methods: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("missing credentials")]
    Missing,
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Logged out, ended by a password change or reset, expired, or its user is gone.
    #[error("the session is no longer valid")]
    SessionEnded,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the token without storage (signature, algorithm, key, issuer, audience, expiry):
/// who the caller claims to be, before any database round trip.
pub async fn claims(ctx: &Ctx<'_>, token: Option<&str>) -> Result<VerifiedToken, AuthenticateError> {
    let token = token.ok_or(AuthenticateError::Missing)?;
    Ok(super::tokens::verify(ctx, token, ctx.clock.now()).await?)
}

/// The live session behind checked claims, in one store lookup, so a logout or password
/// reset takes effect on the very next request.
pub async fn session(ctx: &Ctx<'_>, claims: VerifiedToken) -> Result<Caller, AuthenticateError> {
    let live = Sessions(ctx.db)
        .live(&claims.session_id, ctx.clock.now())
        .await?
        .filter(|live| live.user.id == claims.user_id)
        .ok_or(AuthenticateError::SessionEnded)?;
    Ok(Caller {
        user: live.user,
        session_id: claims.session_id,
        last_seen_at: live.last_seen_at,
        logged_in_at: live.logged_in_at,
        auth_methods: live.auth_methods,
    })
}

/// `claims`, then `session`.
#[cfg(test)]
pub async fn authenticate(ctx: &Ctx<'_>, token: Option<&str>) -> Result<Caller, AuthenticateError> {
    session(ctx, claims(ctx, token).await?).await
}
