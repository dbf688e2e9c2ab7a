//! The provider's side of a callback: the authorization code traded at the token endpoint
//! (with the PKCE verifier), then the identity, from the ID token (OIDC) or GitHub's API.
//! The provider's tokens live only in this file's locals: never stored, returned or logged.

use serde::Deserialize;

use super::flow_error::Failure;
use super::id_token::{self, ProviderIdentity};
use super::provider::{Provider, ProviderConfig};
use crate::kernel::feature::Ctx;
use crate::kernel::fetch::{HttpRequest, HttpResponse};

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    id_token: Option<String>,
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
    let tokens: TokenResponse =
        serde_json::from_str(&response.body).map_err(|_| Failure::OauthFailed("the token response"))?;
    if provider.provider.is_oidc() {
        let id_token = tokens.id_token.ok_or(Failure::OauthFailed("no ID token"))?;
        return id_token::verify(ctx, provider, &id_token, nonce).await;
    }
    let access_token = tokens.access_token.ok_or(Failure::OauthFailed("no access token"))?;
    github_identity(ctx, provider, &access_token).await
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    name: Option<String>,
    login: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
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
    let user: GitHubUser = serde_json::from_str(&user.body).map_err(|_| Failure::OauthFailed("GitHub's /user"))?;
    let emails: Vec<GitHubEmail> =
        serde_json::from_str(&emails.body).map_err(|_| Failure::OauthFailed("GitHub's /user/emails"))?;
    let primary = emails.into_iter().find(|e| e.primary && e.verified);
    Ok(ProviderIdentity {
        subject: user.id.to_string(),
        email_verified: primary.is_some(),
        email: primary.map(|e| e.email),
        name: user.name.filter(|n| !n.trim().is_empty()).or(user.login),
    })
}
