//! The OpenAPI 3.1 document, built natively from the registrations: each feature's
//! operations and schemas (`#[utoipa::path]` on its handlers document the request body and
//! the success answer), then, per route, every error answer it can give (from `Route`:
//! the generic ones its body, auth, limits and storage imply, and its own problem codes),
//! each as problem+json, and its security. Routes and operations must match one to one.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::kernel::feature::{Auth, Feature, Route};
use crate::kernel::problem::{FieldError, Problem, ProblemCode};

/// The prefix the annotations are written with (`{p}` in the registrations); the served
/// document replaces it by `API_PREFIX`.
pub const ANNOTATED_PREFIX: &str = "/balance_hub";
/// The access-token cookie, as a security scheme.
const ACCESS_COOKIE: &str = "access_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "edge-auth",
        description = "Registration with email verification, JWT login (bearer or HttpOnly cookie), profile updates and password reset.\n\n\
            Every error is RFC 9457 `application/problem+json` with a machine `code`; each operation lists every status it can answer. \
            Bodies over 16 KiB get 413, a wrong Content-Type 415, malformed JSON 400, invalid fields 422, unknown routes 404, wrong methods 405 with `Allow`, \
            limits 429 with `Retry-After`, a failed dependency 503, an unexpected failure 500 with an `error_id`. \
            Every answer carries `X-Request-Id`; auth routes carry `Cache-Control: no-store`."
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&SecuritySchemes),
    tags((name = "auth", description = "Accounts and sessions"), (name = "system", description = "Service information"))
)]
struct Base;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .build(),
            )
        };
        components.add_security_scheme("bearer", bearer("JWT"));
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(ACCESS_COOKIE))),
        );
        components.add_security_scheme("metrics_token", bearer("METRICS_TOKEN"));
    }
}

/// The whole document for `features`. Panics (failing the unit test that compares it with
/// `openapi.json`) when a route has no operation, an operation no route, or an annotation
/// documents anything but the route's success status.
pub fn document(features: &[&Feature]) -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    for feature in features {
        doc.merge((feature.openapi)());
    }
    let routes: Vec<&Route> = features.iter().flat_map(|f| f.routes.iter()).collect();
    for route in &routes {
        let path = route.path.replace("{p}", ANNOTATED_PREFIX);
        let operation = doc
            .paths
            .paths
            .get_mut(&path)
            .and_then(|item| operation_mut(item, route.method))
            .unwrap_or_else(|| panic!("{} {} has no #[utoipa::path] operation", route.method, route.path));
        complete(operation, route);
    }
    for (path, item) in &doc.paths.paths {
        for method in methods(item) {
            let registered = routes
                .iter()
                .any(|r| r.method == method && r.path.replace("{p}", ANNOTATED_PREFIX) == *path);
            assert!(registered, "{method} {path} is documented but no feature registers it");
        }
    }
    doc
}

/// Adds the route's error answers and security to the operation its annotation made.
fn complete(operation: &mut Operation, route: &Route) {
    let documented: Vec<&String> = operation.responses.responses.keys().collect();
    assert_eq!(
        documented,
        [&route.ok.to_string()],
        "{} {}: the annotation documents the success only; errors come from the registration",
        route.method,
        route.path
    );
    let mut by_status: BTreeMap<u16, Vec<&ProblemCode>> = BTreeMap::new();
    for code in route.problem_answers() {
        by_status.entry(code.status).or_default().push(code);
    }
    for (status, codes) in by_status {
        operation
            .responses
            .responses
            .insert(status.to_string(), RefOr::T(problem_response(status, &codes)));
    }
    operation.security = match route.auth {
        Auth::None => None,
        Auth::User => Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("cookie", Vec::<String>::new()),
        ]),
        // Required only when METRICS_TOKEN is set.
        Auth::MetricsToken => Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("metrics_token", Vec::<String>::new()),
        ]),
    };
}

fn problem_response(status: u16, codes: &[&ProblemCode]) -> utoipa::openapi::Response {
    let description = codes
        .iter()
        .map(|c| format!("`{}`: {}", c.code, c.title))
        .collect::<Vec<_>>()
        .join("; ");
    let content = Content::new(Some(Ref::from_schema_name("Problem")));
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content);
    let header = |description: &str| {
        HeaderBuilder::new()
            .schema(utoipa::openapi::schema::Object::with_type(
                utoipa::openapi::schema::Type::String,
            ))
            .description(Some(description))
            .build()
    };
    match status {
        429 | 503 => response = response.header("Retry-After", header("Seconds to wait before retrying")),
        401 => response = response.header("WWW-Authenticate", header("`Bearer`")),
        _ => {}
    }
    response.build()
}

fn operation_mut<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Operation> {
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "DELETE" => item.delete.as_mut(),
        "PATCH" => item.patch.as_mut(),
        _ => None,
    }
}

fn methods(item: &PathItem) -> impl Iterator<Item = &'static str> + '_ {
    [
        ("GET", item.get.is_some()),
        ("POST", item.post.is_some()),
        ("PUT", item.put.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(method, _)| method)
}
