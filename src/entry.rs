//! The Worker entry: converts between workers-rs types and `http`'s, builds the per-request
//! adapters and defers mail with `waitUntil`. Wiring only.

use std::cell::OnceCell;
use std::rc::Rc;

use async_trait::async_trait;
use wasm_bindgen::JsValue;
use worker::{event, Context, Date, Env, Fetch, Headers, Method, RequestInit};

use crate::config::{Config, ConfigError};
use crate::domain::{Clock, Mail, Outbox, UnixSeconds};
use crate::email::{sendgrid, templates};
use crate::http::{self, error::ApiError, AppState, ErrorReporter, Services};
use crate::rate_limit::client::DurableLimiter;
use crate::storage::d1::D1Store;

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

#[event(fetch)]
pub async fn fetch(req: worker::Request, env: Env, ctx: Context) -> worker::Result<worker::Response> {
    let started = Date::now().as_millis();
    let state = match state(&env) {
        Ok(state) => state,
        Err(error) => {
            // Refuse to run with a weak or missing key; the log line names the variable.
            log_json(
                serde_json::json!({ "level": "error", "message": "configuration is invalid", "error": error.to_string() }),
            );
            return to_worker(ApiError::internal_cause(&error).into_response());
        }
    };
    let request = match from_worker(req).await {
        Ok(request) => request,
        Err(response) => return to_worker(response),
    };
    let method = request.method.clone();
    let store = D1Store::new(env.d1("DB")?);
    let outbox = WaitUntilOutbox {
        ctx: Rc::new(ctx),
        state: state.clone(),
    };
    let limiter = DurableLimiter::new(env.durable_object("RATE_LIMITER"));
    let services = Services {
        store: &store,
        outbox: &outbox,
        clock: &WorkerClock,
        reporter: &LogReporter,
        limiter: &limiter,
    };
    let handled = http::handle(request, &state, &services).await;
    let request_id = handled.response.header("X-Request-Id").unwrap_or_default().to_owned();
    log_json(serde_json::json!({
        "level": "info",
        "request_id": request_id,
        "method": method,
        "route": handled.route,
        "status": handled.response.status,
        "duration_ms": Date::now().as_millis().saturating_sub(started),
    }));
    to_worker(handled.response)
}

/// Reads the request, refusing an announced oversized body before reading it.
async fn from_worker(mut req: worker::Request) -> Result<http::Request, http::Response> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    let declared = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > http::body::MAX_BODY_BYTES) {
        return Err(http::body::too_large().into_response());
    }
    let method = req.method().to_string();
    let body = if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
        Vec::new()
    } else {
        req.bytes()
            .await
            .map_err(|_| ApiError::malformed_body("the body could not be read").into_response())?
    };
    Ok(http::Request {
        method,
        path: req.path(),
        headers,
        body,
    })
}

fn to_worker(response: http::Response) -> worker::Result<worker::Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let out = if response.body.is_empty() {
        worker::Response::empty()?
    } else {
        worker::Response::from_bytes(response.body)?
    };
    Ok(out.with_status(response.status).with_headers(headers))
}

fn log_json(value: serde_json::Value) {
    worker::console_log!("{value}");
}

struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> UnixSeconds {
        (Date::now().as_millis() / 1000) as UnixSeconds
    }
}

struct LogReporter;

impl ErrorReporter for LogReporter {
    fn report(&self, error_id: &str, route: &str, status: u16, cause: &str) {
        log_json(
            serde_json::json!({ "level": "error", "error_id": error_id, "route": route, "status": status, "cause": cause }),
        );
    }
}

/// Delivers mail after the response is sent. Without `SENDGRID_API_KEY` (local
/// development), the rendered mail goes to the log instead.
struct WaitUntilOutbox {
    ctx: Rc<Context>,
    state: Rc<AppState>,
}

impl Outbox for WaitUntilOutbox {
    fn send(&self, mail: Mail) {
        let state = self.state.clone();
        self.ctx.wait_until(async move {
            let config = &state.config;
            let rendered = templates::render(&mail, &config.app_name);
            let Some(key) = &config.sendgrid_api_key else {
                log_json(serde_json::json!({ "level": "info", "message": "mail (no SENDGRID_API_KEY, not sent)", "kind": mail.kind(), "to": rendered.to, "subject": rendered.subject, "text": rendered.text }));
                return;
            };
            match sendgrid::send(&FetchTransport, config, key.expose(), &rendered).await {
                Ok(()) => log_json(serde_json::json!({ "level": "info", "message": "mail sent", "kind": mail.kind() })),
                Err(error) => log_json(serde_json::json!({ "level": "error", "message": "mail failed", "kind": mail.kind(), "error": error.to_string() })),
            }
        });
    }
}

struct FetchTransport;

#[async_trait(?Send)]
impl sendgrid::Transport for FetchTransport {
    async fn post_json(&self, url: &str, bearer: &str, body: String) -> Result<(u16, String), String> {
        let headers = Headers::new();
        headers
            .set("Authorization", &format!("Bearer {bearer}"))
            .map_err(|e| e.to_string())?;
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| e.to_string())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&body)));
        let request = worker::Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        let mut response = Fetch::Request(request).send().await.map_err(|e| e.to_string())?;
        let text = response.text().await.unwrap_or_default();
        Ok((response.status_code(), text))
    }

    async fn sleep_ms(&self, ms: u32) {
        worker::Delay::from(std::time::Duration::from_millis(ms.into())).await;
    }
}
