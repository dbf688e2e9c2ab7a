//! Typed configuration, read once per isolate from Worker variables and secrets.

use std::fmt;

use crate::rate_limit::limits::Limits;

pub const MIN_SECRET_KEY_BYTES: usize = 32;
/// bcrypt's own bounds; below 10 is only sensible for tests.
const BCRYPT_COST_RANGE: std::ops::RangeInclusive<u32> = 4..=31;

/// A value that must never reach a log line or a Debug print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The HMAC JWT algorithms the service signs with; chosen by configuration, never by a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseBackend {
    D1,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub app_name: String,
    pub version: &'static str,
    pub environment: String,
    pub debug: bool,
    pub api_prefix: String,
    pub secret_key: Secret,
    pub algorithm: JwtAlgorithm,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_minutes: i64,
    pub email_code_minutes: i64,
    pub password_reset_minutes: i64,
    pub bcrypt_cost: u32,
    pub frontend_url: String,
    pub cors_origins: Vec<String>,
    pub cookie_secure: bool,
    pub mail_from: String,
    pub mail_from_name: String,
    pub sendgrid_api_url: String,
    pub sendgrid_api_key: Option<Secret>,
    pub sentry_dsn: Option<Secret>,
    pub metrics_token: Option<Secret>,
    pub limits: Limits,
    /// `DATABASE_BACKEND`; unset means Postgres when the HYPERDRIVE binding exists, else D1.
    pub database_backend: Option<DatabaseBackend>,
    /// Test configurations only: honours `X-Fault-Inject: internal`.
    pub fault_injection: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration variable {0} is missing")]
    Missing(&'static str),
    #[error("configuration variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    /// Reads every variable through `var` (Worker `[vars]` and secrets, or a map in tests).
    /// A missing or short `SECRET_KEY` is an error naming the variable, never a weak default.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let or = |name: &'static str, default: &str| get(name).unwrap_or_else(|| default.to_owned());

        let secret_key = get("SECRET_KEY").ok_or(ConfigError::Missing("SECRET_KEY"))?;
        if secret_key.len() < MIN_SECRET_KEY_BYTES {
            return Err(invalid(
                "SECRET_KEY",
                format!(
                    "must be at least {MIN_SECRET_KEY_BYTES} bytes, got {}",
                    secret_key.len()
                ),
            ));
        }
        let algorithm = match or("ALGORITHM", "HS256").to_ascii_uppercase().as_str() {
            "HS256" => JwtAlgorithm::Hs256,
            "HS384" => JwtAlgorithm::Hs384,
            "HS512" => JwtAlgorithm::Hs512,
            other => {
                return Err(invalid(
                    "ALGORITHM",
                    format!("{other} is not one of HS256, HS384, HS512"),
                ))
            }
        };
        let bcrypt_cost = number::<u32>(&get, "BCRYPT_COST", 12)?;
        if !BCRYPT_COST_RANGE.contains(&bcrypt_cost) {
            return Err(invalid("BCRYPT_COST", format!("{bcrypt_cost} is outside 4..=31")));
        }
        let frontend_url = or("FRONTEND_URL", "http://localhost:3000")
            .trim_end_matches('/')
            .to_owned();
        let mut cors_origins: Vec<String> = or("CORS_ORIGINS", "")
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        if !cors_origins.contains(&frontend_url) {
            cors_origins.push(frontend_url.clone());
        }
        let api_prefix = or("API_PREFIX", "/balance_hub");
        if !api_prefix.starts_with('/') || api_prefix.ends_with('/') {
            return Err(invalid("API_PREFIX", "must start with / and not end with /".into()));
        }
        let sendgrid_api_url = or("SENDGRID_API_URL", "https://api.sendgrid.com")
            .trim_end_matches('/')
            .to_owned();
        let app_name = or("APP_NAME", "Auth System");
        let limits = Limits::from_vars(get).map_err(|(name, reason)| invalid(name, reason))?;

        Ok(Self {
            version: env!("CARGO_PKG_VERSION"),
            environment: or("ENVIRONMENT", "production"),
            debug: boolean(&get, "DEBUG", false)?,
            api_prefix,
            secret_key: Secret(secret_key),
            algorithm,
            jwt_issuer: or("JWT_ISSUER", "edge-auth"),
            jwt_audience: or("JWT_AUDIENCE", "edge-auth"),
            access_token_minutes: positive(&get, "ACCESS_TOKEN_EXPIRE_MINUTES", 30)?,
            email_code_minutes: positive(&get, "EMAIL_VERIFICATION_CODE_EXPIRY_MINUTES", 15)?,
            password_reset_minutes: positive(&get, "PASSWORD_RESET_EXPIRE_MINUTES", 30)?,
            bcrypt_cost,
            frontend_url,
            cors_origins,
            cookie_secure: boolean(&get, "COOKIE_SECURE", true)?,
            mail_from: or("MAIL_FROM", "no-reply@example.com"),
            mail_from_name: or("MAIL_FROM_NAME", &app_name),
            app_name,
            sendgrid_api_url,
            sendgrid_api_key: get("SENDGRID_API_KEY").map(Secret),
            sentry_dsn: get("SENTRY_DSN").map(Secret),
            metrics_token: get("METRICS_TOKEN").map(Secret),
            limits,
            fault_injection: boolean(&get, "FAULT_INJECTION", false)?,
            database_backend: match get("DATABASE_BACKEND").map(|b| b.to_ascii_lowercase()).as_deref() {
                None => None,
                Some("d1") => Some(DatabaseBackend::D1),
                Some("postgres") if cfg!(feature = "postgres") => Some(DatabaseBackend::Postgres),
                Some("postgres") => return Err(invalid("DATABASE_BACKEND", NO_POSTGRES.to_owned())),
                Some(other) => return Err(invalid("DATABASE_BACKEND", format!("{other:?} is not d1 or postgres"))),
            },
        })
    }
}

/// Why `postgres` is refused by a Worker built without the `postgres` feature.
pub const NO_POSTGRES: &str =
    "this Worker was built without Postgres support; build it with `bash scripts/build.sh postgres` \
     (wrangler.postgres.toml does)";

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| invalid(name, format!("{raw:?} is not a number"))),
    }
}

fn positive(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    let value = number(get, name, default)?;
    if value <= 0 {
        return Err(invalid(name, format!("{value} must be positive")));
    }
    Ok(value)
}

fn boolean(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(invalid(name, format!("{v:?} is not a boolean"))),
    }
}

#[cfg(test)]
pub(crate) fn test_config() -> Config {
    Config::from_env(|name| match name {
        "SECRET_KEY" => Some("a-test-secret-key-that-is-long-enough-0123".into()),
        "BCRYPT_COST" => Some("4".into()),
        _ => None,
    })
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(|name| map.get(name).cloned())
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
        assert_eq!(config.access_token_minutes, 30);
        assert_eq!(config.email_code_minutes, 15);
        assert_eq!(config.password_reset_minutes, 30);
        assert_eq!(config.bcrypt_cost, 12);
        assert_eq!(config.algorithm, JwtAlgorithm::Hs256);
        assert_eq!(config.cors_origins, vec!["http://localhost:3000".to_owned()]);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&str, &str)] = &[
            ("ALGORITHM", "none"),
            ("ALGORITHM", "RS256"),
            ("BCRYPT_COST", "3"),
            ("BCRYPT_COST", "twelve"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
            ("DEBUG", "maybe"),
            ("API_PREFIX", "no-slash"),
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
