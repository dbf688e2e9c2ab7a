//! Social login, black box: ../shared/spec/oauth.md (all of it, its "Checks a black-box
//! test can make" first), with the terms of sessions.md §1 and the MFA challenge of mfa.md.
//!
//! The test is the browser: it GETs the Worker's authorize route (no redirect followed),
//! reads the provider URL off the 302 and the `oauth_binding` cookie off its `Set-Cookie`,
//! GETs that URL on the provider's mock (which redirects back at once with `code` and
//! `state`, as a user who consents), arranges what the mock answers for that code, GETs the
//! Worker's callback with the cookie and reads the final 302 to `redirect_to`; then it
//! POSTs the exchange code. Google and Microsoft are `oauth2-mock-server` (real signatures,
//! its JWKS, PKCE, the nonce copied from the authorize request), GitHub is the fake in
//! harness/fake_github.rs; both check client credentials, single-use codes, the
//! `redirect_uri` and the PKCE verifier as the real providers do (harness/oauth_providers.rs,
//! tests/e2e/tools/oidc-mock.mjs). Every case is arranged per code, so tests run in parallel.
//!
//! The shared instance has all three providers configured (Microsoft tenant `common`). Two
//! instances of their own: `organizations` (and GitHub left unconfigured, for
//! `provider_not_configured`), and one whose tenant is a GUID.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::fake_github::{encode, url_pairs, GitHubCase};
use crate::harness::fake_sendgrid::SentMail;
use crate::harness::oauth_providers::{oauth_vars, providers, GOOGLE_CLIENT_ID, MICROSOFT_CLIENT_ID};
use crate::harness::{
    fresh_uuid, spawn_app, spawn_isolated_app_with, unique_email, Answer, TestApp, ALLOWED_ORIGIN, FRONTEND_URL,
    PASSWORD, PREFIX,
};

/// Microsoft's tenant of personal accounts.
const PERSONAL_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// A work tenant.
const WORK_TENANT: &str = "3c5a1f8e-2b7d-4e9a-9f10-6d2e8b4c7a01";
/// `OAUTH_MICROSOFT_TENANT` of the `oauth-tenant` instance.
const OWN_TENANT: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
/// The exchange code's lifetime.
const EXCHANGE_CODE_SECONDS: i64 = 60;
/// How far a session's login is aged to be no "recent login" (REAUTH_MAX_AGE_MINUTES = 10).
const OLD_LOGIN_SECONDS: i64 = 1200;

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        providers_lists_the_configured_ones,
        an_unknown_provider_is_404_not_found,
        an_unconfigured_provider_is_404_provider_not_configured,
        authorize_redirects_to_the_provider_with_state_nonce_and_pkce,
        authorize_sets_the_binding_cookie_and_reuses_a_valid_one,
        redirect_to_outside_the_allowed_origins_is_invalid_redirect,
        response_mode_other_than_fragment_or_query_is_422,
        authorize_and_exchange_are_limited_per_ip,
        a_google_sign_up_creates_a_verified_account_without_a_password,
        the_provider_sees_the_pkce_verifier_of_the_challenge,
        response_mode_query_puts_the_code_in_the_query_and_keeps_redirect_tos_own,
        a_second_callback_with_one_state_is_invalid_state,
        a_callback_from_another_browser_is_invalid_state,
        unknown_and_other_providers_states_are_invalid_state,
        id_tokens_that_prove_nothing_give_oauth_failed_and_no_account,
        an_es256_id_token_signed_by_a_key_of_the_jwks_is_accepted,
        an_unverified_google_email_is_email_not_verified,
        a_verified_local_account_is_linked_and_told,
        an_unverified_local_account_is_replaced,
        a_linked_identity_signs_in_its_user_and_updates_its_email,
        an_email_match_with_another_identity_of_the_provider_is_provider_already_linked,
        the_exchange_code_works_once,
        the_exchange_code_expires_after_60_seconds,
        a_state_expires_after_10_minutes,
        unknown_and_malformed_exchange_codes_are_refused,
        an_exchange_for_a_2fa_account_answers_the_mfa_challenge,
        the_provider_saying_access_denied_is_access_denied,
        a_provider_outage_is_provider_unavailable,
        a_refused_code_exchange_is_oauth_failed,
        a_slow_token_endpoint_is_provider_unavailable,
        github_signs_in_with_the_primary_verified_email,
        github_with_an_unverified_primary_email_is_email_not_verified,
        microsoft_email_is_verified_by_xms_edov_or_the_personal_tenant,
        microsofts_issuer_must_name_the_tokens_tenant,
        a_microsoft_subject_is_one_per_tenant,
        the_organizations_tenant_refuses_personal_accounts,
        a_tenant_id_accepts_only_its_own_tenant,
        identities_are_listed_and_unlinked_with_a_mail,
        the_last_credential_cannot_be_unlinked,
        link_mode_links_a_provider_to_the_signed_in_user,
        link_needs_reauthentication,
        a_password_less_user_links_with_a_recent_login_only,
        link_of_an_identity_of_another_user_is_identity_in_use,
        link_after_the_session_ended_is_oauth_failed,
        link_of_a_second_identity_of_one_provider_is_provider_already_linked,
        a_password_less_account_refuses_password_login_like_a_wrong_password,
        update_user_with_a_password_is_password_not_set,
        an_email_change_without_a_recent_login_needs_reauthentication,
        a_first_password_is_set_through_forget_and_reset,
    ]
}

// ---------------------------------------------------------------------------------------
// Instances.

/// An instance of `group` with the shared instance's providers and `overrides` over them.
fn oauth_app(group: &'static str, overrides: &[(&str, &str)]) -> &'static TestApp {
    let vars = oauth_vars();
    let mut all: Vec<(&str, &str)> = vars.iter().map(|(name, value)| (*name, value.as_str())).collect();
    all.extend_from_slice(overrides);
    spawn_isolated_app_with(group, &all, TestApp::is_healthy)
}

/// Tenant `organizations`; GitHub not configured.
fn organizations_app() -> &'static TestApp {
    oauth_app(
        "oauth-organizations",
        &[
            ("OAUTH_MICROSOFT_TENANT", "organizations"),
            ("OAUTH_GITHUB_CLIENT_ID", ""),
            ("OAUTH_GITHUB_CLIENT_SECRET", ""),
        ],
    )
}

/// Tenant `OWN_TENANT`.
fn tenant_app() -> &'static TestApp {
    oauth_app("oauth-tenant", &[("OAUTH_MICROSOFT_TENANT", OWN_TENANT)])
}

// ---------------------------------------------------------------------------------------
// Providers.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Provider {
    Google,
    Microsoft,
    GitHub,
}
use Provider::{GitHub, Google, Microsoft};

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Google => "google",
            Microsoft => "microsoft",
            GitHub => "github",
        }
    }

    /// How mails and lists may call it.
    fn display(self) -> &'static str {
        match self {
            Google => "Google",
            Microsoft => "Microsoft",
            GitHub => "GitHub",
        }
    }

    fn origin(self) -> String {
        match self {
            Google => providers().google.clone(),
            Microsoft => providers().microsoft.clone(),
            GitHub => providers().github.url.clone(),
        }
    }

    /// `OAUTH_<P>_AUTHORIZE_URL` of the test configuration.
    fn authorize_url(self) -> String {
        match self {
            GitHub => format!("{}/login/oauth/authorize", self.origin()),
            _ => format!("{}/authorize", self.origin()),
        }
    }

    fn client_id(self) -> &'static str {
        match self {
            Google => GOOGLE_CLIENT_ID,
            Microsoft => MICROSOFT_CLIENT_ID,
            GitHub => crate::harness::fake_github::CLIENT_ID,
        }
    }

    fn scope(self) -> &'static str {
        match self {
            GitHub => "read:user user:email",
            _ => "openid email profile",
        }
    }
}

/// What the provider answers for one code.
#[derive(Clone)]
enum Case {
    /// The OIDC mock's arrangement (without `code`): claims, signing mode, outage.
    Oidc(Value),
    GitHub(GitHubCase),
}

fn fresh_subject() -> String {
    fresh_uuid().replace('-', "")
}

/// Google's account `sub` with `email`, verified.
fn google(sub: &str, email: &str) -> Case {
    google_with(json!({ "sub": sub, "email": email, "email_verified": true, "name": "Ada Lovelace" }))
}

fn google_with(claims: Value) -> Case {
    Case::Oidc(json!({ "claims": claims }))
}

/// A Microsoft ID token of tenant `tid`: its issuer names the tenant; `xms_edov` only when
/// given.
fn microsoft(tid: &str, sub: &str, email: &str, xms_edov: Option<bool>) -> Case {
    let mut claims = json!({
        "iss": format!("{}/{tid}/v2.0", providers().microsoft),
        "tid": tid,
        "sub": sub,
        "oid": fresh_uuid(),
        "email": email,
        "preferred_username": email,
        "name": "Grace Hopper",
    });
    if let Some(edov) = xms_edov {
        claims["xms_edov"] = json!(edov);
    }
    Case::Oidc(json!({ "claims": claims }))
}

