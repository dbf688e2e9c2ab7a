//! HTTP as plain data, and what every handler uses to read a request: bodies into typed
//! requests (with the contract's 400 / 413 / 415 / 422 answers) and raw fields into domain
//! values. The Worker edge converts to and from its own types; everything here runs natively.

pub mod body;
mod message;

pub use message::{Location, Place, Request, Response};

use serde::Serialize;
use utoipa::ToSchema;

use super::email::EmailAddress;
use super::password::{CommonPasswords, InvalidPassword, Password};
use super::problem::{ApiError, FieldError};
use crate::kernel::fields::from_fields;

impl ApiError {
    /// The answer: problem+json with the error's own headers.
    pub fn into_response(self) -> Response {
        let (status, body, headers) = self.into_parts();
        let mut response = Response::new(status, "application/problem+json", body);
        response
            .headers
            .extend(headers.into_iter().map(|(name, value)| (name.to_owned(), value)));
        response
    }
}

/// `{"message": ...}`: the body of answers that only confirm.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(text: &str) -> Self {
        Self {
            message: text.to_owned(),
        }
    }
}

/// The body of routes that take only an address: `{"email": ...}`, parsed.
pub fn email_only(request: &Request) -> Result<EmailAddress, ApiError> {
    #[derive(serde::Deserialize)]
    struct EmailOnly {
        email: String,
    }
    from_fields!(EmailOnly { email });
    let input: EmailOnly = body::json(request)?;
    let mut fields = Fields::default();
    let email = fields.email("email", &input.email);
    fields.finish(|| email)
}

/// Collects field errors while turning raw strings into domain values.
#[derive(Default)]
pub struct Fields {
    errors: Vec<FieldError>,
    too_common: bool,
}

impl Fields {
    pub fn email(&mut self, field: &str, raw: &str) -> Option<EmailAddress> {
        EmailAddress::parse(raw)
            .map_err(|e| self.push(field, e.to_string()))
            .ok()
    }

    pub fn password(&mut self, field: &str, raw: &str, common: &CommonPasswords) -> Option<Password> {
        Password::parse(raw, common)
            .map_err(|e| {
                self.too_common |= e == InvalidPassword::TooCommon;
                self.push(field, e.to_string());
            })
            .ok()
    }

    /// A field parsed by `parse`, its error message kept under `field`.
    pub fn parse<T, E: std::fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|e| self.push(field, e.to_string())).ok()
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// `Ok(value)` when no field failed; the value is then complete.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            if let Some(value) = value() {
                return Ok(value);
            }
        }
        Err(ApiError::validation(self.errors, self.too_common))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_common_password_is_its_own_code() {
        let mut fields = Fields::default();
        fields.password("password", "password", crate::kernel::testing::common_passwords());
        let error = fields.finish(|| Some(())).unwrap_err();
        assert_eq!(error.problem.code, "password_too_common");
        let mut fields = Fields::default();
        fields.password("password", "short", crate::kernel::testing::common_passwords());
        assert_eq!(fields.finish(|| Some(())).unwrap_err().problem.code, "validation_error");
    }
}
