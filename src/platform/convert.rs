//! workers-rs requests and responses to and from `http`'s plain ones.

use worker::{Headers, Method};

use crate::kernel::problem::ApiError;
use crate::kernel::web::{self, body};

/// Reads the request, refusing an announced oversized body before reading it.
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
    if declared.is_some_and(|len| len > body::MAX_BODY_BYTES) {
        return Err(body::too_large().into_response());
    }
    let method = req.method().to_string();
    let body = if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
        Vec::new()
    } else {
        req.bytes()
            .await
            .map_err(|_| ApiError::malformed_body("the body could not be read").into_response())?
    };
    Ok(web::Request {
        method,
        path: web::Request::path_of(&req.inner().url()),
        headers,
        body,
    })
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
