//! Mail delivery after the response (`waitUntil`), through SendGrid over `Fetch`.

use std::rc::Rc;

use async_trait::async_trait;
use worker::Context;

use super::fetch::WorkerFetch;
use super::{log_json, metrics, report};
use crate::delivery::sendgrid;
use crate::kernel::config::{MailMode, MAIL_UNCONFIGURED};
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::AppState;
use crate::kernel::fetch::{HttpClient, HttpRequest};
use crate::kernel::mail::{Mail, Outbox};

/// Delivers mail after the response is sent, as `Config::mail` says: through SendGrid; into
/// the log (development only); or, unconfigured, nowhere, and that is a failed dependency
/// (an error line, a report, `email_failed`), never a silent drop.
pub struct WaitUntilOutbox {
    pub ctx: Rc<Context>,
    pub state: Rc<AppState>,
    pub request_id: String,
}

impl Outbox for WaitUntilOutbox {
    fn send(&self, mail: Mail) {
        let (state, request_id) = (self.state.clone(), self.request_id.clone());
        self.ctx.wait_until(async move {
            let config = &state.config;
            let kind = mail.kind.name;
            let key = match &config.mail {
                MailMode::SendGrid { api_key } => api_key,
                MailMode::Log => {
                    let rendered = mail.render(&config.app_name);
                    log_json(serde_json::json!({
                        "level": "info", "message": "mail (ENVIRONMENT=development, not sent)", "request_id": request_id,
                        "kind": kind, "to": rendered.to, "subject": rendered.subject, "text": rendered.text,
                    }));
                    return;
                }
                MailMode::Unconfigured => {
                    metrics::record_event(&AuthEvent::MailFailed { kind });
                    let cause = format!("mail {kind} not sent: {MAIL_UNCONFIGURED}");
                    report::dependency_failure(config, &request_id, "mail", &cause).await;
                    metrics::flush_soon().await;
                    return;
                }
            };
            let rendered = mail.render(&config.app_name);
            match sendgrid::send(&FetchTransport, config, key.expose(), &rendered).await {
                Ok(()) => {
                    metrics::record_event(&AuthEvent::MailSent { kind });
                    log_json(serde_json::json!({ "level": "info", "message": "mail sent", "kind": kind, "request_id": request_id }));
                }
                Err(error) => {
                    metrics::record_event(&AuthEvent::MailFailed { kind });
                    let cause = format!("mail {kind} failed: {error}");
                    report::dependency_failure(config, &request_id, "mail", &cause).await;
                }
            }
            metrics::flush_soon().await;
        });
    }
}

/// SendGrid's transport: a JSON POST through the one outbound HTTP client.
struct FetchTransport;

#[async_trait(?Send)]
impl sendgrid::Transport for FetchTransport {
    async fn post_json(&self, url: &str, bearer: &str, body: String) -> Result<(u16, String), String> {
        let request = HttpRequest {
            method: "POST",
            url: url.to_owned(),
            headers: vec![
                ("Authorization", format!("Bearer {bearer}")),
                ("Content-Type", "application/json".to_owned()),
            ],
            body: Some(body),
            timeout_ms: HttpRequest::DEFAULT_TIMEOUT_MS,
        };
        let response = WorkerFetch.send(request).await.map_err(|e| e.to_string())?;
        Ok((response.status, response.body))
    }

    async fn sleep_ms(&self, ms: u32) {
        worker::Delay::from(std::time::Duration::from_millis(ms.into())).await;
    }
}
