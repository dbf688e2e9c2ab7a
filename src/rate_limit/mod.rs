//! Exact rate limits and the login lockout. The arithmetic is plain Rust (`policy`,
//! `limits`, `memory`); the Worker keeps the state in Durable Objects (`durable_object`,
//! reached through `client`).

#[cfg(target_arch = "wasm32")]
pub mod client;
#[cfg(target_arch = "wasm32")]
pub mod durable_object;
pub mod limits;
pub mod memory;
pub mod policy;
