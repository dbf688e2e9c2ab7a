//! The oauth tables (migrations 0009): identities, states, exchange codes; both dialects
//! side by side. Every statement that links or unlinks is batched with
//! `RECOMPUTE_PROVIDERS`, so `users.identity_providers` never disagrees with `identities`.

use crate::kernel::fields::from_fields;
use crate::kernel::sql::{Sql, Statement, Value};
use crate::kernel::{UnixSeconds, UserId};

/// `?1` digest, `?2` provider, `?3` redirect_to, `?4` response_mode, `?5` sealed verifier,
/// `?6` nonce, `?7` mode, `?8` user, `?9` session, `?10` binding digest, `?11` now,
/// `?12` expiry.
pub const INSERT_STATE: Sql = Sql::new(
    "INSERT INTO oauth_states (digest, provider, redirect_to, response_mode, verifier, nonce, mode, user_id, \
     session_id, binding, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    "INSERT INTO oauth_states (digest, provider, redirect_to, response_mode, verifier, nonce, mode, user_id, \
     session_id, binding, created_at, expires_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8::text::uuid, ?9, ?10, ?11, ?12)",
);

/// The state's one use (`?2` now): its record, for one request only.
pub const CONSUME_STATE: Sql = Sql::new(
    "UPDATE oauth_states SET used_at = ?2 WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 \
     RETURNING provider, redirect_to, response_mode, verifier, nonce, mode, user_id, session_id, binding",
    "UPDATE oauth_states SET used_at = ?2 WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 \
     RETURNING provider, redirect_to, response_mode, verifier, nonce, mode, user_id::text AS user_id, \
     session_id, binding",
);

#[derive(Debug)]
pub struct StateRow {
    pub provider: String,
    pub redirect_to: String,
    pub response_mode: String,
    pub verifier: String,
    pub nonce: String,
    pub mode: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub binding: String,
}
from_fields!(StateRow {
    provider,
    redirect_to,
    response_mode,
    verifier,
    nonce,
    mode,
    user_id,
    session_id,
    binding
});

/// The user of an identity: `?1` provider, `?2` subject.
pub const USER_OF_IDENTITY: Sql = Sql::new(
    "SELECT user_id FROM identities WHERE provider = ?1 AND subject = ?2",
    "SELECT user_id::text AS user_id FROM identities WHERE provider = ?1 AND subject = ?2",
);

/// The subject of a user's identity of a provider: `?1` user, `?2` provider.
pub const SUBJECT_OF_USER: Sql = Sql::new(
    "SELECT subject FROM identities WHERE user_id = ?1 AND provider = ?2",
    "SELECT subject FROM identities WHERE user_id = ?1::text::uuid AND provider = ?2",
);

pub struct UserIdRow {
    pub user_id: String,
}
from_fields!(UserIdRow { user_id });

/// A sign-in through an identity: `?1` provider, `?2` subject, `?3` email, `?4` now.
pub const TOUCH_IDENTITY: Sql =
    Sql::same("UPDATE identities SET email = ?3, last_used_at = ?4 WHERE provider = ?1 AND subject = ?2");

/// A new link, unless either unique rule refuses it (then nothing, and no aborted batch;
/// `RETURNING` tells): `?1` user, `?2` provider, `?3` subject, `?4` email, `?5` now.
const INSERT_IDENTITY: Sql = Sql::new(
    "INSERT INTO identities (user_id, provider, subject, email, created_at, last_used_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING RETURNING provider",
    "INSERT INTO identities (user_id, provider, subject, email, created_at, last_used_at) \
     VALUES (?1::text::uuid, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING RETURNING provider",
);

/// `users.identity_providers` from the user's identities, in link order: `?1` user.
const RECOMPUTE_PROVIDERS: Sql = Sql::new(
    "UPDATE users SET identity_providers = COALESCE((SELECT group_concat(provider, ',') FROM \
     (SELECT provider FROM identities WHERE user_id = ?1 ORDER BY created_at, provider)), '') WHERE id = ?1",
    "UPDATE users SET identity_providers = COALESCE((SELECT string_agg(provider, ',' ORDER BY created_at, provider) \
     FROM identities WHERE user_id = ?1::text::uuid), '') WHERE id = ?1::text::uuid",
);

/// A link and the mirrored column, for one batch; `results[at]` has a row if it was written.
pub fn link(user: &UserId, provider: &str, subject: &str, email: &str, now: UnixSeconds) -> [Statement; 2] {
    [
        Statement::new(
            INSERT_IDENTITY,
            vec![
                user.0.as_str().into(),
                provider.into(),
                subject.into(),
                email.into(),
                now.into(),
            ],
        ),
        Statement::new(RECOMPUTE_PROVIDERS, vec![user.0.as_str().into()]),
    ]
}

/// An unverified account, deleted because a provider proved its address (rule d): `?1` id.
pub const DELETE_UNVERIFIED_USER: Sql = Sql::new(
    "DELETE FROM users WHERE id = ?1 AND email_verified = 0 RETURNING id",
    "DELETE FROM users WHERE id = ?1::text::uuid AND NOT email_verified RETURNING id::text AS id",
);

