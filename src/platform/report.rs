//! 5xx answers and failed dependency calls: a log line always, a Sentry event when
//! `SENTRY_DSN` is set — sent off the response path, so a Sentry outage changes nothing.

use std::rc::Rc;

use worker::Context;

use super::fetch::WorkerFetch;
use super::{log_json, now_ms};
use crate::http::{ErrorReporter, Failure};
use crate::kernel::config::Config;
use crate::kernel::feature::AppState;
use crate::kernel::fetch::{HttpClient, HttpRequest};
use crate::observability::sentry::{self, Dsn, Report};

pub struct SentryReporter {
    pub ctx: Rc<Context>,
    pub state: Rc<AppState>,
}

impl ErrorReporter for SentryReporter {
    fn report(&self, failure: &Failure<'_>) {
        log_json(serde_json::json!({
            "level": "error", "message": "request failed", "error_id": failure.error_id,
            "request_id": failure.request_id, "route": failure.route, "status": failure.status,
            "cause": sentry::scrub(failure.cause),
        }));
        let config = &self.state.config;
        let report = Report {
            error_id: failure.error_id,
            request_id: failure.request_id,
            method: failure.method,
            route: failure.route,
            status: failure.status,
            causes: vec![
                format!("{} answered {}", failure.route, failure.status),
                failure.cause.to_owned(),
            ],
            release: &release(config),
            environment: &config.environment,
            timestamp_seconds: now_ms() as f64 / 1000.0,
        };
        if let Some(envelope) = envelope(config, &report) {
            let config = config.clone();
            self.ctx.wait_until(async move { send(&config, envelope).await });
        }
    }
}

/// A dependency call that failed off the response path (mail, metrics): log and report.
pub async fn dependency_failure(config: &Config, request_id: &str, dependency: &str, cause: &str) {
    log_json(serde_json::json!({
        "level": "error", "message": "dependency failed", "dependency": dependency,
        "request_id": request_id, "cause": sentry::scrub(cause),
    }));
    let report = Report {
        error_id: request_id,
        request_id,
        method: "-",
        route: dependency,
        status: 0,
        causes: vec![format!("{dependency} call failed"), cause.to_owned()],
        release: &release(config),
        environment: &config.environment,
        timestamp_seconds: now_ms() as f64 / 1000.0,
    };
    if let Some(envelope) = envelope(config, &report) {
        send(config, envelope).await;
    }
}

fn release(config: &Config) -> String {
    format!("edge-auth@{}", config.version)
}

fn envelope(config: &Config, report: &Report<'_>) -> Option<String> {
    config
        .sentry_dsn
        .as_ref()
        .map(|dsn| sentry::envelope(dsn.expose(), report))
}

/// Posts one envelope to the DSN; failures are logged, never retried on the request path.
pub async fn send(config: &Config, envelope: String) {
    let Some(dsn) = config.sentry_dsn.as_ref().and_then(|d| Dsn::parse(d.expose())) else {
        log_json(serde_json::json!({ "level": "warn", "message": "SENTRY_DSN is not a valid DSN; report dropped" }));
        return;
    };
    let request = HttpRequest {
        method: "POST",
        url: dsn.envelope_url(),
        headers: vec![
            ("X-Sentry-Auth", dsn.auth_header(&release(config))),
            ("Content-Type", "application/x-sentry-envelope".to_owned()),
        ],
        body: Some(envelope),
        timeout_ms: HttpRequest::DEFAULT_TIMEOUT_MS,
    };
    match WorkerFetch.send(request).await.map(|response| response.status) {
        Ok(status) if (200..300).contains(&status) => {}
        outcome => log_json(serde_json::json!({
            "level": "warn", "message": "Sentry did not take the report",
            "outcome": match outcome { Ok(status) => format!("answered {status}"), Err(e) => e.to_string() },
        })),
    }
}
