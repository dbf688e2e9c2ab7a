//! Approximate limits: tokens taken from the counter in leases and spent in the isolate, so
//! most requests of a busy subject need no Durable Object call (and no storage write).
//!
//! The counter stays the authority: every token spent here was taken from it first, so a
//! subject never gets more than its bucket gives, except that tokens leased before a
//! refill may still be spent after it. That is bounded by the stock an isolate may hold
//! (`lease_size`, a tenth of the limit) and by its freshness (`LEASE_SECONDS`): at most one
//! lease beyond the limit per isolate that serves the subject. Tokens an isolate does not
//! spend are lost to the subject (it gets fewer, never more). Concurrent misses of one
//! subject lease one token each, beyond the first, so a burst leaves at most one lease in
//! stock.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::{Decision, Lease, Policy};

/// A lease is a tenth of the limit, between 1 and this many tokens.
pub const MAX_LEASE: u32 = 64;
/// Leased tokens are spent within this many seconds (at most the limit's window), or dropped.
pub const LEASE_SECONDS: i64 = 10;
/// Past this many subjects in stock, spent and stale ones are dropped.
const MAX_SUBJECTS: usize = 4096;

#[derive(Debug, Clone, Copy, Default)]
struct Stock {
    tokens: u32,
    /// What the counter had left after the last lease.
    remaining_at_source: u32,
    limit: u32,
    /// Unix seconds after which the tokens are dropped.
    fresh_until: i64,
    /// Leases asked for and not answered yet.
    pending: u32,
}

/// Per isolate: the tokens leased for each (limit, subject) key.
#[derive(Debug, Default)]
pub struct Allowances(RefCell<BTreeMap<String, Stock>>);

impl Allowances {
    /// The tokens one lease asks for: a tenth of the limit, at least 1, at most `MAX_LEASE`.
    pub fn lease_size(policy: Policy) -> u32 {
        (policy.limit / 10).clamp(1, MAX_LEASE)
    }

    /// One token from the stock of `key`, if a fresh one is left.
    pub fn take(&self, key: &str, now: i64) -> Option<Decision> {
        let mut stock = self.0.borrow_mut();
        let entry = stock.get_mut(key).filter(|s| s.tokens > 0 && now < s.fresh_until)?;
        entry.tokens -= 1;
        Some(Decision {
            allowed: true,
            limit: entry.limit,
            remaining: entry.remaining_at_source.saturating_add(entry.tokens),
            retry_after_seconds: 0,
        })
    }

    /// How many tokens to lease for `key` now: a whole lease, or 1 while another lease for
    /// it is on its way. Answer with `keep` or `abandon`.
    pub fn begin_lease(&self, key: &str, policy: Policy) -> u32 {
        let mut stock = self.0.borrow_mut();
        let entry = stock.entry(key.to_owned()).or_default();
        entry.pending += 1;
        if entry.pending > 1 {
            1
        } else {
            Self::lease_size(policy)
        }
    }

    /// The lease did not come (the counter could not be reached).
    pub fn abandon(&self, key: &str) {
        if let Some(entry) = self.0.borrow_mut().get_mut(key) {
            entry.pending = entry.pending.saturating_sub(1);
        }
    }

    /// Spends one token of `lease` on this request, keeps the rest, and answers this
    /// request's decision (the counter's refusal when it granted none).
    pub fn keep(&self, key: &str, lease: Lease, policy: Policy, now: i64) -> Decision {
        let mut stock = self.0.borrow_mut();
        if stock.len() > MAX_SUBJECTS {
            stock.retain(|_, s| s.pending > 0 || (s.tokens > 0 && now < s.fresh_until));
        }
        let entry = stock.entry(key.to_owned()).or_default();
        entry.pending = entry.pending.saturating_sub(1);
        if lease.granted == 0 {
            return lease.decision;
        }
        if now >= entry.fresh_until {
            entry.tokens = 0;
        }
        entry.tokens += lease.granted - 1;
        entry.remaining_at_source = lease.decision.remaining;
        entry.limit = policy.limit;
        entry.fresh_until = now + LEASE_SECONDS.min(i64::from(policy.window_seconds));
        Decision {
            allowed: true,
            limit: policy.limit,
            remaining: entry.remaining_at_source.saturating_add(entry.tokens),
            retry_after_seconds: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::Bucket;

    const NOW: i64 = 1_800_000_000;

    /// `n` requests through the stock, leasing from `bucket` on a miss; the decisions.
    fn spend(allowances: &Allowances, bucket: &mut Bucket, policy: Policy, now: i64, n: usize) -> Vec<Decision> {
        (0..n)
            .map(|_| {
                allowances.take("k", now).unwrap_or_else(|| {
                    let want = allowances.begin_lease("k", policy);
                    let lease = bucket.take_many(policy, now * 1000, want);
                    allowances.keep("k", lease, policy, now)
                })
            })
            .collect()
    }

    #[test]
    fn one_isolate_serves_exactly_the_limit_with_a_lease_per_tenth() {
        let policy = Policy::new(20, 60);
        assert_eq!(Allowances::lease_size(policy), 2);
        let (allowances, mut bucket) = (Allowances::default(), Bucket::default());
        let decisions = spend(&allowances, &mut bucket, policy, NOW, 21);
        let remaining: Vec<u32> = decisions.iter().take(20).map(|d| d.remaining).collect();
        assert_eq!(
            remaining,
            (0..20).rev().collect::<Vec<u32>>(),
            "as exact as the counter alone"
        );
        assert!(decisions[..20].iter().all(|d| d.allowed));
        assert!(!decisions[20].allowed && decisions[20].retry_after_seconds == 3);
    }

    #[test]
    fn leases_are_a_tenth_of_the_limit_within_bounds() {
        assert_eq!(Allowances::lease_size(Policy::new(5, 60)), 1);
        assert_eq!(Allowances::lease_size(Policy::new(120, 60)), 12);
        assert_eq!(Allowances::lease_size(Policy::new(1_000_000, 1)), MAX_LEASE);
    }

    #[test]
    fn stale_tokens_are_dropped_never_spent() {
        let policy = Policy::new(120, 60);
        let (allowances, mut bucket) = (Allowances::default(), Bucket::default());
        spend(&allowances, &mut bucket, policy, NOW, 1);
        assert!(allowances.take("k", NOW + LEASE_SECONDS - 1).is_some());
        assert!(
            allowances.take("k", NOW + LEASE_SECONDS).is_none(),
            "stale after LEASE_SECONDS"
        );
    }

    #[test]
    fn concurrent_misses_lease_one_token_beyond_the_first_lease() {
        let policy = Policy::new(120, 60);
        let allowances = Allowances::default();
        let wants: Vec<u32> = (0..4).map(|_| allowances.begin_lease("k", policy)).collect();
        assert_eq!(wants, [12, 1, 1, 1]);
        allowances.abandon("k");
        let mut bucket = Bucket::default();
        for want in &wants[1..] {
            allowances.keep("k", bucket.take_many(policy, NOW * 1000, *want), policy, NOW);
        }
        assert_eq!(allowances.begin_lease("k", policy), 12, "none pending any more");
    }

    #[test]
    fn a_refusal_is_the_counters() {
        let policy = Policy::new(1, 60);
        let (allowances, mut bucket) = (Allowances::default(), Bucket::default());
        let decisions = spend(&allowances, &mut bucket, policy, NOW, 2);
        assert!(decisions[0].allowed && decisions[0].remaining == 0);
        assert_eq!(
            decisions[1],
            Decision {
                allowed: false,
                limit: 1,
                remaining: 0,
                retry_after_seconds: 60
            }
        );
    }
}
