//! System routes, never prefixed: `/` (what this is), `/health` (its dependencies),
//! `/metrics` (Prometheus), `/openapi.json` (this API) and `/docs` (the page that renders
//! it; its scripts and styles are static assets under `/docs-assets/`).

mod api;

use crate::handler;
use crate::kernel::feature::{Auth, Feature, Route};

pub const FEATURE: Feature = Feature {
    name: "system",
    routes: &[
        Route::new("GET", "/", handler!(api::root), 200),
        Route::new("GET", "/health", handler!(api::health), 200).storage(),
        Route::new("GET", "/metrics", handler!(api::metrics), 200)
            .auth(Auth::MetricsToken)
            .storage(),
        Route::new("GET", "/openapi.json", handler!(api::openapi), 200).storage(),
        Route::new("GET", "/docs", handler!(api::docs), 200),
    ],
    limits: &[],
    mails: &[],
    settings: None,
    housekeeping: &[],
    sign_in_completed: None,
    second_factors: &[],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <api::Doc as utoipa::OpenApi>::openapi,
};

#[cfg(test)]
mod tests;
