//! The Worker's `RateLimiter`: one Durable Object per counter key.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{Method, ObjectNamespace, Request, RequestInit};

use crate::rate_limit::counter::Command;
use crate::rate_limit::{Decision, Gate, LimiterError, LockoutPolicy, Policy, RateLimiter};

pub struct DurableLimiter {
    namespace: Result<ObjectNamespace, String>,
}

impl DurableLimiter {
    /// A missing binding is kept as an error, so limited routes fail closed with 503.
    pub fn new(namespace: worker::Result<ObjectNamespace>) -> Self {
        Self {
            namespace: namespace.map_err(|e| e.to_string()),
        }
    }

    async fn call<T: DeserializeOwned>(&self, key: &str, command: Command) -> Result<T, LimiterError> {
        let fail = |e: worker::Error| LimiterError(e.to_string());
        let namespace = self
            .namespace
            .as_ref()
            .map_err(|e| LimiterError(format!("binding RATE_LIMITER: {e}")))?;
        let stub = namespace.id_from_name(key).map_err(fail)?.get_stub().map_err(fail)?;
        let body = serde_json::to_string(&command).expect("commands serialise");
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
        let request = Request::new_with_init("https://rate-limiter.internal/", &init).map_err(fail)?;
        let mut response = stub.fetch_with_request(request).await.map_err(fail)?;
        if response.status_code() != 200 {
            return Err(LimiterError(format!("counter answered {}", response.status_code())));
        }
        response.json::<T>().await.map_err(fail)
    }
}

#[async_trait(?Send)]
impl RateLimiter for DurableLimiter {
    async fn take(&self, key: &str, policy: Policy) -> Result<Decision, LimiterError> {
        self.call(key, Command::Take { policy }).await
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
