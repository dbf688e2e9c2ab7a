//! The harness: Worker instances under `wrangler dev` (`worker`), their Postgres clusters
//! (`postgres`), the fakes of SendGrid and Sentry, the client the tests use (`app`), and a
//! TOTP generator (`totp`).

pub mod app;
pub mod authenticator;
pub mod fake_sendgrid;
pub mod fake_sentry;
pub mod postgres;
pub mod totp;
pub mod worker;

pub use app::*;
