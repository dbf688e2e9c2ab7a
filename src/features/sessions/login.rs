//! Login: unknown email and wrong password are indistinguishable, in answer and in time.

use futures_util::future::join;

use super::device::Device;
use super::lockout::{lockout_key, lockout_started, LockoutAttempt};
use super::refresh::{self, RefreshToken};
use super::second_factor::{sign_in, LoginResult};
use super::tokens::TokenError;
use super::{devices, mails, store, Session, SessionsSettings, LOGIN_ACCOUNT};
use crate::features::users::passwords::{self, HashError};
use crate::features::users::{User, Users, UsersSettings};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Ctx;
use crate::kernel::secrets::random_uuid;
use crate::kernel::sql::StoreError;
use crate::kernel::{EmailAddress, SessionId};
use crate::rate_limit::{Gate, LimiterError};

/// Where the login came from, kept with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// ISO 3166-1 alpha-2, from Cloudflare's `request.cf`.
    pub country: Option<String>,
    pub city: Option<String>,
}

impl ClientInfo {
    /// The user agent as stored: cut to `MAX_USER_AGENT_CHARS`.
    pub fn stored_user_agent(&self) -> Option<String> {
        self.user_agent
            .as_ref()
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect())
    }
}

/// Stored user agents are cut to this many characters.
const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug)]
pub struct LoggedIn {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    pub refresh_expires_in: i64,
    pub user: User,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the email address is not verified yet")]
    EmailNotVerified,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("too many failed logins; retry in {retry_after_seconds} s")]
    Locked { retry_after_seconds: u32 },
    #[error(transparent)]
    Limiter(#[from] LimiterError),
}

/// The answer to a wrong password at login.
fn wrong_password(ctx: &Ctx<'_>, owner: Option<&User>, notify: bool) -> LoginError {
    ctx.emit(AuthEvent::LoginFailed);
    lockout_started(ctx, owner, notify);
    LoginError::InvalidCredentials
}

/// Checks the password of a signed-in `user` (update-user's `current_password`) inside
/// the same lockout as login: the attempt is reserved first, so a stolen token cannot
/// guess silently; a right password ends the streak as a login would (for a 2FA account
/// it only takes its attempt back: `LockoutAttempt::password_right`).
pub async fn check_password(ctx: &Ctx<'_>, user: &User, password: &str) -> Result<bool, LoginError> {
    let attempt = LockoutAttempt::begin(ctx, &user.email).await?;
    if password_matches(ctx, user, password) {
        attempt.password_right(ctx, user).await?;
        return Ok(true);
    }
    attempt.failed(ctx, user);
    Ok(false)
}

/// Whether `password` is the user's (one bcrypt check at the configured cost).
pub(super) fn password_matches(ctx: &Ctx<'_>, user: &User, password: &str) -> bool {
    passwords::verify(
        password,
        &user.password_hash,
        ctx.settings::<UsersSettings>().bcrypt_cost,
    )
}

/// Ends the lockout of the account behind `email`: a completed reset lets its owner in at once.
pub async fn end_lockout(ctx: &Ctx<'_>, email: &str) -> Result<(), LimiterError> {
    ctx.limiter.login_succeeded(&lockout_key(ctx, email)).await
}

/// A login admitted by the account's lockout, with the account (if any) looked up.
pub struct Attempt {
    lockout_key: String,
    found: Option<User>,
    notify_on_failure: bool,
}

/// The first half of a login, all I/O and no hashing: reserves a password check with the
/// account's lockout and looks the account up, concurrently (one round trip of latency).
/// The lockout counts attempts per email, known or not, so it reveals nothing either.
pub async fn begin(ctx: &Ctx<'_>, email: &EmailAddress) -> Result<Attempt, LoginError> {
    let lockout_key = lockout_key(ctx, email.as_str());
    let gate = ctx.limiter.begin_login(
        &lockout_key,
        ctx.settings::<SessionsSettings>().lockout,
        ctx.policy(&LOGIN_ACCOUNT),
    );
    let users = Users(ctx.db);
    let (gate, found) = join(gate, users.by_email(email)).await;
    match gate? {
        Gate::Blocked { retry_after_seconds } => Err(LoginError::Locked { retry_after_seconds }),
        Gate::Open { notify_on_failure } => Ok(Attempt {
            lockout_key,
            found: found?,
            notify_on_failure,
        }),
    }
}

