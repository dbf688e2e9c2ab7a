//! One-time tokens: mailed codes and link tokens, kept only as keyed digests
//! (`kernel::secrets::SecretDigester`), each with a purpose its capability owns
//! (`accounts` has `verify_email` and `change_email`, `password_reset` has
//! `reset_password`), an expiry, a count of wrong tries and single use. No routes: the
//! table and its rules, for the capabilities that hand such tokens out; it registers only
//! its housekeeping, which drops the tokens that expired over a day ago.

mod housekeeping;
mod store;

pub use store::{consume, end_all_of_user, issue, issued, Guess, Issue, OneTimeToken, OneTimeTokens, Owner};

use crate::kernel::feature::Feature;

pub const FEATURE: Feature = Feature {
    name: "one_time_tokens",
    routes: &[],
    limits: &[],
    mails: &[],
    settings: None,
    housekeeping: &[housekeeping::PURGE_EXPIRED],
    sign_in_completed: None,
    second_factors: &[],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: utoipa::openapi::OpenApi::default,
};

/// Why a token exists; part of its digest and of every lookup, so a code for one purpose
/// never works for another. Each capability declares its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose(pub &'static str);
