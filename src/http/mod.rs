//! The HTTP pipeline in plain Rust: a request in, an answer out, for the features it is
//! given. It routes (from the registrations), runs the handler, turns every error into
//! problem+json, reports 5xx causes, checks each answer against what its route documents,
//! and adds the headers every answer carries (request id, CORS, `no-store` on auth routes,
//! rate-limit quota). The Worker entry converts to and from its own types.

pub mod cors;
#[cfg(not(target_arch = "wasm32"))]
pub mod openapi;
pub mod router;

use crate::kernel::config::{ConfigError, MailMode, MAIL_UNCONFIGURED};
use crate::kernel::events::{AuthEvent, EventLog, EventSink};
use crate::kernel::feature::{AppState, Ctx, Feature, Route, Services};
use crate::kernel::problem::{self, ApiError};
use crate::kernel::secrets::{random_bytes, uuid_text};
use crate::kernel::web::{body, Request, Response};
use router::RouteMatch;

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

/// The outcome of one request, for logs and metrics.
pub struct Handled {
    pub response: Response,
    /// The route template (never a raw path), or `unmatched`.
    pub route: &'static str,
    pub request_id: String,
    pub user_id: Option<String>,
    /// `ok`, or the problem's machine code.
    pub outcome: &'static str,
    pub events: Vec<AuthEvent>,
    /// The answer is not among those its route documents (a bug: the entry logs it).
    pub undocumented: bool,
}

/// Handles one request for `features`.
pub async fn handle(
    request: Request,
    state: &AppState,
    features: &'static [&'static Feature],
    services: &Services<'_>,
    reporter: &dyn ErrorReporter,
) -> Handled {
    let config = &state.config;
    let request_id = request_id(&request);
    let matched = router::match_route(features, &config.api_prefix, &request.method, &request.path);
    let route = matched.route();
    let route_name = route.map_or("unmatched", |r| r.path);
    let events = EventLog::default();
    let ctx = Ctx::new(
        state,
        services,
        &events,
        &request_id,
        request.header("cf-connecting-ip"),
    );
    let result = match started(state, features, &ctx).await {
        Ok(()) => answer(matched, features, &ctx, &request).await,
        // A feature's startup check failed: nothing is served; the cause names the variable.
        Err(error) => Err(ApiError::internal_cause(error)),
    };
    let (mut response, outcome, undocumented) = match result {
        Ok(response) => {
            let undocumented = route.is_some_and(|r| r.ok != response.status) && request.method != "OPTIONS";
            (response, "ok", undocumented)
        }
        Err(error) => {
            report_failure(reporter, &error, &request, route_name, &request_id);
            subscribe_error(&events, &error);
            let undocumented = matches!(matched, RouteMatch::Found(r) if !r.documents(error.code));
            let outcome = error.code.code;
            (error.into_response(), outcome, undocumented)
        }
    };
    let public = route.is_some_and(|r| r.public);
    decorate(&mut response, &ctx, &request, route_name, &request_id, public);
    Handled {
        route: route_name,
        user_id: ctx.user_id(),
        outcome,
        events: events.take(),
        undocumented,
        request_id,
        response,
    }
}

/// Runs every feature's startup check at the first request of the isolate; remembers the outcome.
async fn started(state: &AppState, features: &[&Feature], ctx: &Ctx<'_>) -> Result<(), ConfigError> {
    if let Some(outcome) = state.started.borrow().clone() {
        return outcome;
    }
    let mut outcome = Ok(());
    for check in features.iter().filter_map(|f| f.startup) {
        if let Err(error) = check(ctx).await {
            outcome = Err(error);
            break;
        }
    }
    state.started.replace(Some(outcome.clone()));
    outcome
}

/// What the matched route, or the router itself, answers.
async fn answer(
    matched: RouteMatch<'static>,
    features: &'static [&'static Feature],
    ctx: &Ctx<'_>,
    request: &Request,
) -> Result<Response, ApiError> {
    let prefix = &ctx.config.api_prefix;
    match matched {
        RouteMatch::Found(route) => dispatch(route, ctx, request).await,
        RouteMatch::Preflight(route) => Ok(cors::preflight(
            ctx.config,
            request,
            router::allow(features, prefix, &request.path),
            route.public,
        )),
        RouteMatch::MethodNotAllowed { .. } => Err(ApiError::method_not_allowed(&router::allow(
            features,
            prefix,
            &request.path,
        ))),
        RouteMatch::NotFound => Err(ApiError::not_found()),
    }
}

