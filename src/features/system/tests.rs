//! The system routes through their handlers, natively.

use crate::kernel::testing::TestWorld;
use crate::kernel::web::Request;

fn call(world: &TestWorld, request: Request) -> crate::kernel::web::Response {
    let route = super::FEATURE
        .routes
        .iter()
        .find(|r| r.path == request.path && r.method == request.method)
        .expect("a system route");
    world
        .with_ctx(|ctx| pollster::block_on((route.handler)(ctx, &request)))
        .unwrap_or_else(|e| e.into_response())
}

/// The test configuration, with these variables over it.
fn world_with(vars: &'static [(&'static str, &'static str)]) -> TestWorld {
    let read = move |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| crate::kernel::config::test_var(name))
    };
    TestWorld::with_vars(&[&super::FEATURE], &read)
}

fn health(world: &TestWorld, authorization: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = Request::new("GET", "/health");
    if let Some(value) = authorization {
        request = request.with_header("authorization", value);
    }
    let answer = call(world, request);
    (answer.status, serde_json::from_slice(&answer.body).unwrap())
}

const TOKEN: &str = "scrape-me";
const BEARER: &str = "Bearer scrape-me";

#[test]
fn health_checks_a_real_table_and_names_the_backend_to_the_metrics_token() {
    let world = world_with(&[("METRICS_TOKEN", TOKEN)]);
    let (status, body) = health(&world, Some(BEARER));
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["database_backend"], "sqlite");
    assert_eq!(body["checks"]["mail"], "sendgrid");
}

#[test]
fn health_shows_anonymous_callers_neither_backend_nor_mail() {
    let with_a_token = world_with(&[("METRICS_TOKEN", TOKEN)]);
    for anonymous in [None, Some("Bearer scrape-mE"), Some(TOKEN), Some("Bearer ")] {
        let (status, body) = health(&with_a_token, anonymous);
        assert_eq!(status, 200, "{anonymous:?}");
        assert_eq!(
            body["checks"],
            serde_json::json!({ "database": "ok", "rate_limiter": "ok" }),
            "{anonymous:?}"
        );
    }
    let without_a_token = TestWorld::new(&[&super::FEATURE]);
    for anyone in [None, Some("Bearer "), Some(BEARER)] {
        let (_, body) = health(&without_a_token, anyone);
        assert_eq!(
            body["checks"],
            serde_json::json!({ "database": "ok", "rate_limiter": "ok" }),
            "without METRICS_TOKEN nobody is shown the details: {anyone:?}"
        );
    }
}

#[test]
fn health_is_503_naming_unconfigured_mail_to_everyone() {
    let world = world_with(&[
        ("ENVIRONMENT", "production"),
        ("SENDGRID_API_KEY", ""),
        ("METRICS_TOKEN", TOKEN),
    ]);
    let (status, body) = health(&world, None);
    assert_eq!(status, 503);
    assert_eq!(body["code"], "dependency_unavailable");
    assert_eq!(
        body["checks"],
        serde_json::json!({ "database": "ok", "rate_limiter": "ok", "mail": "unconfigured" })
    );
    let (status, body) = health(&world, Some(BEARER));
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["mail"], "unconfigured");
    assert_eq!(body["checks"]["database_backend"], "sqlite");
}

#[test]
fn health_in_development_without_a_key_reports_mail_to_the_log() {
    let world = world_with(&[
        ("ENVIRONMENT", "development"),
        ("SENDGRID_API_KEY", ""),
        ("METRICS_TOKEN", TOKEN),
    ]);
    let (status, body) = health(&world, Some(BEARER));
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["mail"], "log");
}

#[test]
fn health_is_503_naming_a_missing_table() {
    let world = TestWorld::new(&[&super::FEATURE]);
    world.query("DROP TABLE users");
    let answer = call(&world, Request::new("GET", "/health"));
    assert_eq!(answer.status, 503);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(body["code"], "dependency_unavailable");
}

#[test]
fn the_served_document_uses_the_configured_prefix() {
    let read = |name: &str| match name {
        "API_PREFIX" => Some("/api".to_owned()),
        "APP_NAME" => Some("Ada's \"Auth\"".to_owned()),
        other => crate::kernel::config::test_var(other),
    };
    let world = TestWorld::with_vars(&[&super::FEATURE], &read);
    let answer = call(&world, Request::new("GET", "/openapi.json"));
    let doc: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(doc["paths"]["/api/auth/login"]["post"].is_object());
    assert!(doc["paths"]["/balance_hub/auth/login"].is_null());
    assert!(doc["paths"]["/health"]["get"].is_object());
    assert_eq!(doc["info"]["title"], "Ada's \"Auth\"");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let committed: serde_json::Value = serde_json::from_str(include_str!("../../../openapi.json")).unwrap();
    let paths = |doc: &serde_json::Value| doc["paths"].as_object().unwrap().len();
    assert_eq!(paths(&doc), paths(&committed), "every path is still there");
}

#[test]
fn the_docs_page_loads_nothing_from_a_cdn() {
    let world = TestWorld::new(&[&super::FEATURE]);
    let page = call(&world, Request::new("GET", "/docs"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("/openapi.json") && !html.contains("https://"));
}
