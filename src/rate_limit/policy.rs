//! Rate-limit arithmetic, as data and pure functions: a token bucket per key (GCRA, so a
//! burst never doubles at a window edge) and the login lockout with exponential backoff.

use serde::{Deserialize, Serialize};

/// `limit` requests per `window_seconds`, refilled smoothly: a full burst of `limit`, then
/// one every `window_seconds / limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub limit: u32,
    pub window_seconds: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not LIMIT/SECONDS with both positive, e.g. 10/60")]
pub struct InvalidPolicy(String);

impl Policy {
    pub const fn new(limit: u32, window_seconds: u32) -> Self {
        Self { limit, window_seconds }
    }

    /// `"10/60"`: ten per minute.
    pub fn parse(raw: &str) -> Result<Self, InvalidPolicy> {
        let bad = || InvalidPolicy(raw.to_owned());
        let (limit, window) = raw.trim().split_once('/').ok_or_else(bad)?;
        let policy = Self::new(
            limit.trim().parse().map_err(|_| bad())?,
            window.trim().parse().map_err(|_| bad())?,
        );
        (policy.limit > 0 && policy.window_seconds > 0)
            .then_some(policy)
            .ok_or_else(bad)
    }

    fn window_ms(self) -> i64 {
        i64::from(self.window_seconds) * 1000
    }

    /// Time between two tokens.
    fn interval_ms(self) -> i64 {
        (self.window_ms() / i64::from(self.limit)).max(1)
    }
}

/// A bucket's whole state: its theoretical arrival time (GCRA), in Unix milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub tat_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the next request would be allowed (0 when allowed).
    pub retry_after_seconds: u32,
}

impl Bucket {
    /// Takes one token if there is one.
    pub fn take(&mut self, policy: Policy, now_ms: i64) -> Decision {
        let interval = policy.interval_ms();
        let tat = self.tat_ms.max(now_ms);
        let new_tat = tat + interval;
        let allow_at = new_tat - policy.window_ms();
        if allow_at > now_ms {
            let wait_ms = allow_at - now_ms;
            return Decision {
                allowed: false,
                limit: policy.limit,
                remaining: 0,
                retry_after_seconds: ceil_seconds(wait_ms),
            };
        }
        self.tat_ms = new_tat;
        let remaining = (now_ms - allow_at) / interval;
        Decision {
            allowed: true,
            limit: policy.limit,
            remaining: remaining as u32,
            retry_after_seconds: 0,
        }
    }

    /// When the bucket is full again and its state can be dropped.
    pub fn idle_at_ms(&self) -> i64 {
        self.tat_ms
    }
}

fn ceil_seconds(ms: i64) -> u32 {
    ((ms + 999) / 1000).max(1) as u32
}

/// Login lockout: the first `free_attempts` attempts in a streak are free; each further
/// attempt waits `base_seconds`, doubling, at most `max_seconds`. A success ends the streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutPolicy {
    pub free_attempts: u32,
    pub base_seconds: u32,
    pub max_seconds: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            base_seconds: 30,
            max_seconds: 3600,
        }
    }
}

impl LockoutPolicy {
    /// The wait imposed after the `n`-th attempt beyond the free ones (n >= 1).
    pub fn backoff_seconds(&self, n: u32) -> u32 {
        let doublings = n.saturating_sub(1).min(31);
        self.base_seconds
            .saturating_mul(1u32 << doublings)
            .min(self.max_seconds)
    }

    /// A streak with no attempt for this long is forgotten.
    pub fn forget_after_ms(&self) -> i64 {
        i64::from(self.max_seconds) * 2 * 1000
    }
}

/// Per-account login streak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    /// Attempts since the last success.
    pub attempts: u32,
    pub blocked_until_ms: i64,
    pub last_attempt_ms: i64,
    /// Whether the owner was told of this streak's lockout.
    pub notified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gate {
    /// The password may be checked. `notify_on_failure`: this attempt starts a lockout the
    /// owner has not been told of, so a wrong password here is the one to tell them about
    /// (decided now, so a failure needs no second round trip).
    Open { notify_on_failure: bool },
    /// Locked: try again after this many seconds.
    Blocked { retry_after_seconds: u32 },
}

impl Lockout {
    /// Reserves one password check. Attempts are counted before the password is known,
    /// so a hundred concurrent guesses cannot all slip through before the first failure.
    pub fn begin(&mut self, policy: &LockoutPolicy, now_ms: i64) -> Gate {
        if self.last_attempt_ms > 0 && now_ms - self.last_attempt_ms > policy.forget_after_ms() {
            *self = Self::default();
        }
        if now_ms < self.blocked_until_ms {
            return Gate::Blocked {
                retry_after_seconds: ceil_seconds(self.blocked_until_ms - now_ms),
            };
        }
        self.attempts += 1;
        self.last_attempt_ms = now_ms;
        let mut notify_on_failure = false;
        if self.attempts > policy.free_attempts {
            let wait = policy.backoff_seconds(self.attempts - policy.free_attempts);
            self.blocked_until_ms = now_ms + i64::from(wait) * 1000;
            // Once per streak; a success of this very attempt resets the streak anyway.
            notify_on_failure = !self.notified;
            self.notified = true;
        }
        Gate::Open { notify_on_failure }
    }