/// A GitHub account with these emails (`(address, primary, verified)`).
fn github(id: u64, emails: &[(&str, bool, bool)]) -> Case {
    let listed: Vec<Value> = emails
        .iter()
        .map(|(email, primary, verified)| {
            json!({ "email": email, "primary": primary, "verified": verified, "visibility": null })
        })
        .collect();
    Case::GitHub(GitHubCase {
        user: json!({ "id": id, "login": format!("octo{id}"), "name": "The Octocat", "email": null }),
        emails: Value::Array(listed),
        token_status: None,
    })
}

fn fresh_github_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = u64::from(std::process::id()) * 100_000;
    base + NEXT.fetch_add(1, Ordering::Relaxed) + 1
}

// ---------------------------------------------------------------------------------------
// The browser.

fn oauth(route: &str) -> String {
    format!("{PREFIX}/auth/oauth/{route}")
}

fn query_map(text: &str) -> HashMap<String, String> {
    url_pairs(text).into_iter().collect()
}

/// `Set-Cookie: oauth_binding=…`: (value, the whole header).
fn binding_cookie(answer: &Answer) -> Option<(String, String)> {
    answer
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, header)| {
            let value = header.split(';').next()?.trim().strip_prefix("oauth_binding=")?;
            Some((value.to_owned(), header.clone()))
        })
}

fn authorize(app: &TestApp, provider: Provider, query: &str, binding: Option<&str>) -> Answer {
    let path = format!(
        "{}{}",
        oauth(&format!("{}/authorize", provider.name())),
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    );
    let cookie = binding.map(|b| format!("oauth_binding={b}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
    app.request_unfollowed("GET", &path, &headers, None)
}

/// One sign-in under way: the provider URL's parameters and the browser's binding.
struct Flow {
    provider: Provider,
    params: HashMap<String, String>,
    url: String,
    binding: String,
}

impl Flow {
    fn state(&self) -> &str {
        &self.params["state"]
    }
}

/// Asserts the provider URL oauth.md describes and answers the flow.
fn flow_of(app: &TestApp, provider: Provider, url: &str, binding: String) -> Flow {
    let (base, query) = url.split_once('?').unwrap_or_else(|| panic!("no query in {url}"));
    assert_eq!(base, provider.authorize_url(), "the configured authorize URL: {url}");
    let params = query_map(query);
    let callback = format!("{}{}", app.address, oauth(&format!("{}/callback", provider.name())));
    assert_eq!(params.get("response_type").map(String::as_str), Some("code"), "{url}");
    assert_eq!(
        params.get("client_id").map(String::as_str),
        Some(provider.client_id()),
        "{url}"
    );
    assert_eq!(params.get("redirect_uri"), Some(&callback), "{url}");
    assert_eq!(params.get("scope").map(String::as_str), Some(provider.scope()), "{url}");
    assert_eq!(
        params.get("code_challenge_method").map(String::as_str),
        Some("S256"),
        "{url}"
    );
    let challenge = params
        .get("code_challenge")
        .unwrap_or_else(|| panic!("no code_challenge: {url}"));
    assert!(
        challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "BASE64URL of a SHA-256, unpadded: {challenge}"
    );
    assert_random(
        params.get("state").unwrap_or_else(|| panic!("no state: {url}")),
        "state",
    );
    match provider {
        GitHub => assert!(!params.contains_key("nonce"), "GitHub is no OIDC provider: {url}"),
        _ => assert_random(
            params.get("nonce").unwrap_or_else(|| panic!("no nonce: {url}")),
            "nonce",
        ),
    }
    Flow {
        provider,
        params,
        url: url.to_owned(),
        binding,
    }
}

/// At least 128 random bits, URL-safe.
fn assert_random(value: &str, what: &str) {
    assert!(
        value.len() >= 22 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
        "{what}: at least 128 random bits, URL-safe: {value:?}"
    );
}

/// GET authorize → the flow (with the binding it set or reused).
fn begin(app: &TestApp, provider: Provider, query: &str) -> Flow {
    begin_with(app, provider, query, None)
}

fn begin_with(app: &TestApp, provider: Provider, query: &str, binding: Option<&str>) -> Flow {
    let answer = authorize(app, provider, query, binding);
    assert_eq!(answer.status, 302, "authorize: {}", answer.body);
    let location = answer.header("location").expect("a Location").to_owned();
    let binding = match (binding_cookie(&answer), binding) {
        (Some((value, _)), _) => value,
        (None, Some(reused)) => reused.to_owned(),
        (None, None) => panic!("authorize sets oauth_binding: {:?}", answer.headers),
    };
    flow_of(app, provider, &location, binding)
}

/// The provider's page: it redirects back to the callback at once. Answers the code and
/// the callback's query.
fn consent(app: &TestApp, flow: &Flow) -> (String, String) {
    let (status, location) = providers().visit(&flow.url);
    assert_eq!(status, 302, "the provider redirects back");
    let location = location.unwrap();
    let callback = format!(
        "{}{}",
        app.address,
        oauth(&format!("{}/callback", flow.provider.name()))
    );
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, callback);
    let params = query_map(query);
    assert_eq!(params.get("state").map(String::as_str), Some(flow.state()));
    (params["code"].clone(), query.to_owned())
}

fn arrange(provider: Provider, code: &str, case: &Case) {
    match case {
        Case::Oidc(arrangement) => {
            let mut arrangement = arrangement.clone();
            arrangement["code"] = json!(code);
            providers().arrange(&provider.origin(), &arrangement);
        }
        Case::GitHub(case) => providers().github.arrange(code, case.clone()),
    }
}

/// GET callback with this query and binding cookie.
fn callback(app: &TestApp, provider: Provider, query: &str, binding: Option<&str>) -> Answer {
    let path = format!("{}?{query}", oauth(&format!("{}/callback", provider.name())));
    let cookie = binding.map(|b| format!("oauth_binding={b}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
    app.request_unfollowed("GET", &path, &headers, None)
}

/// Where the callback sent the browser: the URL and the parameters it appended (in the
/// fragment or the query).
#[derive(Debug)]
struct Landing {
    location: String,
    query: HashMap<String, String>,
    fragment: HashMap<String, String>,
}

impl Landing {
    /// The appended parameters, wherever they are.
    fn result(&self) -> &HashMap<String, String> {
        if self.fragment.is_empty() {
            &self.query
        } else {
            &self.fragment
        }
    }

    fn error(&self) -> Option<&str> {
        self.result().get("error").map(String::as_str)
    }

    /// The exchange code; panics with the error otherwise.
    fn code(&self) -> String {
        assert_eq!(self.error(), None, "{}", self.location);
        let code = self
            .result()
            .get("code")
            .unwrap_or_else(|| panic!("no code: {}", self.location));
        assert_random(code, "exchange code");
        code.clone()
    }

    fn assert_error(&self, code: &str) {
        assert_eq!(self.error(), Some(code), "{}", self.location);
        assert!(!self.result().contains_key("code"), "{}", self.location);
    }
}

/// The callback's 302 to `redirect_to`: never a token of any kind in it.
fn land(answer: &Answer) -> Landing {
    assert_eq!(answer.status, 302, "callback: {} {}", answer.status, answer.body);
    let location = answer.header("location").expect("a Location").to_owned();
    for token in ["access_token", "refresh_token", "id_token"] {
        assert!(!location.contains(token), "the Location carries no {token}: {location}");
    }
    let (rest, fragment) = location.split_once('#').unwrap_or((&location, ""));
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    Landing {
        query: query_map(query),
        fragment: query_map(fragment),
        location,
    }
}

/// A whole sign-in through `provider` with `case` arranged: where it lands.
fn sign_in(app: &TestApp, provider: Provider, query: &str, case: &Case) -> Landing {
    let flow = begin(app, provider, query);
    finish(app, &flow, case)
}

/// From the provider's consent to the landing.
fn finish(app: &TestApp, flow: &Flow, case: &Case) -> Landing {
    let (code, query) = consent(app, flow);
    arrange(flow.provider, &code, case);
    land(&callback(app, flow.provider, &query, Some(&flow.binding)))
}

fn exchange(app: &TestApp, code: &str) -> Answer {
    app.post_json(&oauth("exchange"), &json!({ "code": code }))
}

/// A login response (sessions.md §1): both tokens in the body and the cookies. Answers the
/// access token.
fn assert_login_response(answer: &Answer) -> (String, Value) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    let keys: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
            "user"
        ]),
        "{body}"
    );
    let cookies: Vec<&str> = answer
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("refresh_token={refresh};"))
                && c.contains("HttpOnly")
                && c.contains("SameSite=Strict")
                && c.contains(&format!("Path={PREFIX}/auth/token"))),
        "the refresh_token cookie: {cookies:?}"
    );
    (body["access_token"].as_str().unwrap().to_owned(), body["user"].clone())
}

/// Signs up (or in) through `provider` and exchanges the code: (access token, user).
fn signed_in(app: &TestApp, provider: Provider, case: &Case) -> (String, Value) {
    let code = sign_in(app, provider, "", case).code();
    assert_login_response(&exchange(app, &code))
}

