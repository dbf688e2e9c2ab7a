//! `ApiError`: the one place that owns status codes, RFC 9457 problem+json bodies and the
//! `Allow`, `Retry-After` and `WWW-Authenticate` headers.

use serde::Serialize;
use utoipa::ToSchema;

use super::Response;
use crate::domain::{LimiterError, StoreError};

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, as every error answer carries them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:edge-auth:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Human-readable explanation; always a string (FastAPI clients read `detail`).
    pub detail: String,
    /// Stable machine code, e.g. `invalid_credentials`, `rate_limited`, `validation_error`.
    pub code: String,
    /// Present on 422 validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Present on `/health` failures: each dependency and its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub checks: Option<serde_json::Value>,
    /// Present on 500s: quote it when reporting the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub problem: Box<Problem>,
    headers: Vec<(String, String)>,
    /// For 5xx answers: the cause, logged and reported at the boundary, never sent.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem: Box::new(Problem {
                kind: format!("urn:edge-auth:problem:{code}"),
                title: reason_phrase(status).to_owned(),
                status,
                detail: detail.into(),
                code: code.to_owned(),
                errors: Vec::new(),
                checks: None,
                error_id: None,
            }),
            headers: Vec::new(),
            cause: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn malformed_body(detail: impl Into<String>) -> Self {
        Self::new(400, "malformed_body", detail)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let code = if errors
            .iter()
            .any(|e| e.message == crate::domain::password::InvalidPassword::TooCommon.to_string())
        {
            "password_too_common"
        } else {
            "validation_error"
        };
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = Self::new(422, code, detail);
        error.problem.errors = errors;
        error
    }

    pub fn unauthorized(code: &str, detail: &str) -> Self {
        Self::new(401, code, detail).with_header("WWW-Authenticate", "Bearer")
    }

    pub fn not_found() -> Self {
        Self::new(404, "not_found", "no route matches this path")
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        Self::new(405, "method_not_allowed", format!("this route allows {allow}")).with_header("Allow", allow)
    }

    pub fn rate_limited(retry_after_seconds: u32) -> Self {
        Self::new(
            429,
            "rate_limited",
            format!("too many requests; retry in {retry_after_seconds} s"),
        )
        .with_header("Retry-After", retry_after_seconds.to_string())
    }

    pub fn unavailable(check: &str, detail: impl Into<String>) -> Self {
        let mut error = Self::new(503, "dependency_unavailable", detail);
        error.problem.checks = Some(serde_json::json!({ check: "unavailable" }));
        error.with_header("Retry-After", "5")
    }

    /// An unexpected failure: the body names only an id; the cause is logged (and reported) by the caller.
    pub fn internal(error_id: &str) -> Self {
        let mut error = Self::new(
            500,
            "internal_error",
            "an unexpected error occurred; it has been reported",
        );
        error.problem.error_id = Some(error_id.to_owned());
        error
    }

    /// An unexpected failure with its cause, under a fresh error id.
    pub fn internal_cause(cause: impl std::fmt::Display) -> Self {
        let mut error = Self::internal(&crate::domain::secrets::random_uuid());
        error.cause = Some(cause.to_string());
        error
    }

    pub fn status(&self) -> u16 {
        self.problem.status
    }

    pub fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).expect("a problem always serialises");
        let mut response = Response::new(self.problem.status, "application/problem+json", body);
        response.headers.extend(self.headers);
        response
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A database failure degrades the request to a 503 naming the database; the cause is reported.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let mut api = Self::unavailable("database", "the database is unavailable; try again shortly");
        api.cause = Some(error.to_string());
        api
    }
}

/// Without the limiter, limited routes fail closed: never an unlimited login.
impl From<LimiterError> for ApiError {
    fn from(error: LimiterError) -> Self {
        let mut api = Self::unavailable("rate_limiter", "the rate limiter is unavailable; try again shortly");
        api.cause = Some(error.to_string());
        api
    }
}
