//! The user's passkeys: rename and delete (the list is a store read). Another user's
//! passkey id is as unknown as a made-up one, and stays untouched.

use super::mails;
use super::register::PasskeyName;
use super::store::{DeleteOutcome, PasskeyRow, PasskeyStore};
use crate::features::sessions::{self, Caller, ClientInfo};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;

pub async fn rename(
    ctx: &Ctx<'_>,
    caller: &Caller,
    id: &str,
    name: &PasskeyName,
) -> Result<Option<PasskeyRow>, StoreError> {
    PasskeyStore(ctx.db).rename(&caller.user.id, id, name.as_str()).await
}

/// Deletes the caller's passkey `id`, unless no password, passkey or identity would be
/// left; mails `passkey_removed`.
pub async fn delete(
    ctx: &Ctx<'_>,
    caller: &Caller,
    id: &str,
    client: &ClientInfo,
) -> Result<DeleteOutcome, StoreError> {
    let outcome = PasskeyStore(ctx.db).delete(&caller.user.id, id).await?;
    if let DeleteOutcome::Deleted(name) = &outcome {
        let device = sessions::device_label(client.user_agent.as_deref()).unwrap_or_else(|| "Unknown device".into());
        ctx.outbox.send(mails::notice(
            ctx,
            &mails::PASSKEY_REMOVED,
            &caller.user.email,
            name,
            &device,
            ctx.clock.now(),
        ));
        ctx.emit(AuthEvent::PasskeyRemoved {
            user_id: caller.user.id.clone(),
        });
    }
    Ok(outcome)
}
