//! CORS: credentials allowed for `FRONTEND_URL` and `CORS_ORIGINS` only.

use crate::kernel::config::Config;
use crate::kernel::web::{Request, Response};

const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Request-Id";
const EXPOSED_HEADERS: &str = "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining";
const PREFLIGHT_MAX_AGE_SECONDS: u32 = 600;

fn allowed_origin<'r>(config: &Config, request: &'r Request) -> Option<&'r str> {
    request
        .header("origin")
        .filter(|origin| config.cors_origins.iter().any(|allowed| allowed == origin))
}

/// Answers an `OPTIONS` preflight for a path with the methods `allow`; other origins get
/// no allow headers, so the browser refuses — unless the path is public (any origin, no
/// credentials).
pub fn preflight(config: &Config, request: &Request, allow: String, public: bool) -> Response {
    let mut response = Response::empty(204);
    if public || allowed_origin(config, request).is_some() {
        response.headers.extend([
            ("Access-Control-Allow-Methods".to_owned(), allow),
            ("Access-Control-Allow-Headers".to_owned(), ALLOWED_HEADERS.to_owned()),
            (
                "Access-Control-Max-Age".to_owned(),
                PREFLIGHT_MAX_AGE_SECONDS.to_string(),
            ),
        ]);
    }
    response
}

/// Adds the allow-origin headers to every answer for an allowed origin; a public answer
/// allows every origin and no credentials.
pub fn decorate(config: &Config, request: &Request, response: &mut Response, public: bool) {
    if public {
        response
            .headers
            .push(("Access-Control-Allow-Origin".into(), "*".into()));
        return;
    }
    response.headers.push(("Vary".into(), "Origin".into()));
    if let Some(origin) = allowed_origin(config, request) {
        response.headers.extend([
            ("Access-Control-Allow-Origin".to_owned(), origin.to_owned()),
            ("Access-Control-Allow-Credentials".to_owned(), "true".to_owned()),
            ("Access-Control-Expose-Headers".to_owned(), EXPOSED_HEADERS.to_owned()),
        ]);
    }
}