    /// A check begun with `begin` found the right password: the streak ends. A failure
    /// needs no call: `begin` counted it already.
    pub fn succeed(&mut self) {
        *self = Self::default();
    }
}

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
    const OPEN: Gate = Gate::Open {
        notify_on_failure: false,
    };

    #[test]
    fn policies_parse_from_limit_slash_seconds() {
        assert_eq!(Policy::parse(" 10 / 60 "), Ok(Policy::new(10, 60)));
        for bad in ["", "10", "0/60", "10/0", "-1/60", "ten/60", "10/60/2"] {
            assert!(Policy::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_burst_of_limit_passes_and_the_next_waits_one_interval() {
        let policy = Policy::new(5, 60);
        let mut bucket = Bucket::default();
        let remaining: Vec<u32> = (0..5)
            .map(|_| bucket.take(policy, T0))
            .inspect(|d| assert!(d.allowed))
            .map(|d| d.remaining)
            .collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let refused = bucket.take(policy, T0);
        assert_eq!(
            refused,
            Decision {
                allowed: false,
                limit: 5,
                remaining: 0,
                retry_after_seconds: 12
            }
        );
        assert!(!bucket.take(policy, T0 + 11_999).allowed);
        assert!(
            bucket.take(policy, T0 + 12_000).allowed,
            "one token back after window/limit"
        );
    }

    #[test]
    fn there_is_no_double_burst_at_a_window_edge() {
        let policy = Policy::new(10, 60);
        let mut bucket = Bucket::default();
        let first = (0..20).filter(|_| bucket.take(policy, T0 + 59_000).allowed).count();
        let second = (0..20).filter(|_| bucket.take(policy, T0 + 61_000).allowed).count();
        assert_eq!(first, 10);
        assert!(second <= 1, "a fixed window would allow 10 more here, got {second}");
    }

    #[test]
    fn a_full_window_of_quiet_refills_the_bucket() {
        let policy = Policy::new(3, 30);
        let mut bucket = Bucket::default();
        (0..3).for_each(|_| assert!(bucket.take(policy, T0).allowed));
        assert!(bucket.idle_at_ms() <= T0 + 30_000);
        let refilled = (0..5).filter(|_| bucket.take(policy, T0 + 30_000).allowed).count();
        assert_eq!(refilled, 3);
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let policy = LockoutPolicy::default();
        let waits: Vec<u32> = (1..=9).map(|n| policy.backoff_seconds(n)).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(policy.backoff_seconds(500), 3600);
    }

    #[test]
    fn the_lockout_admits_free_attempts_then_blocks_and_tells_once() {
        let policy = LockoutPolicy::default();
        let mut lockout = Lockout::default();
        for _ in 0..5 {
            assert_eq!(lockout.begin(&policy, T0), OPEN);
        }
        assert_eq!(
            lockout.begin(&policy, T0),
            Gate::Open {
                notify_on_failure: true
            },
            "the sixth attempt is checked, starts the lockout, and its failure tells the owner"
        );
        assert_eq!(
            lockout.begin(&policy, T0 + 1_000),
            Gate::Blocked {
                retry_after_seconds: 29
            }
        );
        assert_eq!(lockout.begin(&policy, T0 + 30_000), OPEN, "told only once per streak");
        assert_eq!(
            lockout.begin(&policy, T0 + 31_000),
            Gate::Blocked {
                retry_after_seconds: 59
            }
        );
    }

    #[test]
    fn concurrent_attempts_are_admitted_at_most_free_plus_one() {
        let policy = LockoutPolicy::default();
        let mut lockout = Lockout::default();
        let gates: Vec<Gate> = (0..100).map(|_| lockout.begin(&policy, T0)).collect();
        let admitted = gates.iter().filter(|g| matches!(g, Gate::Open { .. })).count();
        let told = gates
            .iter()
            .filter(|g| {
                matches!(
                    g,
                    Gate::Open {
                        notify_on_failure: true
                    }
                )
            })
            .count();
        assert_eq!((admitted, told), (6, 1));
    }

    #[test]
    fn a_success_resets_the_streak() {
        let policy = LockoutPolicy::default();
        let mut lockout = Lockout::default();
        (0..6).for_each(|_| assert!(matches!(lockout.begin(&policy, T0), Gate::Open { .. })));
        lockout.succeed();
        assert_eq!(lockout, Lockout::default());
        (0..5).for_each(|_| assert_eq!(lockout.begin(&policy, T0), OPEN));
        assert_eq!(
            lockout.begin(&policy, T0),
            Gate::Open {
                notify_on_failure: true
            },
            "a new streak tells its owner again"
        );
    }

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

    #[test]
    fn thirty_wrong_logins_within_a_minute_always_meet_a_block() {
        let policy = LockoutPolicy::default();
        let mut lockout = Lockout::default();
        let blocked = (0..30)
            .filter(|i| matches!(lockout.begin(&policy, T0 + i * 2_000), Gate::Blocked { .. }))
            .count();
        assert!(blocked > 0);
    }
}
