//! The service: the features it mounts, one line each, in the order their routes are
//! matched and documented. Everything central (router, OpenAPI document, limit table,
//! settings, mail kinds) is built from this list.

use crate::features::{accounts, mfa, one_time_tokens, passkeys, password_reset, sessions, signing, system, users};
use crate::http::{self, ErrorReporter, Handled};
use crate::kernel::config::{ConfigError, Vars};
use crate::kernel::feature::{AppState, Feature, Services};
use crate::kernel::web::Request;

pub const FEATURES: &[&Feature] = &[
    &system::FEATURE,
    &users::FEATURE,
    &one_time_tokens::FEATURE,
    &signing::FEATURE,
    &accounts::FEATURE,
    &sessions::FEATURE,
    &password_reset::FEATURE,
    &mfa::FEATURE,
    &passkeys::FEATURE,
];

/// The per-isolate state, from the Worker's variables and secrets.
/// Also refuses, in production, what only development and test configurations may have
/// (`Config::check_production`): an http origin, fault injection.
pub fn state(read: &dyn Fn(&str) -> Option<String>) -> Result<AppState, ConfigError> {
    let state = AppState::new(FEATURES, &Vars::new(read))?;
    state.config.check_production()?;
    Ok(state)
}

/// Answers one request.
pub async fn handle(
    request: Request,
    state: &AppState,
    services: &Services<'_>,
    reporter: &dyn ErrorReporter,
) -> Handled {
    http::handle(request, state, FEATURES, services, reporter).await
}

#[cfg(test)]
mod tests;
