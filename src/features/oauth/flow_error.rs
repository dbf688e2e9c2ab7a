//! How a callback fails once its state was accepted: an error code in the redirect to
//! `redirect_to` (oauth.md's list), never a problem+json page.

use crate::kernel::sql::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The provider said the user declined.
    #[error("the user declined at the provider")]
    AccessDenied,
    /// Anything the provider answered that does not check out (a bad code, token or key).
    #[error("the provider's answer does not check out: {0}")]
    OauthFailed(&'static str),
    /// No answer, a timeout or a 5xx from the provider.
    #[error("the provider could not be reached")]
    ProviderUnavailable,
    #[error("the provider vouches for no email address")]
    EmailNotVerified,
    #[error("the account already has another identity of this provider")]
    ProviderAlreadyLinked,
    #[error("the identity belongs to another account")]
    IdentityInUse,
    /// Not an outcome for the redirect: a 500.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Failure {
    /// The `error` value of the redirect.
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            Self::AccessDenied => "access_denied",
            Self::OauthFailed(_) => "oauth_failed",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::EmailNotVerified => "email_not_verified",
            Self::ProviderAlreadyLinked => "provider_already_linked",
            Self::IdentityInUse => "identity_in_use",
            Self::Store(_) => return None,
        })
    }
}