async fn dispatch(route: &'static Route, ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    if let Some(fault) = injected_fault(ctx, request) {
        return Err(fault);
    }
    if request.oversized || request.body.len() > body::MAX_BODY_BYTES {
        return Err(body::too_large());
    }
    if route.mails && !ctx.config.mail.is_configured() {
        return Err(mail_unconfigured());
    }
    (route.handler)(ctx, request).await
}

/// A route whose purpose is a mail, while there is no way to send one: 503 naming `mail`,
/// never a success for a code or link that nobody will receive. The cause names the
/// variable in the log and the report.
fn mail_unconfigured() -> ApiError {
    let mut error = ApiError::unavailable(
        "mail",
        "mail is not configured, so this request cannot send its mail",
        MAIL_UNCONFIGURED,
    );
    error.problem.checks = Some(serde_json::json!({ "mail": MailMode::Unconfigured.name() }));
    error
}

/// A 5xx cause goes to the reporter (logs and Sentry) once, here at the boundary.
fn report_failure(reporter: &dyn ErrorReporter, error: &ApiError, request: &Request, route: &str, request_id: &str) {
    let Some(cause) = error.cause.as_deref().filter(|_| error.status() >= 500) else {
        return;
    };
    let error_id = error.problem.error_id.as_deref().unwrap_or(request_id);
    reporter.report(&Failure {
        error_id,
        request_id,
        method: &request.method,
        route,
        status: error.status(),
        cause,
    });
}

/// The events an error answer is, whichever route gave it.
fn subscribe_error(events: &EventLog, error: &ApiError) {
    let is = |code: &problem::ProblemCode| error.code.code == code.code && error.status() == code.status;
    if is(&problem::RATE_LIMITED) {
        events.emit(AuthEvent::RateLimited);
    } else if is(&problem::DEPENDENCY_UNAVAILABLE) {
        events.emit(AuthEvent::DependencyUnavailable);
    }
}

/// The headers every answer carries.
fn decorate(
    response: &mut Response,
    ctx: &Ctx<'_>,
    request: &Request,
    route_name: &str,
    request_id: &str,
    public: bool,
) {
    if let Some((limit, remaining)) = ctx.quota() {
        response.headers.push(("X-RateLimit-Limit".into(), limit.to_string()));
        response
            .headers
            .push(("X-RateLimit-Remaining".into(), remaining.to_string()));
    }
    cors::decorate(ctx.config, request, response, public);
    let under_auth = route_name.starts_with("{p}/auth/")
        || request
            .path
            .strip_prefix(ctx.config.api_prefix.as_str())
            .is_some_and(|rest| rest.starts_with("/auth/"));
    if under_auth {
        response.headers.push(("Cache-Control".into(), "no-store".into()));
    }
    response.headers.push(("X-Request-Id".into(), request_id.to_owned()));
    response
        .headers
        .push(("X-Content-Type-Options".into(), "nosniff".into()));
}

