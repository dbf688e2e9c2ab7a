//! Who is calling: a valid token whose session is still live.

use super::tokens::TokenError;
use super::Deps;
use crate::domain::{SessionId, StoreError, User};

/// The caller of an authenticated route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub session_id: SessionId,
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

/// Checks the token and then its session in one store lookup, so a logout or password
/// reset takes effect on the very next request.
pub async fn authenticate(deps: &Deps<'_>, token: Option<&str>) -> Result<Caller, AuthenticateError> {
    let token = token.ok_or(AuthenticateError::Missing)?;
    let now = deps.clock.now();
    let verified = deps.tokens.verify(token, now)?;
    let user = deps
        .store
        .session_user(&verified.session_id, now)
        .await?
        .filter(|user| user.id == verified.user_id)
        .ok_or(AuthenticateError::SessionEnded)?;
    Ok(Caller {
        user,
        session_id: verified.session_id,
    })
}