fn me(app: &TestApp, access: &str) -> Value {
    let answer = app.me(access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn methods(user: &Value) -> BTreeSet<String> {
    user["sign_in_methods"]
        .as_array()
        .unwrap_or_else(|| panic!("sign_in_methods is an array: {user}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn identities(app: &TestApp, access: &str) -> Vec<Value> {
    let answer = app.get_with_token(&app.auth("identities"), access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["items"].as_array().unwrap().clone()
}

fn unlink(app: &TestApp, access: &str, provider: &str) -> Answer {
    app.request(
        "DELETE",
        &app.auth(&format!("identities/{provider}")),
        &[("Authorization", &format!("Bearer {access}"))],
        None,
    )
}

/// The auth methods of the session of `access`, as the session list shows them.
fn auth_methods(app: &TestApp, access: &str) -> Value {
    let answer = app.get_with_token(&app.auth("sessions"), access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let items = answer.json()["items"].as_array().unwrap().clone();
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{items:?}");
    current[0]["auth_methods"].clone()
}

/// An RFC 3339 UTC timestamp.
fn assert_timestamp(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("a timestamp string: {value}"));
    let b = text.as_bytes();
    assert!(
        b.len() >= 20 && b[4] == b'-' && b[10] == b'T' && text.ends_with('Z'),
        "RFC 3339 UTC: {text}"
    );
}

fn assert_identity(identity: &Value, provider: Provider, email: &str) {
    let keys: BTreeSet<&str> = identity.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["provider", "email", "created_at", "last_used_at"]),
        "{identity}"
    );
    assert_eq!(identity["provider"], provider.name(), "{identity}");
    assert_eq!(identity["email"], email, "{identity}");
    assert_timestamp(&identity["created_at"]);
    assert_timestamp(&identity["last_used_at"]);
}

// ---------------------------------------------------------------------------------------
// Mails.

const NEW_SIGN_IN: &str = "New sign-in to your";

/// Waits for a new mail to `email` (after the first `before`) that names `provider` and is
/// not the new-device notice: the `identity_linked` / `identity_unlinked` mail.
fn provider_mail(app: &TestApp, email: &str, before: usize, provider: Provider) -> SentMail {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mails = app.sendgrid.mails_to(email);
        let found = mails[before.min(mails.len())..].iter().find(|m| {
            !m.subject.starts_with(NEW_SIGN_IN)
                && (m.subject.to_lowercase().contains(provider.name())
                    || m.text.to_lowercase().contains(provider.name()))
        });
        if let Some(mail) = found {
            return mail.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no mail naming {} to {email}: {:?}",
            provider.display(),
            mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn mail_count(app: &TestApp, email: &str) -> usize {
    app.sendgrid.mails_to(email).len()
}

// ---------------------------------------------------------------------------------------
// Database (to age rows only).

/// The Worker's table of exchange codes (migrations/*/0009_oauth.sql): Unix seconds in
/// both backends.
const EXCHANGE_CODES: &str = "oauth_exchange_codes";

fn of_user(email: &str) -> String {
    format!("user_id = (SELECT id FROM users WHERE email = '{email}')")
}

/// Makes the unused exchange codes of `email`'s account look `seconds` older.
fn age_exchange_codes(app: &TestApp, email: &str, seconds: i64) {
    let sql = format!(
        "UPDATE {EXCHANGE_CODES} SET created_at = created_at - {seconds}, expires_at = expires_at - {seconds} \
         WHERE used_at IS NULL AND {}",
        of_user(email)
    );
    app.execute(&sql, &sql);
}

/// Makes the login of every session of `email` look `seconds` older.
fn age_sessions(app: &TestApp, email: &str, seconds: i64) {
    let user = format!("user_id = (SELECT id FROM users WHERE email = '{email}')");
    app.execute(
        &format!("UPDATE sessions SET created_at = created_at - {seconds} WHERE {user}"),
        &format!("UPDATE sessions SET created_at = created_at - interval '{seconds} seconds' WHERE {user}"),
    );
}

// ---------------------------------------------------------------------------------------
// Providers and unknown names.

pub fn providers_lists_the_configured_ones() {
    let listed = |app: &TestApp| -> Vec<Value> {
        let answer = app.get(&oauth("providers"));
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["items"].as_array().unwrap().clone()
    };
    let all = listed(spawn_app());
    let names: BTreeSet<String> = all.iter().map(|p| p["provider"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, set(&["google", "microsoft", "github"]), "{all:?}");
    for item in &all {
        let keys: BTreeSet<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["provider", "name"]), "{item}");
        assert!(item["name"].as_str().is_some_and(|n| !n.is_empty()), "{item}");
    }
    let some = listed(organizations_app());
    let names: BTreeSet<String> = some
        .iter()
        .map(|p| p["provider"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, set(&["google", "microsoft"]), "configured ones only: {some:?}");
}

pub fn an_unknown_provider_is_404_not_found() {
    let app = spawn_app();
    let (_, access) = app.logged_in_user("oauth+unknown");
    for provider in ["facebook", "Google", "googl", "apple"] {
        app.request_unfollowed("GET", &oauth(&format!("{provider}/authorize")), &[], None)
            .assert_problem(404, "not_found");
        app.request_unfollowed("GET", &oauth(&format!("{provider}/callback?code=x&state=y")), &[], None)
            .assert_problem(404, "not_found");
        app.request(
            "POST",
            &oauth(&format!("{provider}/link")),
            &[
                ("Authorization", &format!("Bearer {access}")),
                ("Content-Type", "application/json"),
            ],
            Some(json!({ "current_password": PASSWORD }).to_string().as_bytes()),
        )
        .assert_problem(404, "not_found");
        unlink(app, &access, provider).assert_problem(404, "not_found");
    }
}

pub fn an_unconfigured_provider_is_404_provider_not_configured() {
    let app = organizations_app();
    let (_, access) = app.logged_in_user("oauth+unconfigured");
    authorize(app, GitHub, "", None).assert_problem(404, "provider_not_configured");
    app.request_unfollowed("GET", &oauth("github/callback?code=x&state=y"), &[], None)
        .assert_problem(404, "provider_not_configured");
    app.request(
        "POST",
        &oauth("github/link"),
        &[
            ("Authorization", &format!("Bearer {access}")),
            ("Content-Type", "application/json"),
        ],
        Some(json!({ "current_password": PASSWORD }).to_string().as_bytes()),
    )
    .assert_problem(404, "provider_not_configured");
    assert_eq!(authorize(app, Google, "", None).status, 302, "the configured ones work");
}

// ---------------------------------------------------------------------------------------
// Authorize.

pub fn authorize_redirects_to_the_provider_with_state_nonce_and_pkce() {
    let app = spawn_app();
    for provider in [Google, Microsoft, GitHub] {
        let one = begin(app, provider, "");
        let two = begin(app, provider, "");
        for param in ["state", "code_challenge", "nonce"] {
            if provider != GitHub || param != "nonce" {
                assert_ne!(one.params[param], two.params[param], "a fresh {param} per authorize");
            }
        }
        if provider != GitHub {
            assert_ne!(one.params["state"], one.params["nonce"], "state and nonce are distinct");
        }
    }
}

pub fn authorize_sets_the_binding_cookie_and_reuses_a_valid_one() {
    let app = spawn_app();
    let answer = authorize(app, Google, "", None);
    assert_eq!(answer.status, 302);
    let (value, header) = binding_cookie(&answer).expect("oauth_binding is set");
    assert_random(&value, "oauth_binding");
    let attributes: BTreeSet<String> = header.split(';').skip(1).map(|a| a.trim().to_owned()).collect();
    let wanted = set(&[
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        &format!("Path={PREFIX}/auth/oauth/"),
        "Max-Age=600",
    ]);
    assert!(attributes.is_superset(&wanted), "{header}");
    assert!(
        !attributes.iter().any(|a| a.to_ascii_lowercase().starts_with("domain=")),
        "host-only: {header}"
    );
    // A second tab: the browser sends its cookie; the same binding serves both flows.
    let first = begin_with(app, Google, "", Some(&value));
    let second = begin_with(app, Google, "", Some(&value));
    assert_eq!(
        (first.binding.as_str(), second.binding.as_str()),
        (value.as_str(), value.as_str()),
        "reused"
    );
    let sub = fresh_subject();
    let email = unique_email("oauth+tabs");
    finish(app, &second, &google(&sub, &email)).code();
    finish(app, &first, &google(&sub, &email)).code();
}

pub fn redirect_to_outside_the_allowed_origins_is_invalid_redirect() {
    let app = spawn_app();
    let long = format!("{FRONTEND_URL}/{}", "a".repeat(2049 - FRONTEND_URL.len()));
    assert_eq!(long.len(), 2050);
    let refused = [
        "http://evil.example/".to_owned(),
        "javascript:alert(document.cookie)".to_owned(),
        "http://frontend.test.evil.example/".to_owned(),
        "http://evil.example/http://frontend.test".to_owned(),
        "http://user:pass@frontend.test/".to_owned(),
        "http://evil.example@frontend.test/".to_owned(),
        format!("{FRONTEND_URL}/#fragment"),
        "https://frontend.test/".to_owned(),
        "http://frontend.test:8080/".to_owned(),
        "//frontend.test/".to_owned(),
        "/relative".to_owned(),
        "data:text/html,hi".to_owned(),
        long,
    ];
    for target in &refused {
        let answer = authorize(app, Google, &format!("redirect_to={}", encode(target)), None);
        answer.assert_problem(400, "invalid_redirect");
        assert_eq!(answer.header("location"), None, "no redirect for {target}");
    }
    let exactly = format!("{FRONTEND_URL}/{}", "b".repeat(2048 - FRONTEND_URL.len() - 1));
    assert_eq!(exactly.len(), 2048);
    for target in [
        format!("{FRONTEND_URL}/welcome?tab=2"),
        FRONTEND_URL.to_owned(),
        format!("{ALLOWED_ORIGIN}/done"),
        exactly,
    ] {
        let answer = authorize(app, Google, &format!("redirect_to={}", encode(&target)), None);
        assert_eq!(answer.status, 302, "{target}: {}", answer.body);
    }
    let (_, access) = app.logged_in_user("oauth+link-redirect");
    link(
        app,
        Google,
        &access,
        json!({ "current_password": PASSWORD, "redirect_to": "http://evil.example/" }),
    )
    .assert_problem(400, "invalid_redirect");
}

pub fn response_mode_other_than_fragment_or_query_is_422() {
    let app = spawn_app();
    for mode in ["form_post", "Query", "fragment,query"] {
        let answer = authorize(app, Google, &format!("response_mode={mode}"), None);
        assert_eq!(answer.status, 422, "response_mode={mode}: {}", answer.body);
        assert_eq!(answer.header("location"), None);
    }
    assert_eq!(authorize(app, Google, "response_mode=query", None).status, 302);
    assert_eq!(authorize(app, Google, "response_mode=fragment", None).status, 302);
}

/// `RATE_LIMIT_OAUTH_IP` and `RATE_LIMIT_OAUTH_EXCHANGE_IP` at their defaults, 30/60: a
/// burst of 30, then one every 2 s. 40 at once from one address: 30 (and what refilled
/// meanwhile) pass, the others are 429.
pub fn authorize_and_exchange_are_limited_per_ip() {
    let app = spawn_app();
    let burst = |send: &(dyn Fn(&str) -> Answer + Sync), passed: u16| {
        let ip = crate::harness::unique_ip();
        let started = Instant::now();
        let answers: Vec<Answer> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..40).map(|_| scope.spawn(|| send(&ip))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let refilled = (started.elapsed().as_secs_f64() / 2.0).ceil() as usize;
        let ok = answers.iter().filter(|a| a.status == passed).count();
        let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
        assert_eq!(
            ok + limited.len(),
            40,
            "{:?}",
            answers.iter().map(|a| a.status).collect::<Vec<_>>()
        );
        assert!((30..=30 + refilled).contains(&ok), "{ok} passed, {refilled} refilled");
        assert!(!limited.is_empty(), "none limited");
        limited[0].assert_problem(429, "rate_limited");
        assert!(limited[0].header("retry-after").is_some());
    };
    burst(
        &|ip| app.request_unfollowed("GET", &oauth("google/authorize"), &[("CF-Connecting-IP", ip)], None),
        302,
    );
    let body = json!({ "code": "q8bUk2XGm3T0vJ8dY4x1Lr6cW9nQ0ZsA5pE7hF2jKkM" }).to_string();
    burst(
        &|ip| {
            let headers = [("CF-Connecting-IP", ip), ("Content-Type", "application/json")];
            app.request("POST", &oauth("exchange"), &headers, Some(body.as_bytes()))
        },
        400,
    );
    let other = app.request_unfollowed("GET", &oauth("google/authorize"), &[], None);
    assert_eq!(other.status, 302, "another address is not limited");
}

// ---------------------------------------------------------------------------------------
// Sign-up and sign-in.

pub fn a_google_sign_up_creates_a_verified_account_without_a_password() {
    let app = spawn_app();
    let email = unique_email("oauth+signup");
    let landing = sign_in(app, Google, "", &google(&fresh_subject(), &email));
    assert!(
        landing.location.starts_with(FRONTEND_URL) && landing.query.is_empty(),
        "FRONTEND_URL by default, the fragment by default: {}",
        landing.location
    );
    let code = landing.code();
    assert_eq!(app.count_users(&email), 1, "the account exists");
    let (access, user) = assert_login_response(&exchange(app, &code));
    assert_eq!(user["email"], email.as_str());
    assert_eq!(auth_methods(app, &access), json!(["google"]));
    let me = me(app, &access);
    assert_eq!(me["email"], email.as_str(), "{me}");
    assert_eq!(me["email_verified"], true, "{me}");
    assert_eq!(me["full_name"], "Ada Lovelace", "{me}");
    assert_eq!(me["mfa_enabled"], false, "{me}");
    assert_eq!(methods(&me), set(&["google"]), "no password: {me}");
    let listed = identities(app, &access);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_identity(&listed[0], Google, &email);
    assert!(
        app.sendgrid
            .mails_to(&email)
            .iter()
            .all(|m| !m.subject.starts_with(NEW_SIGN_IN)),
        "the OAuth sign-up itself is the first login: no new-device mail"
    );
}

pub fn the_provider_sees_the_pkce_verifier_of_the_challenge() {
    let app = spawn_app();
    let flow = begin(app, Google, "");
    let (code, query) = consent(app, &flow);
    arrange(Google, &code, &google(&fresh_subject(), &unique_email("oauth+pkce")));
    land(&callback(app, Google, &query, Some(&flow.binding))).code();
    let seen = providers().seen(&providers().google, &code);
    let form = &seen["token"]["form"];
    let verifier = form["code_verifier"]
        .as_str()
        .unwrap_or_else(|| panic!("a code_verifier: {seen}"));
    assert!((43..=128).contains(&verifier.len()), "RFC 7636 length: {verifier}");
    assert_eq!(
        s256(verifier),
        flow.params["code_challenge"],
        "SHA-256 of the verifier is the challenge"
    );
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_id"], GOOGLE_CLIENT_ID);
    assert_eq!(
        form["client_secret"],
        crate::harness::oauth_providers::GOOGLE_CLIENT_SECRET
    );
    assert_eq!(
        form["redirect_uri"].as_str(),
        Some(flow.params["redirect_uri"].as_str())
    );
    assert!(
        seen["token"]["headers"]["accept"]
            .as_str()
            .is_some_and(|a| a.contains("application/json")),
        "Accept: application/json: {seen}"
    );

    // GitHub's fake checks the verifier itself; here is what it received.
    let flow = begin(app, GitHub, "");
    let (code, query) = consent(app, &flow);
    let primary = unique_email("oauth+pkce-gh");
    arrange(GitHub, &code, &github(fresh_github_id(), &[(&primary, true, true)]));
    land(&callback(app, GitHub, &query, Some(&flow.binding))).code();
    let seen = providers().github.seen(&code);
    let verifier = &seen.token_form["code_verifier"];
    assert_eq!(s256(verifier), flow.params["code_challenge"]);
    assert_eq!(
        seen.token_form.get("grant_type").map(String::as_str),
        Some("authorization_code")
    );
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn response_mode_query_puts_the_code_in_the_query_and_keeps_redirect_tos_own() {
    let app = spawn_app();
    let target = format!("{ALLOWED_ORIGIN}/oauth/done?keep=1&tab=a%20b");
    let query = format!("redirect_to={}&response_mode=query", encode(&target));
    let landing = sign_in(
        app,
        Google,
        &query,
        &google(&fresh_subject(), &unique_email("oauth+query")),
    );
    assert!(
        landing.location.starts_with(&format!("{ALLOWED_ORIGIN}/oauth/done?")),
        "{}",
        landing.location
    );
    assert!(!landing.location.contains('#'), "no fragment: {}", landing.location);
    assert_eq!(
        landing.query.get("keep").map(String::as_str),
        Some("1"),
        "{}",
        landing.location
    );
    assert_eq!(
        landing.query.get("tab").map(String::as_str),
        Some("a b"),
        "{}",
        landing.location
    );
    landing.code();

    // Errors go the same way; the default is the fragment.
    let email = unique_email("oauth+query-error");
    let unverified = google_with(json!({ "sub": fresh_subject(), "email": email, "email_verified": false }));
    let landing = sign_in(app, Google, &query, &unverified);
    assert_eq!(
        landing.query.get("error").map(String::as_str),
        Some("email_not_verified"),
        "{}",
        landing.location
    );
    let target = format!("{FRONTEND_URL}/cb?keep=1");
    let landing = sign_in(app, Google, &format!("redirect_to={}", encode(&target)), &unverified);
    assert!(
        landing.location.starts_with(&format!("{target}#")),
        "{}",
        landing.location
    );
    assert_eq!(landing.query.get("keep").map(String::as_str), Some("1"));
    assert_eq!(
        landing.fragment.get("error").map(String::as_str),
        Some("email_not_verified")
    );
}

// ---------------------------------------------------------------------------------------
// State and binding.

pub fn a_second_callback_with_one_state_is_invalid_state() {
    let app = spawn_app();
    let flow = begin(app, Google, "");
    let (code, query) = consent(app, &flow);
    arrange(Google, &code, &google(&fresh_subject(), &unique_email("oauth+replay")));
    land(&callback(app, Google, &query, Some(&flow.binding))).code();
    let again = callback(app, Google, &query, Some(&flow.binding));
    again.assert_problem(400, "invalid_state");
    assert_eq!(again.header("location"), None);
}

pub fn a_callback_from_another_browser_is_invalid_state() {
    let app = spawn_app();
    let email = unique_email("oauth+csrf");
    let victim = begin(app, Google, "");
    let attacker = begin(app, Google, "");
    assert_ne!(victim.binding, attacker.binding, "each browser its own binding");
    let (code, query) = consent(app, &attacker);
    arrange(Google, &code, &google(&fresh_subject(), &email));
    for binding in [
        None,
        Some(victim.binding.as_str()),
        Some("forged-binding-value-0123456789"),
    ] {
        let answer = callback(app, Google, &query, binding);
        answer.assert_problem(400, "invalid_state");
        assert_eq!(answer.header("location"), None);
    }
    assert_eq!(app.count_users(&email), 0, "no account from a state of another browser");
}

pub fn unknown_and_other_providers_states_are_invalid_state() {
    let app = spawn_app();
    let flow = begin(app, Google, "");
    for query in [
        "code=abc&state=unknown-state-0123456789abcdef".to_owned(),
        "code=abc".to_owned(),
        format!("code=abc&state={}x", flow.state()),
    ] {
        callback(app, Google, &query, Some(&flow.binding)).assert_problem(400, "invalid_state");
    }
    // Google's state at Microsoft's callback.
    let (_, query) = consent(app, &flow);
    callback(app, Microsoft, &query, Some(&flow.binding)).assert_problem(400, "invalid_state");
}

// ---------------------------------------------------------------------------------------
// ID tokens.

pub fn id_tokens_that_prove_nothing_give_oauth_failed_and_no_account() {
    let app = spawn_app();
    let now = crate::harness::unix_now();
    // What each case changes in a valid arrangement: claims over the valid ones, claims
    // removed, how it is signed.
    let cases = [
        ("a wrong aud", json!({ "claims": { "aud": "another-client" } })),
        (
            "an aud list without the client",
            json!({ "claims": { "aud": ["another-client", "a-third"] } }),
        ),
        (
            "a foreign azp",
            json!({ "claims": { "aud": [GOOGLE_CLIENT_ID, "another"], "azp": "another" } }),
        ),
        (
            "a wrong iss",
            json!({ "claims": { "iss": "https://accounts.evil.example" } }),
        ),
        (
            "Google's own iss: an override must match exactly",
            json!({ "claims": { "iss": "https://accounts.google.com" } }),
        ),
        (
            "a wrong nonce",
            json!({ "claims": { "nonce": "another-nonce-0123456789abcdef" } }),
        ),
        ("no nonce", json!({ "remove": ["nonce"] })),
        (
            "an expired token",
            json!({ "claims": { "exp": now - 120, "iat": now - 3720 } }),
        ),
        ("no exp", json!({ "remove": ["exp"] })),
        (
            "an iat 10 minutes ahead",
            json!({ "claims": { "iat": now + 600, "exp": now + 4200 } }),
        ),
        ("a key outside the JWKS under its kid", json!({ "sign": "foreign" })),
        (
            "a key outside the JWKS under its own kid",
            json!({ "sign": "unknown_kid" }),
        ),
        ("alg none", json!({ "sign": "none" })),
        ("HS256 keyed with the client secret", json!({ "sign": "hs256" })),
        ("no ID token at all", json!({ "omit_id_token": true })),
    ];
    std::thread::scope(|scope| {
        for (what, change) in &cases {
            scope.spawn(move || {
                let email = unique_email("oauth+badtoken");
                let mut arrangement = change.clone();
                let mut claims = json!({ "sub": fresh_subject(), "email": email, "email_verified": true });
                if let Some(over) = change["claims"].as_object() {
                    claims.as_object_mut().unwrap().extend(over.clone());
                }
                arrangement["claims"] = claims;
                let landing = sign_in(app, Google, "", &Case::Oidc(arrangement));
                assert_eq!(landing.error(), Some("oauth_failed"), "{what}: {}", landing.location);
                assert!(!landing.result().contains_key("code"), "{what}");
                assert_eq!(app.count_users(&email), 0, "{what}: no account");
            });
        }
    });
}

pub fn an_es256_id_token_signed_by_a_key_of_the_jwks_is_accepted() {
    let app = spawn_app();
    let email = unique_email("oauth+es256");
    let case = Case::Oidc(
        json!({ "claims": { "sub": fresh_subject(), "email": email, "email_verified": true }, "sign": "es256" }),
    );
    let code = sign_in(app, Google, "", &case).code();
    assert_login_response(&exchange(app, &code));
}

pub fn an_unverified_google_email_is_email_not_verified() {
    let app = spawn_app();
    for verified in [json!(false), json!("false"), Value::Null] {
        let email = unique_email("oauth+unverified");
        let mut claims = json!({ "sub": fresh_subject(), "email": email, "email_verified": verified });
        if verified.is_null() {
            claims.as_object_mut().unwrap().remove("email_verified");
        }
        sign_in(app, Google, "", &google_with(claims)).assert_error("email_not_verified");
        assert_eq!(app.count_users(&email), 0, "email_verified {verified}: no account");
    }
    // Not even an existing verified account is linked through an unproven address.
    let existing = app.verified_user("oauth+unverified-existing");
    let claims = json!({ "sub": fresh_subject(), "email": existing, "email_verified": false });
    sign_in(app, Google, "", &google_with(claims)).assert_error("email_not_verified");
    let login = app.login(&existing, PASSWORD);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    assert!(identities(app, &access).is_empty());
}

// ---------------------------------------------------------------------------------------
// Local accounts with the provider's address.

pub fn a_verified_local_account_is_linked_and_told() {
    let app = spawn_app();
    let email = app.verified_user("oauth+link-email");
    let before = mail_count(app, &email);
    // The provider's address in another case: emails compare normalised.
    let shouted = email.to_uppercase();
    let (access, user) = signed_in(app, Google, &google(&fresh_subject(), &shouted));
    assert_eq!(user["email"], email.as_str(), "the local account: {user}");
    assert_eq!(app.count_users(&email), 1);
    let me = me(app, &access);
    assert_eq!(methods(&me), set(&["password", "google"]), "{me}");
    let listed = identities(app, &access);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["provider"], "google");
    let mail = provider_mail(app, &email, before, Google);
    assert!(!mail.subject.is_empty(), "the identity_linked mail");
    assert_eq!(app.login(&email, PASSWORD).status, 200, "the password still works");
}

pub fn an_unverified_local_account_is_replaced() {
    let app = spawn_app();
    let email = unique_email("oauth+squatter");
    assert_eq!(app.register(&email, PASSWORD).status, 201);
    let (access, user) = signed_in(app, Google, &google(&fresh_subject(), &email));
    assert_eq!(user["email"], email.as_str());
    assert_eq!(app.count_users(&email), 1, "one account, the new one");
    app.login(&email, PASSWORD).assert_problem(401, "invalid_credentials");
    let me = me(app, &access);
    assert_eq!(me["email_verified"], true, "{me}");
    assert_eq!(
        methods(&me),
        set(&["google"]),
        "the registrant's password is gone: {me}"
    );
    assert_eq!(me["full_name"], "Ada Lovelace", "{me}");
}

pub fn a_linked_identity_signs_in_its_user_and_updates_its_email() {
    let app = spawn_app();
    let sub = fresh_subject();
    let email = unique_email("oauth+again");
    let (first_access, first) = signed_in(app, Google, &google(&sub, &email));
    let created = identities(app, &first_access)[0].clone();
    std::thread::sleep(Duration::from_millis(1100));
    // The same Google account, its address changed since: rule a, the identity decides.
    let changed = unique_email("oauth+again-new");
    let (access, user) = signed_in(app, Google, &google(&sub, &changed));
    assert_eq!(user["id"], first["id"], "the same user");
    assert_eq!(user["email"], email.as_str(), "the account's own email stays");
    assert_eq!(app.count_users(&changed), 0, "no second account");
    let listed = identities(app, &access);
    assert_eq!(listed.len(), 1);
    assert_identity(&listed[0], Google, &changed);
    assert_eq!(listed[0]["created_at"], created["created_at"]);
    assert!(
        listed[0]["last_used_at"].as_str() > created["last_used_at"].as_str(),
        "last_used_at moves: {created} → {}",
        listed[0]
    );
}

pub fn an_email_match_with_another_identity_of_the_provider_is_provider_already_linked() {
    let app = spawn_app();
    let email = unique_email("oauth+already");
    let (access, _) = signed_in(app, Google, &google(&fresh_subject(), &email));
    // Another Google account claiming the same (verified) address.
    sign_in(app, Google, "", &google(&fresh_subject(), &email)).assert_error("provider_already_linked");
    let listed = identities(app, &access);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(app.count_users(&email), 1);
}

// ---------------------------------------------------------------------------------------
// The exchange.

pub fn the_exchange_code_works_once() {
    let app = spawn_app();
    let code = sign_in(app, Google, "", &google(&fresh_subject(), &unique_email("oauth+once"))).code();
    assert_login_response(&exchange(app, &code));
    exchange(app, &code).assert_problem(400, "invalid_code");
}

pub fn the_exchange_code_expires_after_60_seconds() {
    let app = spawn_app();
    let email = unique_email("oauth+expiry");
    let sub = fresh_subject();
    let fresh = sign_in(app, Google, "", &google(&sub, &email)).code();
    let rows = app.query(
        &format!(
            "SELECT created_at, expires_at FROM {EXCHANGE_CODES} WHERE {}",
            of_user(&email)
        ),
        &format!(
            "SELECT created_at, expires_at FROM {EXCHANGE_CODES} WHERE {}",
            of_user(&email)
        ),
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let lifetime = rows[0]["expires_at"].as_i64().unwrap() - rows[0]["created_at"].as_i64().unwrap();
    assert_eq!(lifetime, EXCHANGE_CODE_SECONDS, "{rows:?}");
    // Half its life gone (the margin covers the slow database access of the harness).
    age_exchange_codes(app, &email, EXCHANGE_CODE_SECONDS / 2);
    assert_login_response(&exchange(app, &fresh));
    let stale = sign_in(app, Google, "", &google(&sub, &email)).code();
    age_exchange_codes(app, &email, EXCHANGE_CODE_SECONDS + 1);
    exchange(app, &stale).assert_problem(400, "invalid_code");
}

pub fn a_state_expires_after_10_minutes() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("oauth+state-expiry");
    let flow = begin_link(app, Google, &access, json!({ "current_password": PASSWORD }));
    let (code, query) = consent(app, &flow);
    arrange(
        Google,
        &code,
        &google(&fresh_subject(), &unique_email("oauth+state-expiry-g")),
    );
    let aged = format!(
        "UPDATE oauth_states SET created_at = created_at - 601, expires_at = expires_at - 601 WHERE {}",
        of_user(&email)
    );
    app.execute(&aged, &aged);
    let answer = callback(app, Google, &query, Some(&flow.binding));
    answer.assert_problem(400, "invalid_state");
    assert!(identities(app, &access).is_empty());
}

pub fn unknown_and_malformed_exchange_codes_are_refused() {
    let app = spawn_app();
    exchange(app, "q8bUk2XGm3T0vJ8dY4x1Lr6cW9nQ0ZsA5pE7hF2jKkM").assert_problem(400, "invalid_code");
    for code in [
        "x".to_owned(),
        "A".repeat(10_000),
        String::new(),
        "%00\u{0}'\"--".to_owned(),
    ] {
        let answer = exchange(app, &code);
        let problem = answer.json();
        assert!(
            matches!(
                (answer.status, problem["code"].as_str()),
                (400, Some("invalid_code")) | (422, Some("validation_error"))
            ),
            "{} chars: {} {}",
            code.len(),
            answer.status,
            answer.body
        );
    }
    for body in [json!({}), json!({ "code": 42 }), json!([])] {
        app.post_json(&oauth("exchange"), &body)
            .assert_problem(422, "validation_error");
    }
}

/// A TOTP code (RFC 6238: HMAC-SHA1, 6 digits, 30 s) of `step`.
fn totp(secret: &str, step: u64) -> String {
    use hmac::{Hmac, Mac};
    let key = base32(secret);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

fn base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        value = (value << 5) | ALPHABET.iter().position(|&a| a == c).expect("base32") as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

fn now_step() -> u64 {
    crate::harness::unix_now() as u64 / 30
}

pub fn an_exchange_for_a_2fa_account_answers_the_mfa_challenge() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("oauth+2fa");
    let post = |route: &str, body: Value| {
        app.request(
            "POST",
            &app.auth(route),
            &[
                ("Authorization", &format!("Bearer {access}")),
                ("Content-Type", "application/json"),
            ],
            Some(body.to_string().as_bytes()),
        )
    };
    let enrolled = post("mfa/totp/enroll", json!({ "current_password": PASSWORD }));
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let secret = enrolled.json()["secret"].as_str().unwrap().to_owned();
    let step = now_step();
    let confirmed = post("mfa/totp/confirm", json!({ "code": totp(&secret, step) }));
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);

    let code = sign_in(app, Google, "", &google(&fresh_subject(), &email)).code();
    let answer = exchange(app, &code);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["mfa_required"], true, "the MFA challenge: {body}");
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "{body}"
    );
    assert!(
        !answer.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("set-cookie")),
        "no cookie before the second factor"
    );
    assert!(body["methods"].as_array().unwrap().contains(&json!("totp")), "{body}");
    let token = body["mfa_token"].as_str().unwrap().to_owned();

    // Until the challenge is passed, the identity is not linked.
    let methods_now = me(app, &access);
    assert_eq!(
        methods(&methods_now),
        set(&["password"]),
        "not linked before MFA: {methods_now}"
    );
    assert!(identities(app, &access).is_empty(), "not linked before MFA");

    // The next step's code (the confirm spent this one).
    let verified = app.post_json(
        &app.auth("mfa/verify"),
        &json!({ "mfa_token": token, "code": totp(&secret, step.max(now_step()) + 1) }),
    );
    let (access, _) = assert_login_response(&verified);
    assert_eq!(auth_methods(app, &access), json!(["google", "totp"]));
    assert_eq!(methods(&me(app, &access)), set(&["password", "google"]));
    assert_eq!(identities(app, &access).len(), 1, "linked once the challenge is passed");
}

// ---------------------------------------------------------------------------------------
// Provider failures.

pub fn the_provider_saying_access_denied_is_access_denied() {
    let app = spawn_app();
    for (said, expected) in [
        ("access_denied", "access_denied"),
        ("server_error", "oauth_failed"),
        ("temporarily_unavailable", "oauth_failed"),
    ] {
        let flow = begin(app, Google, "response_mode=query");
        let query = format!("error={said}&error_description=no&state={}", encode(flow.state()));
        let landing = land(&callback(app, Google, &query, Some(&flow.binding)));
        landing.assert_error(expected);
        // The state is spent.
        callback(app, Google, &query, Some(&flow.binding)).assert_problem(400, "invalid_state");
    }
}

pub fn a_provider_outage_is_provider_unavailable() {
    let app = spawn_app();
    for status in [500, 502, 503] {
        let email = unique_email("oauth+outage");
        let case = Case::Oidc(
            json!({ "claims": { "sub": fresh_subject(), "email": email, "email_verified": true }, "status": status }),
        );
        sign_in(app, Google, "", &case).assert_error("provider_unavailable");
        assert_eq!(app.count_users(&email), 0);
    }
    let mut case = github(fresh_github_id(), &[(&unique_email("oauth+gh-outage"), true, true)]);
    if let Case::GitHub(c) = &mut case {
        c.token_status = Some(503);
    }
    sign_in(app, GitHub, "", &case).assert_error("provider_unavailable");
}

pub fn a_refused_code_exchange_is_oauth_failed() {
    let app = spawn_app();
    let email = unique_email("oauth+refused");
    let case = Case::Oidc(json!({
        "claims": { "sub": fresh_subject(), "email": email, "email_verified": true },
        "status": 400, "body": { "error": "invalid_grant" },
    }));
    sign_in(app, Google, "", &case).assert_error("oauth_failed");
    // The code already spent at the provider (the mock's codes work once): GitHub's way
    // of refusing, a 200 with `error`.
    let flow = begin(app, GitHub, "");
    let (code, query) = consent(app, &flow);
    let primary = unique_email("oauth+refused-gh");
    arrange(GitHub, &code, &github(fresh_github_id(), &[(&primary, true, true)]));
    // Spend the code at the fake before the Worker does.
    let spend = ureq::post(&format!("{}/login/oauth/access_token", providers().github.url))
        .set("Accept", "application/json")
        .send_form(&[
            ("client_id", crate::harness::fake_github::CLIENT_ID),
            ("client_secret", crate::harness::fake_github::CLIENT_SECRET),
            ("code", &code),
            ("redirect_uri", &flow.params["redirect_uri"]),
        ]);
    assert!(spend.is_ok());
    land(&callback(app, GitHub, &query, Some(&flow.binding))).assert_error("oauth_failed");
    assert_eq!(app.count_users(&primary), 0);
}

/// The token endpoint answers (a valid token) only after 30 s: the Worker gives up at 10 s.
/// The upper bound leaves room for a loaded machine; without a timeout the sign-in would
/// succeed after 30 s.
pub fn a_slow_token_endpoint_is_provider_unavailable() {
    let app = spawn_app();
    let email = unique_email("oauth+slow");
    let case = Case::Oidc(
        json!({ "claims": { "sub": fresh_subject(), "email": email, "email_verified": true }, "delay_ms": 30_000 }),
    );
    let started = Instant::now();
    sign_in(app, Google, "", &case).assert_error("provider_unavailable");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(25),
        "the 10 s timeout: {took:?}"
    );
    assert_eq!(app.count_users(&email), 0);
}

