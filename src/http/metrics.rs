//! `GET /metrics`: the Prometheus exposition of every isolate's counters.

use super::error::ApiError;
use super::{Ctx, Request, Response};

/// Optionally behind `METRICS_TOKEN`, compared in constant time.
#[utoipa::path(get, path = "/metrics", tag = "system", responses(
    (status = 200, description = "Prometheus text exposition 0.0.4", content_type = "text/plain; version=0.0.4"),
    (status = 401, body = super::error::Problem, content_type = "application/problem+json", description = "`METRICS_TOKEN` is set and was not presented"),
    (status = 503, body = super::error::Problem, content_type = "application/problem+json", description = "The metrics store is unreachable"),
))]
pub async fn metrics(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    if let Some(token) = &ctx.deps.config.metrics_token {
        let presented = request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "send Authorization: Bearer METRICS_TOKEN",
            ));
        }
    }
    let aggregate = ctx.metrics.snapshot().await.map_err(|cause| {
        let mut error = ApiError::unavailable("metrics", "the metrics store is unavailable");
        error.cause = Some(cause);
        error
    })?;
    let text = aggregate.render(ctx.deps.config.version);
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
