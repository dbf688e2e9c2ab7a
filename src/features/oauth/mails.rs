//! The mails of provider sign-in: an identity was linked, or unlinked.

use super::provider::Provider;
use crate::kernel::feature::Ctx;
use crate::kernel::mail::{Mail, MailKind};
use crate::mail_kind;

pub const IDENTITY_LINKED: MailKind = mail_kind!(
    "identity_linked",
    "{{provider}} sign-in was added to your {{app_name}} account"
);
pub const IDENTITY_UNLINKED: MailKind = mail_kind!(
    "identity_unlinked",
    "{{provider}} sign-in was removed from your {{app_name}} account"
);

/// One of the two notices, with the link to reset the password should it not have been
/// the owner.
pub fn notice(ctx: &Ctx<'_>, kind: &'static MailKind, to: &str, provider: Provider) -> Mail {
    Mail::new(kind, to)
        .with("provider", provider.display_name())
        .with("reset_url", ctx.config.forgot_password_url())
}
