//! edge-auth: an authentication service for Cloudflare Workers.
//!
//! `domain`, `auth`, `http`, `storage::memory` and `email::templates` are plain Rust and
//! are unit-tested natively; only `entry` and the adapters gated below know they run in a
//! Worker.

pub mod auth;
pub mod config;
pub mod domain;
pub mod email;
pub mod http;
pub mod observability;
pub mod rate_limit;
pub mod storage;

#[cfg(target_arch = "wasm32")]
mod edge;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
pub use observability::aggregator::MetricsAggregator;
#[cfg(target_arch = "wasm32")]
pub use rate_limit::durable_object::RateLimitCounter;
