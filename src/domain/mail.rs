//! The mails the flows send, as data; `email::templates` renders them.

/// One outgoing message. The variants are the kinds the contract names, plus the
/// notice to the old address of an email change.
#[derive(Clone, PartialEq, Eq)]
pub enum Mail {
    VerificationCode {
        to: String,
        code: String,
        expires_minutes: i64,
    },
    AccountExists {
        to: String,
        reset_url: String,
    },
    PasswordResetLink {
        to: String,
        reset_url: String,
        expires_minutes: i64,
    },
    PasswordChanged {
        to: String,
    },
    EmailChangeCode {
        to: String,
        code: String,
        expires_minutes: i64,
    },
    EmailChangeRequested {
        to: String,
        new_email: String,
    },
    AccountLocked {
        to: String,
        reset_url: String,
        retry_after_seconds: u32,
    },
}

impl Mail {
    pub fn recipient(&self) -> &str {
        match self {
            Self::VerificationCode { to, .. }
            | Self::AccountExists { to, .. }
            | Self::PasswordResetLink { to, .. }
            | Self::PasswordChanged { to }
            | Self::EmailChangeCode { to, .. }
            | Self::EmailChangeRequested { to, .. }
            | Self::AccountLocked { to, .. } => to,
        }
    }

    /// The template name, also the kind reported in logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::VerificationCode { .. } => "verification_code",
            Self::AccountExists { .. } => "account_exists",
            Self::PasswordResetLink { .. } => "password_reset",
            Self::PasswordChanged { .. } => "password_changed",
            Self::EmailChangeCode { .. } => "email_change_code",
            Self::EmailChangeRequested { .. } => "email_change_notice",
            Self::AccountLocked { .. } => "account_locked",
        }
    }
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes and links are secrets: only the kind and a masked recipient are printed.
        write!(
            f,
            "Mail({}, to {})",
            self.kind(),
            super::email::redact_email(self.recipient())
        )
    }
}
