//! An in-process `RateLimiter` with the same arithmetic as the Durable Object, for native tests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use async_trait::async_trait;

use super::policy::{Bucket, Decision, Gate, Lockout, LockoutPolicy, Policy};
use crate::domain::{Clock, LimiterError, RateLimiter};

pub struct MemoryLimiter {
    clock: Rc<dyn Clock>,
    buckets: RefCell<HashMap<String, Bucket>>,
    lockouts: RefCell<HashMap<String, Lockout>>,
}

impl MemoryLimiter {
    pub fn new(clock: Rc<dyn Clock>) -> Self {
        Self {
            clock,
            buckets: RefCell::default(),
            lockouts: RefCell::default(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now() * 1000
    }
}

#[async_trait(?Send)]
impl RateLimiter for MemoryLimiter {
    async fn take(&self, key: &str, policy: Policy) -> Result<Decision, LimiterError> {
        Ok(self
            .buckets
            .borrow_mut()
            .entry(key.to_owned())
            .or_default()
            .take(policy, self.now_ms()))
    }

    async fn begin_login(&self, key: &str, policy: LockoutPolicy) -> Result<Gate, LimiterError> {
        Ok(self
            .lockouts
            .borrow_mut()
            .entry(key.to_owned())
            .or_default()
            .begin(&policy, self.now_ms()))
    }

    async fn finish_login(&self, key: &str, success: bool) -> Result<bool, LimiterError> {
        Ok(self
            .lockouts
            .borrow_mut()
            .entry(key.to_owned())
            .or_default()
            .finish(success, self.now_ms()))
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        Ok(())
    }
}
