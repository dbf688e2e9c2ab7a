//! The feature contract: what a capability registers (routes with their method, path,
//! handler and every status they can answer; rate limits; mail kinds; a settings section;
//! its OpenAPI operations) and the context its handlers run in. `app.rs` lists the
//! features; the router, the OpenAPI document, the limit table and the template checks are
//! built from these registrations.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use super::assets::Assets;
use super::config::{Config, ConfigError, Vars};
use super::crypto::Crypto;
use super::events::{AuthEvent, EventSink};
use super::fetch::HttpClient;
use super::ids::{Clock, UserId};
use super::mail::{MailKind, Outbox};
use super::net;
use super::password::CommonPasswords;
use super::problem::{ApiError, ProblemCode};
use super::secrets::SecretDigester;
use super::sql::{Database, Sql, StoreError};
use super::web::{Request, Response};
use crate::rate_limit::{Allowances, Decision, Policy, RateLimiter};

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + 'a>>;
/// A route's handler: parses the request, calls one flow, maps the result.
pub type Handler = for<'a> fn(&'a Ctx<'a>, &'a Request) -> HandlerFuture<'a>;

/// `handler!(api::login)`: an `async fn(&Ctx<'_>, &Request) -> Result<Response, ApiError>`
/// as a `Handler`.
#[macro_export]
macro_rules! handler {
    ($f:path) => {{
        fn boxed<'a>(
            ctx: &'a $crate::kernel::feature::Ctx<'a>,
            request: &'a $crate::kernel::web::Request,
        ) -> $crate::kernel::feature::HandlerFuture<'a> {
            Box::pin($f(ctx, request))
        }
        boxed as $crate::kernel::feature::Handler
    }};
}

/// A capability's check at the first request of an isolate (one that needs I/O, such as a
/// signature with each configured key); an error stops every request, naming the variable.
pub type StartupFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ConfigError>> + 'a>>;
pub type Startup = for<'a> fn(&'a Ctx<'a>) -> StartupFuture<'a>;

/// What a route reads from the body; decides its generic 400 / 413 / 415 / 422 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Json,
    /// JSON, or `application/x-www-form-urlencoded` (login's OAuth2 form).
    JsonOrForm,
    /// A JSON body that may be left out entirely.
    OptionalJson,
}

/// Who may call a route; decides its 401 answers and its OpenAPI security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    /// A valid access token (bearer or cookie) of a live session.
    User,
    /// `Authorization: Bearer METRICS_TOKEN`, when that variable is set.
    MetricsToken,
}

/// One route. Every status it can answer is known from these fields: `ok`, the generic
/// answers that follow from `body`, `auth`, `limited`, `storage` and `mails`, 500 always,
/// and `problems`, the answers specific to it.
#[derive(Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// `{p}` stands for `API_PREFIX`; the template is also what logs and metrics name.
    pub path: &'static str,
    pub handler: Handler,
    pub ok: u16,
    pub body: Body,
    pub auth: Auth,
    /// Takes rate-limit tokens: may answer 429.
    pub limited: bool,
    /// Needs the database (or another dependency: the limiter, the deployment's assets):
    /// may answer 503.
    pub storage: bool,
    /// Its purpose is a mail (a code, a link): refused with 503 naming `mail` before the
    /// handler while mail is unconfigured, rather than answering as if it were sent.
    pub mails: bool,
    /// Public data: any origin may read it, without credentials (`Access-Control-Allow-Origin: *`).
    pub public: bool,
    pub problems: &'static [&'static ProblemCode],
}

impl Route {
    pub const fn new(method: &'static str, path: &'static str, handler: Handler, ok: u16) -> Self {
        Self {
            method,
            path,
            handler,
            ok,
            body: Body::None,
            auth: Auth::None,
            limited: false,
            storage: false,
            mails: false,
            public: false,
            problems: &[],
        }
    }

    pub const fn public(mut self) -> Self {
        self.public = true;
        self
    }

    pub const fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    pub const fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub const fn limited(mut self) -> Self {
        self.limited = true;
        self
    }

    pub const fn storage(mut self) -> Self {
        self.storage = true;
        self
    }

    pub const fn mails(mut self) -> Self {
        self.mails = true;
        self
    }

