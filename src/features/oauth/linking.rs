//! Writing a link (identity + the mirrored column, one transaction), with its mail and
//! event; shared by the login rules, the link route and a link that waited for MFA.

use super::mails::{self, IDENTITY_LINKED};
use super::provider::Provider;
use super::store;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::sql::{Statement, StoreError};
use crate::kernel::UserId;

/// Links (provider, subject) to `user` unless a unique rule refuses it (the identity or
/// the user's slot for this provider was taken meanwhile): whether it was written. A
/// written link mails `identity_linked` to `mail_to` and emits `identity.linked` (`by`).
pub async fn link(
    ctx: &Ctx<'_>,
    user: &UserId,
    mail_to: &str,
    provider: Provider,
    subject: &str,
    email: &str,
    by: &'static str,
) -> Result<bool, StoreError> {
    let statements = store::link(user, provider.name(), subject, email, ctx.clock.now());
    let results = ctx.db.batch(&statements).await.map_err(StoreError::from)?;
    let written = results.first().is_some_and(|inserted| !inserted.rows.is_empty());
    if written {
        announce(ctx, user, mail_to, provider, by);
    }
    Ok(written)
}

/// The mail and the event of a written link.
pub fn announce(ctx: &Ctx<'_>, user: &UserId, mail_to: &str, provider: Provider, by: &'static str) {
    ctx.outbox.send(mails::notice(ctx, &IDENTITY_LINKED, mail_to, provider));
    ctx.emit(AuthEvent::IdentityLinked {
        user_id: user.clone(),
        provider: provider.name(),
        by,
    });
}

/// Whether the link statements answered at `results[at]` wrote the identity.
pub fn written(results: &[crate::kernel::sql::Rows], at: usize) -> bool {
    results.get(at).is_some_and(|inserted| !inserted.rows.is_empty())
}

/// The link statements, for a batch that must commit with them (a new account's).
pub fn statements(ctx: &Ctx<'_>, user: &UserId, provider: Provider, subject: &str, email: &str) -> [Statement; 2] {
    store::link(user, provider.name(), subject, email, ctx.clock.now())
}
