//! Configuration, typed once per isolate from Worker variables and secrets. `Config` holds
//! what the whole service shares; each capability reads its own section through `Vars`
//! (its `Feature::settings`), so a new capability adds variables without touching this file.

use std::fmt;

pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// A value that must never reach a log line or a Debug print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration variable {0} is missing")]
    Missing(&'static str),
    #[error("configuration variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// The Worker's variables and secrets (or a map in tests), read by name with the parsing
/// every section shares. A bad value is an error naming its variable, never a silent default.
pub struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl<'a> Vars<'a> {
    pub fn new(read: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self(read)
    }

    /// The trimmed value; unset and blank are alike.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    pub fn number<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| invalid(name, format!("{raw:?} is not a number"))),
        }
    }

    pub fn positive(&self, name: &'static str, default: i64) -> Result<i64, ConfigError> {
        let value = self.number(name, default)?;
        if value <= 0 {
            return Err(invalid(name, format!("{value} must be positive")));
        }
        Ok(value)
    }

    /// A duration in `unit_seconds` (minutes: 60, days: 86 400), decimals allowed (so a
    /// test configuration can say `0.001` days), in whole seconds, at least one. The value
    /// is read as a decimal fraction in integers (`decimal_seconds`): no float parsing.
    pub fn duration(&self, name: &'static str, unit_seconds: i64, default: i64) -> Result<i64, ConfigError> {
        match self.get(name) {
            None => Ok((default * unit_seconds).max(1)),
            Some(raw) => decimal_seconds(&raw, unit_seconds)
                .ok_or_else(|| invalid(name, format!("{raw:?} is not a positive number"))),
        }
    }

    pub fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(invalid(name, format!("{v:?} is not a boolean"))),
        }
    }
}

/// `raw` (`12`, `0.5`, `+.25`: a positive decimal number) times `unit_seconds`, rounded
/// half up to whole seconds, at least one; `None` when it is not a positive number.
fn decimal_seconds(raw: &str, unit_seconds: i64) -> Option<i64> {
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    // Leading zeros and digits past the 18th decimal change nothing a second can show;
    // what is left is at most 18 digits of fraction and, past 20 whole digits, saturates.
    let whole = whole.trim_start_matches('0');
    let fraction = &fraction[..fraction.len().min(18)];
    if whole.len() > 20 {
        return Some(i64::MAX);
    }
    let scale = 10u128.pow(fraction.len() as u32);
    let number = format!("{whole}{fraction}").parse::<u128>().unwrap_or(0);
    if number == 0 {
        return None;
    }
    let seconds = number
        .checked_mul(unit_seconds as u128)
        .map_or(u128::MAX, |n| n.saturating_add(scale / 2) / scale);
    Some(i64::try_from(seconds).unwrap_or(i64::MAX).max(1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseBackend {
    D1,
    Postgres,
}

/// Why `postgres` is refused by a Worker built without the `postgres` feature.
pub const NO_POSTGRES: &str =
    "this Worker was built without Postgres support; build it with `bash scripts/build.sh postgres` \
     (wrangler.postgres.toml does)";

/// `ENVIRONMENT` of a developer's machine (`make dev`): mail without `SENDGRID_API_KEY`
/// goes to the log, and the production checks do not apply.
pub const DEVELOPMENT: &str = "development";
/// `ENVIRONMENT` of a deployment, and its default: see `Config::check_production`.
pub const PRODUCTION: &str = "production";

/// Where mail goes, decided once from `SENDGRID_API_KEY` and `ENVIRONMENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailMode {
    /// SendGrid's v3 API with this key.
    SendGrid { api_key: Secret },
    /// Rendered into the log, codes and links included: only with `ENVIRONMENT=development`
    /// and no key, never in a deployment.
    Log,
    /// No key outside development: the routes whose purpose is a mail answer 503, `/health`
    /// names it, and any other mail is reported as failed instead of being dropped.
    Unconfigured,
}

impl MailMode {
    fn from_vars(vars: &Vars<'_>, environment: &str) -> Self {
        match vars.get("SENDGRID_API_KEY") {
            Some(key) => Self::SendGrid { api_key: Secret(key) },
            None if environment.eq_ignore_ascii_case(DEVELOPMENT) => Self::Log,
            None => Self::Unconfigured,
        }
    }

    /// As `/health` names it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SendGrid { .. } => "sendgrid",
            Self::Log => "log",
            Self::Unconfigured => "unconfigured",
        }
    }

    pub fn is_configured(&self) -> bool {
        *self != Self::Unconfigured
    }
}

