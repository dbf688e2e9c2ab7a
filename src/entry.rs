//! The Worker entry: builds the per-isolate state and the per-request adapters, hands the
//! request to `http::handle`, then records, logs and flushes. Wiring only.

use std::cell::OnceCell;
use std::rc::Rc;

use worker::{event, Context, Env};

use crate::config::DatabaseBackend;
use crate::config::{Config, ConfigError};
use crate::domain::Store;
use crate::edge::convert::{from_worker, to_worker};
use crate::edge::mail::WaitUntilOutbox;
use crate::edge::metrics::{self, DurableMetrics};
use crate::edge::panic;
use crate::edge::report::{self, SentryReporter};
use crate::edge::{log_json, now_ms, WorkerClock};
use crate::http::{self, error::ApiError, AppState, Services};
use crate::rate_limit::client::DurableLimiter;
use crate::storage::d1::D1Store;
#[cfg(feature = "postgres")]
use crate::storage::postgres::PgStore;

thread_local! {
    /// Configuration and derived keys, built once per isolate.
    static STATE: OnceCell<Result<Rc<AppState>, ConfigError>> = const { OnceCell::new() };
}

fn state(env: &Env) -> Result<Rc<AppState>, ConfigError> {
    STATE.with(|cell| {
        cell.get_or_init(|| {
            let read = |name: &str| {
                env.var(name)
                    .map(|v| v.to_string())
                    .or_else(|_| env.secret(name).map(|s| s.to_string()))
                    .ok()
            };
            Config::from_env(read).map(|config| Rc::new(AppState::new(config)))
        })
        .clone()
    })
}

/// `DATABASE_BACKEND` when set; else Postgres if the Hyperdrive binding exists, else D1.
fn store(config: &Config, env: &Env) -> Result<Box<dyn Store>, ConfigError> {
    let backend = config
        .database_backend
        .unwrap_or_else(|| match env.hyperdrive("HYPERDRIVE") {
            Ok(_) => DatabaseBackend::Postgres,
            Err(_) => DatabaseBackend::D1,
        });
    match backend {
        DatabaseBackend::D1 => Ok(Box::new(D1Store::new(env.d1("DB")))),
        #[cfg(feature = "postgres")]
        DatabaseBackend::Postgres => Ok(Box::new(PgStore::new(env.hyperdrive("HYPERDRIVE")))),
        // A HYPERDRIVE binding means the data is in Postgres: never fall back to D1 silently.
        #[cfg(not(feature = "postgres"))]
        DatabaseBackend::Postgres => Err(ConfigError::Invalid {
            name: "HYPERDRIVE",
            reason: crate::config::NO_POSTGRES.to_owned(),
        }),
    }
}

/// The answer while the configuration is unusable; the log line names the variable.
fn misconfigured(error: &ConfigError) -> worker::Result<worker::Response> {
    log_json(
        serde_json::json!({ "level": "error", "message": "configuration is invalid", "error": error.to_string() }),
    );
    to_worker(ApiError::internal_cause(error).into_response())
}

#[event(fetch)]
pub async fn fetch(req: worker::Request, env: Env, ctx: Context) -> worker::Result<worker::Response> {
    let started = now_ms();
    let state = match state(&env) {
        Ok(state) => state,
        // Refuse to run with a weak or missing key.
        Err(error) => return misconfigured(&error),
    };
    metrics::bind(&env);
    let mut request = match from_worker(req).await {
        Ok(request) => request,
        Err(response) => return to_worker(response),
    };
    let request_id = http::request_id(&request);
    request.headers.retain(|(name, _)| name != "x-request-id");
    request.headers.push(("x-request-id".into(), request_id.clone()));
    let method = request.method.clone();
    let ctx = Rc::new(ctx);
    panic::install_hook();
    panic::enter(&state, &request, &request_id);
    for envelope in panic::take_pending() {
        let config = state.config.clone();
        ctx.wait_until(async move { report::send(&config, envelope).await });
    }

    let store = match store(&state.config, &env) {
        Ok(store) => store,
        Err(error) => return misconfigured(&error),
    };
    let limiter = DurableLimiter::new(env.durable_object("RATE_LIMITER"));
    let outbox = WaitUntilOutbox {
        ctx: ctx.clone(),
        state: state.clone(),
        request_id: request_id.clone(),
    };
    let reporter = SentryReporter {
        ctx: ctx.clone(),
        state: state.clone(),
    };
    let services = Services {
        store: &*store,
        outbox: &outbox,
        clock: &WorkerClock,
        reporter: &reporter,
        limiter: &limiter,
        metrics: &DurableMetrics,
    };
    let handled = http::handle(request, &state, &services).await;

    let elapsed_ms = now_ms().saturating_sub(started);
    metrics::record_request(&method, handled.route, handled.response.status, elapsed_ms);
    handled.events.iter().for_each(|event| metrics::record_event(event));
    ctx.wait_until(metrics::flush_soon());
    log_json(serde_json::json!({
        "level": "info",
        "request_id": handled.request_id,
        "method": method,
        "route": handled.route,
        "status": handled.response.status,
        "duration_ms": elapsed_ms,
        "user_id": handled.user_id,
        "outcome": handled.outcome,
    }));
    to_worker(handled.response)
}
