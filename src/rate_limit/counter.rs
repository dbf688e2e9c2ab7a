//! What a counter is asked to do, and its whole state: one per key (a Durable Object in
//! the Worker, a map entry in the native tests' limiter).

use serde::{Deserialize, Serialize};

use super::gcra::{Bucket, Policy};
use super::lockout::{Gate, Lockout, LockoutPolicy};

/// What a counter is asked to do; one counter (Durable Object) per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
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
    /// Ends the account's lockout streak after a right password.
    LoginSucceeded,
    /// Takes back the last admitted attempt: right, but the sign-in waits for a second factor.
    LoginRefunded {
        policy: LockoutPolicy,
    },
    /// Answers `true` and changes nothing: the health check.
    Ping,
}

/// A counter's whole persisted state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;
    #[test]
    fn commands_round_trip_and_keep_the_state_until_it_is_worthless() {
        let command: Command =
            serde_json::from_str(r#"{"op":"take","policy":{"limit":2,"window_seconds":10}}"#).unwrap();
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
    }
}
