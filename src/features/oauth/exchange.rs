//! The one-time exchange code: what the callback hands the frontend instead of a token
//! (in a URL, a token would reach history, logs and referrers). 256 random bits, kept as
//! a digest, 60 s, single use, bound to the user and the provider (the first factor).
//! `POST {p}/auth/oauth/exchange` trades it for the login result.
//!
//! An email-match link of a 2FA account travels with the code and is written only when
//! the MFA challenge is passed: the exchange records the challenge on the (used) code,
//! and sessions calls `on_sign_in_completed` when that challenge completes.

use super::provider::Provider;
use super::sign_up::PendingLink;
use super::{linking, store};
use crate::features::sessions::{self, ClientInfo, LoginError, LoginResult};
use crate::features::users::Users;
use crate::kernel::feature::{CompletedSignIn, Ctx, SignInHookFuture};
use crate::kernel::secrets::OpaqueToken;
use crate::kernel::sql::StoreError;
use crate::kernel::UserId;

pub const EXCHANGE_CODE_SECONDS: i64 = 60;
const PURPOSE: &str = "oauth_exchange";

fn digest(ctx: &Ctx<'_>, code: &str) -> String {
    ctx.digester.digest(PURPOSE, "", code)
}

/// A fresh code for `user`'s sign-in through `provider`, carrying the link still due.
pub async fn issue(
    ctx: &Ctx<'_>,
    user: &UserId,
    provider: Provider,
    pending: Option<&PendingLink>,
) -> Result<String, StoreError> {
    let code = OpaqueToken::generate();
    let now = ctx.clock.now();
    let params = [
        digest(ctx, code.expose()).into(),
        user.0.as_str().into(),
        provider.name().into(),
        pending.map(|p| p.subject.as_str()).into(),
        pending.map(|p| p.email.as_str()).into(),
        now.into(),
        (now + EXCHANGE_CODE_SECONDS).into(),
    ];
    ctx.db.execute(&store::INSERT_EXCHANGE_CODE, &params).await?;
    Ok(code.expose().to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("the code is unknown, used or expired")]
    InvalidCode,
    #[error(transparent)]
    Login(#[from] LoginError),
}

impl From<StoreError> for ExchangeError {
    fn from(error: StoreError) -> Self {
        Self::Login(error.into())
    }
}

/// Spends the code and signs its user in by the provider: the session, or the MFA
/// challenge of a 2FA account (its pending link then waits for that challenge).
pub async fn redeem(ctx: &Ctx<'_>, code: &str, client: ClientInfo) -> Result<LoginResult, ExchangeError> {
    let digest = digest(ctx, code);
    let now = ctx.clock.now();
    let row: store::ExchangeRow = ctx
        .db
        .first(&store::CONSUME_EXCHANGE_CODE, &[digest.as_str().into(), now.into()])
        .await?
        .ok_or(ExchangeError::InvalidCode)?;
    let provider = Provider::parse(&row.provider).ok_or(ExchangeError::InvalidCode)?;
    let user = Users(ctx.db)
        .by_id(&UserId(row.user_id))
        .await?
        .ok_or(ExchangeError::InvalidCode)?;
    let pending = row.link_subject.zip(row.link_email);
    let (user_id, email) = (user.id.clone(), user.email.clone());
    let result = sessions::sign_in(ctx, user, client, provider.name()).await?;
    match (&result, pending) {
        (_, None) => {}
        (LoginResult::Challenge(challenge), Some(_)) => {
            let until = now + challenge.expires_in;
            let params = [digest.as_str().into(), challenge.digest.as_str().into(), until.into()];
            ctx.db.execute(&store::AWAIT_CHALLENGE, &params).await?;
        }
        // 2FA was turned off since the callback: no challenge to wait for.
        (LoginResult::LoggedIn(_), Some((subject, link_email))) => {
            linking::link(ctx, &user_id, &email, provider, &subject, &link_email, "email_match").await?;
        }
    }
    Ok(result)
}

/// `Feature::sign_in_completed`: a passed MFA challenge writes the link that waited for it.
pub fn on_sign_in_completed<'a>(ctx: &'a Ctx<'a>, completed: &'a CompletedSignIn<'a>) -> SignInHookFuture<'a> {
    Box::pin(async move {
        let Some(provider) = Provider::parse(completed.first_factor) else {
            return Ok(false);
        };
        let params = [completed.challenge.into(), ctx.clock.now().into()];
        let Some(row) = ctx
            .db
            .first::<store::ExchangeRow>(&store::TAKE_PENDING_LINK, &params)
            .await?
        else {
            return Ok(false);
        };
        let (Some(subject), Some(link_email)) = (row.link_subject, row.link_email) else {
            return Ok(false);
        };
        // A unique rule refusing it (linked meanwhile) leaves the sign-in as it is.
        let user = UserId(row.user_id);
        linking::link(
            ctx,
            &user,
            completed.email,
            provider,
            &subject,
            &link_email,
            "email_match",
        )
        .await
    })
}
