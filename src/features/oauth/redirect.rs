//! Where a sign-in returns to (`redirect_to`): only an absolute URL on one of our own
//! origins, so the callback can never be made an open redirect, and how the outcome is
//! appended to it (`response_mode`).

use crate::kernel::config::Config;
use crate::kernel::fetch::form_encode;
use crate::kernel::web::Request;

/// Longer `redirect_to` values are refused.
pub const MAX_REDIRECT_CHARS: usize = 2048;

/// A `redirect_to` on one of our origins: absolute, `http(s)`, without userinfo or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget(String);

impl RedirectTarget {
    /// `raw` (default `FRONTEND_URL`) if its origin is `FRONTEND_URL`'s or one of
    /// `CORS_ORIGINS` exactly; `None` for anything else. Look-alikes are refused by
    /// construction: the origin is cut at the first `/`, `?` or `#` and must equal ours
    /// byte for byte (so `https://app.example.com.evil.test` or `…@evil.test` never
    /// match), and characters browsers reinterpret (`\`, whitespace, controls, `%` or `@`
    /// in the authority) are refused before that.
    pub fn parse(raw: Option<&str>, config: &Config) -> Option<Self> {
        let url = raw.unwrap_or(&config.frontend_url);
        if url.is_empty() || url.chars().count() > MAX_REDIRECT_CHARS || url.contains('#') {
            return None;
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
            return None;
        }
        let (scheme, rest) = url.split_once("://")?;
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        if authority.is_empty() || authority.contains(['@', '%']) {
            return None;
        }
        let origin = format!("{scheme}://{}", authority.to_ascii_lowercase());
        let ours = |allowed: &str| Request::origin_of(allowed).eq_ignore_ascii_case(&origin);
        let allowed = ours(&config.frontend_url) || config.cors_origins.iter().any(|o| ours(o));
        allowed.then(|| Self(url.to_owned()))
    }

    /// As stored with the state (already checked).
    pub fn stored(url: String) -> Self {
        Self(url)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with `pairs` appended in the fragment or the query; its own query is kept.
    pub fn with(&self, mode: ResponseMode, pairs: &[(&str, &str)]) -> String {
        let encoded = pairs
            .iter()
            .map(|(name, value)| format!("{name}={}", form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        match mode {
            ResponseMode::Fragment => format!("{}#{encoded}", self.0),
            ResponseMode::Query if self.0.contains('?') => format!("{}&{encoded}", self.0),
            ResponseMode::Query => format!("{}?{encoded}", self.0),
        }
    }
}

/// Where the outcome goes in `redirect_to`: `fragment` (default; never sent to a server)
/// or `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Fragment,
    Query,
}

impl ResponseMode {
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        match raw {
            None | Some("fragment") => Some(Self::Fragment),
            Some("query") => Some(Self::Query),
            Some(_) => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Fragment => "fragment",
            Self::Query => "query",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::config::Vars;

    fn config() -> Config {
        let read = |name: &str| match name {
            "FRONTEND_URL" => Some("https://app.example.com".to_owned()),
            "CORS_ORIGINS" => Some("https://admin.example.com,http://localhost:5173".to_owned()),
            other => crate::kernel::config::test_var(other),
        };
        Config::from_vars(&Vars::new(&read)).unwrap()
    }

    #[test]
    fn only_our_origins_are_redirect_targets() {
        let config = config();
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_REDIRECT_CHARS));
        let refused: &[(&str, &str)] = &[
            ("https://evil.test/", "a foreign origin"),
            ("javascript:alert(1)", "javascript:"),
            ("JavaScript://app.example.com/%0aalert(1)", "javascript: with slashes"),
            ("data:text/html,hi", "data:"),
            ("//app.example.com/x", "scheme-relative"),
            ("/dashboard", "relative"),
            ("https://app.example.com.evil.test/", "a look-alike suffix"),
            ("https://app.example.com@evil.test/", "userinfo"),
            ("https://user:pw@app.example.com/", "userinfo before our host"),
            ("https://evil.test\\@app.example.com/", "a backslash"),
            ("https://evil.test%2f@app.example.com/", "an encoded slash"),
            ("https://app.example.com/#frag", "a fragment"),
            ("https://app.example.com:8443/", "another port"),
            ("http://app.example.com/", "another scheme"),
            ("https://app.example.com/\n", "a newline"),
            (" https://app.example.com/", "leading space"),
            ("ftp://app.example.com/", "ftp"),
            ("", "empty"),
            (&long, "too long"),
        ];
        for (url, why) in refused {
            assert_eq!(RedirectTarget::parse(Some(url), &config), None, "{why}: {url}");
        }
        for url in [
            "https://app.example.com",
            "https://app.example.com/after-login?tab=2",
            "https://APP.example.com/x",
            "https://admin.example.com/",
            "http://localhost:5173/cb",
        ] {
            assert!(RedirectTarget::parse(Some(url), &config).is_some(), "{url}");
        }
        assert_eq!(
            RedirectTarget::parse(None, &config).unwrap().as_str(),
            "https://app.example.com",
            "FRONTEND_URL by default"
        );
    }

    #[test]
    fn outcomes_go_in_the_fragment_or_the_query_keeping_its_own() {
        let target = RedirectTarget::stored("https://app.example.com/cb?tab=2".into());
        assert_eq!(
            target.with(ResponseMode::Query, &[("code", "a b")]),
            "https://app.example.com/cb?tab=2&code=a+b"
        );
        assert_eq!(
            target.with(ResponseMode::Fragment, &[("error", "access_denied")]),
            "https://app.example.com/cb?tab=2#error=access_denied"
        );
        let bare = RedirectTarget::stored("https://app.example.com".into());
        assert_eq!(
            bare.with(ResponseMode::Query, &[("linked", "github")]),
            "https://app.example.com?linked=github"
        );
        assert_eq!(ResponseMode::parse(Some("form_post")), None);
    }
}
