//! Refresh tokens with rotation and reuse detection (sessions.md §3). A session's tokens
//! form a numbered chain: token 0 is 256 random bits, token n+1 is HMAC-SHA256 of token n
//! under a key derived from `SECRET_KEY`, base64url. Only digests are stored, one row per
//! token issued, so a presented token lets the service recompute its successor without
//! having kept it — which is what lets two tabs that refresh at once both get the same new
//! token. Rotation is one conditional statement on the session's counter: of N concurrent
//! refreshes with the current token, one advances it and all answer its successor.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::features::users::UserRow;
use crate::kernel::fields::from_fields;
use crate::kernel::secrets::{random_bytes, SecretDigester};
use crate::kernel::sql::{Database, Sql, Statement, StoreError};
use crate::kernel::{SessionId, UnixSeconds};

/// The purpose under which refresh tokens are digested.
const DIGEST_PURPOSE: &str = "refresh_token";
/// A refresh token is base64url of 32 bytes; anything longer than the contract's 512
/// characters, or not base64url, is malformed without a lookup.
pub const MAX_TOKEN_CHARS: usize = 512;

/// A refresh token: a secret, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

impl RefreshToken {
    /// Token 0 of a new session.
    pub fn first() -> Self {
        let mut bytes = [0u8; 32];
        random_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A presented token, if it can be one.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let shaped = !raw.is_empty()
            && raw.len() <= MAX_TOKEN_CHARS
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Self(raw.to_owned()))
    }

    /// The token after this one in its chain.
    pub fn next(&self, chain: &ChainKey) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(&chain.0).expect("HMAC takes any key length");
        mac.update(self.0.as_bytes());
        Self(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    pub fn digest(&self, digester: &SecretDigester) -> String {
        digester.digest(DIGEST_PURPOSE, "", &self.0)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The key of the chain, derived from `SECRET_KEY` (never the key itself).
pub struct ChainKey(Vec<u8>);

impl ChainKey {
    pub fn new(secret_key: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret_key).expect("HMAC takes any key length");
        mac.update(b"edge-auth refresh token chain v1");
        Self(mac.finalize().into_bytes().to_vec())
    }
}

/// `?1` digest, `?2` session, `?3` n, `?4` issued.
const INSERT: Sql = Sql::new(
    "INSERT INTO refresh_tokens (digest, session_id, n, issued_at) VALUES (?1, ?2, ?3, ?4)",
    "INSERT INTO refresh_tokens (digest, session_id, n, issued_at) VALUES (?1, ?2::text::uuid, ?3, to_timestamp(?4))",
);
const LOOKUP: Sql = Sql::new(
    "SELECT session_id, n FROM refresh_tokens WHERE digest = ?1",
    "SELECT session_id::text AS session_id, n::bigint AS n FROM refresh_tokens WHERE digest = ?1",
);
/// Rotates session `?1` from `?2` to `?2 + 1` if `?2` is still current and the session
/// live at `?3`, recording the request's client and pushing the idle expiry to `?4`
/// (never past the absolute one).
const ROTATE: Sql = Sql::new(
    "UPDATE sessions SET refresh_counter = ?2 + 1, last_seen_at = ?3, ip = ?5, user_agent = ?6, device = ?7, \
     country = ?8, city = ?9, expires_at = min(?4, coalesce(max_expires_at, ?4)) \
     WHERE id = ?1 AND refresh_counter = ?2 AND revoked_at IS NULL AND expires_at > ?3",
    "UPDATE sessions SET refresh_counter = ?2 + 1, last_seen_at = to_timestamp(?3), ip = ?5::text::inet, \
     user_agent = ?6, device = ?7, country = ?8, city = ?9, \
     expires_at = least(to_timestamp(?4), coalesce(max_expires_at, to_timestamp(?4))) \
     WHERE id = ?1::text::uuid AND refresh_counter = ?2 AND revoked_at IS NULL AND expires_at > to_timestamp(?3)",
);
/// Stores the digest `?4` of token `?2 + 1` of session `?1` (`?3` now), if the counter
/// now says it is current and it is not stored yet.
const INSERT_NEXT: Sql = Sql::new(
    "INSERT INTO refresh_tokens (digest, session_id, n, issued_at) SELECT ?4, ?1, ?2 + 1, ?3 \
     WHERE (SELECT refresh_counter FROM sessions WHERE id = ?1) = ?2 + 1 \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE session_id = ?1 AND n = ?2 + 1)",
    "INSERT INTO refresh_tokens (digest, session_id, n, issued_at) SELECT ?4, ?1::text::uuid, ?2 + 1, to_timestamp(?3) \
     WHERE (SELECT refresh_counter FROM sessions WHERE id = ?1::text::uuid) = ?2 + 1 \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE session_id = ?1::text::uuid AND n = ?2 + 1)",
);
/// Marks the presented token `?1` used at `?2` (the first use only).
const MARK_USED: Sql = Sql::new(
    "UPDATE refresh_tokens SET used_at = ?2 WHERE digest = ?1 AND used_at IS NULL",
    "UPDATE refresh_tokens SET used_at = to_timestamp(?2) WHERE digest = ?1 AND used_at IS NULL",
);
/// What decides the answer, read after the writes in the same transaction: the session,
/// the presented token, and the user the answer shows.
const STATE: Sql = Sql::new(
    concat!(
        "SELECT ",
        crate::user_columns!(sqlite, "u"),
        ", s.refresh_counter, s.revoked_at IS NULL AND s.expires_at > ?2 AS live, s.expires_at AS session_expires_at, \
         r.issued_at, r.used_at FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
         JOIN users u ON u.id = s.user_id WHERE r.digest = ?1"
    ),
    concat!(
        "SELECT ",
        crate::user_columns!(postgres, "u"),
        ", s.refresh_counter::bigint AS refresh_counter, s.revoked_at IS NULL AND s.expires_at > to_timestamp(?2) AS live, \
         extract(epoch FROM s.expires_at)::bigint AS session_expires_at, \
         extract(epoch FROM r.issued_at)::bigint AS issued_at, extract(epoch FROM r.used_at)::bigint AS used_at \
         FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id WHERE r.digest = ?1"
    ),
);

/// Storing token `n` of `session`, for a batch.
pub fn insert(digest: &str, session: &SessionId, n: i64, now: UnixSeconds) -> Statement {
    Statement::new(
        INSERT,
        vec![digest.into(), session.0.as_str().into(), n.into(), now.into()],
    )
}

/// Where a presented token sits: its session and number.
#[derive(Debug, Clone)]
pub struct Found {
    pub session_id: String,
    pub n: i64,
}
from_fields!(Found { session_id, n });

/// The session after a rotation attempt (the row also holds the user's columns).
pub struct ChainState {
    pub refresh_counter: i64,
    pub live: bool,
    pub session_expires_at: i64,
    pub issued_at: i64,
    pub used_at: Option<i64>,
}
from_fields!(ChainState {
    refresh_counter,
    live,
    session_expires_at,
    issued_at,
    used_at
});

/// The client of the refresh, recorded on the session.
pub struct Client<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub device: &'a str,
    pub country: Option<&'a str>,
    pub city: Option<&'a str>,
}

