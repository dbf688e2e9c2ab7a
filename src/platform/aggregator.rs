//! A metrics Durable Object: one shard of the aggregate (`platform::metrics`). It adds the
//! batches of the isolates that picked it; `/metrics` sums every shard. The aggregate is
//! kept as one JSON string (one value to store, parsed in wasm), not a JS object tree.

use std::cell::RefCell;

use wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Error, Method, Request, Response, Result, State};

use super::calls;
use crate::observability::metrics::{Aggregate, Batch};

/// The aggregate as JSON text.
const STATE_KEY: &str = "aggregate.json";
/// Where it was kept as an object tree before: read once, if there is no text yet.
const LEGACY_KEY: &str = "aggregate";

#[durable_object]
pub struct MetricsAggregator {
    state: State,
    cache: RefCell<Option<Aggregate>>,
}

impl DurableObject for MetricsAggregator {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            cache: RefCell::new(None),
        }
    }

    /// `POST` a `Batch` to add it; `GET` the aggregate as JSON.
    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage: JsValue = self.state.as_raw().storage()?.into();
        if self.cache.borrow().is_none() {
            let text = match calls::read(&storage, STATE_KEY).await.map_err(Error::RustError)? {
                Some(text) => Some(text),
                None => calls::read(&storage, LEGACY_KEY).await.map_err(Error::RustError)?,
            };
            let aggregate = match text {
                Some(text) => Aggregate::from_json(&text).map_err(Error::RustError)?,
                None => Aggregate::default(),
            };
            self.cache.borrow_mut().get_or_insert(aggregate);
        }
        if req.method() == Method::Post {
            let batch = Batch::from_json(&req.text().await?).map_err(Error::RustError)?;
            let text = {
                let mut cache = self.cache.borrow_mut();
                let aggregate = cache.as_mut().expect("loaded above");
                aggregate.merge(&batch);
                serde_json::to_string(aggregate)?
            };
            calls::write(&storage, STATE_KEY, &text)
                .await
                .map_err(Error::RustError)?;
            return Response::ok("added");
        }
        let text = serde_json::to_string(self.cache.borrow().as_ref().expect("loaded above"))?;
        Response::ok(text)
    }
}
