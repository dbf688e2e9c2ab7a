//! OIDC ID tokens (Google, Microsoft): the signature by a key of the provider's JWKS
//! chosen by `kid`, in the algorithm that key is for (RS256 or ES256; `none` and `HS*`
//! never), then `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, and Microsoft's tenant rule.
//! Claims come from the ID token only.

use super::flow_error::Failure;
use super::jwks::Jwk;
use super::provider::{Provider, ProviderConfig, Tenant, PERSONAL_TENANT};
use super::OAuthSettings;
use crate::features::signing::jws;
use crate::kernel::feature::Ctx;

/// How far in the future an `iat` may be (clock skew).
pub const MAX_IAT_SKEW_SECONDS: i64 = 300;

/// The claims this verifier reads (others are ignored). Read from a `serde_json::Value`
/// by hand, not a derived deserializer (bundle size).
struct Claims {
    iss: String,
    /// One audience or several.
    aud: Vec<String>,
    azp: Option<String>,
    exp: i64,
    iat: i64,
    nonce: Option<String>,
    sub: String,
    tid: Option<String>,
    email: Option<String>,
    email_verified: bool,
    xms_edov: bool,
    name: Option<String>,
}

impl Claims {
    /// `None` when a required claim is missing or of the wrong type.
    fn parse(payload: &[u8]) -> Option<Self> {
        let claims = crate::kernel::fields::parse(payload).ok()?;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let aud = match claims.get("aud")? {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(many) => many.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
            _ => return None,
        };
        Some(Self {
            iss: text("iss")?,
            aud,
            azp: text("azp"),
            exp: claims.get("exp")?.as_i64()?,
            iat: claims.get("iat")?.as_i64()?,
            nonce: text("nonce"),
            sub: text("sub")?,
            tid: text("tid"),
            email: text("email"),
            email_verified: is_true(claims.get("email_verified")),
            xms_edov: is_true(claims.get("xms_edov")),
            name: text("name"),
        })
    }
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// Stable per provider: Google's `sub`; Microsoft's `tid` + `sub`; GitHub's numeric id.
    pub subject: String,
    /// The address the provider gave, as it gave it.
    pub email: Option<String>,
    /// Whether the provider vouches that the user controls `email`.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// `true` or `"true"`: providers are not consistent about booleans in tokens.
fn is_true(value: Option<&serde_json::Value>) -> bool {
    match value {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    }
}

/// The identity in `token`, if it is an ID token of `provider` for us, for this sign-in.
pub async fn verify(
    ctx: &Ctx<'_>,
    provider: &ProviderConfig,
    token: &str,
    nonce: &str,
) -> Result<ProviderIdentity, Failure> {
    let refused = Failure::OauthFailed;
    let compact = jws::split(token).map_err(|_| refused("the ID token is malformed"))?;
    // Only the asymmetric algorithms a JWKS can hold; `none`, HS* and the rest never.
    if !matches!(compact.header.alg.as_str(), "RS256" | "ES256") {
        return Err(refused("the ID token's algorithm is not RS256 or ES256"));
    }
    let kid = compact
        .header
        .kid
        .as_deref()
        .ok_or(refused("the ID token names no kid"))?;
    let settings = ctx.settings::<OAuthSettings>();
    let key = settings.jwks.key(ctx, &provider.jwks_url, kid).await?;
    if key.alg() != compact.header.alg {
        return Err(refused("the ID token's algorithm is not its key's"));
    }
    let input = compact.input.as_bytes();
    let verified = match &key {
        Jwk::Rs256(rsa) => ctx.crypto.verify_rs256(rsa, input, &compact.signature).await,
        Jwk::Es256(ec) => {
            let name = format!("oauth:{}:{}", ec.x, ec.y.as_deref().unwrap_or_default());
            ctx.crypto.verify(&name, ec, input, &compact.signature).await
        }
    };
    if !verified.unwrap_or(false) {
        return Err(refused("the ID token's signature does not verify"));
    }
    let claims = Claims::parse(&compact.payload).ok_or(refused("the ID token's claims"))?;
    check_claims(ctx, provider, &settings.tenant, &claims, nonce)?;
    identity(provider.provider, claims)
}

fn check_claims(
    ctx: &Ctx<'_>,
    provider: &ProviderConfig,
    tenant: &Tenant,
    claims: &Claims,
    nonce: &str,
) -> Result<(), Failure> {
    let refused = Failure::OauthFailed;
    let now = ctx.clock.now();
    let tid = claims.tid.as_deref();
    if provider.provider == Provider::Microsoft && !tid.is_some_and(|tid| tenant.admits(tid)) {
        return Err(refused("the token's tenant may not sign in"));
    }
    if !provider.issuer_matches(&claims.iss, tid) {
        return Err(refused("the ID token's issuer"));
    }
    if !claims.aud.contains(&provider.client_id) {
        return Err(refused("the ID token's audience"));
    }
    if claims.azp.as_deref().is_some_and(|azp| azp != provider.client_id) {
        return Err(refused("the ID token's authorized party"));
    }
    if claims.exp <= now {
        return Err(refused("the ID token expired"));
    }
    if claims.iat > now + MAX_IAT_SKEW_SECONDS {
        return Err(refused("the ID token was issued in the future"));
    }
    // Constant time is not needed: the nonce is no secret once the browser carried it.
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(refused("the ID token's nonce"));
    }
    Ok(())
}

fn identity(provider: Provider, claims: Claims) -> Result<ProviderIdentity, Failure> {
    if claims.sub.is_empty() {
        return Err(Failure::OauthFailed("the ID token has no subject"));
    }
    let (subject, email_verified) = match provider {
        Provider::Microsoft => {
            let tid = claims.tid.clone().unwrap_or_default().to_ascii_lowercase();
            // The plain `email` claim of a work account is whatever its admin typed: only
            // `xms_edov` (domain owner verified) or a personal account proves it.
            let verified = claims.xms_edov || tid == PERSONAL_TENANT;
            (format!("{tid}:{}", claims.sub), verified)
        }
        _ => (claims.sub.clone(), claims.email_verified),
    };
    Ok(ProviderIdentity {
        subject,
        email: claims.email,
        email_verified,
        name: claims.name,
    })
}
