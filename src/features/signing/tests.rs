//! Signing's settings, startup check and public documents, natively.

use super::keys_for_tests as keys;
use super::FEATURE;
use crate::kernel::config::{test_vars_with, Vars};
use crate::kernel::feature::AppState;
use crate::kernel::testing::TestWorld;
use crate::kernel::web::Request;

fn read(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    test_vars_with(vars)
}

fn call(world: &TestWorld, path: &str) -> serde_json::Value {
    let route = FEATURE.routes.iter().find(|r| r.path == path).unwrap();
    let request = Request::new("GET", path);
    let answer = world
        .with_ctx(|ctx| pollster::block_on((route.handler)(ctx, &request)))
        .unwrap();
    assert_eq!(answer.header("cache-control"), Some("public, max-age=300"));
    serde_json::from_slice(&answer.body).unwrap()
}

#[test]
fn bad_signing_settings_name_their_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("ALGORITHM", "RS256")], "ALGORITHM"),
        (&[("ALGORITHM", "none")], "ALGORITHM"),
        (&[("ALGORITHM", "EdDSA")], "JWT_SIGNING_KEYS"),
        (
            &[("ALGORITHM", "ES256"), ("JWT_SIGNING_KEYS", keys::BOTH_EDDSA_FIRST)],
            "JWT_SIGNING_KEYS",
        ),
        (
            &[("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", "{\"keys\":[]}")],
            "JWT_SIGNING_KEYS",
        ),
        (&[("PUBLIC_URL", "auth.example.com")], "PUBLIC_URL"),
        (&[("PUBLIC_URL", "https://auth.example.com/path")], "PUBLIC_URL"),
    ];
    for (vars, name) in cases {
        let vars: &'static [(&'static str, &'static str)] = Box::leak(vars.to_vec().into_boxed_slice());
        let reader = read(vars);
        let err = AppState::new(&[&FEATURE], &Vars::new(&reader))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(name), "{vars:?}: {err}");
    }
}

#[test]
fn a_private_key_that_does_not_match_its_public_part_stops_the_service() {
    let mismatched = keys::BOTH_EDDSA_FIRST.replace(keys::ED25519_X, &keys::other_ed25519_x());
    let mismatched: &'static str = Box::leak(mismatched.into_boxed_str());
    let vars: &'static [(&'static str, &'static str)] =
        Box::leak(vec![("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", mismatched)].into_boxed_slice());
    let world = TestWorld::with_vars(&[&FEATURE], &read(vars));
    let check = FEATURE.startup.unwrap();
    let err = world
        .with_ctx(|ctx| pollster::block_on(check(ctx)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("JWT_SIGNING_KEYS") && err.contains("eddsa-test-1"),
        "{err}"
    );
    let good = TestWorld::with_vars(
        &[&FEATURE],
        &read(&[("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", keys::BOTH_EDDSA_FIRST)]),
    );
    assert!(good.with_ctx(|ctx| pollster::block_on(check(ctx))).is_ok());
}

#[test]
fn hmac_mode_publishes_no_key() {
    let world = TestWorld::new(&[&FEATURE]);
    assert_eq!(
        call(&world, "/.well-known/jwks.json"),
        serde_json::json!({ "keys": [] })
    );
    let discovery = call(&world, "/.well-known/openid-configuration");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["HS256"])
    );
    assert_eq!(discovery["jwks_uri"], "http://localhost/.well-known/jwks.json");
    assert_eq!(discovery["issuer"], "edge-auth");
}

#[test]
fn a_key_set_publishes_every_public_key_in_order_and_no_private_member() {
    let world = TestWorld::with_vars(
        &[&FEATURE],
        &read(&[
            ("ALGORITHM", "EdDSA"),
            ("JWT_SIGNING_KEYS", keys::BOTH_EDDSA_FIRST),
            ("PUBLIC_URL", "https://auth.example.com/"),
        ]),
    );
    let jwks = call(&world, "/.well-known/jwks.json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["eddsa-test-1", "es256-test-1"]);
    for key in jwks["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(key.get(private).is_none(), "{private} in {key}");
        }
    }
    let discovery = call(&world, "/.well-known/openid-configuration");
    assert_eq!(discovery["jwks_uri"], "https://auth.example.com/.well-known/jwks.json");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA", "ES256"])
    );
}
