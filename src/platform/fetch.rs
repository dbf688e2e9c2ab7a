//! The Worker's `HttpClient`: the platform's `fetch`, aborted at the request's deadline
//! (a `setTimeout` race: no clock is read; `calls::fetch`). SendGrid's transport and the
//! Sentry reports post through it too, so outbound HTTP has one implementation.

use async_trait::async_trait;

use super::calls;
use crate::kernel::fetch::{FetchError, HttpClient, HttpRequest, HttpResponse};

pub struct WorkerFetch;

#[async_trait(?Send)]
impl HttpClient for WorkerFetch {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let sent = calls::fetch(
            &request.url,
            request.method,
            &request.headers,
            request.body,
            request.timeout_ms,
        )
        .await
        .map_err(FetchError::Network)?;
        match sent {
            Some((status, body)) => Ok(HttpResponse { status, body }),
            None => Err(FetchError::Timeout(request.timeout_ms)),
        }
    }
}
