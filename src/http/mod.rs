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
mod message;
mod metrics;
mod password_reset;
mod register;
mod system;
mod verify_email;

pub use message::{Request, Response};

use crate::auth::tokens::TokenService;
use crate::auth::Deps;
use crate::config::Config;
use std::cell::{Cell, RefCell};

use crate::domain::{secrets::random_uuid, Clock, Outbox, RateLimiter, SecretDigester, Store, Telemetry};
use crate::observability::metrics::Aggregate;
use error::ApiError;
use router::{Route, RouteMatch};

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

/// A 5xx and its cause, as the boundary reports it.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub error_id: &'a str,
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub cause: &'a str,
}

/// Receives 5xx causes at the boundary (the log, and Sentry when configured).
pub trait ErrorReporter {
    fn report(&self, failure: &Failure<'_>);
}

/// The aggregated metrics of every isolate.
#[async_trait::async_trait(?Send)]
pub trait MetricsSource {
    async fn snapshot(&self) -> Result<Aggregate, String>;
}

/// Per-request adapters supplied by the Worker entry (or by tests).
pub struct Services<'a> {
    pub store: &'a dyn Store,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
    pub reporter: &'a dyn ErrorReporter,
    pub limiter: &'a dyn RateLimiter,
    pub metrics: &'a dyn MetricsSource,
}

/// What a handler sees of its request's surroundings.
pub struct Ctx<'a> {
    pub deps: Deps<'a>,
    pub request_id: String,
    pub client_ip: Option<String>,
    pub metrics: &'a dyn MetricsSource,
    /// The tightest limit met so far: (limit, remaining), sent as X-RateLimit-* headers.
    pub quota: Cell<Option<(u32, u32)>>,
    /// The authenticated user, once known, for the log line.
    pub user_id: RefCell<Option<String>>,
}

/// Auth events the flows report during one request.
#[derive(Default)]
pub struct EventLog(RefCell<Vec<&'static str>>);

impl Telemetry for EventLog {
    fn event(&self, name: &'static str) {
        self.0.borrow_mut().push(name);
    }
}

/// Events that follow from a route's answer alone: (route, status, event).
const ROUTE_EVENTS: &[(Option<Route>, u16, &str)] = &[
    (Some(Route::Register), 201, "registration"),
    (Some(Route::VerifyEmail), 200, "verification"),
    (Some(Route::Login), 200, "login_succeeded"),
    (Some(Route::Login), 401, "login_failed"),
    (Some(Route::ResetPassword), 200, "password_reset"),
    (None, 429, "rate_limited"),
    (None, 503, "dependency_unavailable"),
];

/// The outcome of one request, for logs and metrics.
pub struct Handled {
    pub response: Response,
    /// The route template (never a raw path), or `unmatched`.
    pub route: &'static str,
    pub request_id: String,
    pub user_id: Option<String>,
    /// `ok`, or the problem's machine code.
    pub outcome: String,
    pub events: Vec<&'static str>,
}

/// Handles one request: routing, CORS, request id, no-store on auth routes, and mapping
/// every error to problem+json.
pub async fn handle(request: Request, state: &AppState, services: &Services<'_>) -> Handled {
    let config = &state.config;
    let request_id = request_id(&request);
    let matched = router::match_route(&config.api_prefix, &request.method, &request.path);
    let route = matched.route();
    let route_name = route.map_or("unmatched", Route::template);
    let events = EventLog::default();
    let ctx = Ctx {
        deps: Deps {
            config,
            store: services.store,
            outbox: services.outbox,
            clock: services.clock,
            digester: &state.digester,
            tokens: &state.tokens,
            limiter: services.limiter,
            events: &events,
        },
        request_id: request_id.clone(),
        client_ip: request.header("cf-connecting-ip").map(str::to_owned),
        metrics: services.metrics,
        quota: Cell::new(None),
        user_id: RefCell::new(None),
    };
    let result = match matched {
        RouteMatch::Found(route) => match injected_fault(config, &request) {
            Some(fault) => Err(fault),
            None => dispatch(route, &ctx, &request).await,
        },
        RouteMatch::Preflight(route) => Ok(cors::preflight(config, &request, route)),
        RouteMatch::MethodNotAllowed { allow, .. } => Err(ApiError::method_not_allowed(&allow)),
        RouteMatch::NotFound => Err(ApiError::not_found()),
    };
    let (mut response, outcome) = match result {
        Ok(response) => (response, "ok".to_owned()),
        Err(error) => {
            if let (Some(cause), true) = (&error.cause, error.status() >= 500) {
                let error_id = error.problem.error_id.clone().unwrap_or_else(|| request_id.clone());
                services.reporter.report(&Failure {
                    error_id: &error_id,
                    request_id: &request_id,
                    method: &request.method,
                    route: route_name,
                    status: error.status(),
                    cause,
                });
            }
            let code = error.problem.code.clone();
            (error.into_response(), code)
        }
    };
    if let Some((limit, remaining)) = ctx.quota.get() {
        response.headers.push(("X-RateLimit-Limit".into(), limit.to_string()));
        response
            .headers
            .push(("X-RateLimit-Remaining".into(), remaining.to_string()));
    }
    cors::decorate(config, &request, &mut response);
    let auth_path = format!("{}/auth/", config.api_prefix);
    if route_name.starts_with("{p}/auth/") || request.path.starts_with(&auth_path) {
        response.headers.push(("Cache-Control".into(), "no-store".into()));
    }
    response.headers.push(("X-Request-Id".into(), request_id.clone()));
    response
        .headers
        .push(("X-Content-Type-Options".into(), "nosniff".into()));
    let mut events = events.0.take();
    events.extend(
        ROUTE_EVENTS
            .iter()
            .filter(|(r, status, _)| (r.is_none() || *r == route) && *status == response.status)
            .map(|(_, _, event)| *event),
    );
    Handled {
        route: route_name,
        request_id,
        user_id: ctx.user_id.take(),
        outcome,
        events,
        response,
    }
}

/// With `FAULT_INJECTION` on (test configurations only), `X-Fault-Inject: internal` makes
/// the request fail as an unexpected error would, and `X-Fault-Inject: panic` makes it
/// panic, to prove reporting and scrubbing.
fn injected_fault(config: &Config, request: &Request) -> Option<ApiError> {
    if !config.fault_injection {
        return None;
    }
    match request.header("x-fault-inject") {
        Some("internal") => {}
        Some("panic") => panic!("injected panic (FAULT_INJECTION)"),
        _ => return None,
    }
    // The cause quotes the request's email on purpose: the report must scrub it.
    let email = serde_json::from_slice::<serde_json::Value>(&request.body)
        .ok()
        .and_then(|body| body["email"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Some(ApiError::internal_cause(format!(
        "injected fault (FAULT_INJECTION) while serving {email}"
    )))
}

async fn dispatch(route: Route, ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    if request.body.len() > body::MAX_BODY_BYTES {
        return Err(body::too_large());
    }
    match route {
        Route::Root => Ok(system::root(ctx)),
        Route::Health => system::health(ctx).await,
        Route::Metrics => metrics::metrics(ctx, request).await,
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
pub fn request_id(request: &Request) -> String {
    request
        .header("x-request-id")
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(random_uuid)
}

#[cfg(test)]
mod tests;
