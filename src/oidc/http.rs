//! The one HTTP client for the identity provider: reqwest over rustls, every call bounded.
//!
//! - a connect timeout and a whole-call timeout of `oidc.timeout` seconds;
//! - no redirects followed (discovery, keys and token endpoint answer where they are named; a
//!   redirect could send the client secret or a code elsewhere);
//! - a response body of at most [`MAX_BODY`] bytes, read chunk by chunk (a provider that
//!   sends more is refused before it fills memory).

use std::time::Duration;

use openidconnect::{HttpRequest, HttpResponse};

/// The largest provider response read (discovery documents and key sets are a few KiB).
pub const MAX_BODY: usize = 256 * 1024;

/// Why a call to the provider failed. Holds no URL, header or body: a failure's text may be
/// logged.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request could not be built.
    #[error("the request to the identity provider could not be built")]
    Request,
    /// Connecting, sending or reading failed, or the deadline passed.
    #[error("the identity provider could not be reached ({0})")]
    Transport(&'static str),
    /// The body was larger than [`MAX_BODY`].
    #[error("the identity provider's answer is larger than {MAX_BODY} bytes")]
    TooLarge,
}

/// An HTTP client for the provider with `timeout` per call.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

fn transport(e: &reqwest::Error) -> CallError {
    CallError::Transport(if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transfer failed"
    })
}

/// One call, as openidconnect's `AsyncHttpClient` makes it (a closure over this function is
/// one).
pub async fn call(
    client: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, CallError> {
    let request = reqwest::Request::try_from(request).map_err(|_| CallError::Request)?;
    let mut response = client.execute(request).await.map_err(|e| transport(&e))?;
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(CallError::TooLarge);
    }
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(CallError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    builder.body(body).map_err(|_| CallError::Request)
}
