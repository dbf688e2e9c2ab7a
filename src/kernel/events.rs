//! What happened, as typed events. Flows emit them with their payload; subscribers (the
//! metrics today; the audit log and webhooks later) read them after the request. Nothing
//! guesses an event from a route and a status, and a misspelt event does not compile.

use std::cell::RefCell;

use super::ids::{SessionId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent {
    /// A registration was accepted (201), whether or not the address was taken.
    RegistrationAccepted,
    /// An address was proven with a code: a new account's, or the new one of an email change.
    EmailVerified {
        user_id: UserId,
    },
    LoginSucceeded {
        user_id: UserId,
        session_id: SessionId,
    },
    /// A login was refused for an unknown email or a wrong password.
    LoginFailed,
    /// A failed login started an account lockout.
    LockoutStarted,
    PasswordReset {
        user_id: UserId,
    },
    /// A replaced refresh token came back; its session was ended.
    RefreshReused {
        user_id: UserId,
        session_id: SessionId,
    },
    /// SendGrid accepted a mail of this kind.
    MailSent {
        kind: &'static str,
    },
    /// A mail of this kind could not be delivered after retries.
    MailFailed {
        kind: &'static str,
    },
    /// A request was answered 429.
    RateLimited,
    /// A request was answered 503 for this failed dependency.
    DependencyUnavailable,
}

impl AuthEvent {
    /// Every event's metric name (`auth_events_total{event}`) and meaning, for `/metrics`
    /// (every name is rendered, zero or not) and the docs.
    pub const NAMES: &'static [(&'static str, &'static str)] = &[
        ("registration", "a registration was accepted (201)"),
        ("verification", "an email address was verified (200)"),
        ("login_succeeded", "a login issued a token"),
        ("login_failed", "a login was refused for invalid credentials"),
        ("lockout", "a failed login started an account lockout"),
        ("password_reset", "a password was reset with a mailed token"),
        (
            "refresh_reused",
            "a replaced refresh token was presented; its session ended",
        ),
        ("email_sent", "SendGrid accepted a mail"),
        ("email_failed", "a mail could not be delivered after retries"),
        ("rate_limited", "a request was answered 429"),
        (
            "dependency_unavailable",
            "a request was answered 503 for a failed dependency",
        ),
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::RegistrationAccepted => "registration",
            Self::EmailVerified { .. } => "verification",
            Self::LoginSucceeded { .. } => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LockoutStarted => "lockout",
            Self::PasswordReset { .. } => "password_reset",
            Self::RefreshReused { .. } => "refresh_reused",
            Self::MailSent { .. } => "email_sent",
            Self::MailFailed { .. } => "email_failed",
            Self::RateLimited => "rate_limited",
            Self::DependencyUnavailable => "dependency_unavailable",
        }
    }
}

/// Where flows put their events.
pub trait EventSink {
    fn emit(&self, event: AuthEvent);
}

/// The events of one request, in order; read by the subscribers once it is answered.
#[derive(Debug, Default)]
pub struct EventLog(RefCell<Vec<AuthEvent>>);

impl EventLog {
    pub fn take(&self) -> Vec<AuthEvent> {
        self.0.take()
    }
}

impl EventSink for EventLog {
    fn emit(&self, event: AuthEvent) {
        self.0.borrow_mut().push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_a_documented_unique_name() {
        let user_id = UserId("u".into());
        let every = [
            AuthEvent::RegistrationAccepted,
            AuthEvent::EmailVerified {
                user_id: user_id.clone(),
            },
            AuthEvent::LoginSucceeded {
                user_id: user_id.clone(),
                session_id: SessionId("s".into()),
            },
            AuthEvent::LoginFailed,
            AuthEvent::LockoutStarted,
            AuthEvent::PasswordReset {
                user_id: user_id.clone(),
            },
            AuthEvent::RefreshReused {
                user_id,
                session_id: SessionId("s".into()),
            },
            AuthEvent::MailSent { kind: "k" },
            AuthEvent::MailFailed { kind: "k" },
            AuthEvent::RateLimited,
            AuthEvent::DependencyUnavailable,
        ];
        let names: Vec<&str> = every.iter().map(AuthEvent::name).collect();
        let documented: Vec<&str> = AuthEvent::NAMES.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, documented);
    }
}
