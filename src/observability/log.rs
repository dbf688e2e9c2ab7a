//! Log lines as JSON objects, written straight into one string: no `serde_json::Value`
//! tree, no map, one allocation that grows once or twice. The request line is what every
//! answer costs when `LOG_REQUESTS` asks for it, so it is built field by field.

use std::fmt::Write;

/// A JSON object under construction: `{"level":"info", ...}`.
pub struct JsonLine(String);

impl JsonLine {
    pub fn new(level: &str) -> Self {
        let mut line = String::with_capacity(256);
        line.push_str("{\"level\":");
        push_string(&mut line, level);
        Self(line)
    }

    fn key(&mut self, key: &str) {
        self.0.push(',');
        push_string(&mut self.0, key);
        self.0.push(':');
    }

    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.0, value);
        self
    }

    /// `null` when absent.
    pub fn opt_str(mut self, key: &str, value: Option<&str>) -> Self {
        self.key(key);
        match value {
            Some(value) => push_string(&mut self.0, value),
            None => self.0.push_str("null"),
        }
        self
    }

    pub fn num(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        let _ = write!(self.0, "{value}");
        self
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// `value` as a JSON string, quotes included (RFC 8259: `"`, `\` and control characters
/// escaped; everything else as it is, UTF-8).
fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, byte) in value.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[plain_from..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escaped);
        }
        plain_from = i + 1;
    }
    out.push_str(&value[plain_from..]);
    out.push('"');
}

/// What the request log line says about one answer.
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub duration_ms: u64,
    pub db_round_trips: u32,
    pub user_id: Option<&'a str>,
    pub outcome: &'a str,
}

impl RequestLine<'_> {
    pub fn render(&self) -> String {
        JsonLine::new("info")
            .str("request_id", self.request_id)
            .str("method", self.method)
            .str("route", self.route)
            .num("status", self.status.into())
            .num("duration_ms", self.duration_ms)
            .num("db_round_trips", self.db_round_trips.into())
            .opt_str("user_id", self.user_id)
            .str("outcome", self.outcome)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_is_the_json_object_it_always_was() {
        let line = RequestLine {
            request_id: "trace-1",
            method: "GET",
            route: "{p}/auth/me",
            status: 200,
            duration_ms: 12,
            db_round_trips: 1,
            user_id: Some("3f0c"),
            outcome: "ok",
        };
        let rendered = line.render();
        assert!(rendered.contains("\"request_id\":\"trace-1\""), "{rendered}");
        let parsed: serde_json::Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "level": "info", "request_id": "trace-1", "method": "GET", "route": "{p}/auth/me",
                "status": 200, "duration_ms": 12, "db_round_trips": 1, "user_id": "3f0c", "outcome": "ok",
            })
        );
        let anonymous = RequestLine { user_id: None, ..line }.render();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&anonymous).unwrap()["user_id"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_would() {
        for value in [
            "plain",
            "quote \" and \\ back",
            "new\nline\ttab\r",
            "\u{1}\u{1f} controls",
            "é ünïcode ✓",
            "",
        ] {
            let rendered = JsonLine::new("warn").str("v", value).finish();
            let parsed: serde_json::Value = serde_json::from_str(&rendered).unwrap();
            assert_eq!(parsed["v"], value, "{rendered}");
            assert_eq!(parsed["level"], "warn");
        }
    }
}
