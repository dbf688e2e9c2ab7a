//! The deployment's static assets through the `ASSETS` binding (`[assets] binding` in
//! wrangler.toml): a request to the asset server of this deployment, no network.

use std::cell::OnceCell;

use async_trait::async_trait;
use wasm_bindgen::JsValue;
use worker::Env;

use super::calls;
use crate::kernel::assets::{AssetError, Assets};

pub struct StaticAssets {
    env: Env,
    /// The binding, looked up at the first read: the isolate reads its assets once, so most
    /// requests never ask the environment for it.
    fetcher: OnceCell<Option<JsValue>>,
}

impl StaticAssets {
    pub fn new(env: &Env) -> Self {
        Self {
            env: env.clone(),
            fetcher: OnceCell::new(),
        }
    }
}

#[async_trait(?Send)]
impl Assets for StaticAssets {
    async fn read(&self, path: &str) -> Result<Vec<u8>, AssetError> {
        let fail = |reason: String| AssetError {
            path: path.to_owned(),
            reason,
        };
        let fetcher = self
            .fetcher
            .get_or_init(|| calls::binding(&self.env, "ASSETS").ok())
            .as_ref()
            .ok_or_else(|| fail("binding ASSETS is missing".to_owned()))?;
        // The host is ignored by the asset server; only the path names the file.
        calls::read_asset(fetcher, &format!("https://assets.internal{path}"))
            .await
            .map_err(fail)
    }
}
