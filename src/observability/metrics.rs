//! Prometheus metrics as plain data: per-request deltas (`Batch`), merged into one
//! aggregate (`Aggregate`, kept by the metrics Durable Object) and rendered as the text
//! exposition format 0.0.4.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::kernel::events::AuthEvent;

/// Upper bounds of the request-duration histogram: milliseconds, and the `le` label in
/// seconds. Durations are whole milliseconds (the Worker's clock has no finer grain), so
/// recording one is integer arithmetic and rendering formats no float.
pub const DURATION_BUCKETS: [(u64, &str); 11] = [
    (5, "0.005"),
    (10, "0.01"),
    (25, "0.025"),
    (50, "0.05"),
    (100, "0.1"),
    (250, "0.25"),
    (500, "0.5"),
    (1000, "1"),
    (2500, "2.5"),
    (5000, "5"),
    (10000, "10"),
];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// Per bucket of `DURATION_BUCKETS` (not cumulative), then +Inf.
    pub buckets: Vec<u64>,
    pub sum_ms: u64,
    pub count: u64,
}

/// A whole number read from `map`, 0 when it is missing.
fn count(map: &Map<String, Value>, name: &str) -> Result<u64, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value.as_u64().ok_or_else(|| format!("`{name}` is not a whole number")),
    }
}

/// `name -> whole number`, empty when it is missing.
fn counts(map: &Map<String, Value>, name: &str) -> Result<BTreeMap<String, u64>, String> {
    entries(map, name)?
        .map(|(key, value)| match value.as_u64() {
            Some(n) => Ok((key.clone(), n)),
            None => Err(format!("`{name}.{key}` is not a whole number")),
        })
        .collect()
}

fn entries<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<impl Iterator<Item = (&'a String, &'a Value)>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None.into_iter().flatten()),
        Some(Value::Object(entries)) => Ok(Some(entries.iter()).into_iter().flatten()),
        Some(_) => Err(format!("`{name}` is not an object")),
    }
}

impl Histogram {
    /// A histogram as stored or sent, in either form: aggregates and batches written before
    /// durations were whole milliseconds carry `sum` in seconds, which is kept, not dropped.
    fn from_value(value: &Value) -> Result<Self, String> {
        let map = value.as_object().ok_or("a histogram is an object")?;
        let buckets = match map.get("buckets") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|n| n.as_u64().ok_or("`buckets` holds whole numbers"))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("`buckets` is not an array".to_owned()),
        };
        let legacy_ms = match map.get("sum") {
            None | Some(Value::Null) => 0,
            Some(seconds) => {
                let seconds = seconds.as_f64().ok_or("`sum` is not a number")?;
                (seconds * 1000.0).round().max(0.0) as u64
            }
        };
        if !map.contains_key("count") {
            return Err("`count` is missing".to_owned());
        }
        Ok(Histogram {
            buckets,
            sum_ms: count(map, "sum_ms")? + legacy_ms,
            count: count(map, "count")?,
        })
    }

    pub fn observe(&mut self, ms: u64) {
        if self.buckets.len() != DURATION_BUCKETS.len() + 1 {
            self.buckets = vec![0; DURATION_BUCKETS.len() + 1];
        }
        let slot = DURATION_BUCKETS
            .iter()
            .position(|(le, _)| ms <= *le)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[slot] += 1;
        self.sum_ms += ms;
        self.count += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.sum_ms += other.sum_ms;
        self.count += other.count;
    }
}

/// Deltas from one or more requests of one isolate; also the aggregate's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Batch {
    /// `method route status` -> count.
    pub requests: BTreeMap<String, u64>,
    /// route template -> durations.
    pub durations: BTreeMap<String, Histogram>,
    /// event -> count.
    pub events: BTreeMap<String, u64>,
}

pub type Aggregate = Batch;

