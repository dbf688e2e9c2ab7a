//! Per-isolate metric deltas, flushed to a metrics Durable Object after the response, at
//! most once per `FLUSH_DELAY` per isolate: the first request after a flush schedules the
//! next one (inside `waitUntil`), later ones just add to the pending batch. A failed flush
//! keeps its deltas for the next one, so nothing is lost while the isolate lives.
//!
//! The aggregate is sharded: each isolate adds into one of `SHARDS` objects, picked at
//! random once per isolate, and `/metrics` sums them all. One object takes every flush
//! of the isolates that picked it, so the shards together take `SHARDS` times what one
//! object could (the arithmetic is in BENCHMARKS.md).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use wasm_bindgen::JsValue;
use worker::{Delay, Env};

use super::{calls, log_json};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::MetricsSource;
use crate::observability::metrics::{Aggregate, Batch};

/// How many aggregate objects share the flushes. Shard 0 keeps the name of the single
/// object that came before (`global`), so its counts stay in the sum.
const SHARDS: u32 = 32;
/// How long deltas wait to be batched; /metrics lags by at most about this.
/// One second: half the flushes of the 500 ms before (each is a Durable Object request and
/// a storage write), and still far inside any scrape interval.
const FLUSH_DELAY: Duration = Duration::from_millis(1000);

thread_local! {
    static PENDING: RefCell<Batch> = RefCell::default();
    static FLUSH_SCHEDULED: Cell<bool> = const { Cell::new(false) };
    static NAMESPACE: RefCell<Option<JsValue>> = const { RefCell::new(None) };
    /// The shard this isolate flushes into, once picked.
    static SHARD: Cell<Option<u32>> = const { Cell::new(None) };
}

fn shard_name(shard: u32) -> String {
    match shard {
        0 => "global".to_owned(),
        n => format!("shard-{n}"),
    }
}

/// This isolate's shard: random, so the isolates of a deployment spread evenly.
fn my_shard() -> u32 {
    SHARD.with(|shard| {
        *shard.get().get_or_insert_with(|| {
            let mut bytes = [0u8; 4];
            let _ = getrandom::fill(&mut bytes);
            u32::from_le_bytes(bytes) % SHARDS
        })
    })
}

/// Remembers the `METRICS` binding for flushes that run after the response.
pub fn bind(env: &Env) {
    NAMESPACE.with(|ns| {
        if ns.borrow().is_none() {
            *ns.borrow_mut() = calls::binding(env, "METRICS").ok();
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
    if let Some(flush) = schedule_flush() {
        flush.await;
    }
}

/// The flush to wait for (inside `waitUntil`), or `None` when one is already waiting: the
/// request that finds one scheduled needs no `waitUntil` of its own.
pub fn schedule_flush() -> Option<impl std::future::Future<Output = ()> + 'static> {
    if FLUSH_SCHEDULED.with(|s| s.replace(true)) {
        return None;
    }
    Some(async {
        Delay::from(FLUSH_DELAY).await;
        FLUSH_SCHEDULED.with(|s| s.set(false));
        flush().await;
    })
}

/// Sends everything pending as one batch.
pub async fn flush() {
    let batch = PENDING.with(|p| p.take());
    if batch.is_empty() {
        return;
    }
    let body = serde_json::to_string(&batch).expect("batches serialise");
    if let Err(error) = call(my_shard(), "POST", Some(body)).await {
        PENDING.with(|p| p.borrow_mut().merge(&batch));
        log_json(
            serde_json::json!({ "level": "warn", "message": "metrics flush failed; kept for the next one", "error": error }),
        );
    }
}

async fn call(shard: u32, method: &str, body: Option<String>) -> Result<String, String> {
    let namespace = NAMESPACE
        .with(|ns| ns.borrow().clone())
        .ok_or("binding METRICS is missing")?;
    let (status, text) = calls::object(&namespace, &shard_name(shard), method, body).await?;
    if status != 200 {
        return Err(format!("metrics object answered {status}"));
    }
    Ok(text)
}

pub struct DurableMetrics;

#[async_trait(?Send)]
impl MetricsSource for DurableMetrics {
    /// Every shard's aggregate, summed. A shard that does not answer fails the whole
    /// snapshot: a partial sum would look like counters going backwards.
    async fn snapshot(&self) -> Result<String, String> {
        let answers = join_all((0..SHARDS).map(|shard| call(shard, "GET", None))).await;
        let mut total = Aggregate::default();
        for answer in answers {
            let shard = Aggregate::from_json(&answer?)?;
            total.merge(&shard);
        }
        Ok(serde_json::to_string(&total).expect("aggregates serialise"))
    }
}
