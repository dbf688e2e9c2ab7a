//! Token buckets by GCRA: `limit` requests per `window_seconds`, refilled smoothly, so a
//! burst never doubles at a window edge.

use serde::Serialize;

/// one every `window_seconds / limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub tat_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the next request would be allowed (0 when allowed).
    pub retry_after_seconds: u32,
}

/// Tokens taken at once for one isolate to spend (`granted`, 0 when refused), and the
/// bucket's answer after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub granted: u32,
    pub decision: Decision,
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

    /// Takes up to `want` tokens at once (at least one, or none and a refusal): what a
    /// lease of tokens for one isolate takes. `remaining` counts what is left after them.
    pub fn take_many(&mut self, policy: Policy, now_ms: i64, want: u32) -> Lease {
        let interval = policy.interval_ms();
        let tat = self.tat_ms.max(now_ms);
        let available = ((now_ms + policy.window_ms() - tat) / interval).max(0);
        let granted = available.min(i64::from(want.max(1)));
        if granted == 0 {
            let allow_at = tat + interval - policy.window_ms();
            return Lease {
                granted: 0,
                decision: Decision {
                    allowed: false,
                    limit: policy.limit,
                    remaining: 0,
                    retry_after_seconds: ceil_seconds(allow_at - now_ms),
                },
            };
        }
        self.tat_ms = tat + granted * interval;
        Lease {
            granted: granted as u32,
            decision: Decision {
                allowed: true,
                limit: policy.limit,
                remaining: ((now_ms + policy.window_ms() - self.tat_ms) / interval) as u32,
                retry_after_seconds: 0,
            },
        }
    }

    /// When the bucket is full again and its state can be dropped.
    pub fn idle_at_ms(&self) -> i64 {
        self.tat_ms
    }
}

pub(super) fn ceil_seconds(ms: i64) -> u32 {
    ((ms + 999) / 1000).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;
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
    fn taking_many_is_taking_one_that_many_times() {
        let policy = Policy::new(10, 60);
        let (mut one, mut many) = (Bucket::default(), Bucket::default());
        let singles: Vec<Decision> = (0..4).map(|_| one.take(policy, T0)).collect();
        let lease = many.take_many(policy, T0, 4);
        assert_eq!((lease.granted, lease.decision), (4, singles[3]));
        assert_eq!(one, many);
        let rest = many.take_many(policy, T0, 100);
        assert_eq!((rest.granted, rest.decision.remaining), (6, 0), "only what is there");
        let mut copy = many;
        let refused = many.take_many(policy, T0 + 1_000, 3);
        assert_eq!(refused.granted, 0);
        assert_eq!(
            refused.decision,
            copy.take(policy, T0 + 1_000),
            "refused as a single take is"
        );
        assert_eq!(
            many.take_many(policy, T0 + 6_000, 3).granted,
            1,
            "one interval later, one token"
        );
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
}
