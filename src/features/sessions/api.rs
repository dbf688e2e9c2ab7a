//! `POST {p}/auth/login` (JSON or OAuth2 form), `POST {p}/auth/logout` (with its scopes),
//! and how the caller of an authenticated route is recognised.

use futures_util::future::join;
use serde::Serialize;
use utoipa::ToSchema;

use super::authenticate::{self, AuthenticateError, Caller};
use super::login::{self as flow, ClientInfo, LoggedIn, LoginError};
use super::logout::Scope;
use super::second_factor::LoginResult;
use super::{
    cookies, Sessions, EMAIL_NOT_VERIFIED, FORBIDDEN_ORIGIN, INVALID_CREDENTIALS, LOGIN_IP, SEEN_EVERY_SECONDS,
    USER_API,
};
use crate::features::users::UserBody;
use crate::kernel::feature::Ctx;
use crate::kernel::fields::from_fields;
use crate::kernel::password::{InvalidPassword, MAX_PASSWORD_BYTES};
use crate::kernel::problem::{ApiError, NOT_AUTHENTICATED};
use crate::kernel::web::{body, Fields, Request, Response};

pub use super::cookies::ACCESS_COOKIE;

#[derive(Debug, ToSchema)]
pub struct LoginRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    #[schema(min_length = 1, max_length = 72)]
    pub password: String,
}
from_fields!(LoginRequest { email, password });

/// OAuth2 password-flow form (`application/x-www-form-urlencoded`), as FastAPI clients send it.
#[derive(Debug, ToSchema)]
pub struct LoginForm {
    /// The email address.
    #[schema(format = Email, max_length = 254)]
    pub username: String,
    #[schema(min_length = 1, max_length = 72)]
    pub password: String,
}

/// The login response (sessions.md §1), also the answer of a refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires (never past the session's end).
    pub expires_in: i64,
    /// Opaque; send it to `{p}/auth/token/refresh` (or let the cookie carry it).
    pub refresh_token: String,
    /// Seconds until the refresh token expires: the session's idle or absolute end.
    pub refresh_expires_in: i64,
    pub user: UserBody,
}

impl LoginResponse {
    /// The answer with both cookies.
    pub fn answer(
        ctx: &Ctx<'_>,
        access_token: String,
        expires_in: i64,
        refresh_token: &str,
        refresh_expires_in: i64,
        user: &crate::features::users::User,
    ) -> Response {
        let cookies = [
            cookies::access(ctx, &access_token, expires_in),
            cookies::refresh(ctx, refresh_token, refresh_expires_in),
        ];
        let body = Self {
            access_token,
            token_type: "bearer",
            expires_in,
            refresh_token: refresh_token.to_owned(),
            refresh_expires_in,
            user: UserBody::from(user),
        };
        let [access, refresh] = cookies;
        Response::json(200, &body)
            .with_header("Set-Cookie", access)
            .with_header("Set-Cookie", refresh)
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => ApiError::new(&INVALID_CREDENTIALS, "incorrect email or password"),
            LoginError::EmailNotVerified => {
                ApiError::new(&EMAIL_NOT_VERIFIED, "verify your email address before logging in")
            }
            LoginError::Store(e) => e.into(),
            LoginError::Hash(e) => ApiError::internal_cause(e),
            LoginError::Token(e) => ApiError::internal_cause(e),
            LoginError::Locked { retry_after_seconds } => ApiError::rate_limited(retry_after_seconds),
            LoginError::Limiter(e) => e.into(),
        }
    }
}

#[utoipa::path(post, path = "/balance_hub/auth/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, body = LoginResultBody, description = "A login response, which also sets the HttpOnly cookies `access_token` and `refresh_token`; or, for an account with two-factor sign-in on, the MFA challenge (`mfa_required: true`, no token, no cookie): complete it at `{p}/auth/mfa/verify`",
            headers(("Set-Cookie" = String, description = "access_token=...; HttpOnly; Secure; SameSite=Lax; Path=/ and refresh_token=...; HttpOnly; Secure; SameSite=Strict; Path={p}/auth/token"))),
    ))]
pub async fn login(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    refuse_foreign_origin(ctx, request)?;
    let (email, password) = credentials(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &email);
    let password = presented_password(&mut fields, &password);
    let (email, password) = fields.finish(|| Some((email?, password?)))?;
    let client = client_of(ctx, request);
    // The per-IP limit, the account's lockout and the account lookup in one round trip.
    // A login the IP limit refuses still counts as an attempt on the account's streak.
    let (admitted, attempt) = join(ctx.enforce(&[(&LOGIN_IP, ctx.ip())]), flow::begin(ctx, &email)).await;
    admitted?;
    let result = flow::complete(ctx, attempt?, password, client).await?;
    Ok(login_result_response(ctx, result))
}

