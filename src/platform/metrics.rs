//! Per-isolate metric deltas, flushed to the metrics Durable Object after the response, at
//! most once per `FLUSH_DELAY` per isolate: the first request after a flush schedules the
//! next one (inside `waitUntil`), later ones just add to the pending batch. A failed flush
//! keeps its deltas for the next one, so nothing is lost while the isolate lives.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use async_trait::async_trait;
use wasm_bindgen::JsValue;
use worker::{Delay, Env, Method, ObjectNamespace, Request, RequestInit};

use super::log_json;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::MetricsSource;
use crate::observability::metrics::Batch;

/// The single aggregate's object name: every isolate adds into the same counters.
const AGGREGATE_NAME: &str = "global";
/// How long deltas wait to be batched; /metrics lags by at most about this.
const FLUSH_DELAY: Duration = Duration::from_millis(500);

thread_local! {
    static PENDING: RefCell<Batch> = RefCell::default();
    static FLUSH_SCHEDULED: Cell<bool> = const { Cell::new(false) };
    static NAMESPACE: RefCell<Option<ObjectNamespace>> = const { RefCell::new(None) };
}

/// Remembers the `METRICS` binding for flushes that run after the response.
pub fn bind(env: &Env) {
    NAMESPACE.with(|ns| {
        if ns.borrow().is_none() {
            *ns.borrow_mut() = env.durable_object("METRICS").ok();
        }
    });
}

pub fn record_request(method: &str, route: &str, status: u16, ms: u64) {
    PENDING.with(|p| p.borrow_mut().record_request(method, route, status, ms));
}

pub fn record_event(event: &AuthEvent) {
    PENDING.with(|p| p.borrow_mut().record_event(event.name()));
}

/// Schedules a flush unless one is already waiting; run it inside `waitUntil`.
pub async fn flush_soon() {
    if FLUSH_SCHEDULED.with(|s| s.replace(true)) {
        return;
    }
    Delay::from(FLUSH_DELAY).await;
    FLUSH_SCHEDULED.with(|s| s.set(false));
    flush().await;
}

/// Sends everything pending as one batch.
pub async fn flush() {
    let batch = PENDING.with(|p| p.take());
    if batch.is_empty() {
        return;
    }
    let body = serde_json::to_string(&batch).expect("batches serialise");
    if let Err(error) = call(Method::Post, Some(body)).await {
        PENDING.with(|p| p.borrow_mut().merge(&batch));
        log_json(
            serde_json::json!({ "level": "warn", "message": "metrics flush failed; kept for the next one", "error": error }),
        );
    }
}

async fn call(method: Method, body: Option<String>) -> Result<String, String> {
    let namespace = NAMESPACE
        .with(|ns| ns.borrow().clone())
        .ok_or("binding METRICS is missing")?;
    let fail = |e: worker::Error| e.to_string();
    let stub = namespace
        .id_from_name(AGGREGATE_NAME)
        .map_err(fail)?
        .get_stub()
        .map_err(fail)?;
    let mut init = RequestInit::new();
    init.with_method(method).with_body(body.map(|b| JsValue::from_str(&b)));
    let request = Request::new_with_init("https://metrics.internal/", &init).map_err(fail)?;
    let mut response = stub.fetch_with_request(request).await.map_err(fail)?;
    if response.status_code() != 200 {
        return Err(format!("metrics object answered {}", response.status_code()));
    }
    response.text().await.map_err(fail)
}

pub struct DurableMetrics;

#[async_trait(?Send)]
impl MetricsSource for DurableMetrics {
    async fn snapshot(&self) -> Result<String, String> {
        call(Method::Get, None).await
    }
}
