//! edge-auth: an authentication service for Cloudflare Workers.
//!
//! The arrows run one way: `platform` (the only code that knows it runs in a Worker) ->
//! `app` (the features it mounts) -> `http` (the pipeline) -> `features` (one folder per
//! capability) -> `kernel` (plain shared types). `rate_limit`, `observability` and
//! `delivery` are plain Rust beside them. Everything but `platform` compiles and is tested
//! natively.

pub mod app;
pub mod delivery;
pub mod features;
pub mod http;
pub mod kernel;
pub mod observability;
pub mod rate_limit;

#[cfg(target_arch = "wasm32")]
mod platform;
#[cfg(target_arch = "wasm32")]
pub use platform::{MetricsAggregator, RateLimitCounter};
