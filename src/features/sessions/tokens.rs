//! Access tokens: JWTs (RFC 7519) signed by `signing` with the configured algorithm and key,
//! carrying `iss`, `aud`, `sub` (the user), `sid` (the session), `iat`, `exp` and `roles`.
//! A valid token is only a claim: the session it names must still be live.

use serde::Serialize;

use crate::features::signing::{jws, JwsError, SigningSettings};
use crate::kernel::feature::Ctx;
use crate::kernel::fields::{self, from_fields};
use crate::kernel::{SessionId, UnixSeconds, UserId};

/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
    roles: Vec<String>,
}
from_fields!(AccessClaims { iss, aud, sub, sid, iat, exp; default: roles });

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
    #[error("token signature, algorithm or key is wrong")]
    BadSignature,
    #[error("token is expired or not yet valid")]
    Expired,
    #[error("token was issued for another issuer or audience")]
    WrongAudience,
    #[error("token could not be signed or checked: {0}")]
    Crypto(String),
}

impl From<JwsError> for TokenError {
    fn from(error: JwsError) -> Self {
        match error {
            JwsError::Malformed => Self::Malformed,
            JwsError::BadSignature => Self::BadSignature,
            JwsError::Crypto(e) => Self::Crypto(e.to_string()),
        }
    }
}

/// A token for `session` of `user`, living `lifetime_seconds` from `now`.
pub async fn issue(
    ctx: &Ctx<'_>,
    user: &UserId,
    session: &SessionId,
    now: UnixSeconds,
    lifetime_seconds: i64,
) -> Result<String, TokenError> {
    let settings = ctx.settings::<SigningSettings>();
    let claims = AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: user.0.clone(),
        sid: session.0.clone(),
        iat: now,
        exp: now + lifetime_seconds,
        roles: vec!["user".to_owned()],
    };
    let payload = serde_json::to_vec(&claims).expect("claims serialise");
    Ok(jws::sign(ctx, &payload).await?)
}

