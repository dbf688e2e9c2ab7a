//! The Worker's `HttpClient`: `Fetch`, abandoned at the request's deadline through an
//! `AbortController` (a `setTimeout` race: no clock is read). SendGrid's transport posts
//! through it too, so outbound HTTP has one implementation.

use async_trait::async_trait;
use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, RequestInit};

use crate::kernel::fetch::{FetchError, HttpClient, HttpRequest, HttpResponse};

pub struct WorkerFetch;

fn network(error: impl std::fmt::Display) -> FetchError {
    FetchError::Network(error.to_string())
}

#[async_trait(?Send)]
impl HttpClient for WorkerFetch {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(network)?;
        }
        let method = match request.method {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Get,
        };
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(body) = &request.body {
            init.with_body(Some(JsValue::from_str(body)));
        }
        let outbound = worker::Request::new_with_init(&request.url, &init).map_err(network)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async move {
            let mut response = Fetch::Request(outbound).send_with_signal(&signal).await?;
            let body = response.text().await?;
            Ok::<_, worker::Error>(HttpResponse {
                status: response.status_code(),
                body,
            })
        };
        let deadline = Delay::from(std::time::Duration::from_millis(request.timeout_ms.into()));
        let outcome = match select(Box::pin(exchange), deadline).await {
            Either::Left((answered, _)) => answered.map_err(network),
            Either::Right(((), _)) => Err(FetchError::Timeout(request.timeout_ms)),
        };
        if let Err(FetchError::Timeout(_)) = outcome {
            controller.abort();
        }
        outcome
    }
}
