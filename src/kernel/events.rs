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
    /// A first factor was right and a second one is due: an MFA challenge was answered.
    MfaChallenged {
        user_id: UserId,
    },
    /// A wrong TOTP or recovery code (at `mfa/verify`, disable or recovery-codes); the
    /// audit log's `login.failed` with `reason: "invalid_mfa_code"`.
    SecondFactorFailed {
        user_id: UserId,
    },
    /// A TOTP factor was confirmed: 2FA is on (audit `mfa.enabled`).
    MfaEnabled {
        user_id: UserId,
    },
    /// 2FA was turned off (audit `mfa.disabled`).
    MfaDisabled {
        user_id: UserId,
    },
    /// A new generation of recovery codes replaced the old (audit `mfa.recovery_codes_regenerated`).
    RecoveryCodesRegenerated {
        user_id: UserId,
    },
    /// A recovery code completed a sign-in (audit `mfa.recovery_code_used`).
    RecoveryCodeUsed {
        user_id: UserId,
        remaining: u32,
    },
    /// A passkey was registered (audit `passkey.added`).
    PasskeyAdded {
        user_id: UserId,
    },
    /// A passkey was deleted by its owner (audit `passkey.removed`).
    PasskeyRemoved {
        user_id: UserId,
    },
    /// An assertion's signature counter was not above the stored one: a cloned
    /// authenticator, perhaps. The login was refused; the passkey stays (audit
    /// `passkey.counter_regression`).
    PasskeyCounterRegression {
        user_id: UserId,
        passkey_id: String,
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
        (
            "mfa_challenge",
            "a right first factor was answered with an MFA challenge",
        ),
        ("mfa_failed", "a wrong TOTP or recovery code was presented"),
        ("mfa_enabled", "two-factor sign-in was turned on"),
        ("mfa_disabled", "two-factor sign-in was turned off"),
        (
            "mfa_recovery_codes_regenerated",
            "a new set of recovery codes replaced the old",
        ),
        ("mfa_recovery_code_used", "a recovery code completed a sign-in"),
        ("passkey_added", "a passkey was registered"),
        ("passkey_removed", "a passkey was deleted"),
        (
            "passkey_counter_regression",
            "a passkey assertion's signature counter did not advance; the login was refused",
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
            Self::MfaChallenged { .. } => "mfa_challenge",
            Self::SecondFactorFailed { .. } => "mfa_failed",
            Self::MfaEnabled { .. } => "mfa_enabled",
            Self::MfaDisabled { .. } => "mfa_disabled",
            Self::RecoveryCodesRegenerated { .. } => "mfa_recovery_codes_regenerated",
            Self::RecoveryCodeUsed { .. } => "mfa_recovery_code_used",
            Self::PasskeyAdded { .. } => "passkey_added",
            Self::PasskeyRemoved { .. } => "passkey_removed",
            Self::PasskeyCounterRegression { .. } => "passkey_counter_regression",
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
                user_id: user_id.clone(),
                session_id: SessionId("s".into()),
            },
            AuthEvent::MfaChallenged {
                user_id: user_id.clone(),
            },
            AuthEvent::SecondFactorFailed {
                user_id: user_id.clone(),
            },
            AuthEvent::MfaEnabled {
                user_id: user_id.clone(),
            },
            AuthEvent::MfaDisabled {
                user_id: user_id.clone(),
            },
            AuthEvent::RecoveryCodesRegenerated {
                user_id: user_id.clone(),
            },
            AuthEvent::RecoveryCodeUsed {
                user_id: user_id.clone(),
                remaining: 3,
            },
            AuthEvent::PasskeyAdded {
                user_id: user_id.clone(),
            },
            AuthEvent::PasskeyRemoved {
                user_id: user_id.clone(),
            },
            AuthEvent::PasskeyCounterRegression {
                user_id,
                passkey_id: "p".into(),
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
