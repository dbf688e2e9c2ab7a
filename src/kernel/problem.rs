//! Problem codes and `ApiError`: the one place that owns status codes, RFC 9457
//! problem+json bodies and the `Allow`, `Retry-After` and `WWW-Authenticate` headers.
//!
//! Every machine `code` an answer can carry is a `ProblemCode` constant: the generic ones
//! below, and each capability's own in its folder (listed in its `Feature` registration,
//! from which the OpenAPI document and the uniqueness test are built). Handlers and the
//! documentation name a constant, never a string literal.

use serde::Serialize;
use utoipa::ToSchema;

use super::sql::StoreError;
use crate::rate_limit::LimiterError;

/// One kind of error answer: its status, machine code and title.
#[derive(Debug, PartialEq, Eq)]
pub struct ProblemCode {
    pub status: u16,
    pub code: &'static str,
    pub title: &'static str,
}

impl ProblemCode {
    pub const fn new(status: u16, code: &'static str, title: &'static str) -> Self {
        Self { status, code, title }
    }
}

pub const MALFORMED_BODY: ProblemCode = ProblemCode::new(400, "malformed_body", "Malformed body");
pub const NOT_AUTHENTICATED: ProblemCode = ProblemCode::new(401, "not_authenticated", "Not authenticated");
pub const INVALID_TOKEN: ProblemCode = ProblemCode::new(401, "invalid_token", "Invalid token");
pub const NOT_FOUND: ProblemCode = ProblemCode::new(404, "not_found", "Not found");
pub const METHOD_NOT_ALLOWED: ProblemCode = ProblemCode::new(405, "method_not_allowed", "Method not allowed");
pub const PAYLOAD_TOO_LARGE: ProblemCode = ProblemCode::new(413, "payload_too_large", "Payload too large");
pub const UNSUPPORTED_MEDIA_TYPE: ProblemCode =
    ProblemCode::new(415, "unsupported_media_type", "Unsupported media type");
pub const VALIDATION_ERROR: ProblemCode = ProblemCode::new(422, "validation_error", "Validation error");
pub const PASSWORD_TOO_COMMON: ProblemCode = ProblemCode::new(422, "password_too_common", "Password too common");
pub const RATE_LIMITED: ProblemCode = ProblemCode::new(429, "rate_limited", "Too many requests");
pub const INTERNAL_ERROR: ProblemCode = ProblemCode::new(500, "internal_error", "Internal error");
pub const DEPENDENCY_UNAVAILABLE: ProblemCode =
    ProblemCode::new(503, "dependency_unavailable", "Dependency unavailable");

