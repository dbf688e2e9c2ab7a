//! Outbound HTTP as a port: one request, one answer, within a deadline. The Worker sends
//! with `Fetch` (and aborts at the deadline); native tests answer from a fake. Flows that
//! talk to other services (an OAuth provider's token endpoint, its JWKS) see only this.

use async_trait::async_trait;

/// An outbound request. Bodies are text (JSON or a form), as every caller needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
    /// The request is abandoned (and `FetchError::Timeout` answered) after this long.
    pub timeout_ms: u32,
}

impl HttpRequest {
    /// The deadline every outbound request has unless told otherwise.
    pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
        }
    }

    /// A POST of `application/x-www-form-urlencoded` pairs.
    pub fn post_form(url: impl Into<String>, pairs: &[(&str, &str)]) -> Self {
        let body = pairs
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        Self {
            method: "POST",
            url: url.into(),
            headers: vec![("Content-Type", "application/x-www-form-urlencoded".to_owned())],
            body: Some(body),
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("no answer within {0} ms")]
    Timeout(u32),
    #[error("request failed: {0}")]
    Network(String),
}

#[async_trait(?Send)]
pub trait HttpClient {
    /// Any answer, whatever its status; `Err` only when none came (in time).
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError>;
}

/// `application/x-www-form-urlencoded` (and URL query) encoding: unreserved characters
/// as they are, space as `+`, every other byte percent-encoded.
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The decoded pairs of a query string or form body (`+` is a space); undecodable
/// percent escapes are kept as they are.
pub fn form_decode(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_encode_and_decode_round_trip() {
        let encoded = form_encode("a b&c=d/é~");
        assert_eq!(encoded, "a+b%26c%3Dd%2F%C3%A9~");
        let pairs = form_decode(&format!("x={encoded}&flag&y=%zz%4"));
        assert_eq!(
            pairs,
            [
                ("x".to_owned(), "a b&c=d/é~".to_owned()),
                ("flag".to_owned(), String::new()),
                ("y".to_owned(), "%zz%4".to_owned()),
            ]
        );
    }

    #[test]
    fn a_form_post_names_its_content_type() {
        let request = HttpRequest::post_form("https://x.test/token", &[("code", "a/b")]);
        assert_eq!(request.body.as_deref(), Some("code=a%2Fb"));
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(request.timeout_ms, 10_000);
    }
}
