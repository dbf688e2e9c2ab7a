//! The Worker entry: builds the per-isolate state and the per-request adapters, hands the
//! request to `app::handle`, then records, logs and flushes. Wiring only.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;

use worker::{event, Context, Env};

use super::convert::{from_worker, to_js};
use super::d1::D1;
use super::limiter::DurableLimiter;
use super::metrics::{self, DurableMetrics};
use super::outbox::WaitUntilOutbox;
use super::report::{self, SentryReporter};
use super::{log_json, log_line, now_ms, panic, WorkerClock};
use crate::app;
use crate::http::Handled;
use crate::kernel::config::{ConfigError, DatabaseBackend};
use crate::kernel::feature::{AppState, Services};
use crate::kernel::problem::ApiError;
use crate::kernel::sql::{Counted, Database};
use crate::observability::log::RequestLine;

thread_local! {
    /// Configuration, derived keys and every feature's settings, built once per isolate.
    static STATE: OnceCell<Result<Rc<AppState>, ConfigError>> = const { OnceCell::new() };
    /// Where users live when `DATABASE_BACKEND` is unset: decided by the bindings, once.
    static BACKEND: OnceCell<DatabaseBackend> = const { OnceCell::new() };
    /// The state of the log sampler (xorshift64), seeded once per isolate.
    static SAMPLER: Cell<u64> = const { Cell::new(0) };
}

pub(super) fn state(env: &Env) -> Result<Rc<AppState>, ConfigError> {
    STATE.with(|cell| {
        cell.get_or_init(|| {
            let read = |name: &str| {
                env.var(name)
                    .map(|v| v.to_string())
                    .or_else(|_| env.secret(name).map(|s| s.to_string()))
                    .ok()
            };
            app::state(&read).map(Rc::new)
        })
        .clone()
    })
}

/// `DATABASE_BACKEND` when set; else Postgres if the Hyperdrive binding exists, else D1.
pub(super) fn database(state: &AppState, env: &Env) -> Result<Box<dyn Database>, ConfigError> {
    let backend = state.config.database_backend.unwrap_or_else(|| {
        BACKEND.with(|backend| {
            *backend.get_or_init(|| match env.hyperdrive("HYPERDRIVE") {
                Ok(_) => DatabaseBackend::Postgres,
                Err(_) => DatabaseBackend::D1,
            })
        })
    });
    match backend {
        DatabaseBackend::D1 => Ok(Box::new(D1::new(env))),
        #[cfg(feature = "postgres")]
        DatabaseBackend::Postgres => Ok(Box::new(super::postgres::Postgres::new(env.hyperdrive("HYPERDRIVE")))),
        // A HYPERDRIVE binding means the data is in Postgres: never fall back to D1 silently.
        #[cfg(not(feature = "postgres"))]
        DatabaseBackend::Postgres => Err(ConfigError::Invalid {
            name: "HYPERDRIVE",
            reason: crate::kernel::config::NO_POSTGRES.to_owned(),
        }),
    }
}

/// The log line while the configuration is unusable: it names the variable.
pub(super) fn log_misconfigured(error: &ConfigError) {
    log_json(
        serde_json::json!({ "level": "error", "message": "configuration is invalid", "error": error.to_string() }),
    );
}

/// The answer while the configuration is unusable.
fn misconfigured(error: &ConfigError) -> worker::Result<web_sys::Response> {
    log_misconfigured(error);
    to_js(ApiError::internal_cause(error).into_response())
}

#[event(fetch)]
pub async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let started = now_ms();
    let state = match state(&env) {
        Ok(state) => state,
        // Refuse to run with a weak or missing key, or any other bad variable, or a
        // production configuration with a test's settings.
        Err(error) => return misconfigured(&error),
    };
    metrics::bind(&env);
    let mut request = match from_worker(req).await {
        Ok(request) => request,
        Err(response) => return to_js(response),
    };
    let request_id = crate::http::request_id(&request);
    request.headers.retain(|(name, _)| name != "x-request-id");
    request.headers.push(("x-request-id".into(), request_id.clone()));
    let ctx = Rc::new(ctx);
    panic::install_hook();
    panic::enter(&state, &request, &request_id);
    for envelope in panic::take_pending() {
        let config = state.config.clone();
        ctx.wait_until(async move { report::send(&config, envelope).await });
    }
    let db = match database(&state, &env) {
        Ok(db) => db,
        Err(error) => return misconfigured(&error),
    };
    let outbox = WaitUntilOutbox {
        ctx: ctx.clone(),
        state: state.clone(),
        request_id: request_id.clone(),
    };
    let reporter = SentryReporter {
        ctx: ctx.clone(),
        state: state.clone(),
    };
    let limiter = DurableLimiter::new(&env);
    let db = Counted::new(&*db);
    let assets = super::assets::StaticAssets::new(&env);
    let services = Services {
        db: &db,
        crypto: &super::webcrypto::WebCrypto,
        outbox: &outbox,
        clock: &WorkerClock,
        limiter: &limiter,
        metrics: &DurableMetrics,
        assets: &assets,
        http: &super::fetch::WorkerFetch,
    };
    let method = request.method.clone();
    let handled = app::handle(request, &state, &services, &reporter).await;
    record(&state, &method, &handled, now_ms().saturating_sub(started), db.trips());
    // One flush waits per isolate; requests that find it waiting add to its batch and ask
    // the platform for nothing.
    if let Some(flush) = metrics::schedule_flush() {
        ctx.wait_until(flush);
    }
    to_js(handled.response)
}

/// Uniform below a million, for `LOG_REQUESTS` as a share: xorshift64, seeded from the CSPRNG.
fn draw() -> u32 {
    SAMPLER.with(|state| {
        let mut x = state.get();
        if x == 0 {
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            x = u64::from_le_bytes(seed) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        ((x >> 32) % 1_000_000) as u32
    })
}

/// Metrics and the request's log line (as `LOG_REQUESTS` says).
fn record(state: &AppState, method: &str, handled: &Handled, elapsed_ms: u64, db_round_trips: u32) {
    metrics::record_request(method, handled.route, handled.response.status, elapsed_ms);
    handled.events.iter().for_each(metrics::record_event);
    if handled.undocumented {
        // A route answered what its registration does not list: the OpenAPI document is wrong.
        log_json(serde_json::json!({
            "level": "error", "message": "undocumented answer", "request_id": handled.request_id,
            "method": method, "route": handled.route, "status": handled.response.status, "outcome": handled.outcome,
        }));
    }
    let status = handled.response.status;
    if state.config.request_log.wants(status, draw) {
        let line = RequestLine {
            request_id: &handled.request_id,
            method,
            route: handled.route,
            status,
            duration_ms: elapsed_ms,
            db_round_trips,
            user_id: handled.user_id.as_deref(),
            outcome: handled.outcome,
        };
        log_line(&line.render());
    }
}
