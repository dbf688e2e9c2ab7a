//! Request and response bodies. The OpenAPI document is generated from these types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, FieldError};
use crate::domain::{EmailAddress, Password, User};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 8 to 72 bytes of UTF-8; refused if among the shipped common passwords.
    #[schema(example = "correct horse battery")]
    pub password: String,
    #[serde(default)]
    pub full_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The account's address, or the new address of a pending email change.
    pub email: String,
    /// The six digits from the mail.
    #[schema(example = "042817")]
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// OAuth2 password-flow form (`application/x-www-form-urlencoded`), as FastAPI clients send it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The email address.
    pub username: String,
    pub password: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub full_name: Option<String>,
    /// Mailed a code; replaces the current address once confirmed through verify-email.
    #[serde(default)]
    pub email: Option<String>,
    /// Ends every other session of the account.
    #[serde(default)]
    pub password: Option<String>,
    /// Required when `email` or `password` is present.
    #[serde(default)]
    pub current_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The `token` query parameter of the mailed link.
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

#[cfg(test)]
#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_795_489_200), "2026-11-24T03:00:00Z");
}

impl Message {
    pub fn new(text: &str) -> Self {
        Self {
            message: text.to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
    pub email_verified: bool,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-24T03:00:00Z")]
    pub created_at: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.0.clone(),
            email: user.email.clone(),
            full_name: user.full_name.clone(),
            email_verified: user.email_verified,
            created_at: rfc3339(user.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: UserBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RootInfo {
    pub name: String,
    pub version: String,
    pub docs: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
    /// Each dependency and its state, e.g. `{"database": "ok", "database_backend": "d1",
    /// "rate_limiter": "ok", "mail": "sendgrid"}`.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
}

/// `2026-11-24T03:00:00Z`, written by hand: chrono's format strings would add a parser to the Worker.
pub fn rfc3339(seconds: i64) -> String {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Collects field errors while turning raw strings into domain values.
#[derive(Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    pub fn email(&mut self, field: &str, raw: &str) -> Option<EmailAddress> {
        EmailAddress::parse(raw)
            .map_err(|e| self.0.push(FieldError::new(field, e.to_string())))
            .ok()
    }

    pub fn password(&mut self, field: &str, raw: &str) -> Option<Password> {
        Password::parse(raw)
            .map_err(|e| self.0.push(FieldError::new(field, e.to_string())))
            .ok()
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok(value)` when no field failed; the value is then complete.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if self.0.is_empty() {
            if let Some(value) = value() {
                return Ok(value);
            }
        }
        Err(ApiError::validation(self.0))
    }
}