/// With `FAULT_INJECTION` on (test configurations only: production refuses to start with
/// it), `X-Fault-Inject: internal` makes the request fail as an unexpected error would, and
/// `X-Fault-Inject: panic` makes it panic, to prove reporting and scrubbing.
fn injected_fault(ctx: &Ctx<'_>, request: &Request) -> Option<ApiError> {
    if !ctx.config.fault_injection {
        return None;
    }
    match request.header("x-fault-inject") {
        Some("internal") => {}
        Some("panic") => panic!("injected panic (FAULT_INJECTION)"),
        _ => return None,
    }
    // The cause quotes the request's email on purpose: the report must scrub it.
    let email = crate::kernel::fields::parse(&request.body)
        .ok()
        .and_then(|body| body["email"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Some(ApiError::internal_cause(format!(
        "injected fault (FAULT_INJECTION) while serving {email}"
    )))
}

/// Echoes a well-formed incoming `X-Request-Id`, else makes one.
pub fn request_id(request: &Request) -> String {
    request
        .header("x-request-id")
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

thread_local! {
    /// 16 bytes drawn from the CSPRNG once per isolate; the last 8 count its requests.
    static REQUEST_IDS: std::cell::Cell<Option<[u8; 16]>> = const { std::cell::Cell::new(None) };
}

/// A request id only has to be unique, not unpredictable: a UUID of version 8 (RFC 9562's
/// own layout) whose first half is random per isolate and whose second half counts from a
/// random start, so a request asks the platform's CSPRNG for nothing.
fn new_request_id() -> String {
    REQUEST_IDS.with(|ids| {
        let mut bytes = ids.get().unwrap_or_else(|| {
            let mut seed = [0u8; 16];
            random_bytes(&mut seed);
            seed
        });
        let count = u64::from_be_bytes(bytes[8..].try_into().expect("8 bytes")).wrapping_add(1);
        bytes[8..].copy_from_slice(&count.to_be_bytes());
        ids.set(Some(bytes));
        uuid_text(bytes, 8)
    })
}

#[cfg(test)]
mod tests;

/// For the capabilities' tests: one request through the whole pipeline.
#[cfg(test)]
pub mod testing {
    use super::{ErrorReporter, Failure, Handled};
    use crate::kernel::feature::Feature;
    use crate::kernel::testing::TestWorld;
    use crate::kernel::web::Request;

    /// Fails the test on any reported failure (a 5xx cause).
    struct PanickingReporter;

    impl ErrorReporter for PanickingReporter {
        fn report(&self, failure: &Failure<'_>) {
            panic!("a failure was reported: {}", failure.cause);
        }
    }

    /// `request` through the service made of `features`; an undocumented answer or a
    /// reported failure fails the test.
    pub fn send(world: &TestWorld, features: &'static [&'static Feature], request: Request) -> Handled {
        let handled = pollster::block_on(super::handle(
            request,
            &world.state,
            features,
            &world.services(),
            &PanickingReporter,
        ));
        assert!(
            !handled.undocumented,
            "{} answered {} undocumented: {}",
            handled.route,
            handled.response.status,
            String::from_utf8_lossy(&handled.response.body)
        );
        handled
    }
}

/// The mail flag of a route, through the pipeline (the other pipeline tests are in tests.rs).
#[cfg(test)]
mod mail_tests {
    use std::cell::RefCell;

    use super::*;
    use crate::handler;
    use crate::kernel::feature::{Body, Feature, Route};
    use crate::kernel::testing::TestWorld;

    async fn sends_a_code(_: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
        Ok(Response::json(
            202,
            &serde_json::json!({ "message": "a code is on its way" }),
        ))
    }

    static MAILING: Feature = Feature {
        name: "mailing",
        routes: &[Route::new("POST", "{p}/auth/send-code", handler!(sends_a_code), 202)
            .body(Body::Json)
            .mails()],
        limits: &[],
        mails: &[],
        settings: None,
        housekeeping: &[],
        sign_in_completed: None,
        second_factors: &[],
        startup: None,
        openapi: utoipa::openapi::OpenApi::default,
    };
    static FEATURES: &[&Feature] = &[&MAILING];

    #[derive(Default)]
    struct Reports(RefCell<Vec<String>>);

    impl ErrorReporter for Reports {
        fn report(&self, failure: &Failure<'_>) {
            self.0.borrow_mut().push(failure.cause.to_owned());
        }
    }

    /// `POST {p}/auth/send-code` on a world with these variables over the test ones.
    fn send_code(vars: &'static [(&'static str, &'static str)]) -> (Handled, Vec<String>) {
        let world = TestWorld::with_vars(&[], &crate::kernel::config::test_vars_with(vars));
        let request = Request::new("POST", "/balance_hub/auth/send-code")
            .with_header("content-type", "application/json")
            .with_body("{}");
        let reports = Reports::default();
        let handled = pollster::block_on(handle(request, &world.state, FEATURES, &world.services(), &reports));
        (handled, reports.0.into_inner())
    }

    #[test]
    fn a_mailing_route_is_503_naming_mail_while_mail_is_unconfigured() {
        let (handled, reports) = send_code(&[("ENVIRONMENT", "production"), ("SENDGRID_API_KEY", "")]);
        assert_eq!(handled.response.status, 503);
        let body: serde_json::Value = serde_json::from_slice(&handled.response.body).unwrap();
        assert_eq!(body["code"], "dependency_unavailable");
        assert_eq!(body["checks"], serde_json::json!({ "mail": "unconfigured" }));
        assert!(!handled.undocumented, "a mailing route documents its 503");
        assert_eq!(handled.events, [AuthEvent::DependencyUnavailable]);
        assert_eq!(reports.len(), 1, "reported once: {reports:?}");
        assert!(reports[0].contains("SENDGRID_API_KEY"), "{reports:?}");
    }

    #[test]
    fn a_mailing_route_answers_with_a_key_or_in_development() {
        const WITH_A_KEY: &[(&str, &str)] = &[("ENVIRONMENT", "production"), ("SENDGRID_API_KEY", "SG.key")];
        const IN_DEVELOPMENT: &[(&str, &str)] = &[("ENVIRONMENT", "development"), ("SENDGRID_API_KEY", "")];
        for vars in [WITH_A_KEY, IN_DEVELOPMENT] {
            let (handled, reports) = send_code(vars);
            assert_eq!(handled.response.status, 202, "{vars:?}");
            assert!(reports.is_empty());
        }
    }
}
