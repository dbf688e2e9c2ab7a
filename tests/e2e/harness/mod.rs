//! The harness: Worker instances under `wrangler dev` (`worker`), their Postgres clusters
//! (`postgres`), the fakes of SendGrid, Sentry and GitHub, the OIDC mock (`oauth_providers`),
//! the client the tests use (`app`), and a TOTP generator (`totp`).

pub mod app;
pub mod fake_github;
pub mod fake_sendgrid;
pub mod fake_sentry;
pub mod oauth_providers;
pub mod postgres;
pub mod totp;
pub mod worker;

pub use app::*;