/// Why mail is unconfigured, for logs and reports.
pub const MAIL_UNCONFIGURED: &str =
    "SENDGRID_API_KEY is not set; mail goes to the log only with ENVIRONMENT=development";

/// Which answers get a request log line (`LOG_REQUESTS`). Failure reports (5xx, failed
/// dependencies) and undocumented answers are logged whatever it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestLog {
    /// Every answer: `all`.
    All,
    /// Answers of status 400 and above: `errors`.
    Errors,
    /// None: `off`.
    Off,
    /// Every error, and this many per million of the other answers: `0.05` is 50 000.
    Sample { per_million: u32 },
}

impl RequestLog {
    /// `all` outside production, where nothing else records requests; in production
    /// `errors`, since Cloudflare's invocation logs record every request already.
    fn from_vars(vars: &Vars<'_>, environment: &str) -> Result<Self, ConfigError> {
        let raw = vars.get("LOG_REQUESTS").map(|v| v.to_ascii_lowercase());
        match raw.as_deref() {
            None if environment.eq_ignore_ascii_case(PRODUCTION) => Ok(Self::Errors),
            None | Some("all") => Ok(Self::All),
            Some("errors") => Ok(Self::Errors),
            Some("off") => Ok(Self::Off),
            Some(other) => match per_million(other) {
                Some(1_000_000) => Ok(Self::All),
                Some(0) => Ok(Self::Errors),
                Some(per_million) => Ok(Self::Sample { per_million }),
                None => Err(invalid(
                    "LOG_REQUESTS",
                    format!("{other:?} is not all, errors, off or a share from 0 to 1 such as 0.05"),
                )),
            },
        }
    }

    /// Whether an answer of `status` gets a line; `draw` is uniform below a million, asked
    /// for only when sampling.
    pub fn wants(&self, status: u16, draw: impl FnOnce() -> u32) -> bool {
        match self {
            Self::All => true,
            Self::Off => false,
            Self::Errors => status >= 400,
            Self::Sample { per_million } => status >= 400 || draw() < *per_million,
        }
    }
}

/// A share from 0 to 1 written as a decimal (`1`, `0.05`, `.5`), in millionths; no float
/// parsing (it would add its tables to the Worker for one variable).
fn per_million(raw: &str) -> Option<u32> {
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) || fraction.len() > 6 {
        return None;
    }
    let whole: u32 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let scale = 10u32.pow(6 - fraction.len() as u32);
    let fraction: u32 = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u32>().ok()? * scale
    };
    let total = whole.checked_mul(1_000_000)?.checked_add(fraction)?;
    (total <= 1_000_000).then_some(total)
}

/// What every capability shares.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_name: String,
    pub version: &'static str,
    pub environment: String,
    pub debug: bool,
    pub api_prefix: String,
    pub secret_key: Secret,
    pub frontend_url: String,
    pub cors_origins: Vec<String>,
    pub cookie_secure: bool,
    pub mail_from: String,
    pub mail_from_name: String,
    pub sendgrid_api_url: String,
    /// `SENDGRID_API_KEY`, or what happens to mail without one.
    pub mail: MailMode,
    pub sentry_dsn: Option<Secret>,
    pub metrics_token: Option<Secret>,
    /// `DATABASE_BACKEND`; unset means Postgres when the HYPERDRIVE binding exists, else D1.
    pub database_backend: Option<DatabaseBackend>,
    /// Test configurations only: honours `X-Fault-Inject: internal` and `panic`.
    pub fault_injection: bool,
    /// `LOG_REQUESTS`: which answers get a request log line.
    pub request_log: RequestLog,
}