/// Checks signature, algorithm and key (`signing::jws::verify`), then issuer, audience,
/// expiry and issue time.
pub async fn verify(ctx: &Ctx<'_>, raw: &str, now: UnixSeconds) -> Result<VerifiedToken, TokenError> {
    let payload = jws::verify(ctx, raw).await?;
    let claims: AccessClaims = fields::parse(&payload)
        .ok()
        .and_then(|claims| fields::read(&claims).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.exp + LEEWAY_SECONDS <= now || claims.iat > now + LEEWAY_SECONDS {
        return Err(TokenError::Expired);
    }
    let settings = ctx.settings::<SigningSettings>();
    if claims.iss != settings.issuer || claims.aud != settings.audience {
        return Err(TokenError::WrongAudience);
    }
    Ok(VerifiedToken {
        user_id: UserId(claims.sub),
        session_id: SessionId(claims.sid),
    })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;
    use crate::features::signing::{self, keys_for_tests as keys};
    use crate::kernel::config::test_var;
    use crate::kernel::testing::{TestWorld, T0};

    fn world(vars: &'static [(&'static str, &'static str)]) -> TestWorld {
        TestWorld::with_vars(&[&signing::FEATURE], &crate::kernel::config::test_vars_with(vars))
    }

    fn ids() -> (UserId, SessionId) {
        (UserId("user-1".into()), SessionId("session-1".into()))
    }

    fn token(world: &TestWorld) -> String {
        let (user, session) = ids();
        world
            .with_ctx(|ctx| pollster::block_on(issue(ctx, &user, &session, T0, 1800)))
            .unwrap()
    }

    fn check(world: &TestWorld, raw: &str, now: UnixSeconds) -> Result<VerifiedToken, TokenError> {
        world.with_ctx(|ctx| pollster::block_on(verify(ctx, raw, now)))
    }

    fn header_of(raw: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw.split('.').next().unwrap()).unwrap()).unwrap()
    }

    /// A token with this header and the payload of `raw`, signed by `sign` over the new input.
    fn reheaded(raw: &str, header: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let payload = raw.split('.').nth(1).unwrap();
        let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header));
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sign(input.as_bytes())))
    }

    #[test]
    fn a_fresh_token_verifies_to_its_user_and_session() {
        let world = world(&[]);
        let raw = token(&world);
        assert_eq!(header_of(&raw), serde_json::json!({ "alg": "HS256", "typ": "JWT" }));
        let (user_id, session_id) = ids();
        assert_eq!(check(&world, &raw, T0 + 60), Ok(VerifiedToken { user_id, session_id }));
    }

    #[test]
    fn expired_and_future_tokens_are_refused() {
        let world = world(&[]);
        let raw = token(&world);
        assert_eq!(
            check(&world, &raw, T0 + 1800 + LEEWAY_SECONDS),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check(&world, &raw, T0 - 3600),
            Err(TokenError::Expired),
            "issued in the future"
        );
    }

    #[test]
    fn forged_hmac_tokens_are_refused() {
        let world = world(&[]);
        let raw = token(&world);
        let parts: Vec<&str> = raw.split('.').collect();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.replace("user-1", "user-2")),
            parts[2]
        );
        let other_key = world_with_secret("another-key-of-sufficient-length-000000");
        let crit = reheaded(&raw, r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#, |_| vec![0; 32]);
        for (forged, why) in [
            (none, "alg none"),
            (tampered, "tampered payload"),
            (token(&other_key), "signed with another key"),
            (crit, "a crit header"),
            ("garbage".to_owned(), "garbage"),
            (String::new(), "empty"),
            (format!("{raw}.extra"), "four parts"),
        ] {
            assert!(check(&world, &forged, T0).is_err(), "{why} was accepted");
        }
    }

    fn world_with_secret(secret: &'static str) -> TestWorld {
        let read = move |name: &str| match name {
            "SECRET_KEY" => Some(secret.to_owned()),
            other => test_var(other),
        };
        TestWorld::with_vars(&[&signing::FEATURE], &read)
    }

    #[test]
    fn another_issuer_or_audience_is_refused() {
        let elsewhere = world(&[("JWT_AUDIENCE", "someone-else")]);
        assert_eq!(
            check(&world(&[]), &token(&elsewhere), T0),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn asymmetric_tokens_name_their_key_and_verify_with_any_key_of_the_set() {
        let eddsa = world(&[("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", keys::BOTH_EDDSA_FIRST)]);
        let raw = token(&eddsa);
        assert_eq!(header_of(&raw)["kid"], "eddsa-test-1");
        assert_eq!(header_of(&raw)["alg"], "EdDSA");
        assert!(check(&eddsa, &raw, T0).is_ok());
        let es256 = world(&[("ALGORITHM", "ES256"), ("JWT_SIGNING_KEYS", keys::BOTH_ES256_FIRST)]);
        let by_other = token(&es256);
        assert_eq!(header_of(&by_other)["kid"], "es256-test-1");
        assert!(check(&eddsa, &by_other, T0).is_ok(), "the verify-only key of the set");
        let eddsa_only = world(&[("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", keys::EDDSA_ONLY)]);
        assert_eq!(
            check(&eddsa_only, &by_other, T0),
            Err(TokenError::BadSignature),
            "a key dropped"
        );
    }

    #[test]
    fn asymmetric_forgeries_are_refused() {
        let eddsa = world(&[("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", keys::BOTH_EDDSA_FIRST)]);
        let raw = token(&eddsa);
        let hmac = |key: Vec<u8>| {
            move |input: &[u8]| {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
                mac.update(input);
                mac.finalize().into_bytes().to_vec()
            }
        };
        let public_x = URL_SAFE_NO_PAD.decode(keys::ED25519_X).unwrap();
        let signature = raw.split('.').nth(2).unwrap().to_owned();
        let keep = |_: &[u8]| URL_SAFE_NO_PAD.decode(&signature).unwrap();
        let cases = [
            (token(&world(&[])), "an HS256 token made with SECRET_KEY"),
            (
                reheaded(
                    &raw,
                    r#"{"alg":"HS256","typ":"JWT","kid":"eddsa-test-1"}"#,
                    hmac(public_x.clone()),
                ),
                "HS256 keyed with the public key",
            ),
            (reheaded(&raw, r#"{"alg":"EdDSA","typ":"JWT"}"#, keep), "no kid"),
            (
                reheaded(&raw, r#"{"alg":"EdDSA","typ":"JWT","kid":"nobody"}"#, keep),
                "an unknown kid",
            ),
            (
                reheaded(&raw, r#"{"alg":"EdDSA","typ":"JWT","kid":"es256-test-1"}"#, keep),
                "a kid naming another key",
            ),
            (
                reheaded(&raw, r#"{"alg":"ES256","typ":"JWT","kid":"eddsa-test-1"}"#, keep),
                "alg not the key's",
            ),
            (
                reheaded(&raw, r#"{"alg":"none","typ":"JWT","kid":"eddsa-test-1"}"#, |_| {
                    Vec::new()
                }),
                "alg none",
            ),
            (
                reheaded(
                    &raw,
                    &format!(
                        r#"{{"alg":"EdDSA","typ":"JWT","jwk":{{"kty":"OKP","crv":"Ed25519","x":"{}"}}}}"#,
                        keys::other_ed25519_x()
                    ),
                    keys::sign_with_other_ed25519,
                ),
                "an embedded jwk of the attacker",
            ),
        ];
        for (forged, why) in cases {
            assert!(check(&eddsa, &forged, T0).is_err(), "{why} was accepted");
        }
        let hs = world(&[]);
        assert!(check(&hs, &raw, T0).is_err(), "an EdDSA token while ALGORITHM is HS256");
    }
}
