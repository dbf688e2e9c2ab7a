//! Panics. With `panic = "abort"` a panic traps the wasm instance: nothing async can run
//! afterwards, and worker-build's shim re-creates the instance on the next event. So the
//! hook builds the Sentry envelope while the panicking request's context is still at hand
//! and parks it in a JavaScript global, which outlives the instance; the next request sends it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;

use super::now_ms;
use crate::app::FEATURES;
use crate::http::router;
use crate::kernel::feature::AppState;
use crate::kernel::web::Request;
use crate::observability::sentry::{self, Report};

/// Where envelopes wait for the next request, on `globalThis`.
const PENDING_GLOBAL: &str = "__edgeAuthPendingPanicReports";

#[derive(Clone)]
struct Context {
    state: Rc<AppState>,
    request_id: String,
    method: String,
    path: String,
}

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
    static HOOK_INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// Installs the hook once per instance (a re-created instance installs it again).
pub fn install_hook() {
    if HOOK_INSTALLED.with(|installed| installed.replace(true)) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        park_report(info);
        previous(info);
    }));
}

/// Remembers the request being served, for a report should it panic. Cheap on purpose:
/// everything else (route, release, DSN) is worked out in the hook, only if it panics.
pub fn enter(state: &Rc<AppState>, request: &Request, request_id: &str) {
    let context = Context {
        state: state.clone(),
        request_id: request_id.to_owned(),
        method: request.method.clone(),
        path: request.path.clone(),
    };
    CURRENT.with(|current| *current.borrow_mut() = Some(context));
}

fn park_report(info: &std::panic::PanicHookInfo<'_>) {
    let Some(context) = CURRENT.with(|current| current.borrow().clone()) else {
        return;
    };
    let config = &context.state.config;
    let Some(dsn) = config.sentry_dsn.as_ref().map(|d| d.expose()) else {
        return;
    };
    let route = router::match_route(FEATURES, &config.api_prefix, &context.method, &context.path)
        .route()
        .map_or("unmatched", |r| r.path);
    let release = format!("edge-auth@{}", config.version);
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    let location = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let report = Report {
        error_id: &context.request_id,
        request_id: &context.request_id,
        method: &context.method,
        route,
        status: 500,
        causes: vec![format!("{route} panicked"), format!("panic: {message}{location}")],
        release: &release,
        environment: &config.environment,
        timestamp_seconds: now_ms() as f64 / 1000.0,
    };
    let envelope = sentry::envelope(dsn, &report);
    let global = js_sys::global();
    let pending = Reflect::get(&global, &JsValue::from_str(PENDING_GLOBAL))
        .ok()
        .filter(Array::is_array)
        .map(|v| Array::from(&v))
        .unwrap_or_default();
    pending.push(&JsValue::from_str(&envelope));
    let _ = Reflect::set(&global, &JsValue::from_str(PENDING_GLOBAL), &pending);
}

/// The envelopes parked by earlier panics, removed from the global.
pub fn take_pending() -> Vec<String> {
    let global = js_sys::global();
    let key = JsValue::from_str(PENDING_GLOBAL);
    let Some(pending) = Reflect::get(&global, &key)
        .ok()
        .filter(Array::is_array)
        .map(|v| Array::from(&v))
    else {
        return Vec::new();
    };
    let _ = Reflect::delete_property(&global, &key);
    pending.iter().filter_map(|v| v.as_string()).collect()
}
