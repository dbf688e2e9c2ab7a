//! `EmailAddress`: a trimmed, lower-cased address that passed a conservative syntax check.

use std::fmt;

/// RFC 5321 limits: 64 bytes for the local part, 254 for the whole path.
const MAX_EMAIL_BYTES: usize = 254;
const MAX_LOCAL_PART_BYTES: usize = 64;
const MAX_LABEL_BYTES: usize = 63;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidEmail(&'static str);

impl EmailAddress {
    /// Trims, lower-cases and checks `raw`; the stored and compared form is the result.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = super::text::lowercase(raw.trim());
        if email.is_empty() {
            return Err(InvalidEmail("email is required"));
        }
        if email.len() > MAX_EMAIL_BYTES {
            return Err(InvalidEmail("email is longer than 254 characters"));
        }
        let (local, domain) = email.rsplit_once('@').ok_or(InvalidEmail("email must contain @"))?;
        if local.is_empty() || local.len() > MAX_LOCAL_PART_BYTES {
            return Err(InvalidEmail("email has an empty or overlong local part"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(InvalidEmail("email has characters not allowed before @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= MAX_LABEL_BYTES
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(InvalidEmail("email domain is not valid"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `j***@example.com`: enough for a log line or an error report, never the full address.
    pub fn redacted(&self) -> String {
        redact_email(&self.0)
    }
}

/// Masks the local part of anything that looks like an address.
pub fn redact_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.redacted())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_trimmed_and_lower_cased() {
        let email = EmailAddress::parse("  Ursula.Le-Guin+books@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ursula.le-guin+books@example.com");
    }

    #[test]
    fn invalid_addresses_are_rejected() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("a@{}.com", "b".repeat(250));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "blank"),
            ("plainaddress", "no @"),
            ("@example.com", "no local part"),
            ("user@", "no domain"),
            ("user@localhost", "single-label domain"),
            ("user@exa mple.com", "space in domain"),
            ("us er@example.com", "space in local part"),
            ("user@example..com", "empty label"),
            ("user@-example.com", "label starts with a hyphen"),
            (".user@example.com", "local part starts with a dot"),
            ("us..er@example.com", "double dot"),
            ("user<script>@example.com", "angle brackets"),
            (&long_local, "local part over 64 bytes"),
            (&long_total, "over 254 bytes"),
        ];
        for (input, why) in cases {
            assert!(EmailAddress::parse(input).is_err(), "{why}: {input:?} was accepted");
        }
    }

    #[test]
    fn debug_never_prints_the_full_address() {
        let email = EmailAddress::parse("secret.person@example.com").unwrap();
        let printed = format!("{email:?}");
        assert!(!printed.contains("secret.person"), "{printed}");
        assert!(printed.contains("s***@example.com"));
    }
}
