//! The SendGrid v3 mail client: `POST {SENDGRID_API_URL}/v3/mail/send`, retrying 429 and
//! 5xx with backoff. The transport is a port so the retry policy is tested natively.

use async_trait::async_trait;
use serde_json::json;

use crate::kernel::config::Config;
use crate::kernel::mail::RenderedMail;

/// Attempts per mail, and the wait before each retry.
const BACKOFF_MS: &[u32] = &[200, 800];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    #[error("SendGrid refused the mail with status {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("SendGrid could not be reached: {0}")]
    Transport(String),
}

/// What the client needs from the platform: one HTTP POST, and a way to wait.
#[async_trait(?Send)]
pub trait Transport {
    /// Answers the status and body, or a transport error.
    async fn post_json(&self, url: &str, bearer: &str, body: String) -> Result<(u16, String), String>;
    async fn sleep_ms(&self, ms: u32);
}

/// The v3 `mail/send` payload: one personalization, a text/plain part then a text/html part.
pub fn payload(config: &Config, mail: &RenderedMail) -> serde_json::Value {
    json!({
        "personalizations": [{ "to": [{ "email": mail.to }] }],
        "from": { "email": config.mail_from, "name": config.mail_from_name },
        "subject": mail.subject,
        "content": [
            { "type": "text/plain", "value": mail.text },
            { "type": "text/html", "value": mail.html },
        ],
        // Links in auth mail must reach the user unchanged, never through a click-tracking redirect.
        "tracking_settings": { "click_tracking": { "enable": false, "enable_text": false } },
    })
}

fn retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

pub async fn send(
    transport: &dyn Transport,
    config: &Config,
    api_key: &str,
    mail: &RenderedMail,
) -> Result<(), MailError> {
    let url = format!("{}/v3/mail/send", config.sendgrid_api_url);
    let body = payload(config, mail).to_string();
    let mut attempt = 0;
    loop {
        let outcome = transport.post_json(&url, api_key, body.clone()).await;
        let error = match outcome {
            Ok((status, _)) if (200..300).contains(&status) => return Ok(()),
            Ok((status, body)) if !retryable(status) => return Err(MailError::Rejected { status, body }),
            Ok((status, body)) => MailError::Rejected { status, body },
            Err(e) => MailError::Transport(e),
        };
        match BACKOFF_MS.get(attempt) {
            Some(wait) => transport.sleep_ms(*wait).await,
            None => return Err(error),
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Scripted {
        answers: RefCell<Vec<Result<(u16, String), String>>>,
        calls: RefCell<Vec<(String, String, String)>>,
        slept: RefCell<Vec<u32>>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(u16, String), String>>) -> Self {
            Self {
                answers: RefCell::new(answers),
                calls: RefCell::default(),
                slept: RefCell::default(),
            }
        }
    }

    #[async_trait(?Send)]
    impl Transport for Scripted {
        async fn post_json(&self, url: &str, bearer: &str, body: String) -> Result<(u16, String), String> {
            self.calls.borrow_mut().push((url.into(), bearer.into(), body));
            self.answers.borrow_mut().remove(0)
        }
        async fn sleep_ms(&self, ms: u32) {
            self.slept.borrow_mut().push(ms);
        }
    }

    fn mail() -> RenderedMail {
        RenderedMail {
            to: "ada@example.com".into(),
            subject: "Hi".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
        }
    }

    #[test]
    fn a_202_sends_once_with_both_parts() {
        let transport = Scripted::new(vec![Ok((202, String::new()))]);
        let config = crate::kernel::config::test_config();
        pollster::block_on(send(&transport, &config, "SG.key", &mail())).unwrap();
        let calls = transport.calls.borrow();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, "https://api.sendgrid.com/v3/mail/send");
        assert_eq!(calls[0].1, "SG.key");
        let body: serde_json::Value = serde_json::from_str(&calls[0].2).unwrap();
        assert_eq!(body["content"][0]["type"], "text/plain");
        assert_eq!(body["content"][1]["type"], "text/html");
        assert_eq!(body["personalizations"][0]["to"][0]["email"], "ada@example.com");
    }

    #[test]
    fn server_errors_are_retried_with_backoff_then_given_up() {
        let transport = Scripted::new(vec![Ok((500, "a".into())), Err("reset".into()), Ok((429, "b".into()))]);
        let err =
            pollster::block_on(send(&transport, &crate::kernel::config::test_config(), "k", &mail())).unwrap_err();
        assert_eq!(
            err,
            MailError::Rejected {
                status: 429,
                body: "b".into()
            }
        );
        assert_eq!(*transport.slept.borrow(), BACKOFF_MS);
    }

    #[test]
    fn client_errors_are_not_retried() {
        let transport = Scripted::new(vec![Ok((400, "bad".into()))]);
        assert!(pollster::block_on(send(&transport, &crate::kernel::config::test_config(), "k", &mail())).is_err());
        assert_eq!(transport.calls.borrow().len(), 1);
    }

    #[test]
    fn a_retry_that_succeeds_is_a_success() {
        let transport = Scripted::new(vec![Ok((503, String::new())), Ok((202, String::new()))]);
        assert!(pollster::block_on(send(&transport, &crate::kernel::config::test_config(), "k", &mail())).is_ok());
    }
}