/// The codes any route may answer, whatever its capability.
pub const GENERIC: &[&ProblemCode] = &[
    &MALFORMED_BODY,
    &NOT_AUTHENTICATED,
    &INVALID_TOKEN,
    &NOT_FOUND,
    &METHOD_NOT_ALLOWED,
    &PAYLOAD_TOO_LARGE,
    &UNSUPPORTED_MEDIA_TYPE,
    &VALIDATION_ERROR,
    &PASSWORD_TOO_COMMON,
    &RATE_LIMITED,
    &INTERNAL_ERROR,
    &DEPENDENCY_UNAVAILABLE,
];

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
    /// Present on 503 answers and `/health` failures: each dependency and its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub checks: Option<serde_json::Value>,
    /// Present on 500s: quote it when reporting the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: &'static ProblemCode,
    pub problem: Box<Problem>,
    headers: Vec<(&'static str, String)>,
    /// For 5xx answers: the cause, logged and reported at the boundary, never sent.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: &'static ProblemCode, detail: impl Into<String>) -> Self {
        let mut headers = Vec::new();
        if code.status == 401 {
            headers.push(("WWW-Authenticate", "Bearer".to_owned()));
        }
        Self {
            code,
            problem: Box::new(Problem {
                kind: format!("urn:edge-auth:problem:{}", code.code),
                title: code.title.to_owned(),
                status: code.status,
                detail: detail.into(),
                code: code.code.to_owned(),
                errors: Vec::new(),
                checks: None,
                error_id: None,
            }),
            headers,
            cause: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn malformed_body(detail: impl Into<String>) -> Self {
        Self::new(&MALFORMED_BODY, detail)
    }

    /// A 422 naming each field; `password_too_common` when that is among the reasons.
    pub fn validation(errors: Vec<FieldError>, too_common: bool) -> Self {
        let code = if too_common {
            &PASSWORD_TOO_COMMON
        } else {
            &VALIDATION_ERROR
        };
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = Self::new(code, detail);
        error.problem.errors = errors;
        error
    }

    /// A 422 for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)], false)
    }

    pub fn not_found() -> Self {
        Self::new(&NOT_FOUND, "no route matches this path")
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        Self::new(&METHOD_NOT_ALLOWED, format!("this route allows {allow}")).with_header("Allow", allow)
    }

    pub fn rate_limited(retry_after_seconds: u32) -> Self {
        Self::new(
            &RATE_LIMITED,
            format!("too many requests; retry in {retry_after_seconds} s"),
        )
        .with_header("Retry-After", retry_after_seconds.to_string())
    }

    /// A required dependency is down: 503 naming it, with a cause for the report.
    pub fn unavailable(check: &str, detail: impl Into<String>, cause: impl Into<String>) -> Self {
        let mut error = Self::new(&DEPENDENCY_UNAVAILABLE, detail);
        error.problem.checks = Some(serde_json::json!({ check: "unavailable" }));
        error.cause = Some(cause.into());
        error.with_header("Retry-After", "5")
    }

    /// An unexpected failure: the body names only an id; the cause is logged (and reported) by the caller.
    pub fn internal(error_id: &str) -> Self {
        let mut error = Self::new(&INTERNAL_ERROR, "an unexpected error occurred; it has been reported");
        error.problem.error_id = Some(error_id.to_owned());
        error
    }

    /// An unexpected failure with its cause, under a fresh error id.
    pub fn internal_cause(cause: impl std::fmt::Display) -> Self {
        let mut error = Self::internal(&super::secrets::random_uuid());
        error.cause = Some(cause.to_string());
        error
    }

    pub fn status(&self) -> u16 {
        self.code.status
    }

    /// The problem+json body and the headers this error owns (`kernel::web` makes the answer).
    pub fn into_parts(self) -> (u16, Vec<u8>, Vec<(&'static str, String)>) {
        let body = serde_json::to_vec(&self.problem).expect("a problem always serialises");
        (self.code.status, body, self.headers)
    }
}

/// A database failure degrades the request to a 503 naming the database; the cause is reported.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::unavailable(
            "database",
            "the database is unavailable; try again shortly",
            error.to_string(),
        )
    }
}

/// Without the limiter, limited routes fail closed: never an unlimited login.
impl From<LimiterError> for ApiError {
    fn from(error: LimiterError) -> Self {
        Self::unavailable(
            "rate_limiter",
            "the rate limiter is unavailable; try again shortly",
            error.to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_codes_are_unique_and_titled() {
        for (i, a) in GENERIC.iter().enumerate() {
            assert!(!a.title.is_empty() && a.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            for b in &GENERIC[i + 1..] {
                assert!((a.status, a.code) != (b.status, b.code), "{} twice", a.code);
            }
        }
    }

    #[test]
    fn the_problem_owns_its_headers() {
        let (_, _, headers) = ApiError::new(&INVALID_TOKEN, "bad").into_parts();
        assert_eq!(headers, [("WWW-Authenticate", "Bearer".to_owned())]);
        let (status, body, headers) = ApiError::rate_limited(7).into_parts();
        assert_eq!((status, headers), (429, vec![("Retry-After", "7".to_owned())]));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "rate_limited");
        assert_eq!(body["type"], "urn:edge-auth:problem:rate_limited");
        assert_eq!(body["status"], 429);
    }
}