/// The MFA challenge (mfa.md): the first factor was right and a second one is due. No
/// token, no cookie, no session yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallengeResponse {
    /// Always `true`: how a client tells the challenge from a login response.
    pub mfa_required: bool,
    /// Opaque; send it to `{p}/auth/mfa/verify` with a second factor.
    pub mfa_token: String,
    /// `totp` always; `recovery_code` while an unused one remains. (`passkey` is not offered yet.)
    #[schema(example = json!(["totp", "recovery_code"]))]
    pub methods: Vec<&'static str>,
    /// Seconds the `mfa_token` stays valid (`MFA_TOKEN_EXPIRE_SECONDS`).
    pub expires_in: i64,
}

/// A login response (a session: cookies set) or the MFA challenge (no cookie), whichever
/// the first factor led to.
pub fn login_result_response(ctx: &Ctx<'_>, result: LoginResult) -> Response {
    match result {
        LoginResult::LoggedIn(logged_in) => login_response(ctx, logged_in),
        LoginResult::Challenge(challenge) => Response::json(
            200,
            &MfaChallengeResponse {
                mfa_required: true,
                mfa_token: challenge.mfa_token.expose().to_owned(),
                methods: challenge.methods,
                expires_in: challenge.expires_in,
            },
        ),
    }
}

/// What a login answers: a login response (a session) or the MFA challenge (`mfa_required`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum LoginResultBody {
    Session(LoginResponse),
    Challenge(MfaChallengeResponse),
}

/// The login response of a new session (sessions.md §1), whichever route opened it.
pub fn login_response(ctx: &Ctx<'_>, logged_in: LoggedIn) -> Response {
    ctx.identify(&logged_in.user.id.0);
    LoginResponse::answer(
        ctx,
        logged_in.access_token,
        logged_in.expires_in,
        logged_in.refresh_token.expose(),
        logged_in.refresh_expires_in,
        &logged_in.user,
    )
}

/// Who is asking: the User-Agent, `CF-Connecting-IP`, and Cloudflare's country and city.
pub fn client_of(ctx: &Ctx<'_>, request: &Request) -> ClientInfo {
    let location = request.place.get();
    ClientInfo {
        user_agent: request.header("user-agent").map(str::to_owned),
        ip: ctx.client_ip.map(str::to_owned),
        country: location.country.clone(),
        city: location.city.clone(),
    }
}

/// Login CSRF: a page on another site can post the login form with credentials of its
/// choosing, and the visitor's browser comes back logged into that account (what they then
/// enter, the page's owner can read). `SameSite=Lax` does not stop it: the cross-site
/// request is the one that sets the cookie. Browsers name the posting page in `Origin` on
/// every cross-site POST, so a present Origin must be one of ours (`CORS_ORIGINS`, which
/// holds `FRONTEND_URL`). `null` is what sandboxed frames, `file:` pages and cross-origin
/// redirects send: it names no one, so it is never ours. A request without Origin does not
/// come from a page a browser runs (curl, apps, servers) and is let through. Checked before
/// the body is parsed or any limit is asked: a forged login costs its target nothing.
pub fn refuse_foreign_origin(ctx: &Ctx<'_>, request: &Request) -> Result<(), ApiError> {
    let ours = |origin: &str| origin != "null" && ctx.config.cors_origins.iter().any(|o| o == origin);
    match request.header("origin") {
        Some(origin) if !ours(origin) => Err(ApiError::new(
            &FORBIDDEN_ORIGIN,
            "logins are accepted only from this service's own frontends",
        )),
        _ => Ok(()),
    }
}

/// The password as presented: not empty, and within the 72 bytes bcrypt reads. Checked
/// with the email, before the account is looked up or any limit is asked. A longer one
/// cannot be anyone's (register and reset refuse it), and `passwords::verify` refuses it
/// without hashing while an unknown email still runs the dummy hash: let through, it would
/// make a known account's answer measurably faster, and one request would tell whether the
/// account exists. Bad input is not a guess either, so it costs no lockout attempt.
fn presented_password<'p>(fields: &mut Fields, raw: &'p str) -> Option<&'p str> {
    if raw.is_empty() {
        fields.push("password", "field required");
        return None;
    }
    if raw.len() > MAX_PASSWORD_BYTES {
        fields.push("password", InvalidPassword::TooLong.to_string());
        return None;
    }
    Some(raw)
}

/// JSON `{email, password}` or the OAuth2 form `username` / `password`.
fn credentials(request: &Request) -> Result<(String, String), ApiError> {
    if body::media_type(request).as_deref() == Some("application/x-www-form-urlencoded") {
        let pairs = body::form_pairs(&request.body)?;
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let form = LoginForm {
            username: field("username"),
            password: field("password"),
        };
        return Ok((form.username, form.password));
    }
    let json = body::json::<LoginRequest>(request).map_err(|e| match e.status() {
        415 => body::unsupported_media_type("application/json or application/x-www-form-urlencoded"),
        _ => e,
    })?;
    Ok((json.email, json.password))
}

