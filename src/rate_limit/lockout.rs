//! The login lockout: free attempts, then an exponential backoff; a success ends the streak.

use serde::Serialize;

use super::gcra::ceil_seconds;

/// Login lockout: the first `free_attempts` attempts in a streak are free; each further
/// attempt waits `base_seconds`, doubling, at most `max_seconds`. A success ends the streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Lockout {
    /// Attempts since the last success.
    pub attempts: u32,
    pub blocked_until_ms: i64,
    pub last_attempt_ms: i64,
    /// Whether the owner was told of this streak's lockout.
    pub notified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

    /// Takes back the attempt `begin` last admitted: its secret was right, but the sign-in
    /// is not complete (a second factor is due), so it is neither a failure nor the end of
    /// the streak. A wait it started goes (an attempt is admitted only while none is in
    /// force, so a wait in force now was started by it), and so does the owner's notice
    /// when the streak is back within its free attempts.
    pub fn refund(&mut self, policy: &LockoutPolicy) {
        if self.attempts > policy.free_attempts {
            self.blocked_until_ms = 0;
        }
        self.attempts = self.attempts.saturating_sub(1);
        if self.attempts <= policy.free_attempts {
            self.notified = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Gate = Gate::Open {
        notify_on_failure: false,
    };

    const T0: i64 = 1_800_000_000_000;
    #[test]
    fn a_refunded_attempt_neither_counts_nor_ends_the_streak() {
        let policy = LockoutPolicy {
            free_attempts: 3,
            base_seconds: 60,
            max_seconds: 60,
        };
        let mut lockout = Lockout::default();
        for _ in 0..2 {
            assert_eq!(lockout.begin(&policy, T0), OPEN);
        }
        assert_eq!(lockout.begin(&policy, T0), OPEN);
        lockout.refund(&policy);
        assert_eq!(lockout.attempts, 2, "the two failures stay");
        assert_eq!(lockout.begin(&policy, T0), OPEN);
        assert_eq!(
            lockout.begin(&policy, T0),
            Gate::Open {
                notify_on_failure: true
            },
            "the fourth attempt starts the wait"
        );
        lockout.refund(&policy);
        assert_eq!(
            (lockout.attempts, lockout.blocked_until_ms, lockout.notified),
            (3, 0, false)
        );
        assert_eq!(
            lockout.begin(&policy, T0 + 1),
            Gate::Open {
                notify_on_failure: true
            },
            "no wait in force: the next failure starts it, and tells"
        );
        assert!(matches!(lockout.begin(&policy, T0 + 2), Gate::Blocked { .. }));
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
    fn thirty_wrong_logins_within_a_minute_always_meet_a_block() {
        let policy = LockoutPolicy::default();
        let mut lockout = Lockout::default();
        let blocked = (0..30)
            .filter(|i| matches!(lockout.begin(&policy, T0 + i * 2_000), Gate::Blocked { .. }))
            .count();
        assert!(blocked > 0);
    }
}
