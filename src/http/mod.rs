//! The HTTP edge in plain Rust: requests in, responses out. The Worker entry converts to
//! and from its own types; everything here also runs natively in tests.

pub mod body;
pub mod cors;
pub mod dto;
pub mod error;
pub mod limits;
pub mod openapi;
pub mod router;

mod account;
mod login;
mod password_reset;
mod register;
mod system;
mod verify_email;

use crate::auth::tokens::TokenService;
use crate::auth::Deps;
use crate::config::Config;
use crate::domain::{secrets::random_uuid, Clock, Outbox, RateLimiter, SecretDigester, Store};
use error::ApiError;
use router::{Route, RouteMatch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names are lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Self {
        Self::new(
            status,
            "application/json",
            serde_json::to_vec(value).expect("response bodies serialise"),
        )
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Per-isolate state: configuration and the keys derived from it, built once.
pub struct AppState {
    pub config: Config,
    pub digester: SecretDigester,
    pub tokens: TokenService,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        Self {
            digester: SecretDigester::new(config.secret_key.expose().as_bytes()),
            tokens: TokenService::new(&config),
            config,
        }
    }
}

/// Receives 5xx causes at the boundary (logs, and Sentry once configured).
pub trait ErrorReporter {
    fn report(&self, error_id: &str, route: &str, status: u16, cause: &str);
}

/// Per-request adapters supplied by the Worker entry (or by tests).
pub struct Services<'a> {
    pub store: &'a dyn Store,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
    pub reporter: &'a dyn ErrorReporter,
    pub limiter: &'a dyn RateLimiter,
}

/// What a handler sees of its request's surroundings.
pub struct Ctx<'a> {
    pub deps: Deps<'a>,
    pub request_id: String,
    pub client_ip: Option<String>,
    /// The tightest limit met so far: (limit, remaining), sent as X-RateLimit-* headers.
    pub quota: std::cell::Cell<Option<(u32, u32)>>,
}

/// The outcome of one request, for logs and metrics.
pub struct Handled {
    pub response: Response,
    /// The route template (never a raw path), or `unmatched`.
    pub route: &'static str,
}

/// Handles one request: routing, CORS, request id, no-store on auth routes, and mapping
/// every error to problem+json.
pub async fn handle(request: Request, state: &AppState, services: &Services<'_>) -> Handled {
    let config = &state.config;
    let request_id = request_id(&request);
    let matched = router::match_route(&config.api_prefix, &request.method, &request.path);
    let route_name = match &matched {
        RouteMatch::Found(route) | RouteMatch::Preflight(route) => route.template(),
        _ => "unmatched",
    };
    let ctx = Ctx {
        deps: Deps {
            config,
            store: services.store,
            outbox: services.outbox,
            clock: services.clock,
            digester: &state.digester,
            tokens: &state.tokens,
            limiter: services.limiter,
        },
        request_id: request_id.clone(),
        client_ip: request.header("cf-connecting-ip").map(str::to_owned),
        quota: std::cell::Cell::new(None),
    };
    let result = match matched {
        RouteMatch::Found(route) => dispatch(route, &ctx, &request).await,
        RouteMatch::Preflight(route) => Ok(cors::preflight(config, &request, route)),
        RouteMatch::MethodNotAllowed(allow) => Err(ApiError::method_not_allowed(&allow)),
        RouteMatch::NotFound => Err(ApiError::not_found()),
    };
    let mut response = result.unwrap_or_else(|error| {
        if let (Some(cause), true) = (&error.cause, error.status() >= 500) {
            let id = error.problem.error_id.clone().unwrap_or_else(|| request_id.clone());
            services.reporter.report(&id, route_name, error.status(), cause);
        }
        error.into_response()
    });
    if let Some((limit, remaining)) = ctx.quota.get() {
        response.headers.push(("X-RateLimit-Limit".into(), limit.to_string()));
        response
            .headers
            .push(("X-RateLimit-Remaining".into(), remaining.to_string()));
    }
    cors::decorate(config, &request, &mut response);
    if route_name.starts_with("{p}/auth/")
        || (route_name == "unmatched" && request.path.starts_with(&format!("{}/auth/", config.api_prefix)))
    {
        response.headers.push(("Cache-Control".into(), "no-store".into()));
    }
    response.headers.push(("X-Request-Id".into(), request_id));
    response
        .headers
        .push(("X-Content-Type-Options".into(), "nosniff".into()));
    Handled {
        response,
        route: route_name,
    }
}

async fn dispatch(route: Route, ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    if request.body.len() > body::MAX_BODY_BYTES {
        return Err(body::too_large());
    }
    match route {
        Route::Root => Ok(system::root(ctx)),
        Route::Health => system::health(ctx).await,
        Route::OpenApi => Ok(system::openapi(ctx)),
        Route::Register => register::register(ctx, request).await,
        Route::VerifyEmail => verify_email::verify_email(ctx, request).await,
        Route::ResendVerification => register::resend_verification(ctx, request).await,
        Route::Login => login::login(ctx, request).await,
        Route::Logout => login::logout(ctx, request).await,
        Route::Me => account::me(ctx, request).await,
        Route::UpdateUser => account::update_user(ctx, request).await,
        Route::ForgetPassword => password_reset::forget(ctx, request).await,
        Route::ResetPassword => password_reset::reset(ctx, request).await,
    }
}

/// Echoes a well-formed incoming `X-Request-Id`, else makes one.
fn request_id(request: &Request) -> String {
    request
        .header("x-request-id")
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(random_uuid)
}

#[cfg(test)]
mod tests;