/// The body of a logout; no body is `local`.
#[derive(Debug, ToSchema)]
pub struct LogoutRequest {
    /// `local` ends this session (cookies cleared), `others` every other session of the
    /// user (this one and its cookies stay), `global` all of them (cookies cleared).
    pub scope: Option<String>,
}
from_fields!(LogoutRequest { scope });

#[utoipa::path(post, path = "/balance_hub/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>, content_type = "application/json"), responses(
    (status = 204, description = "The sessions of the scope are revoked; for `local` and `global` both cookies are cleared"),
))]
pub async fn logout(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let caller = caller(ctx, request).await?;
    let input: Option<LogoutRequest> = body::optional_json(request)?;
    let scope = match input.and_then(|i| i.scope).as_deref() {
        None | Some("local") => Scope::Local,
        Some("others") => Scope::Others,
        Some("global") => Scope::Global,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "scope",
                format!("{other:?} is not local, others or global"),
            ))
        }
    };
    super::logout::logout(ctx, &caller, scope).await?;
    let answer = Response::empty(204);
    Ok(match scope {
        Scope::Others => answer,
        Scope::Local | Scope::Global => answer
            .with_header("Set-Cookie", cookies::clear_access(ctx))
            .with_header("Set-Cookie", cookies::clear_refresh(ctx)),
    })
}

/// The bearer token, else the `access_token` cookie.
fn presented_token(request: &Request) -> Option<&str> {
    let bearer = request.header("authorization").and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    bearer
        .or_else(|| request.cookie(ACCESS_COOKIE))
        .filter(|t| !t.is_empty())
}

