//! Which limits exist, the variable that configures each and its default: one table.

use super::policy::{InvalidPolicy, LockoutPolicy, Policy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    LoginIp,
    LoginAccount,
    RegisterIp,
    RegisterEmail,
    ResendIp,
    ResendEmail,
    ForgetIp,
    ForgetEmail,
    VerifyIp,
    VerifyAccount,
    ResetIp,
    ResetToken,
    UserApi,
}

/// (limit, counter name, variable, default as LIMIT/SECONDS).
pub const LIMITS: &[(Limit, &str, &str, &str)] = &[
    (Limit::LoginIp, "login-ip", "RATE_LIMIT_LOGIN_IP", "30/60"),
    (
        Limit::LoginAccount,
        "login-account",
        "RATE_LIMIT_LOGIN_ACCOUNT",
        "100/3600",
    ),
    (Limit::RegisterIp, "register-ip", "RATE_LIMIT_REGISTER_IP", "20/3600"),
    (
        Limit::RegisterEmail,
        "register-email",
        "RATE_LIMIT_REGISTER_EMAIL",
        "5/3600",
    ),
    (Limit::ResendIp, "resend-ip", "RATE_LIMIT_RESEND_IP", "20/3600"),
    (Limit::ResendEmail, "resend-email", "RATE_LIMIT_RESEND_EMAIL", "5/3600"),
    (Limit::ForgetIp, "forget-ip", "RATE_LIMIT_FORGET_IP", "20/3600"),
    (Limit::ForgetEmail, "forget-email", "RATE_LIMIT_FORGET_EMAIL", "5/3600"),
    (Limit::VerifyIp, "verify-ip", "RATE_LIMIT_VERIFY_IP", "30/600"),
    (
        Limit::VerifyAccount,
        "verify-account",
        "RATE_LIMIT_VERIFY_ACCOUNT",
        "10/600",
    ),
    (Limit::ResetIp, "reset-ip", "RATE_LIMIT_RESET_IP", "20/3600"),
    (Limit::ResetToken, "reset-token", "RATE_LIMIT_RESET_TOKEN", "5/600"),
    (Limit::UserApi, "user-api", "RATE_LIMIT_USER_API", "120/60"),
];

/// (variable, default) of the lockout's three numbers.
pub const LOCKOUT_VARS: [(&str, u32); 3] = [
    ("LOCKOUT_FREE_ATTEMPTS", 5),
    ("LOCKOUT_BASE_SECONDS", 30),
    ("LOCKOUT_MAX_SECONDS", 3600),
];

impl Limit {
    fn row(self) -> &'static (Limit, &'static str, &'static str, &'static str) {
        LIMITS
            .iter()
            .find(|row| row.0 == self)
            .expect("every limit is in the table")
    }

    /// The counter's name, the prefix of its keys.
    pub fn name(self) -> &'static str {
        self.row().1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    policies: Vec<(Limit, Policy)>,
    pub lockout: LockoutPolicy,
}

impl Limits {
    /// Reads every limit through `var`; a bad value is an error naming its variable.
    pub fn from_vars(var: impl Fn(&'static str) -> Option<String>) -> Result<Self, (&'static str, String)> {
        let policies = LIMITS
            .iter()
            .map(|(limit, _, name, default)| {
                let raw = var(name).unwrap_or_else(|| (*default).to_owned());
                Policy::parse(&raw)
                    .map(|p| (*limit, p))
                    .map_err(|e: InvalidPolicy| (*name, e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let mut numbers = [0u32; 3];
        for (slot, (name, default)) in numbers.iter_mut().zip(LOCKOUT_VARS) {
            *slot = match var(name) {
                None => default,
                Some(raw) => raw
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or((name, format!("{raw:?} is not a positive number")))?,
            };
        }
        let [free_attempts, base_seconds, max_seconds] = numbers;
        Ok(Self {
            policies,
            lockout: LockoutPolicy {
                free_attempts,
                base_seconds,
                max_seconds,
            },
        })
    }

    pub fn policy(&self, limit: Limit) -> Policy {
        self.policies
            .iter()
            .find(|(l, _)| *l == limit)
            .map(|(_, p)| *p)
            .expect("every limit is configured")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_overrides_apply() {
        let limits = Limits::from_vars(|name| (name == "RATE_LIMIT_FORGET_EMAIL").then(|| "3/4".to_owned())).unwrap();
        assert_eq!(limits.policy(Limit::ForgetEmail), Policy::new(3, 4));
        assert_eq!(limits.policy(Limit::LoginIp), Policy::new(30, 60));
        assert_eq!(limits.lockout, LockoutPolicy::default());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = Limits::from_vars(|name| (name == "RATE_LIMIT_USER_API").then(|| "lots".to_owned())).unwrap_err();
        assert_eq!(err.0, "RATE_LIMIT_USER_API");
        let err = Limits::from_vars(|name| (name == "LOCKOUT_BASE_SECONDS").then(|| "0".to_owned())).unwrap_err();
        assert_eq!(err.0, "LOCKOUT_BASE_SECONDS");
    }

    #[test]
    fn counter_names_are_unique() {
        let mut names: Vec<&str> = LIMITS.iter().map(|row| row.1).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), LIMITS.len());
    }
}
