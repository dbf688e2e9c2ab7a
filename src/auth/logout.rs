//! Logout: the session is revoked, so the same token is refused from now on.

use super::authenticate::Caller;
use super::Deps;
use crate::domain::StoreError;

pub async fn logout(deps: &Deps<'_>, caller: &Caller) -> Result<(), StoreError> {
    deps.store.revoke_session(&caller.session_id, deps.clock.now()).await
}
