//! The harness: Worker instances under `wrangler dev` (`worker`), their Postgres clusters
//! (`postgres`), the fakes of SendGrid, Sentry and GitHub, the OIDC mock (`oauth_providers`),
//! the client the tests use (`app`), a TOTP generator (`totp`) and a software WebAuthn
//! authenticator (`authenticator`).

pub mod app;
pub mod authenticator;
pub mod fake_github;
pub mod fake_sendgrid;
pub mod fake_sentry;
pub mod oauth_providers;
pub mod postgres;
pub mod totp;
pub mod worker;

pub use app::*;