/// The authenticated caller, within the per-user API limit: what every `Auth::User` route
/// starts with. The limit is keyed by the signed token's user and taken while the session
/// is looked up (one round trip of latency); an ended session still answers 401, whatever
/// the limit says.
pub async fn caller(ctx: &Ctx<'_>, request: &Request) -> Result<Caller, ApiError> {
    let unauthorized = |e| match e {
        AuthenticateError::Missing => ApiError::new(&NOT_AUTHENTICATED, "log in and send the access token"),
        AuthenticateError::Token(_) | AuthenticateError::SessionEnded => ApiError::new(
            &crate::kernel::problem::INVALID_TOKEN,
            "the access token is invalid, expired or revoked",
        ),
        AuthenticateError::Store(e) => e.into(),
    };
    let claims = authenticate::claims(ctx, presented_token(request))
        .await
        .map_err(unauthorized)?;
    let user_id = claims.user_id.0.clone();
    let (limited, caller) = join(
        ctx.enforce(&[(&USER_API, &user_id)]),
        authenticate::session(ctx, claims),
    )
    .await;
    let caller = caller.map_err(unauthorized)?;
    ctx.identify(&user_id);
    limited?;
    // `last_seen_at` without a write per request: at most one per session per interval.
    let now = ctx.clock.now();
    if caller.last_seen_at.is_none_or(|seen| seen < now - SEEN_EVERY_SECONDS) {
        Sessions(ctx.db)
            .touch(&caller.session_id, now, SEEN_EVERY_SECONDS)
            .await?;
    }
    Ok(caller)
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(login, logout),
    components(schemas(LoginResponse, MfaChallengeResponse, LogoutRequest))
)]
pub(super) struct Doc;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::users::testing::{create_user, PASSWORD};
    use crate::features::users::FEATURE as USERS;
    use crate::kernel::config::test_var;
    use crate::kernel::feature::Services;
    use crate::kernel::sql::{Database, DbError, Dialect, Rows, Sql, Statement, StoreError, Value};
    use crate::kernel::testing::{NoMetrics, TestWorld};
    use crate::rate_limit::{Decision, Gate, LimiterError, LockoutPolicy, Policy, RateLimiter};

    fn world() -> TestWorld {
        TestWorld::new(&[&USERS, &crate::features::signing::FEATURE, &super::super::FEATURE])
    }

    /// `FRONTEND_URL`'s default: the one origin the test configuration allows.
    const FRONTEND: &str = "http://localhost:3000";

    fn login_request(email: &str, password: &str) -> Request {
        let body = serde_json::json!({ "email": email, "password": password }).to_string();
        Request::new("POST", "/balance_hub/auth/login")
            .with_header("content-type", "application/json")
            .with_body(body)
    }

    /// The handler's answer on the world's database and limiter.
    fn send(world: &TestWorld, request: &Request) -> Result<Response, ApiError> {
        world.with_ctx(|ctx| pollster::block_on(login(ctx, request)))
    }

    /// The handler's answer with no database and no limiter behind it: a request that asked
    /// either would be answered 503.
    fn send_to_nothing(world: &TestWorld, request: &Request) -> Result<Response, ApiError> {
        let services = Services {
            db: &Nothing,
            limiter: &Nothing,
            metrics: &NoMetrics,
            ..world.services()
        };
        let ctx = Ctx::new(
            &world.state,
            &services,
            &world.events,
            "test-request",
            Some("192.0.2.1"),
        );
        pollster::block_on(login(&ctx, request))
    }

    fn code(answer: Result<Response, ApiError>) -> &'static str {
        answer.map_or_else(|e| e.code.code, |_| "ok")
    }

    /// Neither a database nor a limiter: every call fails.
    struct Nothing;

    fn gone<T>() -> Result<T, LimiterError> {
        Err(LimiterError("not there".into()))
    }

    #[async_trait::async_trait(?Send)]
    impl RateLimiter for Nothing {
        async fn take(&self, _: &str, _: Policy) -> Result<Decision, LimiterError> {
            gone()
        }
        async fn begin_login(&self, _: &str, _: LockoutPolicy, _: Policy) -> Result<Gate, LimiterError> {
            gone()
        }
        async fn login_succeeded(&self, _: &str) -> Result<(), LimiterError> {
            gone()
        }
        async fn login_refunded(&self, _: &str, _: LockoutPolicy) -> Result<(), LimiterError> {
            gone()
        }
        async fn ping(&self) -> Result<(), LimiterError> {
            gone()
        }
    }

    #[async_trait::async_trait(?Send)]
    impl Database for Nothing {
        fn dialect(&self) -> Dialect {
            Dialect::Sqlite
        }
        fn backend(&self) -> &'static str {
            "nothing"
        }
        async fn run(&self, _: &Sql, _: &[Value]) -> Result<Rows, DbError> {
            Err(StoreError("not there".into()).into())
        }
        async fn batch(&self, _: &[Statement]) -> Result<Vec<Rows>, DbError> {
            Err(StoreError("not there".into()).into())
        }
    }

    #[test]
    fn an_over_long_password_is_refused_before_the_account_or_a_limit_is_asked() {
        let world = world();
        create_user(&world, "ada@example.com", true);
        let over_long = format!("{PASSWORD}{}", "x".repeat(MAX_PASSWORD_BYTES + 1 - PASSWORD.len()));
        for email in ["ada@example.com", "nobody@example.com"] {
            let error = send_to_nothing(&world, &login_request(email, &over_long)).unwrap_err();
            assert_eq!(error.code.code, "validation_error", "{email}");
            let fields: Vec<&str> = error.problem.errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["password"], "{email}");
        }
        let at_the_limit = "x".repeat(MAX_PASSWORD_BYTES);
        assert_eq!(
            code(send(&world, &login_request("ada@example.com", &at_the_limit))),
            "invalid_credentials",
            "72 bytes is checked like any password"
        );
    }

    #[test]
    fn a_foreign_origin_is_refused_before_the_body_the_account_or_a_limit_is_read() {
        let world = world();
        create_user(&world, "ada@example.com", true);
        let foreign = [
            "http://evil.example",
            "null",
            "http://localhost:3001",
            "https://localhost:3000",
            "http://localhost:3000/",
            "",
        ];
        for origin in foreign {
            let request = login_request("ada@example.com", PASSWORD).with_header("origin", origin);
            assert_eq!(
                code(send_to_nothing(&world, &request)),
                "forbidden_origin",
                "{origin:?}"
            );
        }
        let unreadable = Request::new("POST", "/balance_hub/auth/login")
            .with_header("origin", "http://evil.example")
            .with_body("{not json");
        assert_eq!(code(send_to_nothing(&world, &unreadable)), "forbidden_origin");
    }

    #[test]
    fn null_is_no_one_even_when_configured_as_an_origin() {
        let read = |name: &str| match name {
            "CORS_ORIGINS" => Some("null".to_owned()),
            _ => test_var(name),
        };
        let world = TestWorld::with_vars(
            &[&USERS, &crate::features::signing::FEATURE, &super::super::FEATURE],
            &read,
        );
        create_user(&world, "ada@example.com", true);
        let request = login_request("ada@example.com", PASSWORD).with_header("origin", "null");
        assert_eq!(code(send_to_nothing(&world, &request)), "forbidden_origin");
    }

    #[test]
    fn our_own_origin_or_none_logs_in() {
        let world = world();
        create_user(&world, "ada@example.com", true);
        let ours = login_request("ada@example.com", PASSWORD).with_header("origin", FRONTEND);
        assert_eq!(code(send(&world, &ours)), "ok");
        let without = login_request("ada@example.com", PASSWORD);
        assert_eq!(code(send(&world, &without)), "ok", "clients that are not browsers");
    }
}
