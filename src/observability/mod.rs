//! Metrics, error reports and logs, as plain data; `edge` sends them.

#[cfg(target_arch = "wasm32")]
pub mod aggregator;
pub mod metrics;
pub mod sentry;
