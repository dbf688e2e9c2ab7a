//! The three providers (oauth.md's tables): their names, kinds, default endpoints and
//! scopes, and the configuration of each (`OAUTH_<P>_…`), read once per isolate.

use crate::kernel::config::{invalid, Config, ConfigError, Secret, Vars, DEVELOPMENT};

/// Microsoft's tenant of personal (consumer) accounts.
pub const PERSONAL_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Microsoft,
    GitHub,
}

impl Provider {
    pub const ALL: [Self; 3] = [Self::Google, Self::Microsoft, Self::GitHub];

    /// As paths, `sign_in_methods` and the identities name it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Microsoft => "microsoft",
            Self::GitHub => "github",
        }
    }

    /// As a person reads it (the providers list, mails).
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Microsoft => "Microsoft",
            Self::GitHub => "GitHub",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// OpenID Connect (an ID token, a nonce) rather than plain OAuth 2 (GitHub).
    pub const fn is_oidc(self) -> bool {
        !matches!(self, Self::GitHub)
    }

    pub const fn scope(self) -> &'static str {
        match self {
            Self::GitHub => "read:user user:email",
            _ => "openid email profile",
        }
    }

    /// The prefix of its variables: `OAUTH_GOOGLE`.
    const fn var_prefix(self) -> &'static str {
        match self {
            Self::Google => "OAUTH_GOOGLE",
            Self::Microsoft => "OAUTH_MICROSOFT",
            Self::GitHub => "OAUTH_GITHUB",
        }
    }
}

/// Who may sign in through Microsoft (`OAUTH_MICROSOFT_TENANT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenant {
    /// `common`: work, school and personal accounts.
    Common,
    /// `organizations`: work and school accounts, never personal ones.
    Organizations,
    /// `consumers`: personal accounts only.
    Consumers,
    /// One directory, by its GUID (lower case).
    Id(String),
}