/// The second half: checks the password (in the same time whether or not the account
/// exists) and, when it is right, signs in (`sign_in`): a session, whose storing ends the
/// lockout streak, or the MFA challenge of a 2FA account, which takes the attempt back and
/// leaves the streak as it is.
pub async fn complete(
    ctx: &Ctx<'_>,
    attempt: Attempt,
    password: &str,
    client: ClientInfo,
) -> Result<LoginResult, LoginError> {
    let Attempt {
        lockout_key,
        found,
        notify_on_failure,
    } = attempt;
    let bcrypt_cost = ctx.settings::<UsersSettings>().bcrypt_cost;
    let password_ok = match &found {
        Some(user) => passwords::verify(password, &user.password_hash, bcrypt_cost),
        None => {
            passwords::verify_dummy(password, bcrypt_cost);
            false
        }
    };
    let mut user = match (found, password_ok) {
        (Some(user), true) => user,
        (owner, _) => return Err(wrong_password(ctx, owner.as_ref(), notify_on_failure)),
    };
    let now = ctx.clock.now();
    // Only someone who knows the password learns that the address is unverified.
    if !user.email_verified {
        ctx.limiter.login_succeeded(&lockout_key).await?;
        return Err(LoginError::EmailNotVerified);
    }
    if passwords::cost_of(&user.password_hash) != Some(bcrypt_cost) {
        // Upgrade (or downgrade) hashes made at another cost while the password is at hand.
        let rehashed = passwords::hash(password, bcrypt_cost)?;
        Users(ctx.db).set_password_hash(&user.id, &rehashed, now).await?;
        user.password_hash = rehashed;
    }
    let result = sign_in(ctx, user, client, "password").await?;
    if let LoginResult::Challenge(_) = result {
        // A right password, but half a sign-in: no failure, and not the end of the streak.
        super::lockout::refund(ctx, &lockout_key).await?;
    }
    Ok(result)
}

/// A completed sign-in, by whatever factors (`auth_methods`, first factor first: the
/// password, or a passkey, a provider, an emailed code, then a second factor): stores a new
/// session with its first refresh token, records the device (and tells the owner of a new
/// one), and signs the access token, while the account's lockout streak ends.
pub async fn open_session(
    ctx: &Ctx<'_>,
    user: User,
    client: ClientInfo,
    auth_methods: &[&str],
) -> Result<LoggedIn, LoginError> {
    let lockout_key = lockout_key(ctx, &user.email);
    let now = ctx.clock.now();
    let settings = ctx.settings::<SessionsSettings>();
    let device = Device::of(client.user_agent.as_deref());
    let session = Session {
        user_agent: client.stored_user_agent(),
        ip: client.ip.clone(),
        device: device.describe(),
        country: client.country.clone(),
        city: client.city.clone(),
        auth_methods: auth_methods.iter().map(|m| (*m).to_owned()).collect(),
        ..Session::open(
            SessionId(random_uuid()),
            user.id.clone(),
            now,
            settings.refresh_seconds,
            settings.session_max_seconds,
        )
    };
    let refresh = RefreshToken::first();
    let key = device.key(client.country.as_deref());
    let mut statements = vec![
        store::insert(&session),
        refresh::insert(&refresh.digest(ctx.digester), &session.id, 0, now),
    ];
    statements.extend(devices::check_and_record(
        &user.id,
        &key,
        now,
        settings.new_device_window_seconds,
    ));
    let (ended, stored) = join(ctx.limiter.login_succeeded(&lockout_key), ctx.db.batch(&statements)).await;
    let results = stored.map_err(StoreError::from)?;
    ended?;
    if devices::is_new(&results, 2) {
        ctx.outbox.send(mails::new_sign_in(ctx, &user.email, &session, now));
    }
    let expires_in = settings.access_seconds.min(session.expires_at - now);
    let access_token = super::tokens::issue(ctx, &user.id, &session.id, now, expires_in).await?;
    ctx.emit(AuthEvent::LoginSucceeded {
        user_id: user.id.clone(),
        session_id: session.id.clone(),
    });
    Ok(LoggedIn {
        access_token,
        expires_in,
        refresh_token: refresh,
        refresh_expires_in: session.expires_at - now,
        user,
    })
}

/// A whole login of an account without 2FA: `begin`, then `complete`.
#[cfg(test)]
pub async fn login(
    ctx: &Ctx<'_>,
    email: &EmailAddress,
    password: &str,
    client: ClientInfo,
) -> Result<LoggedIn, LoginError> {
    let attempt = begin(ctx, email).await?;
    match complete(ctx, attempt, password, client).await? {
        LoginResult::LoggedIn(logged_in) => Ok(logged_in),
        LoginResult::Challenge(_) => panic!("an MFA challenge where a login was expected"),
    }
}
