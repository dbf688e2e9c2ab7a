//! The counters' JSON, read by hand: the parts of the commands and of the state an object
//! stores (`counter`), and the replies the limiter reads back (`Reply`). In the form serde's derives
//! wrote, so objects and Workers of the code before this read what these write, and back;
//! without the derives' per-type deserializers, which cost the bundle about 10 KB.

use serde_json::{Map, Value};

use super::gcra::{Decision, Lease, Policy};
use super::lockout::{Gate, LockoutPolicy};

pub(super) fn object<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a Map<String, Value>, String> {
    map.get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("`{name}` is not an object"))
}

pub(super) fn number(map: &Map<String, Value>, name: &str) -> Result<u32, String> {
    map.get(name)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("`{name}` is not a whole number of 32 bits"))
}

pub(super) fn instant(map: &Map<String, Value>, name: &str) -> Result<i64, String> {
    map.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("`{name}` is not a whole number"))
}

pub(super) fn flag(map: &Map<String, Value>, name: &str) -> Result<bool, String> {
    map.get(name)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("`{name}` is not a boolean"))
}

pub(super) fn whole(value: &Value) -> Result<&Map<String, Value>, String> {
    value.as_object().ok_or_else(|| "not an object".to_owned())
}

pub(super) fn policy(map: &Map<String, Value>) -> Result<Policy, String> {
    Ok(Policy::new(number(map, "limit")?, number(map, "window_seconds")?))
}

pub(super) fn lockout_policy(map: &Map<String, Value>) -> Result<LockoutPolicy, String> {
    Ok(LockoutPolicy {
        free_attempts: number(map, "free_attempts")?,
        base_seconds: number(map, "base_seconds")?,
        max_seconds: number(map, "max_seconds")?,
    })
}

/// What a counter answers, as the limiter reads it back.
pub trait Reply: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl Reply for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        value.as_bool().ok_or_else(|| "not a boolean".to_owned())
    }
}

fn decision(map: &Map<String, Value>) -> Result<Decision, String> {
    Ok(Decision {
        allowed: flag(map, "allowed")?,
        limit: number(map, "limit")?,
        remaining: number(map, "remaining")?,
        retry_after_seconds: number(map, "retry_after_seconds")?,
    })
}

impl Reply for Decision {
    fn from_value(value: &Value) -> Result<Self, String> {
        decision(whole(value)?)
    }
}

impl Reply for Lease {
    fn from_value(value: &Value) -> Result<Self, String> {
        let map = whole(value)?;
        Ok(Lease {
            granted: number(map, "granted")?,
            decision: decision(object(map, "decision")?)?,
        })
    }
}

/// `{"Open": {"notify_on_failure": b}}` or `{"Blocked": {"retry_after_seconds": n}}`.
impl Reply for Gate {
    fn from_value(value: &Value) -> Result<Self, String> {
        let map = whole(value)?;
        if let Ok(open) = object(map, "Open") {
            return Ok(Gate::Open {
                notify_on_failure: flag(open, "notify_on_failure")?,
            });
        }
        let blocked = object(map, "Blocked").map_err(|_| "neither `Open` nor `Blocked`".to_owned())?;
        Ok(Gate::Blocked {
            retry_after_seconds: number(blocked, "retry_after_seconds")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_state_read_back_what_serde_writes() {
        let decision = Decision {
            allowed: false,
            limit: 10,
            remaining: 0,
            retry_after_seconds: 6,
        };
        let lease = Lease { granted: 3, decision };
        assert_eq!(
            Decision::from_value(&serde_json::to_value(decision).unwrap()),
            Ok(decision)
        );
        assert_eq!(Lease::from_value(&serde_json::to_value(lease).unwrap()), Ok(lease));
        for gate in [
            Gate::Open {
                notify_on_failure: true,
            },
            Gate::Blocked {
                retry_after_seconds: 30,
            },
        ] {
            assert_eq!(Gate::from_value(&serde_json::to_value(gate).unwrap()), Ok(gate));
        }
        assert_eq!(bool::from_value(&Value::Bool(true)), Ok(true));
    }

    #[test]
    fn what_is_not_a_reply_or_a_state_is_refused() {
        for text in [
            r#"{"allowed":true,"limit":1,"remaining":0}"#,
            r#"{"allowed":1,"limit":1,"remaining":0,"retry_after_seconds":0}"#,
            "[]",
            "null",
        ] {
            assert!(
                Decision::from_value(&serde_json::from_str(text).unwrap()).is_err(),
                "{text}"
            );
        }
        for text in [
            r#"{"Closed":{}}"#,
            r#"{"Open":{}}"#,
            r#"{"Blocked":{"retry_after_seconds":-1}}"#,
            r#""Open""#,
        ] {
            assert!(
                Gate::from_value(&serde_json::from_str(text).unwrap()).is_err(),
                "{text}"
            );
        }
    }
}