impl Config {
    /// A missing or short `SECRET_KEY` is an error naming the variable, never a weak default.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let app_name = vars.or("APP_NAME", "Auth System");
        let environment = vars.or("ENVIRONMENT", PRODUCTION);
        let frontend_url = vars
            .or("FRONTEND_URL", "http://localhost:3000")
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            version: env!("CARGO_PKG_VERSION"),
            mail: MailMode::from_vars(vars, &environment),
            request_log: RequestLog::from_vars(vars, &environment)?,
            environment,
            debug: vars.boolean("DEBUG", false)?,
            api_prefix: api_prefix(vars)?,
            secret_key: secret_key(vars)?,
            cors_origins: cors_origins(vars, &frontend_url),
            frontend_url,
            cookie_secure: vars.boolean("COOKIE_SECURE", true)?,
            mail_from: vars.or("MAIL_FROM", "no-reply@example.com"),
            mail_from_name: vars.or("MAIL_FROM_NAME", &app_name),
            app_name,
            sendgrid_api_url: vars
                .or("SENDGRID_API_URL", "https://api.sendgrid.com")
                .trim_end_matches('/')
                .to_owned(),
            sentry_dsn: vars.get("SENTRY_DSN").map(Secret),
            metrics_token: vars.get("METRICS_TOKEN").map(Secret),
            fault_injection: vars.boolean("FAULT_INJECTION", false)?,
            database_backend: database_backend(vars)?,
        })
    }

    /// In production (`ENVIRONMENT=production`, the default) refuses what only a development
    /// or test configuration may have, naming the variable: a `FRONTEND_URL` or a
    /// `CORS_ORIGINS` entry that is not `https` (credentialed CORS and reset links over
    /// plain HTTP), and `FAULT_INJECTION` (any caller could force a 500 or a panic). Other
    /// environments are not checked: localhost over http is fine in development. The Worker
    /// runs it when it builds its state, so a refused variable answers every request 500.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if !self.environment.eq_ignore_ascii_case(PRODUCTION) {
            return Ok(());
        }
        let in_production = |what: &str| format!("{what} (ENVIRONMENT is {PRODUCTION})");
        if !is_https(&self.frontend_url) {
            let what = format!("{:?} must be an https URL", self.frontend_url);
            return Err(invalid("FRONTEND_URL", in_production(&what)));
        }
        if let Some(origin) = self.cors_origins.iter().find(|o| !is_https(o)) {
            let what = format!("{origin:?} must be an https origin");
            return Err(invalid("CORS_ORIGINS", in_production(&what)));
        }
        if self.fault_injection {
            return Err(invalid("FAULT_INJECTION", in_production("must be off")));
        }
        Ok(())
    }

    /// `FRONTEND_URL/forgot-password`, where mails send someone who should reset.
    pub fn forgot_password_url(&self) -> String {
        format!("{}/forgot-password", self.frontend_url)
    }
}

/// `https://` and a host after it.
fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        && url.len() > 8
}

fn secret_key(vars: &Vars<'_>) -> Result<Secret, ConfigError> {
    let key = vars.get("SECRET_KEY").ok_or(ConfigError::Missing("SECRET_KEY"))?;
    if key.len() < MIN_SECRET_KEY_BYTES {
        return Err(invalid(
            "SECRET_KEY",
            format!("must be at least {MIN_SECRET_KEY_BYTES} bytes, got {}", key.len()),
        ));
    }
    Ok(Secret(key))
}

