//! What a counter is asked to do, and its whole state: one per key (a Durable Object in
//! the Worker, a map entry in the native tests' limiter).

use serde::Serialize;
use serde_json::{json, Value};

use super::gcra::{Bucket, Policy};
use super::lockout::{Gate, Lockout, LockoutPolicy};
use super::wire::{flag, instant, lockout_policy, number, object, policy, whole};

/// What a counter is asked to do; one counter (Durable Object) per key. On the wire it is
/// one JSON object named by `op`: `{"op": "take", "policy": {"limit": 10, "window_seconds":
/// 60}}` (`to_json`, `from_json`; written by hand, not derived: serde's internally tagged
/// form buffers every field through its generic `Content` and costs the bundle 17 KB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Take {
        policy: Policy,
    },
    /// Takes a token of the account's login limit, then reserves a password check: one
    /// round trip for both, since they share the account's counter.
    BeginLogin {
        policy: LockoutPolicy,
        limit: Policy,
    },
    /// Takes up to `tokens` tokens at once, for one isolate to spend (an approximate limit).
    Lease {
        policy: Policy,
        tokens: u32,
    },
    /// Ends the account's lockout streak after a right password.
    LoginSucceeded,
    /// Takes back the last admitted attempt: right, but the sign-in waits for a second factor.
    LoginRefunded {
        policy: LockoutPolicy,
    },
    /// Answers `true` and changes nothing: the health check.
    Ping,
}

impl Command {
    pub fn to_json(&self) -> String {
        let policy = |p: &Policy| json!({ "limit": p.limit, "window_seconds": p.window_seconds });
        let lockout = |p: &LockoutPolicy| json!({ "free_attempts": p.free_attempts, "base_seconds": p.base_seconds, "max_seconds": p.max_seconds });
        let value = match self {
            Command::Take { policy: p } => json!({ "op": "take", "policy": policy(p) }),
            Command::BeginLogin { policy: p, limit } => {
                json!({ "op": "begin_login", "policy": lockout(p), "limit": policy(limit) })
            }
            Command::Lease { policy: p, tokens } => json!({ "op": "lease", "policy": policy(p), "tokens": tokens }),
            Command::LoginSucceeded => json!({ "op": "login_succeeded" }),
            Command::LoginRefunded { policy: p } => json!({ "op": "login_refunded", "policy": lockout(p) }),
            Command::Ping => json!({ "op": "ping" }),
        };
        value.to_string()
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let command = value.as_object().ok_or("a command is an object")?;
        let policy = |name: &str| policy(object(command, name)?);
        let lockout = || lockout_policy(object(command, "policy")?);
        match command.get("op").and_then(Value::as_str) {
            Some("take") => Ok(Command::Take {
                policy: policy("policy")?,
            }),
            Some("begin_login") => Ok(Command::BeginLogin {
                policy: lockout()?,
                limit: policy("limit")?,
            }),
            Some("lease") => Ok(Command::Lease {
                policy: policy("policy")?,
                tokens: number(command, "tokens")?,
            }),
            Some("login_succeeded") => Ok(Command::LoginSucceeded),
            Some("login_refunded") => Ok(Command::LoginRefunded { policy: lockout()? }),
            Some("ping") => Ok(Command::Ping),
            other => Err(format!("unknown op {other:?}")),
        }
    }
}

/// A counter's whole persisted state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterState {
    pub bucket: Bucket,
    pub lockout: Lockout,
    /// After this instant the state is worth nothing and is deleted (by an alarm).
    pub drop_at_ms: i64,
}

impl CounterState {
    /// Applies `command` at `now_ms` and answers the reply as JSON.
    pub fn apply(&mut self, command: Command, now_ms: i64) -> serde_json::Value {
        let reply = match command {
            Command::Take { policy } => serde_json::to_value(self.bucket.take(policy, now_ms)),
            Command::Lease { policy, tokens } => serde_json::to_value(self.bucket.take_many(policy, now_ms, tokens)),
            Command::BeginLogin { policy, limit } => {
                let decision = self.bucket.take(limit, now_ms);
                let gate = if decision.allowed {
                    self.lockout.begin(&policy, now_ms)
                } else {
                    Gate::Blocked {
                        retry_after_seconds: decision.retry_after_seconds,
                    }
                };
                self.drop_at_ms = self.drop_at_ms.max(now_ms + policy.forget_after_ms());
                serde_json::to_value(gate)
            }
            Command::LoginSucceeded => {
                self.lockout.succeed();
                Ok(serde_json::Value::Bool(true))
            }
            Command::LoginRefunded { policy } => {
                self.lockout.refund(&policy);
                Ok(serde_json::Value::Bool(true))
            }
            Command::Ping => Ok(serde_json::Value::Bool(true)),
        };
        self.drop_at_ms = self
            .drop_at_ms
            .max(self.bucket.idle_at_ms())
            .max(self.lockout.blocked_until_ms);
        reply.expect("replies serialise")
    }
}

