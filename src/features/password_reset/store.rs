//! A reset as one transaction over users, sessions and one-time tokens: the link token is
//! consumed for this request, and only if it was do the new hash, the end of every session
//! and of every other unused token, and the proven address follow (`consumed_by!` finds
//! the token's user). Nothing is left half done, and a racing reset with the same link
//! changes nothing.

use crate::consumed_by;
use crate::features::one_time_tokens;
use crate::kernel::sql::{Rows, Sql, Statement, StoreError};
use crate::kernel::{UnixSeconds, UserId};

use super::RESET_PASSWORD;
use crate::kernel::fields::from_fields;

/// `?1` the hash, `?2` now, `?3` the request.
const SET_HASH: Sql = Sql::new(
    concat!(
        "UPDATE users SET password_hash = ?1, email_verified = 1, registration_contested = 0, updated_at = ?2 \
         WHERE id = ",
        consumed_by!("3")
    ),
    concat!(
        "UPDATE users SET password_hash = ?1, email_verified = true, registration_contested = false, \
         updated_at = to_timestamp(?2) WHERE id = ",
        consumed_by!("3")
    ),
);
/// `?1` now, `?2` the request.
const END_SESSIONS: Sql = Sql::new(
    concat!(
        "UPDATE sessions SET revoked_at = ?1 WHERE revoked_at IS NULL AND user_id = ",
        consumed_by!("2")
    ),
    concat!(
        "UPDATE sessions SET revoked_at = to_timestamp(?1) WHERE revoked_at IS NULL AND user_id = ",
        consumed_by!("2")
    ),
);
/// `?1` now, `?2` the request.
const END_TOKENS: Sql = Sql::new(
    concat!(
        "UPDATE one_time_tokens SET used_at = ?1 WHERE used_at IS NULL AND user_id = ",
        consumed_by!("2")
    ),
    concat!(
        "UPDATE one_time_tokens SET used_at = to_timestamp(?1) WHERE used_at IS NULL AND user_id = ",
        consumed_by!("2")
    ),
);
/// `?1` the request.
const ACCOUNT: Sql = Sql::new(
    concat!("SELECT id, email FROM users WHERE id = ", consumed_by!("1")),
    concat!("SELECT id::text AS id, email FROM users WHERE id = ", consumed_by!("1")),
);

/// The statements of a reset with the link whose digest is `digest`, for the request `nonce`.
pub fn reset(digest: &str, hash: &str, now: UnixSeconds, nonce: &str) -> [Statement; 5] {
    [
        one_time_tokens::consume(RESET_PASSWORD, digest, now, nonce),
        Statement::new(SET_HASH, vec![hash.into(), now.into(), nonce.into()]),
        Statement::new(END_SESSIONS, vec![now.into(), nonce.into()]),
        Statement::new(END_TOKENS, vec![now.into(), nonce.into()]),
        Statement::new(ACCOUNT, vec![nonce.into()]),
    ]
}

/// The account the statements of `reset` reset (id, address), if the link was good.
pub fn reset_account(results: Vec<Rows>) -> Result<Option<(UserId, String)>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Account {
        id: String,
        email: String,
    }
    from_fields!(Account { id, email });
    let mut results = results.into_iter();
    let consumed = results.next().is_some_and(|rows| !rows.rows.is_empty());
    if !consumed {
        return Ok(None);
    }
    let account: Option<Account> = results.nth(3).unwrap_or_default().first()?;
    Ok(account.map(|a| (UserId(a.id), a.email)))
}