fn api_prefix(vars: &Vars<'_>) -> Result<String, ConfigError> {
    let prefix = vars.or("API_PREFIX", "/balance_hub");
    if !prefix.starts_with('/') || prefix.ends_with('/') {
        return Err(invalid("API_PREFIX", "must start with / and not end with /"));
    }
    Ok(prefix)
}

/// `CORS_ORIGINS`, comma separated; `FRONTEND_URL` is always among them.
fn cors_origins(vars: &Vars<'_>, frontend_url: &str) -> Vec<String> {
    let mut origins: Vec<String> = vars
        .or("CORS_ORIGINS", "")
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if !origins.iter().any(|o| o == frontend_url) {
        origins.push(frontend_url.to_owned());
    }
    origins
}

fn database_backend(vars: &Vars<'_>) -> Result<Option<DatabaseBackend>, ConfigError> {
    match vars.get("DATABASE_BACKEND").map(|b| b.to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("d1") => Ok(Some(DatabaseBackend::D1)),
        Some("postgres") if cfg!(feature = "postgres") => Ok(Some(DatabaseBackend::Postgres)),
        Some("postgres") => Err(invalid("DATABASE_BACKEND", NO_POSTGRES)),
        Some(other) => Err(invalid("DATABASE_BACKEND", format!("{other:?} is not d1 or postgres"))),
    }
}

/// The variables of the native tests' configuration: a test deployment (not production,
/// whose checks refuse the default http `FRONTEND_URL`) whose mail is configured; the
/// recording outbox takes the mail, so the key is never used.
#[cfg(test)]
pub fn test_var(name: &str) -> Option<String> {
    match name {
        "SECRET_KEY" => Some("a-test-secret-key-that-is-long-enough-0123".into()),
        "BCRYPT_COST" => Some("4".into()),
        "ENVIRONMENT" => Some("test".into()),
        "SENDGRID_API_KEY" => Some("SG.native-tests-never-send".into()),
        _ => None,
    }
}

/// The test variables with `overrides` over them (the first pair naming a variable wins).
#[cfg(test)]
pub fn test_vars_with<'a>(overrides: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        overrides
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| test_var(name))
    }
}

