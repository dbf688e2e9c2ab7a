//! `/`, `/health`, `/metrics`, `/openapi.json` and `/docs`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::features::users;
use crate::kernel::assets;
use crate::kernel::feature::Ctx;
use crate::kernel::problem::{ApiError, DEPENDENCY_UNAVAILABLE, INVALID_TOKEN};
use crate::kernel::web::{Request, Response};
use crate::observability::metrics::Aggregate;

/// The prefix the annotations are written with; replaced by `API_PREFIX` when served.
const ANNOTATED_PREFIX: &str = "/balance_hub";

/// The title the generator writes; replaced by `APP_NAME` when served.
const ANNOTATED_TITLE: &str = r#""title": "edge-auth""#;
const DOCS_PAGE: &str = include_str!("docs.html");

#[derive(Debug, Serialize, ToSchema)]
pub struct RootInfo {
    pub name: String,
    pub version: String,
    pub docs: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
    /// Each dependency and its state, e.g. `{"database": "ok", "rate_limiter": "ok"}`.
    /// Presenting `Authorization: Bearer METRICS_TOKEN` adds the details:
    /// `"database_backend": "d1"` and `"mail": "sendgrid"` (or `"log"`). Unconfigured mail
    /// is named to everyone, `"mail": "unconfigured"`, with a 503.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
}

#[utoipa::path(get, path = "/", tag = "system", responses((status = 200, body = RootInfo)))]
pub async fn root(ctx: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    let config = ctx.config;
    Ok(Response::json(
        200,
        &RootInfo {
            name: config.app_name.clone(),
            version: config.version.to_owned(),
            docs: "/docs".into(),
        },
    ))
}

/// Checks the database with a real query and the rate limiter with a round trip, and that
/// mail can be sent; 503 naming the failing check when one is down. Which backend and mail
/// provider the service uses are shown only to the bearer of `METRICS_TOKEN`.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let (database, limiter) = futures_util::future::join(ctx.db.run(&users::PING, &[]), ctx.limiter.ping()).await;
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mail = &ctx.config.mail;
    let mut checks = serde_json::json!({
        "database": state(database.is_ok()),
        "rate_limiter": state(limiter.is_ok()),
    });
    let detailed = presents_metrics_token(ctx, request);
    if detailed {
        checks["database_backend"] = ctx.db.backend().into();
    }
    if detailed || !mail.is_configured() {
        checks["mail"] = mail.name().into();
    }
    let failure = match (database, limiter) {
        (Err(e), _) => Some(ApiError::from(crate::kernel::sql::StoreError::from(e))),
        (_, Err(e)) => Some(ApiError::from(e)),
        // Not a cause to report on every poll: the answer names it, and so does each
        // mailing request that meets it.
        _ if !mail.is_configured() => Some(ApiError::new(&DEPENDENCY_UNAVAILABLE, "").with_header("Retry-After", "5")),
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

/// `Authorization: Bearer METRICS_TOKEN`, compared in constant time; never without one.
fn presents_metrics_token(ctx: &Ctx<'_>, request: &Request) -> bool {
    let Some(token) = &ctx.config.metrics_token else {
        return false;
    };
    let presented = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    constant_time_eq(presented.as_bytes(), token.expose().as_bytes())
}

/// Optionally behind `METRICS_TOKEN`, compared in constant time.
#[utoipa::path(get, path = "/metrics", tag = "system", security((), ("metrics_token" = [])), responses(
    (status = 200, description = "Prometheus text exposition 0.0.4", content_type = "text/plain; version=0.0.4"),
))]
pub async fn metrics(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    if ctx.config.metrics_token.is_some() && !presents_metrics_token(ctx, request) {
        return Err(ApiError::new(
            &INVALID_TOKEN,
            "send Authorization: Bearer METRICS_TOKEN",
        ));
    }
    let unavailable = |cause: String| ApiError::unavailable("metrics", "the metrics store is unavailable", cause);
    let json = ctx.metrics.snapshot().await.map_err(unavailable)?;
    let aggregate = Aggregate::from_json(&json).map_err(unavailable)?;
    let text = aggregate.render(ctx.config.version);
    Ok(Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        text.into_bytes(),
    ))
}

/// Equal-length inputs take the same time whatever their content, so the token cannot be
/// guessed byte by byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi(ctx: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    let committed = ctx.assets.read(assets::OPENAPI).await?;
    let committed = String::from_utf8(committed).map_err(ApiError::internal_cause)?;
    Ok(Response::new(200, "application/json", document(ctx, &committed)))
}

/// The document as served: the one generated from the annotations and the registrations,
/// committed as `openapi.json` (a unit test in `app/` fails while the code and the file
/// differ; `make openapi` rewrites it) and deployed as a static asset, so neither the
/// generator nor the document is in the bundle; its paths under the configured prefix,
/// titled `APP_NAME` (the version is the crate's, as generated). Text replacement, not a
/// parse: a quote followed by the prefix only ever starts a path.
fn document(ctx: &Ctx<'_>, committed: &str) -> Vec<u8> {
    let title = format!(
        r#""title": {}"#,
        serde_json::to_string(&ctx.config.app_name).expect("a string serialises")
    );
    committed
        .replacen(ANNOTATED_TITLE, &title, 1)
        .replace(
            &format!("\"{ANNOTATED_PREFIX}/"),
            &format!("\"{}/", ctx.config.api_prefix),
        )
        .into_bytes()
}

#[utoipa::path(get, path = "/docs", tag = "system", responses((status = 200, description = "The interactive API reference (Swagger UI, served without a CDN)", content_type = "text/html")))]
pub async fn docs(_: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    Ok(Response::new(
        200,
        "text/html; charset=utf-8",
        DOCS_PAGE.as_bytes().to_vec(),
    ))
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(paths(root, health, metrics, openapi, docs))]
pub(super) struct Doc;
