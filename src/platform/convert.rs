//! workers-rs requests and responses to and from `http`'s plain ones.

use futures_util::StreamExt;

use crate::kernel::problem::ApiError;
use crate::kernel::web::{self, body};

/// Reads the request: its method as sent (workers-rs maps methods it does not know to GET;
/// the router must see them to answer 405), and its body up to `MAX_BODY_BYTES`. Past that
/// (announced by `Content-Length`, or counted while a chunked body streams in) it stops
/// reading and marks the request oversized, so its route answers 413 through the pipeline:
/// a chunked body is never read whole first.
pub async fn from_worker(mut req: worker::Request) -> Result<web::Request, web::Response> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    let declared = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let method = req.inner().method().to_ascii_uppercase();
    let url = req.inner().url();
    let mut request = web::Request::new(&method, &web::Request::path_of(&url));
    request.query = web::Request::query_of(&url);
    request.origin = web::Request::origin_of(&url);
    if let Some(cf) = req.cf() {
        request.country = cf.country().filter(|c| !c.is_empty() && c != "XX" && c != "T1");
        request.city = cf.city().filter(|c| !c.is_empty());
    }
    request.headers = headers;
    if declared.is_some_and(|len| len > body::MAX_BODY_BYTES) {
        request.oversized = true;
    } else if !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        (request.body, request.oversized) = read_capped(&mut req).await?;
    }
    Ok(request)
}

/// The body, or as much of it as `MAX_BODY_BYTES` allows and whether there was more.
async fn read_capped(req: &mut worker::Request) -> Result<(Vec<u8>, bool), web::Response> {
    let Ok(mut stream) = req.stream() else {
        // No body at all.
        return Ok((Vec::new(), false));
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::malformed_body("the body could not be read").into_response())?;
        if body.len() + chunk.len() > body::MAX_BODY_BYTES {
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The answer as the platform's own `Response`, built in one go: one `Headers`, one init,
/// the body copied once (workers-rs' builder would make a second `Headers` and copy it).
pub fn to_js(response: web::Response) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(response.status);
    init.set_headers_headers(&headers);
    let out = if response.body.is_empty() {
        web_sys::Response::new_with_opt_str_and_init(None, &init)?
    } else {
        // A buffer of its own: a view of the wasm memory would change under the platform.
        let body = js_sys::Uint8Array::from(response.body.as_slice());
        web_sys::Response::new_with_opt_buffer_source_and_init(Some(&body), &init)?
    };
    Ok(out)
}
