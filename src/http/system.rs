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

/// Checks the database with a real query; 503 naming the failing check otherwise.
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
    match ctx.deps.store.ping().await {
        Ok(()) => Ok(Response::json(
            200,
            &Health {
                status: "ok".into(),
                checks: serde_json::json!({ "database": "ok", "mail": mail }),
            },
        )),
        Err(e) => {
            let mut error = ApiError::from(e);
            error.problem.detail = "the database check failed".into();
            error.problem.checks = Some(serde_json::json!({ "database": "unavailable", "mail": mail }));
            Err(error)
        }
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "This document", content_type = "application/json")))]
pub fn openapi(ctx: &Ctx<'_>) -> Response {
    Response::new(200, "application/json", super::openapi::document(ctx.deps.config))
}
