//! Mail delivery as plain Rust: SendGrid's v3 API (payload, retries), tested natively
//! through a transport port; `platform::outbox` posts with the Worker's `Fetch`.

pub mod sendgrid;
