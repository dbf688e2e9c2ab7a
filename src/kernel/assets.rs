//! Files deployed as static assets beside the Worker (`public/`), which the Worker reads
//! through its `ASSETS` binding: data it needs but need not carry in its bundle (the
//! common-password list is 24 KB of the bundle gzipped, the OpenAPI document grows with
//! every route). They live under `/_worker/`, which `run_worker_first` sends to the Worker
//! (no route: 404), so only the binding reads them. `scripts/build.sh` copies them there.

use async_trait::async_trait;

use super::problem::ApiError;

/// The sorted common-password list (`data/common-passwords.txt`).
pub const COMMON_PASSWORDS: &str = "/_worker/common-passwords.txt";
/// The committed `openapi.json`.
pub const OPENAPI: &str = "/_worker/openapi.json";

#[derive(Debug, thiserror::Error)]
#[error("static asset {path}: {reason}")]
pub struct AssetError {
    pub path: String,
    pub reason: String,
}

#[async_trait(?Send)]
pub trait Assets {
    /// The file's bytes; a missing file is an error (it is part of the deployment).
    async fn read(&self, path: &str) -> Result<Vec<u8>, AssetError>;
}

/// A deployment without its assets cannot check passwords or serve its document: that
/// feature answers 503 naming `assets`, the rest of the service works.
impl From<AssetError> for ApiError {
    fn from(error: AssetError) -> Self {
        ApiError::unavailable(
            "assets",
            "a file of this deployment is unavailable; try again shortly",
            error.to_string(),
        )
    }
}
