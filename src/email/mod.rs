//! Mail: templates rendered at compile time, delivered through SendGrid's v3 API.

pub mod sendgrid;
pub mod templates;
