//! The Worker's `RateLimiter`: one Durable Object per counter key.

use std::cell::OnceCell;

use async_trait::async_trait;
use wasm_bindgen::JsValue;
use worker::Env;

use super::calls;
use crate::rate_limit::counter::Command;
use crate::rate_limit::{Decision, Gate, Lease, LimiterError, LockoutPolicy, Policy, RateLimiter, Reply};

pub struct DurableLimiter {
    env: Env,
    /// The `RATE_LIMITER` binding, looked up at the first call: a request that takes no
    /// token (or only leased ones) never asks the environment for it.
    namespace: OnceCell<Result<JsValue, String>>,
}

impl DurableLimiter {
    pub fn new(env: &Env) -> Self {
        Self {
            env: env.clone(),
            namespace: OnceCell::new(),
        }
    }

    async fn call<T: Reply>(&self, key: &str, command: Command) -> Result<T, LimiterError> {
        // A missing binding is an error, so limited routes fail closed with 503.
        let namespace = self
            .namespace
            .get_or_init(|| calls::binding(&self.env, "RATE_LIMITER"))
            .as_ref()
            .map_err(|e| LimiterError(e.clone()))?;
        let body = command.to_json();
        let (status, text) = calls::object(namespace, key, "POST", Some(body))
            .await
            .map_err(LimiterError)?;
        if status != 200 {
            return Err(LimiterError(format!("counter answered {status}")));
        }
        serde_json::from_str(&text)
            .map_err(|e| e.to_string())
            .and_then(|reply| T::from_value(&reply))
            .map_err(|e| LimiterError(format!("counter's answer: {e}")))
    }
}

#[async_trait(?Send)]
impl RateLimiter for DurableLimiter {
    async fn take(&self, key: &str, policy: Policy) -> Result<Decision, LimiterError> {
        self.call(key, Command::Take { policy }).await
    }

    async fn lease(&self, key: &str, policy: Policy, tokens: u32) -> Result<Lease, LimiterError> {
        self.call(key, Command::Lease { policy, tokens }).await
    }

    async fn begin_login(&self, key: &str, policy: LockoutPolicy, limit: Policy) -> Result<Gate, LimiterError> {
        self.call(key, Command::BeginLogin { policy, limit }).await
    }

    async fn login_succeeded(&self, key: &str) -> Result<(), LimiterError> {
        self.call::<bool>(key, Command::LoginSucceeded).await.map(drop)
    }

    async fn login_refunded(&self, key: &str, policy: LockoutPolicy) -> Result<(), LimiterError> {
        self.call::<bool>(key, Command::LoginRefunded { policy })
            .await
            .map(drop)
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        self.call::<bool>("health", Command::Ping).await.map(drop)
    }
}
