//! An in-process `RateLimiter` running the Durable Object's own `CounterState::apply`, for
//! native tests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use async_trait::async_trait;

use super::counter::{Command, CounterState};
use super::Reply;
use super::{Decision, Gate, Lease, LockoutPolicy, Policy};
use super::{LimiterError, RateLimiter};

pub struct MemoryLimiter {
    now_ms: Rc<dyn Fn() -> i64>,
    counters: RefCell<HashMap<String, CounterState>>,
}

impl MemoryLimiter {
    /// `now_ms` reads the test's clock, in Unix milliseconds.
    pub fn new(now_ms: Rc<dyn Fn() -> i64>) -> Self {
        Self {
            now_ms,
            counters: RefCell::default(),
        }
    }

    fn call<T: Reply>(&self, key: &str, command: Command) -> Result<T, LimiterError> {
        let now_ms = (self.now_ms)();
        let reply = self
            .counters
            .borrow_mut()
            .entry(key.to_owned())
            .or_default()
            .apply(Command::from_json(&command.to_json()).map_err(LimiterError)?, now_ms);
        T::from_value(&reply).map_err(LimiterError)
    }
}

#[async_trait(?Send)]
impl RateLimiter for MemoryLimiter {
    async fn take(&self, key: &str, policy: Policy) -> Result<Decision, LimiterError> {
        self.call(key, Command::Take { policy })
    }

    async fn lease(&self, key: &str, policy: Policy, tokens: u32) -> Result<Lease, LimiterError> {
        self.call(key, Command::Lease { policy, tokens })
    }

    async fn begin_login(&self, key: &str, policy: LockoutPolicy, limit: Policy) -> Result<Gate, LimiterError> {
        self.call(key, Command::BeginLogin { policy, limit })
    }

    async fn login_succeeded(&self, key: &str) -> Result<(), LimiterError> {
        self.call::<bool>(key, Command::LoginSucceeded).map(drop)
    }

    async fn login_refunded(&self, key: &str, policy: LockoutPolicy) -> Result<(), LimiterError> {
        self.call::<bool>(key, Command::LoginRefunded { policy }).map(drop)
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        Ok(())
    }
}
