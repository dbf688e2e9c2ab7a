//! The OpenAPI 3.1 document, generated from the handlers' annotations and the body types.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{account, dto, error, login, metrics, password_reset, register, system, verify_email};
use crate::config::Config;

/// The prefix the annotations are written with; replaced by `API_PREFIX` when served.
const ANNOTATED_PREFIX: &str = "/balance_hub";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "edge-auth",
        description = "Registration with email verification, JWT login (bearer or HttpOnly cookie), profile updates and password reset.\n\n\
            Every error is RFC 9457 `application/problem+json` with a machine `code`. Bodies over 16 KiB get 413, \
            a wrong Content-Type 415, malformed JSON 400, invalid fields 422, unknown routes 404, wrong methods 405 with `Allow`. \
            Every answer carries `X-Request-Id`; auth routes carry `Cache-Control: no-store`."
    ),
    paths(
        system::root, system::health, metrics::metrics, system::openapi,
        register::register, verify_email::verify_email, register::resend_verification,
        login::login, login::logout, account::me, account::update_user,
        password_reset::forget, password_reset::reset,
    ),
    components(schemas(error::Problem, error::FieldError, dto::UserBody)),
    modifiers(&SecuritySchemes),
    tags((name = "auth", description = "Accounts and sessions"), (name = "system", description = "Service information"))
)]
pub struct ApiDoc;

pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(login::ACCESS_COOKIE))),
        );
    }
}

/// The document as generated from the annotations, committed as `openapi.json`; the test
/// below fails when the code and the file differ (`make openapi` rewrites the file). The
/// Worker serves the committed text, so the generator never ships in the wasm.
const COMMITTED: &str = include_str!("../../openapi.json");

/// The document as served: paths under the configured prefix, the configured name and version.
pub fn document(config: &Config) -> Vec<u8> {
    let mut doc: serde_json::Value = serde_json::from_str(COMMITTED).expect("openapi.json is JSON");
    doc["info"]["title"] = config.app_name.clone().into();
    doc["info"]["version"] = config.version.into();
    if let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) {
        *paths = std::mem::take(paths)
            .into_iter()
            .map(|(path, item)| match path.strip_prefix(ANNOTATED_PREFIX) {
                Some(rest) => (format!("{}{rest}", config.api_prefix), item),
                None => (path, item),
            })
            .collect();
    }
    serde_json::to_vec(&doc).expect("the OpenAPI document serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = serde_json::to_string_pretty(&ApiDoc::openapi()).unwrap() + "\n";
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"), &generated).unwrap();
            return;
        }
        assert!(
            COMMITTED == generated,
            "openapi.json differs from the code's annotations: run `make openapi`"
        );
    }
}