    pub const fn problems(mut self, problems: &'static [&'static ProblemCode]) -> Self {
        self.problems = problems;
        self
    }

    /// Every error answer the route can give: the generic ones its fields imply, then
    /// its own `problems`.
    pub fn problem_answers(&self) -> Vec<&'static ProblemCode> {
        use super::problem as p;
        let body = self.body != Body::None;
        let generic: [(&'static ProblemCode, bool); 9] = [
            (&p::MALFORMED_BODY, body),
            (&p::NOT_AUTHENTICATED, self.auth == Auth::User),
            (&p::INVALID_TOKEN, self.auth != Auth::None),
            (&p::PAYLOAD_TOO_LARGE, self.method != "GET"),
            (&p::UNSUPPORTED_MEDIA_TYPE, body),
            (&p::VALIDATION_ERROR, body),
            (&p::RATE_LIMITED, self.limited),
            (&p::INTERNAL_ERROR, true),
            (&p::DEPENDENCY_UNAVAILABLE, self.storage || self.limited || self.mails),
        ];
        let mut answers: Vec<&'static ProblemCode> = generic
            .into_iter()
            .filter(|(_, applies)| *applies)
            .map(|(code, _)| code)
            .collect();
        answers.extend(self.problems.iter().copied());
        answers
    }

    /// Whether `error` is among the answers this route documents.
    pub fn documents(&self, error: &ProblemCode) -> bool {
        self.problem_answers()
            .iter()
            .any(|code| code.status == error.status && code.code == error.code)
    }
}

/// A rate limit a capability takes tokens from: its counter name (the prefix of its
/// keys), the variable that configures it and its default as `LIMIT/SECONDS`.
#[derive(Debug, PartialEq, Eq)]
pub struct LimitSpec {
    pub name: &'static str,
    pub var: &'static str,
    pub default: &'static str,
    /// May be approximate: the isolate spends tokens leased from the counter in batches
    /// (`rate_limit::Allowances`), so most requests need no counter call. Never for a
    /// limit that guards a secret (logins, codes, reset links).
    pub approximate: bool,
}

impl LimitSpec {
    pub const fn new(name: &'static str, var: &'static str, default: &'static str) -> Self {
        Self {
            name,
            var,
            default,
            approximate: false,
        }
    }

    /// Marks the limit as one that may be approximate (see `approximate`).
    pub const fn approximate(mut self) -> Self {
        self.approximate = true;
        self
    }
}

/// A capability's settings section, read once per isolate; handlers get it back with
/// `ctx.settings::<T>()`.
pub type SettingsReader = fn(&Vars<'_>, &Config) -> Result<Box<dyn Any>, ConfigError>;

/// A second factor a capability offers at sign-in (`totp`, `recovery_code`, `passkey`):
/// `available` takes `?1` = the user id and answers one row whose integer column `n` is
/// greater than 0 when the user can use the method now. The sign-in decision (sessions)
/// runs every registered probe in one batch, so it never needs to know who offers what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactor {
    pub method: &'static str,
    pub available: Sql,
}

/// A sign-in that waited for its second factor has just passed it: sessions consumed the
/// challenge (`challenge` is the digest of its `mfa_token`, only one request sees it) and
/// is about to open the session. A capability that left something waiting for that (an
/// email-match link of a provider identity) finishes it here, answering whether it
/// changed the user (then the session's user object is read again); an error fails the
/// sign-in.
pub struct CompletedSignIn<'a> {
    pub user_id: &'a UserId,
    pub email: &'a str,
    pub first_factor: &'a str,
    pub challenge: &'a str,
}

pub type SignInHookFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, StoreError>> + 'a>>;
pub type SignInCompleted = for<'a> fn(&'a Ctx<'a>, &'a CompletedSignIn<'a>) -> SignInHookFuture<'a>;

/// What a capability registers. `app.rs` mounts one line per feature.
pub struct Feature {
    pub name: &'static str,
    pub routes: &'static [Route],
    pub limits: &'static [&'static LimitSpec],
    pub mails: &'static [&'static MailKind],
    pub settings: Option<SettingsReader>,
    /// Statements the scheduled (cron) handler runs to drop what has expired; `?1` is the
    /// current Unix time.
    pub housekeeping: &'static [Sql],
    /// The second factors it offers, probed at each sign-in (`SecondFactor`).
    pub second_factors: &'static [SecondFactor],
    /// Called when a sign-in passes its MFA challenge (`CompletedSignIn`).
    pub sign_in_completed: Option<SignInCompleted>,
    /// Run once per isolate before its first request is served.
    pub startup: Option<Startup>,
    /// The feature's operations and schemas (`#[utoipa::path]` on its handlers), for the
    /// OpenAPI document; built natively only, so the generator never ships in the Worker.
    #[cfg(not(target_arch = "wasm32"))]
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

