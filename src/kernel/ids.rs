//! Identifiers and instants every capability shares.

/// Unix time in seconds; every stored instant uses it.
pub type UnixSeconds = i64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(pub String);

/// What the flows read the time from; the Worker's clock in production, a fixed one in tests.
pub trait Clock {
    fn now(&self) -> UnixSeconds;
}

/// `2026-11-24T03:00:00Z`, written by hand: chrono's format strings would add a parser to the Worker.
pub fn rfc3339(seconds: UnixSeconds) -> String {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_489_200), "2026-11-24T03:00:00Z");
    }
}
