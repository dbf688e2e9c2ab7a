//! The mails of sessions: kinds (templates in `templates/`) and typed constructors.

use super::Session;
use crate::kernel::feature::Ctx;
use crate::kernel::ids::rfc3339;
use crate::kernel::mail::{Mail, MailKind};
use crate::kernel::UnixSeconds;
use crate::mail_kind;

pub const ACCOUNT_LOCKED: MailKind = mail_kind!("account_locked", "Sign-in to your {{app_name}} account is paused");
pub const NEW_SIGN_IN: MailKind = mail_kind!("new_sign_in", "New sign-in to your {{app_name}} account");
pub const SUSPICIOUS_REFRESH: MailKind =
    mail_kind!("suspicious_refresh", "A session of your {{app_name}} account was ended");

/// Where and what a session's client was, for a mail.
fn describing(
    mail: Mail,
    ctx: &Ctx<'_>,
    device: &str,
    ip: Option<&str>,
    place: (Option<&str>, Option<&str>),
    now: UnixSeconds,
) -> Mail {
    let location = match place {
        (Some(country), Some(city)) => format!("{city}, {country}"),
        (Some(country), None) => country.to_owned(),
        _ => "unknown".to_owned(),
    };
    mail.with("device", device)
        .with("location", location)
        .with("ip", ip.unwrap_or("unknown"))
        .with("time", rfc3339(now))
        .with("reset_url", ctx.config.forgot_password_url())
}

/// A login from a device the account has not seen lately.
pub fn new_sign_in(ctx: &Ctx<'_>, to: &str, session: &Session, now: UnixSeconds) -> Mail {
    describing(
        Mail::new(&NEW_SIGN_IN, to),
        ctx,
        &session.device,
        session.ip.as_deref(),
        (session.country.as_deref(), session.city.as_deref()),
        now,
    )
}

/// A replaced refresh token came back: its session was ended.
pub fn suspicious_refresh(
    ctx: &Ctx<'_>,
    to: &str,
    device: &str,
    ip: Option<&str>,
    place: (Option<&str>, Option<&str>),
    now: UnixSeconds,
) -> Mail {
    describing(Mail::new(&SUSPICIOUS_REFRESH, to), ctx, device, ip, place, now)
}