// ---------------------------------------------------------------------------------------
// GitHub.

pub fn github_signs_in_with_the_primary_verified_email() {
    let app = spawn_app();
    let primary = unique_email("oauth+gh-primary");
    let other = unique_email("oauth+gh-other");
    let flow = begin(app, GitHub, "");
    let (code, query) = consent(app, &flow);
    arrange(
        GitHub,
        &code,
        &github(fresh_github_id(), &[(&other, false, true), (&primary, true, true)]),
    );
    let landing = land(&callback(app, GitHub, &query, Some(&flow.binding)));
    let (access, user) = assert_login_response(&exchange(app, &landing.code()));
    assert_eq!(user["email"], primary.as_str(), "{user}");
    assert_eq!(app.count_users(&other), 0);
    assert_eq!(methods(&me(app, &access)), set(&["github"]));
    assert_eq!(auth_methods(app, &access), json!(["github"]));
    assert_identity(&identities(app, &access)[0], GitHub, &primary);

    let seen = providers().github.seen(&code);
    let app_name = app.get("/").json()["name"].as_str().unwrap().to_owned();
    assert!(
        seen.token_headers
            .get("accept")
            .is_some_and(|a| a.contains("application/json")),
        "{:?}",
        seen.token_headers
    );
    for headers in [&seen.user_headers, &seen.emails_headers] {
        assert!(
            headers.get("authorization").is_some_and(|a| a.starts_with("Bearer ")),
            "{headers:?}"
        );
        assert!(
            headers
                .get("accept")
                .is_some_and(|a| a.contains("application/vnd.github+json")),
            "{headers:?}"
        );
        assert_eq!(headers.get("user-agent"), Some(&app_name), "User-Agent: APP_NAME");
    }
}

