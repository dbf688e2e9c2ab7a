//! A user's identities: the list, and unlinking one (never the last credential).

use super::mails::{self, IDENTITY_UNLINKED};
use super::provider::Provider;
use super::store::{self, IdentityRow};
use crate::features::users::User;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::StoreError;

pub async fn list(ctx: &Ctx<'_>, user: &User) -> Result<Vec<IdentityRow>, StoreError> {
    ctx.db.all(&store::LIST_IDENTITIES, &[user.id.0.as_str().into()]).await
}

#[derive(Debug, thiserror::Error)]
pub enum UnlinkError {
    #[error("no identity of this provider is linked")]
    NotLinked,
    #[error("it is the account's last way to sign in")]
    LastCredential,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Unlinks `provider` from `user` if a password, a passkey or another identity remains
/// (decided by the delete itself), mailing `identity_unlinked`.
pub async fn unlink(ctx: &Ctx<'_>, user: &User, provider: Provider) -> Result<(), UnlinkError> {
    let results = ctx
        .db
        .batch(&store::unlink(&user.id, provider.name()))
        .await
        .map_err(StoreError::from)?;
    let deleted = results.first().is_some_and(|rows| !rows.rows.is_empty());
    if !deleted {
        let still_linked = results.get(2).is_some_and(|rows| !rows.rows.is_empty());
        return Err(if still_linked {
            UnlinkError::LastCredential
        } else {
            UnlinkError::NotLinked
        });
    }
    ctx.outbox
        .send(mails::notice(ctx, &IDENTITY_UNLINKED, &user.email, provider));
    ctx.emit(AuthEvent::IdentityUnlinked {
        user_id: user.id.clone(),
        provider: provider.name(),
    });
    Ok(())
}
