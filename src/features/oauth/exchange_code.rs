//! The provider's side of a callback: the authorization code traded at the token endpoint
//! (with the PKCE verifier), then the identity, from the ID token (OIDC) or GitHub's API.
//! The provider's tokens live only in this file's locals: never stored, returned or logged.

use super::flow_error::Failure;
use super::id_token::{self, ProviderIdentity};
use super::provider::{Provider, ProviderConfig};
use crate::kernel::feature::Ctx;
use crate::kernel::fetch::{HttpRequest, HttpResponse};

/// A member of a provider's JSON answer, as text. Provider answers are read through
/// `serde_json::Value` rather than a derived deserializer per shape (bundle size).
fn text(value: &serde_json::Value, name: &str) -> Option<String> {
    value.get(name).and_then(|v| v.as_str()).map(str::to_owned)
}

fn json(response: &HttpResponse, what: &'static str) -> Result<serde_json::Value, Failure> {
    serde_json::from_str(&response.body).map_err(|_| Failure::OauthFailed(what))
}

/// A network error, timeout or 5xx is `provider_unavailable`; any other non-2xx status
/// `oauth_failed`.
async fn send(ctx: &Ctx<'_>, request: HttpRequest, what: &'static str) -> Result<HttpResponse, Failure> {
    let response = ctx.http.send(request).await.map_err(|_| Failure::ProviderUnavailable)?;
    match response.status {
        200..=299 => Ok(response),
        500.. => Err(Failure::ProviderUnavailable),
        _ => Err(Failure::OauthFailed(what)),
    }
}

/// Trades `code` for tokens and answers who signed in.
pub async fn identify(
    ctx: &Ctx<'_>,
    provider: &ProviderConfig,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
    nonce: &str,
) -> Result<ProviderIdentity, Failure> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", provider.client_id.as_str()),
        ("client_secret", provider.client_secret.expose()),
        ("code_verifier", verifier),
    ];
    let request = HttpRequest::post_form(&provider.token_url, &form).with_header("Accept", "application/json");
    let response = send(ctx, request, "the token endpoint refused the code").await?;
    // GitHub answers refusals 200 with an `error` member: no token is a refusal too.
    let tokens = json(&response, "the token response")?;
    if provider.provider.is_oidc() {
        let id_token = text(&tokens, "id_token").ok_or(Failure::OauthFailed("no ID token"))?;
        return id_token::verify(ctx, provider, &id_token, nonce).await;
    }
    let access_token = text(&tokens, "access_token").ok_or(Failure::OauthFailed("no access token"))?;
    github_identity(ctx, provider, &access_token).await
}

/// GitHub: the numeric `id` of `/user`, and of `/user/emails` the one entry that is both
/// `primary` and `verified` (none: no verified email).
async fn github_identity(
    ctx: &Ctx<'_>,
    provider: &ProviderConfig,
    access_token: &str,
) -> Result<ProviderIdentity, Failure> {
    debug_assert_eq!(provider.provider, Provider::GitHub);
    let get = |url: String| {
        HttpRequest::get(url)
            .with_header("Authorization", format!("Bearer {access_token}"))
            .with_header("Accept", "application/vnd.github+json")
            .with_header("User-Agent", ctx.config.app_name.clone())
    };
    let user = send(ctx, get(provider.userinfo_url.clone()), "GitHub's /user").await?;
    let emails = send(
        ctx,
        get(format!("{}/emails", provider.userinfo_url)),
        "GitHub's /user/emails",
    )
    .await?;
    let user = json(&user, "GitHub's /user")?;
    let id = user
        .get("id")
        .and_then(|id| id.as_u64())
        .ok_or(Failure::OauthFailed("GitHub's /user"))?;
    let emails = json(&emails, "GitHub's /user/emails")?;
    let flag = |entry: &serde_json::Value, name: &str| entry.get(name).and_then(|v| v.as_bool()) == Some(true);
    let primary = emails
        .as_array()
        .ok_or(Failure::OauthFailed("GitHub's /user/emails"))?
        .iter()
        .find(|entry| flag(entry, "primary") && flag(entry, "verified"))
        .and_then(|entry| text(entry, "email"));
    Ok(ProviderIdentity {
        subject: id.to_string(),
        email_verified: primary.is_some(),
        email: primary,
        name: text(&user, "name")
            .filter(|n| !n.trim().is_empty())
            .or(text(&user, "login")),
    })
}
