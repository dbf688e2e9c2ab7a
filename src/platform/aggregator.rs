//! The metrics Durable Object: one instance adds every isolate's batches into one aggregate.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::observability::metrics::{Aggregate, Batch};

const STATE_KEY: &str = "aggregate";

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
            let stored: Option<Aggregate> = self.state.storage().get(STATE_KEY).await?;
            self.cache.borrow_mut().get_or_insert(stored.unwrap_or_default());
        }
        if req.method() == Method::Post {
            let batch: Batch = req.json().await?;
            let updated = {
                let mut cache = self.cache.borrow_mut();
                let aggregate = cache.as_mut().expect("loaded above");
                aggregate.merge(&batch);
                aggregate.clone()
            };
            self.state.storage().put(STATE_KEY, &updated).await?;
            return Response::ok("added");
        }
        let snapshot = self.cache.borrow().clone().unwrap_or_default();
        Response::from_json(&snapshot)
    }
}
