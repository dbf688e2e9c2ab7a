//! Login: unknown email and wrong password are indistinguishable, in answer and in time.

use futures_util::future::join;

use super::passwords::{self, HashError};
use super::tokens::TokenError;
use super::Deps;
use crate::domain::{secrets::random_uuid, EmailAddress, LimiterError, Mail, Session, SessionId, StoreError, User};
use crate::rate_limit::limits::Limit;
use crate::rate_limit::policy::Gate;

/// Where the login came from, kept with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Stored user agents are cut to this many characters.
const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug)]
pub struct LoggedIn {
    pub access_token: String,
    pub expires_in: i64,
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

/// The answer to a wrong password; when it started a lockout, the owner (if any) is told once.
fn wrong_password(deps: &Deps<'_>, owner: Option<&User>, notify: bool) -> LoginError {
    if notify {
        deps.events.event("lockout");
        if let Some(user) = owner {
            deps.outbox.send(Mail::AccountLocked {
                to: user.email.clone(),
                reset_url: deps.forgot_password_url(),
                retry_after_seconds: deps.config.limits.lockout.backoff_seconds(1),
            });
        }
    }
    LoginError::InvalidCredentials
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
pub async fn begin(deps: &Deps<'_>, email: &EmailAddress) -> Result<Attempt, LoginError> {
    let lockout_key = format!("lockout:{}", deps.digester.pseudonym(email.as_str()));
    let gate = deps.limiter.begin_login(
        &lockout_key,
        deps.config.limits.lockout,
        deps.config.limits.policy(Limit::LoginAccount),
    );
    let (gate, found) = join(gate, deps.store.user_by_email(email)).await;
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
/// exists) and, when it is right, ends the lockout streak while the session is stored.
pub async fn complete(
    deps: &Deps<'_>,
    attempt: Attempt,
    password: &str,
    client: ClientInfo,
) -> Result<LoggedIn, LoginError> {
    let Attempt {
        lockout_key,
        found,
        notify_on_failure,
    } = attempt;
    let password_ok = match &found {
        Some(user) => passwords::verify(password, &user.password_hash),
        None => {
            passwords::verify_dummy(password, deps.config.bcrypt_cost);
            false
        }
    };
    let mut user = match (found, password_ok) {
        (Some(user), true) => user,
        (owner, _) => return Err(wrong_password(deps, owner.as_ref(), notify_on_failure)),
    };
    let now = deps.clock.now();
    // Only someone who knows the password learns that the address is unverified.
    if !user.email_verified {
        deps.limiter.login_succeeded(&lockout_key).await?;
        return Err(LoginError::EmailNotVerified);
    }
    if passwords::cost_of(&user.password_hash) != Some(deps.config.bcrypt_cost) {
        // Upgrade (or downgrade) hashes made at another cost while the password is at hand.
        let rehashed = passwords::hash(password, deps.config.bcrypt_cost)?;
        deps.store.set_password_hash(&user.id, &rehashed, now).await?;
        user.password_hash = rehashed;
    }
    let session = Session {
        id: SessionId(random_uuid()),
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + deps.tokens.lifetime_seconds(),
        user_agent: client
            .user_agent
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        ip: client.ip,
    };
    let access_token = deps.tokens.issue(&user.id, &session.id, now)?;
    let (ended, stored) = join(
        deps.limiter.login_succeeded(&lockout_key),
        deps.store.insert_session(&session),
    )
    .await;
    stored?;
    ended?;
    Ok(LoggedIn {
        access_token,
        expires_in: deps.tokens.lifetime_seconds(),
        user,
    })
}

/// A whole login: `begin`, then `complete`.
pub async fn login(
    deps: &Deps<'_>,
    email: &EmailAddress,
    password: &str,
    client: ClientInfo,
) -> Result<LoggedIn, LoginError> {
    let attempt = begin(deps, email).await?;
    complete(deps, attempt, password, client).await
}
