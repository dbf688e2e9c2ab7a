//! A fake Sentry on loopback: accepts envelopes at `POST /api/{project}/envelope/` with the
//! DSN's public key (header or query), and records the parsed items.

use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;

pub const PUBLIC_KEY: &str = "e2epublickey";
pub const PROJECT: &str = "42";

#[derive(Clone)]
pub struct FakeSentry {
    pub dsn: String,
    events: Arc<Mutex<Vec<Value>>>,
}

impl FakeSentry {
    pub fn start() -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("fake Sentry binds");
        let addr = server.server_addr().to_ip().unwrap();
        let dsn = format!("http://{PUBLIC_KEY}@{addr}/{PROJECT}");
        let events = Arc::new(Mutex::new(Vec::new()));
        let shared = events.clone();
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let status = match parse(&request, &body) {
                    Some(items) => {
                        shared.lock().unwrap().extend(items);
                        200
                    }
                    None => 400,
                };
                let _ = request.respond(tiny_http::Response::from_string("{}").with_status_code(status));
            }
        });
        Self { dsn, events }
    }

    /// Every event item received so far (the JSON payload of each `type: event` item).
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }
}

fn parse(request: &tiny_http::Request, body: &str) -> Option<Vec<Value>> {
    if request.url().split('?').next() != Some(&format!("/api/{PROJECT}/envelope/")) {
        return None;
    }
    let auth = request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case("x-sentry-auth"))
        .map(|h| h.value.as_str().to_owned())
        .unwrap_or_default();
    if !auth.contains(&format!("sentry_key={PUBLIC_KEY}"))
        && !request.url().contains(&format!("sentry_key={PUBLIC_KEY}"))
    {
        return None;
    }
    // Envelope: a header line, then (item header line, payload line) pairs.
    let mut lines = body.lines();
    let header: Value = serde_json::from_str(lines.next()?).ok()?;
    header.get("event_id")?;
    let mut items = Vec::new();
    while let Some(item_header) = lines.next() {
        let item_header: Value = serde_json::from_str(item_header).ok()?;
        let payload: Value = serde_json::from_str(lines.next()?).ok()?;
        if item_header["type"] == "event" {
            items.push(payload);
        }
    }
    Some(items)
}
