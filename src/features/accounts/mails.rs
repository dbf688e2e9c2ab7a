//! The mails of accounts: kinds (templates in `templates/`) and typed constructors.

use crate::kernel::feature::Ctx;
use crate::kernel::mail::{Mail, MailKind};
use crate::kernel::EmailAddress;
use crate::mail_kind;

pub const VERIFICATION_CODE: MailKind = mail_kind!("verification_code", "Your {{app_name}} verification code");

pub const ACCOUNT_EXISTS: MailKind = mail_kind!("account_exists", "You already have a {{app_name}} account");

pub const EMAIL_CHANGE_CODE: MailKind = mail_kind!("email_change_code", "Confirm your new {{app_name}} email address");

pub const EMAIL_CHANGE_NOTICE: MailKind = mail_kind!(
    "email_change_notice",
    "A change of your {{app_name}} email address was requested"
);

/// A code for `kind` (a new account's or an email change's), valid `minutes`.
pub fn code(kind: &'static MailKind, to: &str, code: &str, minutes: i64) -> Mail {
    Mail::new(kind, to).with("code", code).with("expires_minutes", minutes)
}

/// To the owner of an address someone tried to take: log in or reset instead.
pub fn account_exists(ctx: &Ctx<'_>, to: &str) -> Mail {
    Mail::new(&ACCOUNT_EXISTS, to).with("reset_url", ctx.config.forgot_password_url())
}

/// Sent to the old address when a change is requested, so a hijacked session cannot
/// move an account away silently.
pub fn email_change_notice(old_email: &str, new_email: &EmailAddress) -> Mail {
    Mail::new(&EMAIL_CHANGE_NOTICE, old_email).with("new_email", new_email.redacted())
}
