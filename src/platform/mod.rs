//! The platform edge, the only code that imports `worker`: the fetch entry, the scheduled
//! (cron) handler that runs every feature's housekeeping, request and response conversions, the D1 and Postgres executors, the static assets, outbound HTTP (`Fetch` with a deadline), the Durable Objects (rate-limit
//! counters, the metrics aggregate), deferred mail, metrics flushing, error reports,
//! panic capture and logs.

mod aggregator;
mod assets;
mod calls;
mod convert;
mod counter;
mod d1;
mod entry;
mod fetch;
mod limiter;
mod metrics;
mod outbox;
mod panic;
#[cfg(feature = "postgres")]
mod postgres;
mod report;
mod scheduled;
mod webcrypto;

pub use aggregator::MetricsAggregator;
pub use counter::RateLimitCounter;

use crate::kernel::{Clock, UnixSeconds};

/// `Date.now()`: one call (worker's `Date::now` makes a `Date` and asks it the time).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// One JSON object per line, readable with `wrangler tail`.
pub fn log_json(value: serde_json::Value) {
    worker::console_log!("{value}");
}

/// A line already rendered as JSON (`observability::log`): one `console.log` call.
pub fn log_line(line: &str) {
    web_sys::console::log_1(&wasm_bindgen::JsValue::from_str(line));
}

pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> UnixSeconds {
        (now_ms() / 1000) as UnixSeconds
    }
}