impl Tenant {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.to_ascii_lowercase();
        match raw.as_str() {
            "common" => Some(Self::Common),
            "organizations" => Some(Self::Organizations),
            "consumers" => Some(Self::Consumers),
            _ if is_guid(&raw) => Some(Self::Id(raw)),
            _ => None,
        }
    }

    /// As Microsoft's URLs name it.
    pub fn path(&self) -> &str {
        match self {
            Self::Common => "common",
            Self::Organizations => "organizations",
            Self::Consumers => "consumers",
            Self::Id(id) => id,
        }
    }

    /// Whether a token of the directory `tid` may sign in.
    pub fn admits(&self, tid: &str) -> bool {
        let tid = tid.to_ascii_lowercase();
        match self {
            Self::Common => is_guid(&tid),
            Self::Organizations => is_guid(&tid) && tid != PERSONAL_TENANT,
            Self::Consumers => tid == PERSONAL_TENANT,
            Self::Id(id) => tid == *id,
        }
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal.
pub fn is_guid(raw: &str) -> bool {
    raw.len() == 36
        && raw.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// One configured provider: its client and endpoints.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: Secret,
    pub authorize_url: String,
    pub token_url: String,
    /// GitHub's `/user` (its `/emails` below it); unused for OIDC providers.
    pub userinfo_url: String,
    /// OIDC: the JWKS of the ID tokens' keys.
    pub jwks_url: String,
    /// OIDC: `None` for the default rule (oauth.md's table); an override must match exactly,
    /// `{tid}` replaced by the token's `tid`.
    pub issuer: Option<String>,
}

impl ProviderConfig {
    /// `None` when `OAUTH_<P>_CLIENT_ID` is unset: the provider is not offered.
    pub fn from_vars(
        provider: Provider,
        vars: &Vars<'_>,
        config: &Config,
        tenant: &Tenant,
    ) -> Result<Option<Self>, ConfigError> {
        let prefix = provider.var_prefix();
        let var = |suffix: &str| -> &'static str { Box::leak(format!("{prefix}_{suffix}").into_boxed_str()) };
        let Some(client_id) = vars.get(var("CLIENT_ID")) else {
            return Ok(None);
        };
        let client_secret = vars
            .get(var("CLIENT_SECRET"))
            .map(Secret::new)
            .ok_or(ConfigError::Missing(var("CLIENT_SECRET")))?;
        let (authorize, token, userinfo, jwks) = defaults(provider, tenant);
        let url = |suffix: &str, default: String| -> Result<String, ConfigError> {
            let name = var(suffix);
            match vars.get(name) {
                None => Ok(default),
                Some(url) => endpoint(name, url, config),
            }
        };
        let issuer = match vars.get(var("ISSUER")) {
            Some(issuer) => Some(endpoint(var("ISSUER"), issuer, config)?),
            None => None,
        };
        Ok(Some(Self {
            provider,
            client_id,
            client_secret,
            authorize_url: url("AUTHORIZE_URL", authorize)?,
            token_url: url("TOKEN_URL", token)?,
            userinfo_url: url("USERINFO_URL", userinfo)?,
            jwks_url: url("JWKS_URL", jwks)?,
            issuer,
        }))
    }

    /// Whether `iss` is this provider's issuer for a token of directory `tid` (Microsoft).
    pub fn issuer_matches(&self, iss: &str, tid: Option<&str>) -> bool {
        let expected = |template: &str| match tid {
            Some(tid) => template.replace("{tid}", tid),
            None => template.to_owned(),
        };
        match (&self.issuer, self.provider) {
            (Some(issuer), _) => !(issuer.contains("{tid}") && tid.is_none()) && iss == expected(issuer),
            (None, Provider::Google) => iss == "https://accounts.google.com" || iss == "accounts.google.com",
            (None, Provider::Microsoft) => {
                tid.is_some() && iss == expected("https://login.microsoftonline.com/{tid}/v2.0")
            }
            (None, Provider::GitHub) => false,
        }
    }
}

/// Authorize, token, userinfo and JWKS URLs of oauth.md's table.
fn defaults(provider: Provider, tenant: &Tenant) -> (String, String, String, String) {
    match provider {
        Provider::Google => (
            "https://accounts.google.com/o/oauth2/v2/auth".into(),
            "https://oauth2.googleapis.com/token".into(),
            String::new(),
            "https://www.googleapis.com/oauth2/v3/certs".into(),
        ),
        Provider::Microsoft => {
            let base = format!("https://login.microsoftonline.com/{}", tenant.path());
            (
                format!("{base}/oauth2/v2.0/authorize"),
                format!("{base}/oauth2/v2.0/token"),
                String::new(),
                format!("{base}/discovery/v2.0/keys"),
            )
        }
        Provider::GitHub => (
            "https://github.com/login/oauth/authorize".into(),
            "https://github.com/login/oauth/access_token".into(),
            "https://api.github.com/user".into(),
            String::new(),
        ),
    }
}

/// An endpoint override: an `https` URL; `http` only with `ENVIRONMENT=development` (oauth.md:
/// a developer's machine, and the e2e harness's instances that point the providers at local
/// fakes), never in production or any other deployment.
fn endpoint(name: &'static str, url: String, config: &Config) -> Result<String, ConfigError> {
    let url = url.trim_end_matches('/').to_owned();
    let lower = url.to_ascii_lowercase();
    let has_host = |rest: &str| !rest.is_empty() && !rest.starts_with('/');
    if let Some(rest) = lower.strip_prefix("https://") {
        if has_host(rest) {
            return Ok(url);
        }
    }
    if let Some(rest) = lower.strip_prefix("http://") {
        if has_host(rest) {
            return if config.environment.eq_ignore_ascii_case(DEVELOPMENT) {
                Ok(url)
            } else {
                Err(invalid(
                    name,
                    format!("{url:?} must be https (http only with ENVIRONMENT={DEVELOPMENT})"),
                ))
            };
        }
    }
    Err(invalid(name, format!("{url:?} is not an absolute http(s) URL")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_admit_what_oauth_md_says() {
        let org = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let table: &[(&str, &str, bool)] = &[
            ("common", org, true),
            ("common", PERSONAL_TENANT, true),
            ("common", "not-a-guid", false),
            ("organizations", org, true),
            ("organizations", PERSONAL_TENANT, false),
            ("consumers", PERSONAL_TENANT, true),
            ("consumers", org, false),
            (org, org, true),
            (org, PERSONAL_TENANT, false),
            ("72F988BF-86F1-41AF-91AB-2D7CD011DB47", org, true),
        ];
        for (tenant, tid, admitted) in table {
            let parsed = Tenant::parse(tenant).unwrap();
            assert_eq!(parsed.admits(tid), *admitted, "{tenant} / {tid}");
        }
        assert_eq!(Tenant::parse("contoso.onmicrosoft.com"), None);
    }
}
