//! The counter Durable Object: single-threaded, strongly consistent, SQLite-backed storage.
//! It holds one key's `CounterState`; an alarm deletes the state once it is worthless.

use std::cell::{Cell, RefCell};

use wasm_bindgen::JsValue;
use worker::{durable_object, Date, DurableObject, Env, Error, Request, Response, Result, State};

use super::calls;
use crate::rate_limit::counter::{Command, CounterState};

const STATE_KEY: &str = "counter";

#[durable_object]
pub struct RateLimitCounter {
    state: State,
    /// The canonical state once loaded; storage is written before each reply.
    cache: RefCell<Option<CounterState>>,
    /// Whether an alarm is known to be set. The alarm re-arms itself while the state is
    /// worth keeping, so a request only sets one when there is none: one storage write
    /// per request, not three.
    alarm_set: Cell<bool>,
}

impl DurableObject for RateLimitCounter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            cache: RefCell::new(None),
            alarm_set: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let command = Command::from_json(&req.text().await?).map_err(Error::RustError)?;
        if command == Command::Ping {
            return Response::from_json(&true);
        }
        if self.cache.borrow().is_none() {
            // Storage reads hold the input gate: no other request runs until this returns.
            let stored = self.stored().await?;
            self.cache.borrow_mut().get_or_insert(stored.unwrap_or_default());
            self.alarm_set.set(self.state.storage().get_alarm().await?.is_some());
        }
        // Read, apply and write back with no await in between: requests cannot interleave.
        let (reply, updated) = {
            let mut cache = self.cache.borrow_mut();
            let counter = cache.as_mut().expect("loaded above");
            let reply = counter.apply(command, now_ms());
            (reply, *counter)
        };
        let text = serde_json::to_string(&updated)?;
        // As an object tree, as before: a rollback to the code before reads it.
        calls::write_object(&self.raw_storage()?, STATE_KEY, &text)
            .await
            .map_err(Error::RustError)?;
        if !self.alarm_set.replace(true) {
            self.state.storage().set_alarm(updated.drop_at_ms).await?;
        }
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        match self.stored().await? {
            Some(counter) if counter.drop_at_ms > now_ms() => storage.set_alarm(counter.drop_at_ms).await?,
            _ => {
                storage.delete_all().await?;
                self.cache.borrow_mut().take();
                self.alarm_set.set(false);
            }
        }
        Response::ok("done")
    }
}

impl RateLimitCounter {
    fn raw_storage(&self) -> Result<JsValue> {
        self.state.as_raw().storage().map(JsValue::from).map_err(Error::from)
    }

    /// The state as stored: an object tree (`calls::write_object`), read as its JSON.
    async fn stored(&self) -> Result<Option<CounterState>> {
        let text = calls::read(&self.raw_storage()?, STATE_KEY)
            .await
            .map_err(Error::RustError)?;
        text.map(|t| CounterState::from_json(&t))
            .transpose()
            .map_err(|e| Error::RustError(format!("stored state: {e}")))
    }
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}
