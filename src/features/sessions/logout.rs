//! Logout: the session is revoked, so the same token is refused from now on.

use super::authenticate::Caller;
use super::Sessions;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;

pub async fn logout(ctx: &Ctx<'_>, caller: &Caller) -> Result<(), StoreError> {
    Sessions(ctx.db).revoke(&caller.session_id, ctx.clock.now()).await
}
