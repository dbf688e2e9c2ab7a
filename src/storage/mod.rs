//! Storage adapters. SQL lives here and nowhere else.

#[cfg(target_arch = "wasm32")]
pub mod d1;
pub mod memory;
#[cfg(all(target_arch = "wasm32", feature = "postgres"))]
pub mod postgres;