pub fn github_with_an_unverified_primary_email_is_email_not_verified() {
    let app = spawn_app();
    let primary = unique_email("oauth+gh-unverified");
    let verified_other = unique_email("oauth+gh-verified-other");
    for emails in [
        vec![(primary.as_str(), true, false), (verified_other.as_str(), false, true)],
        vec![(verified_other.as_str(), false, true)],
        vec![],
    ] {
        sign_in(app, GitHub, "", &github(fresh_github_id(), &emails)).assert_error("email_not_verified");
    }
    assert_eq!(app.count_users(&primary), 0);
    assert_eq!(app.count_users(&verified_other), 0);
}

// ---------------------------------------------------------------------------------------
// Microsoft.

pub fn microsoft_email_is_verified_by_xms_edov_or_the_personal_tenant() {
    let app = spawn_app();
    let email = unique_email("oauth+ms-edov");
    let (access, _) = signed_in(
        app,
        Microsoft,
        &microsoft(WORK_TENANT, &fresh_subject(), &email, Some(true)),
    );
    assert_eq!(methods(&me(app, &access)), set(&["microsoft"]));
    assert_eq!(auth_methods(app, &access), json!(["microsoft"]));

    for edov in [Some(false), None] {
        let email = unique_email("oauth+ms-no-edov");
        sign_in(
            app,
            Microsoft,
            "",
            &microsoft(WORK_TENANT, &fresh_subject(), &email, edov),
        )
        .assert_error("email_not_verified");
        assert_eq!(
            app.count_users(&email),
            0,
            "xms_edov {edov:?}: the plain email claim is no proof"
        );
    }
    let personal = unique_email("oauth+ms-personal");
    signed_in(
        app,
        Microsoft,
        &microsoft(PERSONAL_TENANT, &fresh_subject(), &personal, None),
    );
    assert_eq!(app.count_users(&personal), 1);
}

