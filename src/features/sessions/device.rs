//! `"<browser> on <os>"` from a User-Agent: families without versions, as sessions.md
//! lists them; a non-browser client is its first product token; no User-Agent is
//! `Unknown device`. Also the key of the new-device mail: browser, OS and country.

const UNKNOWN_BROWSER: &str = "Unknown browser";
const UNKNOWN_OS: &str = "Unknown OS";

/// Browser families by a marker of theirs, most specific first: Edge, Opera and Samsung
/// Internet also say `Chrome/`, and Chrome also says `Safari/`.
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("Safari/", "Safari"),
];

/// Systems by a marker, most specific first: iPadOS and iOS also say `Mac OS X`,
/// Android says `Linux`, ChromeOS says `X11`.
const SYSTEMS: &[(&str, &str)] = &[
    ("iPad", "iPadOS"),
    ("iPhone", "iOS"),
    ("iPod", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// What a session shows of the client that opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Whether the request named its client at all.
    pub named: bool,
    /// The browser family, or a non-browser client's product, or `None` without a User-Agent.
    pub browser: Option<String>,
    pub os: Option<&'static str>,
}

impl Device {
    pub fn of(user_agent: Option<&str>) -> Self {
        let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
            return Self {
                named: false,
                browser: None,
                os: None,
            };
        };
        let os = SYSTEMS
            .iter()
            .find(|(marker, _)| ua.contains(marker))
            .map(|(_, os)| *os);
        if !ua.starts_with("Mozilla/") {
            // curl/8.5.0, okhttp/4.12 ...: the first product token names the client.
            let product = ua.split(['/', ' ']).next().unwrap_or(ua);
            return Self {
                named: true,
                browser: Some(product.to_owned()),
                os,
            };
        }
        let browser = BROWSERS
            .iter()
            .find(|(marker, _)| ua.contains(marker))
            .map(|(_, browser)| (*browser).to_owned());
        Self {
            named: true,
            browser,
            os,
        }
    }

    /// `Chrome on macOS`, `curl`, `Unknown device`.
    pub fn describe(&self) -> String {
        match (&self.browser, self.os) {
            _ if !self.named => "Unknown device".to_owned(),
            (Some(product), None) if !is_browser(product) => product.clone(),
            (browser, os) => format!(
                "{} on {}",
                browser.as_deref().unwrap_or(UNKNOWN_BROWSER),
                os.unwrap_or(UNKNOWN_OS)
            ),
        }
    }

    /// The new-device key: browser family, OS family and country.
    pub fn key(&self, country: Option<&str>) -> String {
        format!(
            "{}|{}|{}",
            self.browser.as_deref().unwrap_or(UNKNOWN_BROWSER),
            self.os.unwrap_or(UNKNOWN_OS),
            country.unwrap_or("-")
        )
    }
}

fn is_browser(name: &str) -> bool {
    BROWSERS.iter().any(|(_, browser)| *browser == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_become_families_without_versions() {
        let cases = [
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on macOS"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0 Mobile/15E148 Safari/604.1", "Chrome on iPadOS"),
            ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Windows"),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari on macOS"),
            ("Mozilla/5.0 (compatible; Something/1.0)", "Unknown browser on Unknown OS"),
            ("Mozilla/5.0 (Windows NT 10.0) Strange/1.0", "Unknown browser on Windows"),
            ("curl/8.5.0", "curl"),
            ("okhttp/4.12.0", "okhttp"),
            ("   ", "Unknown device"),
        ];
        for (ua, expected) in cases {
            assert_eq!(Device::of(Some(ua)).describe(), expected, "{ua}");
        }
        assert_eq!(Device::of(None).describe(), "Unknown device");
    }

    #[test]
    fn the_new_device_key_ignores_versions_but_not_the_country() {
        let old = Device::of(Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        ));
        let new = Device::of(Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        ));
        assert_eq!(old.key(Some("DE")), new.key(Some("DE")));
        assert_ne!(old.key(Some("DE")), new.key(Some("FR")));
    }
}
