//! Sentry's envelope API, as plain data: the DSN, the scrubber and the envelope. The Worker
//! posts the envelope off the response path.

use serde_json::json;

use crate::kernel::email::redact_email;
use crate::kernel::secrets::random_uuid;

/// `{scheme}://{public_key}@{host}/{project_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub scheme: String,
    pub public_key: String,
    pub host: String,
    pub project_id: String,
}

impl Dsn {
    pub fn parse(raw: &str) -> Option<Self> {
        let (scheme, rest) = raw.trim().split_once("://")?;
        let (public_key, rest) = rest.split_once('@')?;
        let public_key = public_key.split(':').next()?;
        let (host, path) = rest.split_once('/')?;
        let project_id = path.trim_end_matches('/').rsplit('/').next()?;
        let valid = matches!(scheme, "http" | "https")
            && !public_key.is_empty()
            && !host.is_empty()
            && !project_id.is_empty()
            && project_id.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| Self {
            scheme: scheme.to_owned(),
            public_key: public_key.to_owned(),
            host: host.to_owned(),
            project_id: project_id.to_owned(),
        })
    }

    pub fn envelope_url(&self) -> String {
        format!("{}://{}/api/{}/envelope/", self.scheme, self.host, self.project_id)
    }

    pub fn auth_header(&self, client: &str) -> String {
        format!(
            "Sentry sentry_version=7, sentry_key={}, sentry_client={client}",
            self.public_key
        )
    }
}

/// What a report knows; never a body, a header value or a secret.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub error_id: &'a str,
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    /// The cause chain, outermost first.
    pub causes: Vec<String>,
    pub release: &'a str,
    pub environment: &'a str,
    pub timestamp_seconds: f64,
}

/// Masks what may identify a person or grant access: addresses keep one letter and their
/// domain; long token-like runs (JWTs, hex digests, reset tokens) and six-digit codes go.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            out.push_str(&scrub_word(word));
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() || "@._-+=%".contains(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn scrub_word(word: &str) -> String {
    const MIN_TOKEN_CHARS: usize = 20;
    if word.contains('@') {
        return redact_email(word.trim_matches('.'));
    }
    let tokenish =
        word.len() >= MIN_TOKEN_CHARS && word.chars().all(|c| c.is_ascii_alphanumeric() || "._-=".contains(c));
    let code = word.len() == 6 && word.bytes().all(|b| b.is_ascii_digit());
    if tokenish || code {
        "[redacted]".to_owned()
    } else {
        word.to_owned()
    }
}

/// One envelope holding one error event.
pub fn envelope(dsn_raw: &str, report: &Report<'_>) -> String {
    let event_id = random_uuid().replace('-', "");
    let values: Vec<_> = report
        .causes
        .iter()
        .rev()
        .enumerate()
        .map(|(depth, cause)| {
            json!({
                "type": if depth + 1 == report.causes.len() { "Error" } else { "Cause" },
                "value": scrub(cause),
                "mechanism": { "type": "generic", "handled": true },
            })
        })
        .collect();
    let event = json!({
        "event_id": event_id,
        "timestamp": report.timestamp_seconds,
        "platform": "native",
        "level": "error",
        "logger": "edge-auth",
        "release": report.release,
        "environment": report.environment,
        "transaction": report.route,
        "message": { "formatted": scrub(report.causes.first().map(String::as_str).unwrap_or("error")) },
        "exception": { "values": values },
        "tags": {
            "route": report.route,
            "status": report.status.to_string(),
            "request_id": report.request_id,
            "error_id": report.error_id,
        },
        "request": { "method": report.method, "url": report.route },
    })
    .to_string();
    let header = json!({ "event_id": event_id, "dsn": dsn_raw, "sent_at": report.timestamp_seconds });
    let item = json!({ "type": "event", "content_type": "application/json", "length": event.len() });
    format!("{header}\n{item}\n{event}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns_parse_into_their_parts() {
        let dsn = Dsn::parse("https://abc123@o42.ingest.sentry.io/4501").unwrap();
        assert_eq!(dsn.envelope_url(), "https://o42.ingest.sentry.io/api/4501/envelope/");
        assert_eq!(dsn.public_key, "abc123");
        let local = Dsn::parse("http://key:secret@127.0.0.1:9000/7").unwrap();
        assert_eq!(
            (local.public_key.as_str(), local.host.as_str()),
            ("key", "127.0.0.1:9000")
        );
        for bad in [
            "",
            "abc",
            "https://o42.ingest.sentry.io/1",
            "ftp://k@h/1",
            "https://k@h/",
            "https://k@h/abc",
        ] {
            assert!(Dsn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn scrubbing_removes_addresses_tokens_and_codes() {
        let text =
            "user ada.lovelace@example.com token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc code 042817 status 500";
        let scrubbed = scrub(text);
        assert!(!scrubbed.contains("ada.lovelace"), "{scrubbed}");
        assert!(scrubbed.contains("a***@example.com"));
        assert!(!scrubbed.contains("eyJ"), "{scrubbed}");
        assert!(!scrubbed.contains("042817"), "{scrubbed}");
        assert!(scrubbed.contains("status 500"));
    }

    #[test]
    fn envelopes_have_a_header_an_item_and_the_event() {
        let report = Report {
            error_id: "err-1",
            request_id: "req-1",
            method: "POST",
            route: "{p}/auth/login",
            status: 500,
            causes: vec!["login failed".into(), "D1: disk I/O error for bob@example.org".into()],
            release: "edge-auth@0.1.0",
            environment: "test",
            timestamp_seconds: 1_800_000_000.0,
        };
        let envelope = envelope("https://k@h/1", &report);
        let lines: Vec<&str> = envelope.lines().collect();
        assert_eq!(lines.len(), 3);
        let item: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(item["length"], lines[2].len());
        let event: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(event["tags"]["request_id"], "req-1");
        assert_eq!(event["release"], "edge-auth@0.1.0");
        assert_eq!(event["exception"]["values"].as_array().unwrap().len(), 2);
        assert!(!lines[2].contains("bob@"), "{}", lines[2]);
    }
}
