//! Access tokens: HMAC JWTs whose algorithm comes from configuration, never from the token.

use chrono::{DateTime, Duration, TimeZone, Utc};
use jwt_compact::alg::{Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken};
use serde::{Deserialize, Serialize};

use crate::kernel::{SessionId, UnixSeconds, UserId};

/// The HMAC JWT algorithms the service signs with; chosen by configuration, never by a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
}

impl JwtAlgorithm {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_uppercase().as_str() {
            "HS256" => Some(Self::Hs256),
            "HS384" => Some(Self::Hs384),
            "HS512" => Some(Self::Hs512),
            _ => None,
        }
    }
}

/// What tokens are signed and checked with.
#[derive(Debug, Clone)]
pub struct TokenSettings<'a> {
    pub secret: &'a [u8],
    pub algorithm: JwtAlgorithm,
    pub issuer: String,
    pub audience: String,
    pub lifetime_minutes: i64,
}

/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
}

/// What a valid token says; the session must still be checked against the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user_id: UserId,
    pub session_id: SessionId,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature or algorithm is wrong")]
    BadSignature,
    #[error("token is expired or not yet valid")]
    Expired,
    #[error("token was issued for another issuer or audience")]
    WrongAudience,
    #[error("token could not be signed: {0}")]
    Signing(String),
}

enum Key {
    Hs256(Hs256Key),
    Hs384(Hs384Key),
    Hs512(Hs512Key),
}

/// Signs and verifies access tokens; built once per isolate (the key is decoded once).
pub struct TokenService {
    key: Key,
    issuer: String,
    audience: String,
    lifetime: Duration,
}

impl TokenService {
    pub fn new(settings: TokenSettings<'_>) -> Self {
        let secret = settings.secret;
        let key = match settings.algorithm {
            JwtAlgorithm::Hs256 => Key::Hs256(Hs256Key::new(secret)),
            JwtAlgorithm::Hs384 => Key::Hs384(Hs384Key::new(secret)),
            JwtAlgorithm::Hs512 => Key::Hs512(Hs512Key::new(secret)),
        };
        Self {
            key,
            issuer: settings.issuer,
            audience: settings.audience,
            lifetime: Duration::minutes(settings.lifetime_minutes),
        }
    }

    pub fn lifetime_seconds(&self) -> i64 {
        self.lifetime.num_seconds()
    }

    pub fn issue(&self, user: &UserId, session: &SessionId, now: UnixSeconds) -> Result<String, TokenError> {
        let options = time_options(now);
        let claims = Claims::new(AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.0.clone(),
            sid: session.0.clone(),
        })
        .set_duration_and_issuance(&options, self.lifetime);
        let header = Header::empty().with_token_type("JWT");
        let signed = match &self.key {
            Key::Hs256(k) => Hs256.token(&header, &claims, k),
            Key::Hs384(k) => Hs384.token(&header, &claims, k),
            Key::Hs512(k) => Hs512.token(&header, &claims, k),
        };
        signed.map_err(|e| TokenError::Signing(e.to_string()))
    }

    pub fn verify(&self, raw: &str, now: UnixSeconds) -> Result<VerifiedToken, TokenError> {
        let untrusted = UntrustedToken::new(raw).map_err(|_| TokenError::Malformed)?;
        // Each validator checks that the header's `alg` is its own, so `none` or a
        // different algorithm never reaches signature checking.
        let token = match &self.key {
            Key::Hs256(k) => Hs256.validator::<AccessClaims>(k).validate(&untrusted),
            Key::Hs384(k) => Hs384.validator::<AccessClaims>(k).validate(&untrusted),
            Key::Hs512(k) => Hs512.validator::<AccessClaims>(k).validate(&untrusted),
        }
        .map_err(|_| TokenError::BadSignature)?;
        let claims = token.claims();
        let options = time_options(now);
        claims.validate_expiration(&options).map_err(|_| TokenError::Expired)?;
        let issued_in_future = claims
            .issued_at
            .is_none_or(|iat| iat > from_unix(now) + Duration::seconds(LEEWAY_SECONDS));
        if issued_in_future {
            return Err(TokenError::Expired);
        }
        if claims.custom.iss != self.issuer || claims.custom.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
        Ok(VerifiedToken {
            user_id: UserId(claims.custom.sub.clone()),
            session_id: SessionId(claims.custom.sid.clone()),
        })
    }
}

fn from_unix(seconds: UnixSeconds) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

fn time_options(now: UnixSeconds) -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), move || from_unix(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const NOW: UnixSeconds = 1_800_000_000;

    const SECRET: &[u8] = b"a-test-secret-key-that-is-long-enough-0123";

    fn settings(secret: &[u8]) -> TokenSettings<'_> {
        TokenSettings {
            secret,
            algorithm: JwtAlgorithm::Hs256,
            issuer: "edge-auth".into(),
            audience: "edge-auth".into(),
            lifetime_minutes: 30,
        }
    }

    fn service() -> TokenService {
        TokenService::new(settings(SECRET))
    }

    fn ids() -> (UserId, SessionId) {
        (UserId("user-1".into()), SessionId("session-1".into()))
    }

    #[test]
    fn a_fresh_token_verifies_to_its_user_and_session() {
        let (user, session) = ids();
        let token = service().issue(&user, &session, NOW).unwrap();
        assert_eq!(
            service().verify(&token, NOW + 60).unwrap(),
            VerifiedToken {
                user_id: user,
                session_id: session
            }
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let (user, session) = ids();
        let token = service().issue(&user, &session, NOW).unwrap();
        assert_eq!(
            service().verify(&token, NOW + 31 * 60 + LEEWAY_SECONDS).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            service().verify(&token, NOW - 3600).unwrap_err(),
            TokenError::Expired,
            "issued in the future"
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let (user, session) = ids();
        let token = service().issue(&user, &session, NOW).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let tampered = URL_SAFE_NO_PAD.encode(payload.replace("user-1", "user-2"));
        let other_key_token = TokenService::new(settings(b"another-key-of-sufficient-length-000000"))
            .issue(&user, &session, NOW)
            .unwrap();
        let cases = [
            (format!("{none_header}.{}.", parts[1]), "alg none"),
            (format!("{}.{tampered}.{}", parts[0], parts[2]), "tampered payload"),
            (other_key_token, "signed with another key"),
            ("garbage".to_owned(), "garbage"),
            (String::new(), "empty"),
        ];
        for (forged, why) in cases {
            assert!(service().verify(&forged, NOW).is_err(), "{why} was accepted");
        }
    }

    #[test]
    fn another_audience_is_refused() {
        let (user, session) = ids();
        let mut other = settings(SECRET);
        other.audience = "someone-else".into();
        let token = TokenService::new(other).issue(&user, &session, NOW).unwrap();
        assert_eq!(service().verify(&token, NOW).unwrap_err(), TokenError::WrongAudience);
    }
}