/// Every feature's settings section, by type.
#[derive(Default)]
pub struct Settings(Vec<Box<dyn Any>>);

impl Settings {
    pub fn get<T: 'static>(&self) -> &T {
        self.0
            .iter()
            .find_map(|section| section.downcast_ref::<T>())
            .unwrap_or_else(|| panic!("no feature registered the settings {}", std::any::type_name::<T>()))
    }

    pub fn insert(&mut self, section: Box<dyn Any>) {
        self.0.push(section);
    }
}

/// The configured policy of every registered limit.
#[derive(Debug, Clone, Default)]
pub struct Limits(Vec<(&'static str, Policy)>);

impl Limits {
    pub fn from_vars(specs: &[&'static LimitSpec], vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let policies = specs
            .iter()
            .map(|spec| {
                let raw = vars.or(spec.var, spec.default);
                Policy::parse(&raw)
                    .map(|policy| (spec.name, policy))
                    .map_err(|e| super::config::invalid(spec.var, e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(policies))
    }

    pub fn policy(&self, spec: &LimitSpec) -> Policy {
        self.0
            .iter()
            .find(|(name, _)| *name == spec.name)
            .map(|(_, policy)| *policy)
            .unwrap_or_else(|| panic!("limit {} is not registered by any feature", spec.name))
    }
}

/// Per-isolate state: configuration, the keys derived from it, every feature's settings
/// and every limit's policy, built once.
pub struct AppState {
    pub config: Config,
    pub digester: SecretDigester,
    pub settings: Settings,
    pub limits: Limits,
    /// Every feature's second-factor probes, in the order the features are mounted.
    pub second_factors: Vec<&'static SecondFactor>,
    /// Every feature's `sign_in_completed`, in mount order.
    pub sign_in_hooks: Vec<SignInCompleted>,
    /// The outcome of the features' startup checks, once they ran.
    pub started: RefCell<Option<Result<(), ConfigError>>>,
    /// Tokens of approximate limits leased by this isolate.
    pub allowances: Allowances,
}

impl AppState {
    pub fn new(features: &[&Feature], vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let config = Config::from_vars(vars)?;
        let mut settings = Settings::default();
        for read in features.iter().filter_map(|f| f.settings) {
            settings.insert(read(vars, &config)?);
        }
        let specs: Vec<&'static LimitSpec> = features.iter().flat_map(|f| f.limits.iter().copied()).collect();
        Ok(Self {
            digester: SecretDigester::new(config.secret_key.expose().as_bytes()),
            limits: Limits::from_vars(&specs, vars)?,
            settings,
            config,
            second_factors: features.iter().flat_map(|f| f.second_factors.iter()).collect(),
            sign_in_hooks: features.iter().filter_map(|f| f.sign_in_completed).collect(),
            started: RefCell::new(None),
            allowances: Allowances::default(),
        })
    }
}

/// The aggregated metrics of every isolate, as the metrics store keeps them (JSON).
#[async_trait(?Send)]
pub trait MetricsSource {
    async fn snapshot(&self) -> Result<String, String>;
}

/// The per-request adapters, supplied by the Worker entry (or by tests).
pub struct Services<'a> {
    pub db: &'a dyn Database,
    pub crypto: &'a dyn Crypto,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
    pub limiter: &'a dyn RateLimiter,
    pub metrics: &'a dyn MetricsSource,
    pub assets: &'a dyn Assets,
    /// Outbound HTTP (OAuth providers), with a deadline per request.
    pub http: &'a dyn HttpClient,
}

/// What a handler sees of its request's surroundings.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub digester: &'a SecretDigester,
    pub db: &'a dyn Database,
    pub crypto: &'a dyn Crypto,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
    pub limiter: &'a dyn RateLimiter,
    pub metrics: &'a dyn MetricsSource,
    pub assets: &'a dyn Assets,
    pub http: &'a dyn HttpClient,
    pub events: &'a dyn EventSink,
    pub request_id: &'a str,
    /// `CF-Connecting-IP`, as Cloudflare reports the caller (what a session records).
    pub client_ip: Option<&'a str>,
    /// The caller's per-IP limit subject, from `client_ip`.
    ip_subject: String,
    settings: &'a Settings,
    limits: &'a Limits,
    allowances: &'a Allowances,
    second_factors: &'a [&'static SecondFactor],
    sign_in_hooks: &'a [SignInCompleted],
    /// The tightest limit met so far: (limit, remaining), sent as X-RateLimit-* headers.
    quota: Cell<Option<(u32, u32)>>,
    /// The authenticated user, once known, for the log line.
    user_id: RefCell<Option<String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        state: &'a AppState,
        services: &'a Services<'a>,
        events: &'a dyn EventSink,
        request_id: &'a str,
        client_ip: Option<&'a str>,
    ) -> Self {
        Self {
            config: &state.config,
            digester: &state.digester,
            db: services.db,
            crypto: services.crypto,
            outbox: services.outbox,
            clock: services.clock,
            limiter: services.limiter,
            metrics: services.metrics,
            assets: services.assets,
            http: services.http,
            events,
            request_id,
            client_ip,
            ip_subject: net::limit_subject(client_ip),
            settings: &state.settings,
            limits: &state.limits,
            allowances: &state.allowances,
            second_factors: &state.second_factors,
            sign_in_hooks: &state.sign_in_hooks,
            quota: Cell::new(None),
            user_id: RefCell::new(None),
        }
    }

    /// The common-password list new passwords are checked against (read from the
    /// deployment's assets once per isolate; 503 naming `assets` if it cannot be).
    pub async fn common_passwords(&self) -> Result<&'static CommonPasswords, ApiError> {
        Ok(CommonPasswords::shared(self.assets).await?)
    }

    /// A feature's settings section.
    pub fn settings<T: 'static>(&self) -> &'a T {
        self.settings.get::<T>()
    }

    /// The second-factor probes of every mounted feature.
    pub fn second_factors(&self) -> &'a [&'static SecondFactor] {
        self.second_factors
    }

    /// Every mounted feature's `sign_in_completed`.
    pub fn sign_in_hooks(&self) -> &'a [SignInCompleted] {
        self.sign_in_hooks
    }

    pub fn policy(&self, limit: &LimitSpec) -> Policy {
        self.limits.policy(limit)
    }

    pub fn emit(&self, event: AuthEvent) {
        self.events.emit(event);
    }

    /// Takes one token from each `(limit, subject)` counter, in order; stops at the first
    /// refusal (429 with `Retry-After`). The tightest one met becomes `X-RateLimit-*`.
    /// An approximate limit spends a token this isolate leased before, if it has one.
    pub async fn enforce(&self, checks: &[(&LimitSpec, &str)]) -> Result<(), ApiError> {
        for (limit, subject) in checks {
            let key = format!("{}:{subject}", limit.name);
            let decision = if limit.approximate {
                self.take_leased(&key, self.policy(limit)).await?
            } else {
                self.limiter.take(&key, self.policy(limit)).await?
            };
            let tighter = self
                .quota
                .get()
                .is_none_or(|(_, remaining)| decision.remaining < remaining);
            if tighter {
                self.quota.set(Some((decision.limit, decision.remaining)));
            }
            if !decision.allowed {
                return Err(ApiError::rate_limited(decision.retry_after_seconds));
            }
        }
        Ok(())
    }

    /// A token from this isolate's stock for `key`, else from a new lease.
    async fn take_leased(&self, key: &str, policy: Policy) -> Result<Decision, ApiError> {
        let now = self.clock.now();
        if let Some(decision) = self.allowances.take(key, now) {
            return Ok(decision);
        }
        let want = self.allowances.begin_lease(key, policy);
        match self.limiter.lease(key, policy, want).await {
            Ok(lease) => Ok(self.allowances.keep(key, lease, policy, self.clock.now())),
            Err(error) => {
                self.allowances.abandon(key);
                Err(error.into())
            }
        }
    }

    /// The caller's IP as a counter subject: an IPv4 address as itself, an IPv6 client by
    /// its /64 (it may hold all of it), `unknown` without one (`net::limit_subject`).
    pub fn ip(&self) -> &str {
        &self.ip_subject
    }

    /// A counter subject for an email or token that does not reveal it.
    pub fn pseudonym(&self, value: &str) -> String {
        self.digester.pseudonym(value)
    }

    /// Names the authenticated user in the request's log line.
    pub fn identify(&self, user_id: &str) {
        self.user_id.replace(Some(user_id.to_owned()));
    }

    pub fn user_id(&self) -> Option<String> {
        self.user_id.borrow().clone()
    }

    pub fn quota(&self) -> Option<(u32, u32)> {
        self.quota.get()
    }
}
