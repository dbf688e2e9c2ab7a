//! An in-process `RateLimiter` running the Durable Object's own `CounterState::apply`, for
//! native tests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use super::policy::{Command, CounterState, Decision, Gate, LockoutPolicy, Policy};
use crate::domain::{Clock, LimiterError, RateLimiter};

pub struct MemoryLimiter {
    clock: Rc<dyn Clock>,
    counters: RefCell<HashMap<String, CounterState>>,
}

impl MemoryLimiter {
    pub fn new(clock: Rc<dyn Clock>) -> Self {
        Self {
            clock,
            counters: RefCell::default(),
        }
    }

    fn call<T: DeserializeOwned>(&self, key: &str, command: Command) -> Result<T, LimiterError> {
        let now_ms = self.clock.now() * 1000;
        let reply = self
            .counters
            .borrow_mut()
            .entry(key.to_owned())
            .or_default()
            .apply(command, now_ms);
        serde_json::from_value(reply).map_err(|e| LimiterError(e.to_string()))
    }
}

#[async_trait(?Send)]
impl RateLimiter for MemoryLimiter {
    async fn take(&self, key: &str, policy: Policy) -> Result<Decision, LimiterError> {
        self.call(key, Command::Take { policy })
    }

    async fn begin_login(&self, key: &str, policy: LockoutPolicy, limit: Policy) -> Result<Gate, LimiterError> {
        self.call(key, Command::BeginLogin { policy, limit })
    }

    async fn login_succeeded(&self, key: &str) -> Result<(), LimiterError> {
        self.call::<bool>(key, Command::LoginSucceeded).map(drop)
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        Ok(())
    }
}
