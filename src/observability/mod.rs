//! Metrics and error reports as plain data: Prometheus counters merged across isolates,
//! and Sentry envelopes with secrets scrubbed. `platform` sends them.

pub mod metrics;
pub mod sentry;
