//! The mails of two-factor sign-in: kinds (templates in `templates/`) and constructors.

use crate::kernel::feature::Ctx;
use crate::kernel::mail::{Mail, MailKind};
use crate::mail_kind;

pub const MFA_ENABLED: MailKind = mail_kind!("mfa_enabled", "Two-factor sign-in is on for your {{app_name}} account");
pub const MFA_DISABLED: MailKind = mail_kind!(
    "mfa_disabled",
    "Two-factor sign-in was turned off for your {{app_name}} account"
);
pub const RECOVERY_CODES_REGENERATED: MailKind = mail_kind!(
    "recovery_codes_regenerated",
    "New recovery codes for your {{app_name}} account"
);
pub const RECOVERY_CODE_USED: MailKind = mail_kind!(
    "recovery_code_used",
    "A recovery code was used for your {{app_name}} account"
);

/// One of the notices, with the link to reset the password should it not have been the owner.
pub fn notice(ctx: &Ctx<'_>, kind: &'static MailKind, to: &str) -> Mail {
    Mail::new(kind, to).with("reset_url", ctx.config.forgot_password_url())
}

/// A recovery code completed a sign-in; `remaining` unused codes are left.
pub fn recovery_code_used(ctx: &Ctx<'_>, to: &str, remaining: i64) -> Mail {
    notice(ctx, &RECOVERY_CODE_USED, to).with("remaining", remaining)
}