pub fn microsofts_issuer_must_name_the_tokens_tenant() {
    let app = spawn_app();
    let email = unique_email("oauth+ms-iss");
    let Case::Oidc(mut arrangement) = microsoft(WORK_TENANT, &fresh_subject(), &email, Some(true)) else {
        unreachable!()
    };
    arrangement["claims"]["iss"] = json!(format!("{}/{OWN_TENANT}/v2.0", providers().microsoft));
    sign_in(app, Microsoft, "", &Case::Oidc(arrangement.clone())).assert_error("oauth_failed");
    arrangement["claims"]["iss"] = json!(providers().microsoft);
    sign_in(app, Microsoft, "", &Case::Oidc(arrangement.clone())).assert_error("oauth_failed");
    // Google's key does not sign for Microsoft: a token with Google's aud is refused too.
    arrangement["claims"]["iss"] = json!(format!("{}/{WORK_TENANT}/v2.0", providers().microsoft));
    arrangement["claims"]["aud"] = json!(GOOGLE_CLIENT_ID);
    sign_in(app, Microsoft, "", &Case::Oidc(arrangement)).assert_error("oauth_failed");
    assert_eq!(app.count_users(&email), 0);
}

/// Microsoft's subject is `tid` + `sub`: one `sub` in two tenants is two identities.
pub fn a_microsoft_subject_is_one_per_tenant() {
    let app = spawn_app();
    let sub = fresh_subject();
    let work = unique_email("oauth+ms-work");
    let (_, first) = signed_in(app, Microsoft, &microsoft(WORK_TENANT, &sub, &work, Some(true)));
    let personal = unique_email("oauth+ms-home");
    let (_, second) = signed_in(app, Microsoft, &microsoft(PERSONAL_TENANT, &sub, &personal, None));
    assert_ne!(first["id"], second["id"], "two users");
    assert_eq!(second["email"], personal.as_str());
    let (_, again) = signed_in(
        app,
        Microsoft,
        &microsoft(WORK_TENANT, &sub, &unique_email("oauth+ms-x"), Some(true)),
    );
    assert_eq!(again["id"], first["id"], "the work identity again");
}