impl CounterState {
    /// The state as an object stores it (`serde_json::to_string` of it).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let map = whole(&value)?;
        let lockout = object(map, "lockout")?;
        Ok(CounterState {
            bucket: Bucket {
                tat_ms: instant(object(map, "bucket")?, "tat_ms")?,
            },
            lockout: Lockout {
                attempts: number(lockout, "attempts")?,
                blocked_until_ms: instant(lockout, "blocked_until_ms")?,
                last_attempt_ms: instant(lockout, "last_attempt_ms")?,
                notified: flag(lockout, "notified")?,
            },
            drop_at_ms: instant(map, "drop_at_ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;
    #[test]
    fn commands_round_trip_and_keep_the_state_until_it_is_worthless() {
        let command = Command::from_json(r#"{"op":"take","policy":{"limit":2,"window_seconds":10}}"#).unwrap();
        let mut state = CounterState::default();
        assert_eq!(state.apply(command, T0)["allowed"], true);
        assert_eq!(state.drop_at_ms, T0 + 5_000);
        let mut login = CounterState::default();
        let begin = Command::BeginLogin {
            policy: LockoutPolicy::default(),
            limit: Policy::new(1, 60),
        };
        assert_eq!(
            login.apply(begin, T0),
            serde_json::json!({ "Open": { "notify_on_failure": false } })
        );
        assert_eq!(login.drop_at_ms, T0 + LockoutPolicy::default().forget_after_ms());
        assert_eq!(
            login.apply(begin, T0),
            serde_json::json!({ "Blocked": { "retry_after_seconds": 60 } }),
            "the account's login limit blocks before the lockout counts"
        );
        assert_eq!(login.lockout.attempts, 1);
        assert_eq!(login.apply(Command::LoginSucceeded, T0), serde_json::json!(true));
        assert_eq!(login.lockout, Lockout::default());
        let lease =
            Command::from_json(r#"{"op":"lease","policy":{"limit":20,"window_seconds":60},"tokens":5}"#).unwrap();
        let mut api = CounterState::default();
        let reply = api.apply(lease, T0);
        assert_eq!(
            (reply["granted"].as_u64(), reply["decision"]["remaining"].as_u64()),
            (Some(5), Some(15))
        );
        assert_eq!(api.drop_at_ms, T0 + 15_000, "kept until the five are back");
    }

    #[test]
    fn commands_keep_the_wire_form_of_the_derived_one_and_refuse_what_is_not_one() {
        let policy = Policy::new(10, 60);
        let lockout = LockoutPolicy::default();
        // The form serde's `#[serde(tag = "op", rename_all = "snake_case")]` wrote: objects
        // of a Worker still running the code before this read what it sends, and back.
        let wire = [
            (
                Command::Take { policy },
                r#"{"op":"take","policy":{"limit":10,"window_seconds":60}}"#,
            ),
            (
                Command::BeginLogin {
                    policy: lockout,
                    limit: policy,
                },
                r#"{"limit":{"limit":10,"window_seconds":60},"op":"begin_login","policy":{"base_seconds":30,"free_attempts":5,"max_seconds":3600}}"#,
            ),
            (
                Command::Lease { policy, tokens: 7 },
                r#"{"op":"lease","policy":{"limit":10,"window_seconds":60},"tokens":7}"#,
            ),
            (Command::LoginSucceeded, r#"{"op":"login_succeeded"}"#),
            (
                Command::LoginRefunded { policy: lockout },
                r#"{"op":"login_refunded","policy":{"base_seconds":30,"free_attempts":5,"max_seconds":3600}}"#,
            ),
            (Command::Ping, r#"{"op":"ping"}"#),
        ];
        for (command, text) in wire {
            assert_eq!(command.to_json(), text);
            assert_eq!(Command::from_json(text), Ok(command));
        }
        let refused = [
            "",
            "[]",
            r#"{"op":"take"}"#,
            r#"{"op":"drop_all"}"#,
            r#"{"policy":{"limit":1,"window_seconds":1}}"#,
            r#"{"op":"take","policy":{"limit":-1,"window_seconds":60}}"#,
            r#"{"op":"take","policy":{"limit":4294967296,"window_seconds":60}}"#,
            r#"{"op":"lease","policy":{"limit":1,"window_seconds":1},"tokens":"5"}"#,
            r#"{"op":"begin_login","policy":{"free_attempts":5},"limit":{"limit":1,"window_seconds":1}}"#,
        ];
        for text in refused {
            assert!(Command::from_json(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_state_reads_back_what_it_wrote_and_refuses_what_is_not_one() {
        let state = CounterState {
            bucket: Bucket {
                tat_ms: 1_800_000_000_123,
            },
            lockout: Lockout {
                attempts: 7,
                blocked_until_ms: 1_800_000_060_000,
                last_attempt_ms: 1_800_000_000_000,
                notified: true,
            },
            drop_at_ms: 1_800_007_200_000,
        };
        assert_eq!(
            CounterState::from_json(&serde_json::to_string(&state).unwrap()),
            Ok(state)
        );
        for text in ["", "{}", r#"{"bucket":{"tat_ms":1},"lockout":{},"drop_at_ms":0}"#] {
            assert!(CounterState::from_json(text).is_err(), "{text:?}");
        }
    }
}
