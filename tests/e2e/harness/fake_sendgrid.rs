//! A fake SendGrid v3 API on loopback: checks each `POST /v3/mail/send` the way SendGrid
//! does (bearer key, JSON shape, text/plain before text/html) and records what it accepted.
//! A recipient containing `+fail500` gets 500 every time, for outage tests.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct SentMail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Default)]
struct Log {
    accepted: Vec<SentMail>,
    /// Every request, accepted or not: (recipient, status answered).
    attempts: Vec<(String, u16)>,
}

#[derive(Clone)]
pub struct FakeSendGrid {
    pub url: String,
    log: Arc<Mutex<Log>>,
}

pub const API_KEY: &str = "SG.e2e-test-key";
pub const FAIL_MARKER: &str = "+fail500";

impl FakeSendGrid {
    pub fn start() -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("fake SendGrid binds");
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = log.clone();
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let (status, answer) = check(&request, &body, &shared);
                let response = tiny_http::Response::from_string(answer).with_status_code(status);
                let _ = request.respond(response);
            }
        });
        Self { url, log }
    }

    /// Mails accepted for `to` so far.
    pub fn mails_to(&self, to: &str) -> Vec<SentMail> {
        self.log
            .lock()
            .unwrap()
            .accepted
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    pub fn attempts_for(&self, to: &str) -> Vec<u16> {
        self.log
            .lock()
            .unwrap()
            .attempts
            .iter()
            .filter(|(r, _)| r == to)
            .map(|(_, s)| *s)
            .collect()
    }

    /// Waits (mail leaves the Worker after the response) until `count` mails reached `to`.
    pub fn wait_for_mails(&self, to: &str, count: usize) -> Vec<SentMail> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.mails_to(to);
            if mails.len() >= count || Instant::now() > deadline {
                assert!(
                    mails.len() >= count,
                    "expected {count} mail(s) to {to}, got {}",
                    mails.len()
                );
                return mails;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// The six-digit code of the latest mail to `to`.
    pub fn latest_code(&self, to: &str, count: usize) -> String {
        let mails = self.wait_for_mails(to, count);
        let text = &mails.last().unwrap().text;
        text.split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no code in {text}"))
            .to_owned()
    }
}

fn error(message: &str) -> (u16, String) {
    (
        400,
        serde_json::json!({ "errors": [{ "message": message, "field": null, "help": null }] }).to_string(),
    )
}

fn check(request: &tiny_http::Request, body: &str, log: &Mutex<Log>) -> (u16, String) {
    if request.method() != &tiny_http::Method::Post || request.url() != "/v3/mail/send" {
        return (404, String::new());
    }
    let header = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
    };
    if header("authorization").as_deref() != Some(&format!("Bearer {API_KEY}")) {
        return (
            401,
            r#"{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked"}]}"#.into(),
        );
    }
    if !header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return (415, String::new());
    }
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return error("Bad Request");
    };
    let to = json["personalizations"][0]["to"][0]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let outcome = validate(&json, &to);
    log.lock()
        .unwrap()
        .attempts
        .push((to.clone(), outcome.as_ref().map_or_else(|(s, _)| *s, |_| 202)));
    match outcome {
        Ok(mail) => {
            log.lock().unwrap().accepted.push(mail);
            (202, String::new())
        }
        Err(answer) => answer,
    }
}

fn validate(json: &Value, to: &str) -> Result<SentMail, (u16, String)> {
    if to.is_empty() || !to.contains('@') {
        return Err(error("The to email is invalid"));
    }
    if to.contains(FAIL_MARKER) {
        return Err((500, "internal error".into()));
    }
    let from = json["from"]["email"]
        .as_str()
        .filter(|f| f.contains('@'))
        .ok_or_else(|| error("The from email is invalid"))?;
    let subject = json["subject"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| error("The subject is required"))?;
    let content = json["content"]
        .as_array()
        .ok_or_else(|| error("The content value must be an array"))?;
    let part = |i: usize, kind: &str| {
        content
            .get(i)
            .filter(|c| c["type"] == kind)
            .and_then(|c| c["value"].as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| error("If present, text/plain must be first, followed by text/html"))
    };
    Ok(SentMail {
        to: to.to_owned(),
        from: from.to_owned(),
        subject: subject.to_owned(),
        text: part(0, "text/plain")?,
        html: part(1, "text/html")?,
    })
}
