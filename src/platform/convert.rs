//! The platform's requests and responses to and from `http`'s plain ones.
//!
//! Each direction is one call across the JavaScript boundary, not one per header: the
//! request's method, URL and headers come over as one string, and the answer goes back as
//! one string of headers beside its body (the small functions below run in the platform).
//! Lines are safe separators: the platform refuses a header with a line break in it, and
//! `to_js` refuses to send one.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::kernel::problem::ApiError;
use crate::kernel::web::{self, body, Location, Place};

#[wasm_bindgen(inline_js = r#"
export function head(request) {
  let text = request.method + "\n" + request.url;
  for (const [name, value] of request.headers) text += "\n" + name + "\n" + value;
  return text;
}

export function place(request) {
  const cf = request.cf;
  return cf ? (cf.country ?? "") + "\n" + (cf.city ?? "") : "\n";
}

export async function body(request, cap) {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > cap) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return all;
}

export function respond(status, head, body) {
  const headers = new Headers();
  const lines = head.split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) headers.append(lines[i], lines[i + 1]);
  return new Response(body, { status, headers });
}
"#)]
extern "C" {
    /// `method \n url (\n name \n value)*`, names in lower case as `Headers` gives them.
    fn head(request: &web_sys::Request) -> String;
    /// `country \n city` from `request.cf` (empty where unknown).
    fn place(request: &web_sys::Request) -> String;
    /// The whole body, or `null` once it passes `cap` bytes (reading stops there).
    #[wasm_bindgen(catch)]
    async fn body(request: &web_sys::Request, cap: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    fn respond(status: u16, head: &str, body: Option<js_sys::Uint8Array>) -> Result<web_sys::Response, JsValue>;
}

/// Reads the request: its method as sent (the router must see methods it does not know to
/// answer 405), and its body up to `MAX_BODY_BYTES`. Past that (announced by
/// `Content-Length`, or counted while a chunked body streams in) it stops reading and marks
/// the request oversized, so its route answers 413 through the pipeline: a chunked body is
/// never read whole first.
pub async fn from_worker(req: web_sys::Request) -> Result<web::Request, web::Response> {
    let head = head(&req);
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or_default().to_ascii_uppercase();
    let url = lines.next().unwrap_or_default();
    let mut headers = Vec::new();
    while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
        headers.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    let declared = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut request = web::Request::new(&method, &web::Request::path_of(url));
    request.query = web::Request::query_of(url);
    request.origin = web::Request::origin_of(url);
    request.headers = headers;
    if declared.is_some_and(|len| len > body::MAX_BODY_BYTES) {
        request.oversized = true;
    } else if !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        let read = body(&req, body::MAX_BODY_BYTES as u32)
            .await
            .map_err(|_| ApiError::malformed_body("the body could not be read").into_response())?;
        match read.dyn_into::<js_sys::Uint8Array>() {
            Ok(bytes) => request.body = bytes.to_vec(),
            Err(_) => request.oversized = true,
        }
    }
    request.place = Place::deferred(move || location_of(&place(&req)));
    Ok(request)
}

/// Cloudflare's `XX` (unknown) and `T1` (Tor) name no country.
fn location_of(place: &str) -> Location {
    let (country, city) = place.split_once('\n').unwrap_or((place, ""));
    let known = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Location {
        country: known(country).filter(|c| c != "XX" && c != "T1"),
        city: known(city),
    }
}

/// The answer as the platform's own `Response`, built in one call. A header with a line
/// break in it is refused (the platform's `Headers` would refuse it too).
pub fn to_js(response: web::Response) -> worker::Result<web_sys::Response> {
    let mut head = String::new();
    for (name, value) in &response.headers {
        if name.contains('\n') || value.contains('\n') {
            return Err(worker::Error::RustError(format!("header {name:?} has a line break")));
        }
        if !head.is_empty() {
            head.push('\n');
        }
        head.push_str(name);
        head.push('\n');
        head.push_str(value);
    }
    // A buffer of its own: a view of the wasm memory would change under the platform.
    let body = (!response.body.is_empty()).then(|| js_sys::Uint8Array::from(response.body.as_slice()));
    Ok(respond(response.status, &head, body)?)
}
