//! The mails of passkeys: one was added, one was removed (templates in `templates/`).

use crate::kernel::feature::Ctx;
use crate::kernel::ids::rfc3339;
use crate::kernel::mail::{Mail, MailKind};
use crate::kernel::UnixSeconds;
use crate::mail_kind;

pub const PASSKEY_ADDED: MailKind = mail_kind!("passkey_added", "A passkey was added to your {{app_name}} account");
pub const PASSKEY_REMOVED: MailKind = mail_kind!(
    "passkey_removed",
    "A passkey was removed from your {{app_name}} account"
);

/// A passkey `name` was added (or removed) from `device` at `now`, with the link to reset
/// the password should it not have been the owner.
pub fn notice(ctx: &Ctx<'_>, kind: &'static MailKind, to: &str, name: &str, device: &str, now: UnixSeconds) -> Mail {
    Mail::new(kind, to)
        .with("name", name)
        .with("device", device)
        .with("time", rfc3339(now))
        .with("reset_url", ctx.config.forgot_password_url())
}
