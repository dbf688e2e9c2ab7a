//! Logout: the sessions of the scope are revoked, so their tokens are refused from now on.

use super::authenticate::Caller;
use super::Sessions;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;

/// Which sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The caller's.
    Local,
    /// Every other one of the user's.
    Others,
    /// All of the user's.
    Global,
}

/// Answers how many sessions ended.
pub async fn logout(ctx: &Ctx<'_>, caller: &Caller, scope: Scope) -> Result<u64, StoreError> {
    let (sessions, now, user) = (Sessions(ctx.db), ctx.clock.now(), &caller.user.id);
    match scope {
        Scope::Local => sessions.revoke(&caller.session_id, now).await.map(u64::from),
        Scope::Others => sessions.revoke_all_but(user, Some(&caller.session_id), now).await,
        Scope::Global => sessions.revoke_all_but(user, None, now).await,
    }
}
