//! A metrics Durable Object: one shard of the aggregate (`platform::metrics`). It adds the
//! batches of the isolates that picked it; `/metrics` sums every shard. The aggregate is
//! kept as one JSON string (one value to store, parsed in wasm), not a JS object tree.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

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
        if self.cache.borrow().is_none() {
            let storage = self.state.storage();
            let aggregate = match storage.get::<String>(STATE_KEY).await? {
                Some(text) => serde_json::from_str(&text)?,
                None => storage.get::<Aggregate>(LEGACY_KEY).await?.unwrap_or_default(),
            };
            self.cache.borrow_mut().get_or_insert(aggregate);
        }
        if req.method() == Method::Post {
            let batch: Batch = serde_json::from_str(&req.text().await?)?;
            let text = {
                let mut cache = self.cache.borrow_mut();
                let aggregate = cache.as_mut().expect("loaded above");
                aggregate.merge(&batch);
                serde_json::to_string(aggregate)?
            };
            self.state.storage().put(STATE_KEY, text).await?;
            return Response::ok("added");
        }
        let text = serde_json::to_string(self.cache.borrow().as_ref().expect("loaded above"))?;
        Response::ok(text)
    }
}