#[cfg(test)]
pub fn test_config() -> Config {
    Config::from_vars(&Vars::new(&test_var)).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn durations_are_positive_decimals_in_whole_seconds() {
        let day = 86_400;
        for (raw, unit, seconds) in [
            ("30", 60, 1800),
            ("0.5", 60, 30),
            ("+.25", 60, 15),
            ("5.", 1, 5),
            ("007", 1, 7),
            ("0.001", day, 86),
            ("0.0000001", day, 1),
            ("1.5", 1, 2),
            ("0.0416666666666666666666", day, 3600),
            ("99999999999999999999", day, i64::MAX),
            ("123456789012345678901234567890", 1, i64::MAX),
        ] {
            assert_eq!(decimal_seconds(raw, unit), Some(seconds), "{raw} x {unit}");
        }
        for raw in [
            "", ".", "0", "0.000", "-1", "1e3", "inf", "NaN", " 5", "5 ", "1,5", "1.2.3", "++1", "0x10",
        ] {
            assert_eq!(decimal_seconds(raw, 60), None, "{raw:?}");
        }
    }

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let read = |name: &str| map.get(name).cloned();
        Config::from_vars(&Vars::new(&read))
    }

    const KEY: (&str, &str) = ("SECRET_KEY", "0123456789abcdef0123456789abcdef");

    #[test]
    fn a_missing_or_short_secret_key_is_refused_by_name() {
        assert_eq!(from(&[]).unwrap_err(), ConfigError::Missing("SECRET_KEY"));
        let err = from(&[("SECRET_KEY", "too-short")]).unwrap_err();
        assert!(err.to_string().contains("SECRET_KEY"), "{err}");
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = from(&[KEY]).unwrap();
        assert_eq!(config.api_prefix, "/balance_hub");
        assert_eq!(config.cors_origins, vec!["http://localhost:3000".to_owned()]);
        assert_eq!(config.environment, "production");
        assert_eq!(config.mail, MailMode::Unconfigured, "no key outside development");
        let err = config.check_production().unwrap_err();
        assert!(
            err.to_string().contains("FRONTEND_URL"),
            "production names its frontend: {err}"
        );
    }

    #[test]
    fn mail_goes_to_the_log_only_in_development_without_a_key() {
        let key = ("SENDGRID_API_KEY", "SG.key");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("ENVIRONMENT", "development")], "log"),
            (&[("ENVIRONMENT", "Development")], "log"),
            (&[("ENVIRONMENT", "development"), key], "sendgrid"),
            (&[], "unconfigured"),
            (&[("ENVIRONMENT", "production")], "unconfigured"),
            (&[("ENVIRONMENT", "staging")], "unconfigured"),
            (&[("ENVIRONMENT", "e2e"), ("SENDGRID_API_KEY", "  ")], "unconfigured"),
            (&[("ENVIRONMENT", "production"), key], "sendgrid"),
        ];
        for (pairs, expected) in cases {
            let config = from(&[&[KEY], *pairs].concat()).unwrap();
            assert_eq!(config.mail.name(), *expected, "{pairs:?}");
            assert_eq!(config.mail.is_configured(), *expected != "unconfigured", "{pairs:?}");
        }
    }

    const HTTPS_FRONTEND: (&str, &str) = ("FRONTEND_URL", "https://app.example");

    #[test]
    fn production_refuses_plain_http_and_fault_injection_by_name() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "FRONTEND_URL"),
            (&[("FRONTEND_URL", "http://app.example")], "FRONTEND_URL"),
            (&[("FRONTEND_URL", "app.example")], "FRONTEND_URL"),
            (&[("FRONTEND_URL", "https://")], "FRONTEND_URL"),
            (
                &[HTTPS_FRONTEND, ("CORS_ORIGINS", "https://a.example,http://b.example")],
                "CORS_ORIGINS",
            ),
            (&[HTTPS_FRONTEND, ("CORS_ORIGINS", "*")], "CORS_ORIGINS"),
            (
                &[HTTPS_FRONTEND, ("CORS_ORIGINS", "http://localhost:3000")],
                "CORS_ORIGINS",
            ),
            (&[HTTPS_FRONTEND, ("FAULT_INJECTION", "true")], "FAULT_INJECTION"),
        ];
        for (pairs, name) in cases {
            for environment in [None, Some("production"), Some("Production")] {
                let mut vars = vec![KEY];
                vars.extend(environment.map(|e| ("ENVIRONMENT", e)));
                vars.extend_from_slice(pairs);
                let err = from(&vars).unwrap().check_production().unwrap_err();
                assert!(err.to_string().contains(name), "{vars:?}: {err}");
            }
            for environment in ["development", "test", "e2e"] {
                let vars = [&[KEY, ("ENVIRONMENT", environment)], *pairs].concat();
                assert!(from(&vars).unwrap().check_production().is_ok(), "{vars:?}");
            }
        }
    }

    #[test]
    fn production_accepts_https_origins_without_fault_injection() {
        let config = from(&[
            KEY,
            ("ENVIRONMENT", "production"),
            ("FRONTEND_URL", "https://app.example/"),
            ("CORS_ORIGINS", "https://a.example, HTTPS://b.example"),
            ("FAULT_INJECTION", "false"),
        ])
        .unwrap();
        assert_eq!(config.check_production(), Ok(()));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&str, &str)] = &[
            ("DEBUG", "maybe"),
            ("API_PREFIX", "no-slash"),
            ("API_PREFIX", "/trailing/"),
            ("COOKIE_SECURE", "sometimes"),
        ];
        for (name, value) in cases {
            let err = from(&[KEY, (name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn the_database_backend_is_one_this_build_has() {
        assert_eq!(
            from(&[KEY]).unwrap().database_backend,
            None,
            "unset: decided by the bindings"
        );
        let d1 = from(&[KEY, ("DATABASE_BACKEND", "D1")]).unwrap();
        assert_eq!(d1.database_backend, Some(DatabaseBackend::D1));
        let postgres = from(&[KEY, ("DATABASE_BACKEND", "postgres")]);
        if cfg!(feature = "postgres") {
            assert_eq!(postgres.unwrap().database_backend, Some(DatabaseBackend::Postgres));
        } else {
            let err = postgres.unwrap_err().to_string();
            assert!(
                err.contains("DATABASE_BACKEND") && err.contains("scripts/build.sh postgres"),
                "{err}"
            );
        }
        assert!(from(&[KEY, ("DATABASE_BACKEND", "mysql")]).is_err());
    }

    #[test]
    fn request_logs_are_all_by_default_but_errors_in_production() {
        let cases: &[(&[(&str, &str)], RequestLog)] = &[
            (&[("ENVIRONMENT", "development")], RequestLog::All),
            (&[("ENVIRONMENT", "e2e")], RequestLog::All),
            (&[], RequestLog::Errors),
            (&[("ENVIRONMENT", "production")], RequestLog::Errors),
            (
                &[("ENVIRONMENT", "production"), ("LOG_REQUESTS", "ALL")],
                RequestLog::All,
            ),
            (&[("LOG_REQUESTS", "off")], RequestLog::Off),
            (
                &[("ENVIRONMENT", "e2e"), ("LOG_REQUESTS", "errors")],
                RequestLog::Errors,
            ),
            (&[("LOG_REQUESTS", "0.25")], RequestLog::Sample { per_million: 250_000 }),
            (&[("LOG_REQUESTS", ".05")], RequestLog::Sample { per_million: 50_000 }),
            (&[("LOG_REQUESTS", "0.000001")], RequestLog::Sample { per_million: 1 }),
            (&[("LOG_REQUESTS", "1")], RequestLog::All),
            (&[("LOG_REQUESTS", "1.0")], RequestLog::All),
            (&[("LOG_REQUESTS", "0")], RequestLog::Errors),
        ];
        for (pairs, expected) in cases {
            let config = from(&[&[KEY], *pairs].concat()).unwrap();
            assert_eq!(config.request_log, *expected, "{pairs:?}");
        }
        for bad in ["some", "-0.5", "NaN", "1.5", "2", ".", "0.0000001", "1e-2", "0,5"] {
            let err = from(&[KEY, ("LOG_REQUESTS", bad)]).unwrap_err();
            assert!(err.to_string().contains("LOG_REQUESTS"), "{bad}: {err}");
        }
        let never = || -> u32 { panic!("only a sample draws") };
        assert!(RequestLog::All.wants(200, never) && !RequestLog::Off.wants(500, never));
        assert!(RequestLog::Errors.wants(401, never) && !RequestLog::Errors.wants(204, never));
        let sample = RequestLog::Sample { per_million: 250_000 };
        assert!(sample.wants(429, never));
        assert!(sample.wants(200, || 100_000) && !sample.wants(200, || 300_000));
    }

    #[test]
    fn cors_origins_always_include_the_frontend() {
        let config = from(&[
            KEY,
            ("CORS_ORIGINS", " https://a.example , https://b.example/"),
            ("FRONTEND_URL", "https://app.example/"),
        ])
        .unwrap();
        assert_eq!(
            config.cors_origins,
            ["https://a.example", "https://b.example", "https://app.example"]
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let printed = format!("{:?}", from(&[KEY, ("SENDGRID_API_KEY", "SG.very-secret")]).unwrap());
        assert!(
            !printed.contains(KEY.1) && !printed.contains("very-secret"),
            "{printed}"
        );
    }
}