pub fn the_organizations_tenant_refuses_personal_accounts() {
    let app = organizations_app();
    let personal = unique_email("oauth+orgs-personal");
    sign_in(
        app,
        Microsoft,
        "",
        &microsoft(PERSONAL_TENANT, &fresh_subject(), &personal, Some(true)),
    )
    .assert_error("oauth_failed");
    assert_eq!(app.count_users(&personal), 0);
    let work = unique_email("oauth+orgs-work");
    signed_in(
        app,
        Microsoft,
        &microsoft(WORK_TENANT, &fresh_subject(), &work, Some(true)),
    );
}

pub fn a_tenant_id_accepts_only_its_own_tenant() {
    let app = tenant_app();
    for tid in [WORK_TENANT, PERSONAL_TENANT] {
        let email = unique_email("oauth+tenant-other");
        sign_in(
            app,
            Microsoft,
            "",
            &microsoft(tid, &fresh_subject(), &email, Some(true)),
        )
        .assert_error("oauth_failed");
        assert_eq!(app.count_users(&email), 0, "tid {tid}");
    }
    let own = unique_email("oauth+tenant-own");
    signed_in(
        app,
        Microsoft,
        &microsoft(OWN_TENANT, &fresh_subject(), &own, Some(true)),
    );
}

// ---------------------------------------------------------------------------------------
// Identities.

pub fn identities_are_listed_and_unlinked_with_a_mail() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("oauth+unlink");
    assert!(identities(app, &access).is_empty());
    unlink(app, &access, "google").assert_problem(404, "not_found");
    linked(
        app,
        &access,
        Google,
        &google(&fresh_subject(), &unique_email("oauth+unlink-g")),
    );
    let before = mail_count(app, &email);
    let answer = unlink(app, &access, "google");
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert!(answer.body.is_empty());
    provider_mail(app, &email, before, Google);
    assert!(identities(app, &access).is_empty());
    assert_eq!(methods(&me(app, &access)), set(&["password"]));
    unlink(app, &access, "google").assert_problem(404, "not_found");
    unlink(app, &access, "github").assert_problem(404, "not_found");
    app.get(&app.auth("identities"))
        .assert_problem(401, "not_authenticated");
}

pub fn the_last_credential_cannot_be_unlinked() {
    let app = spawn_app();
    let (access, _) = signed_in(app, Google, &google(&fresh_subject(), &unique_email("oauth+last")));
    unlink(app, &access, "google").assert_problem(409, "last_credential");
    assert_eq!(identities(app, &access).len(), 1, "nothing changed");
    // With a second identity, either one may go, but not the last (the recent login is
    // this user's reauthentication).
    let gh = unique_email("oauth+last-gh");
    linked_with(
        app,
        &access,
        GitHub,
        json!({}),
        &github(fresh_github_id(), &[(&gh, true, true)]),
    );
    assert_eq!(unlink(app, &access, "google").status, 204);
    unlink(app, &access, "github").assert_problem(409, "last_credential");
    assert_eq!(methods(&me(app, &access)), set(&["github"]));
}

// ---------------------------------------------------------------------------------------
// Link mode.

fn link(app: &TestApp, provider: Provider, access: &str, body: Value) -> Answer {
    app.request(
        "POST",
        &oauth(&format!("{}/link", provider.name())),
        &[
            ("Authorization", &format!("Bearer {access}")),
            ("Content-Type", "application/json"),
        ],
        Some(body.to_string().as_bytes()),
    )
}

/// POST link → the flow (the URL to navigate to, the binding the answer set).
fn begin_link(app: &TestApp, provider: Provider, access: &str, body: Value) -> Flow {
    let answer = link(app, provider, access, body);
    assert_eq!(answer.status, 200, "link: {}", answer.body);
    let json = answer.json();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["url"], "{json}");
    let (binding, _) = binding_cookie(&answer).expect("link sets oauth_binding");
    flow_of(app, provider, json["url"].as_str().unwrap(), binding)
}

