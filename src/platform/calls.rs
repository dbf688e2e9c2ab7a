//! Calls out of the Worker, one crossing of the JavaScript boundary each: a request to a
//! Durable Object, an outbound `fetch` with a deadline, a static asset, and a Durable
//! Object's storage read as JSON text (an object tree as its JSON) and written as text or
//! as the object tree it describes. The small functions below run in the platform (as
//! `convert`'s do). workers-rs' own wrappers for these build their `RequestInit` with every
//! image-resizing option and convert stored values through serde-wasm-bindgen, which the
//! bundle then carried for nothing (21 KB gzip).

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen(inline_js = r#"
export async function call_object(namespace, name, method, body) {
  const stub = namespace.get(namespace.idFromName(name));
  const response = await stub.fetch("https://object.internal/", { method, body });
  return response.status + "\n" + (await response.text());
}

export async function send(url, method, head, body, timeout_ms) {
  const headers = new Headers();
  const lines = head === "" ? [] : head.split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) headers.append(lines[i], lines[i + 1]);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout_ms);
  try {
    const response = await fetch(url, { method, headers, body, signal: controller.signal });
    return response.status + "\n" + (await response.text());
  } catch (error) {
    if (controller.signal.aborted) return null;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

export async function asset(fetcher, url) {
  const response = await fetcher.fetch(url);
  if (response.status !== 200) {
    await response.body?.cancel();
    return response.status;
  }
  return new Uint8Array(await response.arrayBuffer());
}

export async function stored(storage, key) {
  const value = await storage.get(key);
  if (value === undefined || typeof value === "string") return value;
  return JSON.stringify(value, (_, v) => (v instanceof Map ? Object.fromEntries(v) : v));
}

export function store(storage, key, text, as_object) {
  return storage.put(key, as_object ? JSON.parse(text) : text);
}
"#)]
extern "C" {
    /// `status \n body` of a request to the object `name` of `namespace`.
    #[wasm_bindgen(catch)]
    async fn call_object(
        namespace: &JsValue,
        name: &str,
        method: &str,
        body: Option<String>,
    ) -> Result<JsValue, JsValue>;
    /// `status \n body`, or `null` when `timeout_ms` passed first (the request is aborted).
    #[wasm_bindgen(catch)]
    async fn send(
        url: &str,
        method: &str,
        head: &str,
        body: Option<String>,
        timeout_ms: u32,
    ) -> Result<JsValue, JsValue>;
    /// The file's bytes, or the status the asset server answered instead of 200.
    #[wasm_bindgen(catch)]
    async fn asset(fetcher: &JsValue, url: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn stored(storage: &JsValue, key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn store(storage: &JsValue, key: &str, text: &str, as_object: bool) -> Result<JsValue, JsValue>;
}

/// A platform error as text: its message when it is an `Error`, else what it prints as.
pub fn js_error(error: JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => error.as_string().unwrap_or_else(|| format!("{error:?}")),
    }
}

/// The binding `name` of the environment, if it is there.
pub fn binding(env: &worker::Env, name: &str) -> Result<JsValue, String> {
    match js_sys::Reflect::get(env, &JsValue::from_str(name)) {
        Ok(value) if !value.is_undefined() => Ok(value),
        _ => Err(format!("binding {name} is missing")),
    }
}

/// An answer as `(status, body)`.
fn answer(text: JsValue) -> Result<(u16, String), String> {
    let text = text.as_string().ok_or("the answer was not text")?;
    let (status, body) = text.split_once('\n').ok_or("the answer had no status")?;
    let status = status.parse().map_err(|_| format!("status {status:?}"))?;
    Ok((status, body.to_owned()))
}

/// Sends `body` (or nothing) with `method` to the object `name` of a Durable Object
/// `namespace`, and answers its status and body.
pub async fn object(
    namespace: &JsValue,
    name: &str,
    method: &str,
    body: Option<String>,
) -> Result<(u16, String), String> {
    answer(call_object(namespace, name, method, body).await.map_err(js_error)?)
}

/// An outbound request: `Ok(None)` when `timeout_ms` passed before the whole answer came.
/// A header with a line break in it is refused (the separator of `head`).
pub async fn fetch(
    url: &str,
    method: &str,
    headers: &[(&str, String)],
    body: Option<String>,
    timeout_ms: u32,
) -> Result<Option<(u16, String)>, String> {
    let mut head = String::new();
    for (name, value) in headers {
        if name.contains('\n') || value.contains('\n') {
            return Err(format!("header {name:?} has a line break"));
        }
        if !head.is_empty() {
            head.push('\n');
        }
        head.push_str(name);
        head.push('\n');
        head.push_str(value);
    }
    let sent = send(url, method, &head, body, timeout_ms).await.map_err(js_error)?;
    if sent.is_null() {
        return Ok(None);
    }
    answer(sent).map(Some)
}

/// The static asset at `url` from the `fetcher` binding (`ASSETS`).
pub async fn read_asset(fetcher: &JsValue, url: &str) -> Result<Vec<u8>, String> {
    let answer = asset(fetcher, url).await.map_err(js_error)?;
    match answer.dyn_into::<js_sys::Uint8Array>() {
        Ok(bytes) => Ok(bytes.to_vec()),
        // A status is a whole number: printed as one, it needs no float formatting.
        Err(status) => Err(format!(
            "the asset server answered {}",
            status.as_f64().unwrap_or_default() as u16
        )),
    }
}

/// A Durable Object's stored value `key` as JSON text. Values written as object trees
/// (by workers-rs' storage, before this) come as their JSON, maps as objects.
pub async fn read(storage: &JsValue, key: &str) -> Result<Option<String>, String> {
    Ok(stored(storage, key).await.map_err(js_error)?.as_string())
}

/// Stores JSON text under `key`.
pub async fn write(storage: &JsValue, key: &str, text: &str) -> Result<(), String> {
    store(storage, key, text, false).await.map(drop).map_err(js_error)
}

/// Stores the JSON object `text` under `key` as the object tree it describes: the form
/// workers-rs' storage wrote, so code from before `calls` (a rollback) still reads it.
pub async fn write_object(storage: &JsValue, key: &str, text: &str) -> Result<(), String> {
    store(storage, key, text, true).await.map(drop).map_err(js_error)
}