pub struct RefreshTokens<'a>(pub &'a dyn Database);

impl RefreshTokens<'_> {
    pub async fn find(&self, digest: &str) -> Result<Option<Found>, StoreError> {
        self.0.first(&LOOKUP, &[digest.into()]).await
    }

    /// The rotation step for a presented token `n` of `session` (one transaction): advance
    /// the counter if `n` is current, store the successor, mark `n` used; then the state.
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate(
        &self,
        found: &Found,
        digest: &str,
        next_digest: &str,
        now: UnixSeconds,
        idle_expires_at: UnixSeconds,
        client: &Client<'_>,
    ) -> Result<Option<(ChainState, UserRow)>, StoreError> {
        let session = found.session_id.as_str();
        let ip = client.ip.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        let results = self
            .0
            .batch(&[
                Statement::new(
                    ROTATE,
                    vec![
                        session.into(),
                        found.n.into(),
                        now.into(),
                        idle_expires_at.into(),
                        ip.into(),
                        client.user_agent.into(),
                        client.device.into(),
                        client.country.into(),
                        client.city.into(),
                    ],
                ),
                Statement::new(
                    INSERT_NEXT,
                    vec![session.into(), found.n.into(), now.into(), next_digest.into()],
                ),
                Statement::new(MARK_USED, vec![digest.into(), now.into()]),
                Statement::new(STATE, vec![digest.into(), now.into()]),
            ])
            .await
            .map_err(StoreError::from)?;
        results.into_iter().nth(3).unwrap_or_default().first_as_pair()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_deterministic_per_key_and_tokens_look_alike() {
        let key = ChainKey::new(b"a key of sufficient length for the chain");
        let first = RefreshToken::first();
        assert_eq!(first.expose().len(), 43);
        assert_eq!(first.next(&key), first.next(&key), "recomputable");
        assert_ne!(first.next(&key), first);
        assert_ne!(first.next(&key).next(&key), first.next(&key));
        let other = ChainKey::new(b"another key of sufficient length, too");
        assert_ne!(first.next(&key), first.next(&other));
        assert_eq!(first.next(&key).expose().len(), 43);
    }

    #[test]
    fn presented_tokens_are_shaped_before_any_lookup() {
        assert!(RefreshToken::parse("abc-_DEF123").is_some());
        for bad in ["", "   ", "has space", "plus+slash/", &"a".repeat(513)] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad:?}");
        }
        let printed = format!("{:?}", RefreshToken::parse("secret-value").unwrap());
        assert!(!printed.contains("secret"), "{printed}");
    }
}