/// Links `provider` to the user of `access` (with the password): asserts `linked=`.
fn linked(app: &TestApp, access: &str, provider: Provider, case: &Case) -> Landing {
    linked_with(app, access, provider, json!({ "current_password": PASSWORD }), case)
}

fn linked_with(app: &TestApp, access: &str, provider: Provider, body: Value, case: &Case) -> Landing {
    let flow = begin_link(app, provider, access, body);
    let landing = finish(app, &flow, case);
    assert_eq!(landing.error(), None, "{}", landing.location);
    assert_eq!(
        landing.result().get("linked").map(String::as_str),
        Some(provider.name()),
        "{}",
        landing.location
    );
    landing
}

pub fn link_mode_links_a_provider_to_the_signed_in_user() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("oauth+linkmode");
    let before = mail_count(app, &email);
    let target = format!("{FRONTEND_URL}/settings?tab=security");
    let flow = begin_link(
        app,
        GitHub,
        &access,
        json!({ "current_password": PASSWORD, "redirect_to": target, "response_mode": "query" }),
    );
    let gh_email = unique_email("oauth+linkmode-gh");
    let gh_id = fresh_github_id();
    let landing = finish(app, &flow, &github(gh_id, &[(&gh_email, true, true)]));
    assert!(
        landing.location.starts_with(&format!("{target}&")),
        "{}",
        landing.location
    );
    assert_eq!(
        landing.query.get("linked").map(String::as_str),
        Some("github"),
        "{}",
        landing.location
    );
    assert!(
        !landing.query.contains_key("code"),
        "link mode hands out no exchange code"
    );
    assert_eq!(app.count_users(&gh_email), 0, "no account for the provider's address");
    let listed = identities(app, &access);
    assert_eq!(listed.len(), 1);
    assert_identity(&listed[0], GitHub, &gh_email);
    assert_eq!(methods(&me(app, &access)), set(&["password", "github"]));
    provider_mail(app, &email, before, GitHub);
    // Now a GitHub sign-in through that identity is this user.
    let (again, user) = signed_in(app, GitHub, &github(gh_id, &[(&gh_email, true, true)]));
    assert_eq!(user["id"], me(app, &access)["id"], "{user}");
    assert_eq!(auth_methods(app, &again), json!(["github"]));
}

pub fn link_needs_reauthentication() {
    let app = spawn_app();
    let (_, access) = app.logged_in_user("oauth+link-reauth");
    link(app, Google, &access, json!({})).assert_problem(403, "current_password_required");
    link(
        app,
        Google,
        &access,
        json!({ "current_password": "not the password at all" }),
    )
    .assert_problem(401, "invalid_credentials");
    app.request(
        "POST",
        &oauth("google/link"),
        &[("Content-Type", "application/json")],
        Some(json!({ "current_password": PASSWORD }).to_string().as_bytes()),
    )
    .assert_problem(401, "not_authenticated");
}

pub fn a_password_less_user_links_with_a_recent_login_only() {
    let app = spawn_app();
    let email = unique_email("oauth+recent");
    let (access, _) = signed_in(app, Google, &google(&fresh_subject(), &email));
    let gh = unique_email("oauth+recent-gh");
    linked_with(
        app,
        &access,
        GitHub,
        json!({}),
        &github(fresh_github_id(), &[(&gh, true, true)]),
    );
    assert_eq!(methods(&me(app, &access)), set(&["google", "github"]));
    age_sessions(app, &email, OLD_LOGIN_SECONDS);
    link(app, Microsoft, &access, json!({})).assert_problem(403, "reauthentication_required");
}

pub fn link_of_an_identity_of_another_user_is_identity_in_use() {
    let app = spawn_app();
    let sub = fresh_subject();
    let owner = unique_email("oauth+in-use-owner");
    signed_in(app, Google, &google(&sub, &owner));
    let (email, access) = app.logged_in_user("oauth+in-use");
    let flow = begin_link(app, Google, &access, json!({ "current_password": PASSWORD }));
    finish(app, &flow, &google(&sub, &owner)).assert_error("identity_in_use");
    assert!(identities(app, &access).is_empty());
    assert_eq!(app.count_users(&email), 1);
}

pub fn link_after_the_session_ended_is_oauth_failed() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("oauth+link-logout");
    let flow = begin_link(app, Google, &access, json!({ "current_password": PASSWORD }));
    let logout = app.request(
        "POST",
        &app.auth("logout"),
        &[("Authorization", &format!("Bearer {access}"))],
        None,
    );
    assert_eq!(logout.status, 204, "{}", logout.body);
    let google_email = unique_email("oauth+link-logout-g");
    finish(app, &flow, &google(&fresh_subject(), &google_email)).assert_error("oauth_failed");
    assert_eq!(app.count_users(&google_email), 0);
    let login = app.login(&email, PASSWORD);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    assert!(identities(app, &access).is_empty(), "nothing linked");
}

pub fn link_of_a_second_identity_of_one_provider_is_provider_already_linked() {
    let app = spawn_app();
    let (_, access) = app.logged_in_user("oauth+second");
    let sub = fresh_subject();
    let first = unique_email("oauth+second-a");
    linked(app, &access, Google, &google(&sub, &first));
    // The same identity again: already this user's, a success.
    linked(app, &access, Google, &google(&sub, &first));
    let flow = begin_link(app, Google, &access, json!({ "current_password": PASSWORD }));
    finish(app, &flow, &google(&fresh_subject(), &unique_email("oauth+second-b")))
        .assert_error("provider_already_linked");
    let listed = identities(app, &access);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["email"], first.as_str());
}

// ---------------------------------------------------------------------------------------
// Users without a password.

pub fn a_password_less_account_refuses_password_login_like_a_wrong_password() {
    let app = spawn_app();
    let email = unique_email("oauth+nopass");
    signed_in(app, Google, &google(&fresh_subject(), &email));
    for password in [PASSWORD, "", "another passphrase entirely"] {
        let answer = app.login(&email, password);
        if password.is_empty() && answer.status == 422 {
            continue; // an empty password is malformed before any account is looked at
        }
        answer.assert_problem(401, "invalid_credentials");
    }
}

pub fn update_user_with_a_password_is_password_not_set() {
    let app = spawn_app();
    let email = unique_email("oauth+setpass");
    let (access, _) = signed_in(app, Google, &google(&fresh_subject(), &email));
    let answer = app.request(
        "PUT",
        &app.auth("update-user"),
        &[
            ("Authorization", &format!("Bearer {access}")),
            ("Content-Type", "application/json"),
        ],
        Some(
            json!({ "password": "a first passphrase here", "full_name": "Changed Name" })
                .to_string()
                .as_bytes(),
        ),
    );
    answer.assert_problem(403, "password_not_set");
    let me = me(app, &access);
    assert_eq!(methods(&me), set(&["google"]), "{me}");
    assert_eq!(me["full_name"], "Ada Lovelace", "nothing changed: {me}");
    app.login(&email, "a first passphrase here")
        .assert_problem(401, "invalid_credentials");
}

pub fn an_email_change_without_a_recent_login_needs_reauthentication() {
    let app = spawn_app();
    let email = unique_email("oauth+emailchange");
    let (access, _) = signed_in(app, Google, &google(&fresh_subject(), &email));
    let change = |to: &str| {
        app.request(
            "PUT",
            &app.auth("update-user"),
            &[
                ("Authorization", &format!("Bearer {access}")),
                ("Content-Type", "application/json"),
            ],
            Some(json!({ "email": to }).to_string().as_bytes()),
        )
    };
    // A recent login is the reauthentication of an account without a password.
    let recent = change(&unique_email("oauth+emailchange-recent"));
    assert_eq!(recent.status, 200, "with a recent login: {}", recent.body);
    age_sessions(app, &email, OLD_LOGIN_SECONDS);
    change(&unique_email("oauth+emailchange-old")).assert_problem(403, "reauthentication_required");
    assert_eq!(me(app, &access)["email"], email.as_str());
}

pub fn a_first_password_is_set_through_forget_and_reset() {
    let app = spawn_app();
    let email = unique_email("oauth+firstpass");
    let (access, _) = signed_in(app, Google, &google(&fresh_subject(), &email));
    let before = mail_count(app, &email);
    let forgot = app.post_json(&app.auth("password/forget"), &json!({ "email": email }));
    assert_eq!(forgot.status, 202, "{}", forgot.body);
    let token = app.reset_link_token(&email);
    let new_password = "a first passphrase of mine";
    let reset = app.post_json(
        &app.auth("password/reset"),
        &json!({ "token": token, "new_password": new_password }),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);
    app.me(&access).assert_problem(401, "invalid_token");
    let mails = app.sendgrid.wait_for_mails(&email, before + 2);
    assert!(
        mails[before..]
            .iter()
            .any(|m| m.subject.contains("password was changed")),
        "the password_changed mail: {:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let login = app.login(&email, new_password);
    assert_eq!(login.status, 200, "{}", login.body);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(methods(&me(app, &access)), set(&["password", "google"]));
    // And Google still signs in.
    assert_eq!(identities(app, &access).len(), 1);
}
