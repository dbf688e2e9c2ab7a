//! Storage adapters. SQL lives here and nowhere else.

#[cfg(target_arch = "wasm32")]
pub mod d1;
pub mod memory;
#[cfg(target_arch = "wasm32")]
pub mod postgres;