/// The identities of `?1`, oldest link first.
pub const LIST_IDENTITIES: Sql = Sql::new(
    "SELECT provider, email, created_at, last_used_at FROM identities WHERE user_id = ?1 \
     ORDER BY created_at, provider",
    "SELECT provider, email, created_at, last_used_at FROM identities WHERE user_id = ?1::text::uuid \
     ORDER BY created_at, provider",
);

#[derive(Debug)]
pub struct IdentityRow {
    pub provider: String,
    pub email: String,
    pub created_at: i64,
    pub last_used_at: i64,
}
from_fields!(IdentityRow {
    provider,
    email,
    created_at,
    last_used_at
});

/// Unlinks `?2` from `?1` only if a credential remains: a password (`''` means none), a
/// passkey, or another identity. The condition and the delete are one statement, so two
/// concurrent unlinks cannot both leave the other as the last credential.
const UNLINK: Sql = Sql::new(
    "DELETE FROM identities WHERE user_id = ?1 AND provider = ?2 AND EXISTS (SELECT 1 FROM users u WHERE u.id = ?1 \
     AND (u.password_hash <> '' OR u.passkey_count > 0 OR EXISTS (SELECT 1 FROM identities o \
     WHERE o.user_id = ?1 AND o.provider <> ?2))) RETURNING email",
    "DELETE FROM identities WHERE user_id = ?1::text::uuid AND provider = ?2 AND EXISTS (SELECT 1 FROM users u \
     WHERE u.id = ?1::text::uuid AND (u.password_hash <> '' OR u.passkey_count > 0 OR EXISTS (SELECT 1 \
     FROM identities o WHERE o.user_id = ?1::text::uuid AND o.provider <> ?2))) RETURNING email",
);

/// An unlink, the mirrored column, and whether the identity is (still) there: answered at
/// `results[1]` (deleted) and `results[3]` (still linked: refused as the last credential).
/// The first statement locks the user's row (Postgres), as a passkey's removal does, so an
/// unlink and a passkey deletion at once cannot each count on the other credential.
pub fn unlink(user: &UserId, provider: &str) -> [Statement; 4] {
    let params = || -> Vec<Value> { vec![user.0.as_str().into(), provider.into()] };
    [
        Statement::new(RECOMPUTE_PROVIDERS, vec![user.0.as_str().into()]),
        Statement::new(UNLINK, params()),
        Statement::new(RECOMPUTE_PROVIDERS, vec![user.0.as_str().into()]),
        Statement::new(SUBJECT_OF_USER, params()),
    ]
}

/// `?1` digest, `?2` user, `?3` provider, `?4` link subject, `?5` link email, `?6` now,
/// `?7` expiry.
pub const INSERT_EXCHANGE_CODE: Sql = Sql::new(
    "INSERT INTO oauth_exchange_codes (digest, user_id, provider, link_subject, link_email, created_at, expires_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO oauth_exchange_codes (digest, user_id, provider, link_subject, link_email, created_at, expires_at) \
     VALUES (?1, ?2::text::uuid, ?3, ?4, ?5, ?6, ?7)",
);

/// The code's one use (`?2` now).
pub const CONSUME_EXCHANGE_CODE: Sql = Sql::new(
    "UPDATE oauth_exchange_codes SET used_at = ?2 WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 \
     RETURNING user_id, provider, link_subject, link_email",
    "UPDATE oauth_exchange_codes SET used_at = ?2 WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2 \
     RETURNING user_id::text AS user_id, provider, link_subject, link_email",
);

#[derive(Debug)]
pub struct ExchangeRow {
    pub user_id: String,
    pub provider: String,
    pub link_subject: Option<String>,
    pub link_email: Option<String>,
}
from_fields!(ExchangeRow {
    user_id,
    provider,
    link_subject,
    link_email
});

/// A used code whose link waits for the MFA challenge `?2` (until `?3`).
pub const AWAIT_CHALLENGE: Sql =
    Sql::same("UPDATE oauth_exchange_codes SET challenge_digest = ?2, expires_at = ?3 WHERE digest = ?1");

/// The link a passed MFA challenge `?1` was waiting for (`?2` now), taken once.
pub const TAKE_PENDING_LINK: Sql = Sql::new(
    "DELETE FROM oauth_exchange_codes WHERE challenge_digest = ?1 AND expires_at > ?2 \
     AND link_subject IS NOT NULL RETURNING user_id, provider, link_subject, link_email",
    "DELETE FROM oauth_exchange_codes WHERE challenge_digest = ?1 AND expires_at > ?2 \
     AND link_subject IS NOT NULL RETURNING user_id::text AS user_id, provider, link_subject, link_email",
);

/// Housekeeping (`?1` now): states and codes past their expiry are of no use.
pub const PURGE_STATES: Sql = Sql::same("DELETE FROM oauth_states WHERE expires_at < ?1");
pub const PURGE_EXCHANGE_CODES: Sql = Sql::same("DELETE FROM oauth_exchange_codes WHERE expires_at < ?1");
