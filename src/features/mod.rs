//! One folder per capability. Each owns its flows, HTTP adapter, storage (SQL for both
//! dialects), mails and tests, and exports a `FEATURE` registration that `app.rs` mounts.
//! Dependencies between them run one way: `mfa` uses `passkeys`; `accounts`,
//! `password_reset`, `mfa` and `passkeys` use `sessions`, which uses `users`;
//! `one_time_tokens` serves whoever mails a code or a link.

pub mod accounts;
pub mod mfa;
pub mod one_time_tokens;
pub mod passkeys;
pub mod password_reset;
pub mod sessions;
pub mod signing;
pub mod system;
pub mod users;
