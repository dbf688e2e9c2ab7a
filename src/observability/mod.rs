//! Metrics, log lines and error reports as plain data: Prometheus counters merged across
//! isolates, JSON log lines built without a value tree, and Sentry envelopes with secrets
//! scrubbed. `platform` sends them.

pub mod log;
pub mod metrics;
pub mod sentry;
