//! workers-rs requests and responses to and from `http`'s plain ones.

use futures_util::StreamExt;
use worker::Headers;

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

pub fn to_worker(response: web::Response) -> worker::Result<worker::Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let out = if response.body.is_empty() {
        worker::Response::empty()?
    } else {
        worker::Response::from_bytes(response.body)?
    };
    Ok(out.with_status(response.status).with_headers(headers))
}
