//! `/`, `/health` and `/openapi.json`.

use super::dto::{Health, RootInfo};
use super::error::ApiError;
use super::{Ctx, Response};

#[utoipa::path(get, path = "/", tag = "system", responses((status = 200, body = RootInfo)))]
pub fn root(ctx: &Ctx<'_>) -> Response {
    let config = ctx.deps.config;
    Response::json(
        200,
        &RootInfo {
            name: config.app_name.clone(),
            version: config.version.to_owned(),
            docs: "/docs".into(),
        },
    )
}

/// Checks the database with a real query and the rate limiter with a round trip; 503
/// naming the failing check when a required one is down. Mail is reported, not required.
#[utoipa::path(get, path = "/health", tag = "system", responses(
    (status = 200, body = Health),
    (status = 503, description = "A required dependency is down; `checks` names it", body = super::error::Problem, content_type = "application/problem+json"),
))]
pub async fn health(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let mail = if ctx.deps.config.sendgrid_api_key.is_some() {
        "sendgrid"
    } else {
        "log"
    };
    let (database, limiter) = (ctx.deps.store.ping().await, ctx.deps.limiter.ping().await);
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    let checks = serde_json::json!({
        "database": state(database.is_ok()),
        "database_backend": ctx.deps.store.backend(),
        "rate_limiter": state(limiter.is_ok()),
        "mail": mail,
    });
    let failure = match (database, limiter) {
        (Err(e), _) => Some(ApiError::from(e)),
        (_, Err(e)) => Some(ApiError::from(e)),
        _ => None,
    };
    match failure {
        None => Ok(Response::json(
            200,
            &Health {
                status: "ok".into(),
                checks,
            },
        )),
        Some(mut error) => {
            error.problem.detail = "a required dependency is down; see checks".into();
            error.problem.checks = Some(checks);
            Err(error)
        }
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "This document", content_type = "application/json")))]
pub fn openapi(ctx: &Ctx<'_>) -> Response {
    Response::new(200, "application/json", super::openapi::document(ctx.deps.config))
}