impl Batch {
    /// A batch or an aggregate as JSON (`serde_json::to_string` of one); a missing part is
    /// empty.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let map = value.as_object().ok_or("a batch is an object")?;
        let durations = entries(map, "durations")?
            .map(|(route, h)| {
                Ok((
                    route.clone(),
                    Histogram::from_value(h).map_err(|e| format!("{route}: {e}"))?,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Batch {
            requests: counts(map, "requests")?,
            durations,
            events: counts(map, "events")?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.events.is_empty()
    }

    pub fn record_request(&mut self, method: &str, route: &str, status: u16, ms: u64) {
        *self.requests.entry(format!("{method} {route} {status}")).or_default() += 1;
        self.durations.entry(route.to_owned()).or_default().observe(ms);
    }

    pub fn record_event(&mut self, event: &str) {
        *self.events.entry(event.to_owned()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Batch) {
        for (key, n) in &other.requests {
            *self.requests.entry(key.clone()).or_default() += n;
        }
        for (route, histogram) in &other.durations {
            self.durations.entry(route.clone()).or_default().merge(histogram);
        }
        for (event, n) in &other.events {
            *self.events.entry(event.clone()).or_default() += n;
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, version: &str) -> String {
        let mut out = String::new();
        out.push_str("# HELP http_requests_total HTTP requests answered, by method, route template and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for (key, n) in &self.requests {
            let mut parts = key.splitn(3, ' ');
            let (method, route, status) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let _ = writeln!(
                out,
                "http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {n}",
                escape(method),
                escape(route),
                escape(status)
            );
        }
        out.push_str("# HELP http_request_duration_seconds Time from request to response inside the Worker, by route template.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (route, h) in &self.durations {
            let route = escape(route);
            let mut cumulative = 0;
            for (i, (_, le)) in DURATION_BUCKETS.iter().enumerate() {
                cumulative += h.buckets.get(i).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{route=\"{route}\"}} {}.{:03}",
                h.sum_ms / 1000,
                h.sum_ms % 1000
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP auth_events_total Authentication events, by kind.\n");
        out.push_str("# TYPE auth_events_total counter\n");
        for (event, _) in AuthEvent::NAMES {
            let n = self.events.get(*event).copied().unwrap_or(0);
            let _ = writeln!(out, "auth_events_total{{event=\"{event}\"}} {n}");
        }
        out.push_str("# HELP build_info The running version; always 1.\n# TYPE build_info gauge\n");
        let _ = writeln!(out, "build_info{{version=\"{}\"}} 1", escape(version));
        out
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_merge_and_render_prometheus_text() {
        let mut a = Batch::default();
        a.record_request("GET", "/health", 200, 3);
        a.record_event("login_failed");
        let mut b = Batch::default();
        b.record_request("GET", "/health", 200, 200);
        b.record_request("POST", "{p}/auth/login", 401, 1060);
        b.record_event("login_failed");
        let mut total = Aggregate::default();
        total.merge(&a);
        total.merge(&b);
        let text = total.render("1.2.3");
        for line in [
            "http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2",
            "http_requests_total{method=\"POST\",route=\"{p}/auth/login\",status=\"401\"} 1",
            "http_request_duration_seconds_bucket{route=\"/health\",le=\"0.005\"} 1",
            "http_request_duration_seconds_bucket{route=\"/health\",le=\"0.25\"} 2",
            "http_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 2",
            "http_request_duration_seconds_count{route=\"/health\"} 2",
            "http_request_duration_seconds_sum{route=\"/health\"} 0.203",
            "http_request_duration_seconds_bucket{route=\"{p}/auth/login\",le=\"1\"} 0",
            "http_request_duration_seconds_bucket{route=\"{p}/auth/login\",le=\"2.5\"} 1",
            "http_request_duration_seconds_sum{route=\"{p}/auth/login\"} 1.060",
            "auth_events_total{event=\"login_failed\"} 2",
            "auth_events_total{event=\"registration\"} 0",
            "build_info{version=\"1.2.3\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn a_histogram_stored_with_a_sum_in_seconds_keeps_it() {
        let old = r#"{"buckets":[1,0,0,0,0,0,0,0,0,0,0,1],"sum":12.5,"count":2}"#;
        let histogram = Histogram::from_value(&serde_json::from_str(old).unwrap()).unwrap();
        assert_eq!(histogram.sum_ms, 12_500);
        assert_eq!(histogram.count, 2);
    }

    #[test]
    fn batches_round_trip_as_json() {
        let mut batch = Batch::default();
        batch.record_request("GET", "/", 200, 1);
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(Batch::from_json(&json).unwrap(), batch);
        assert_eq!(Batch::from_json("{}").unwrap(), Batch::default());
        for bad in [
            "[]",
            r#"{"requests":{"GET / 200":-1}}"#,
            r#"{"durations":{"/":{"buckets":[1]}}}"#,
            r#"{"events":[]}"#,
        ] {
            assert!(Batch::from_json(bad).is_err(), "{bad}");
        }
    }
}
