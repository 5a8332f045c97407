//! The streamable HTTP transport of MCP over our guarded `reqwest` client:
//! rmcp's [`StreamableHttpClient`] port, implemented here so that a server a
//! workspace registered is reached through [`crate::guard`] (no private
//! addresses, redirects checked) and its answers are size-capped. rmcp's own
//! adapter is written for another major version of `reqwest` and an
//! unguarded client.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use futures_util::{stream::BoxStream, StreamExt};
use http::{HeaderName, HeaderValue};
use reqwest::{
    header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE},
    StatusCode,
};
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::streamable_http_client::{
        AuthRequiredError, SseError, StreamableHttpClient, StreamableHttpError,
        StreamableHttpPostResponse,
    },
};
use sse_stream::{Sse, SseStream};

const SESSION: &str = "Mcp-Session-Id";
const LAST_EVENT: &str = "Last-Event-Id";
const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";
/// Headers the transport sets itself; a registered header may not replace them.
const RESERVED: [&str; 4] = ["accept", "mcp-session-id", "last-event-id", "content-type"];

/// Why a request to the server failed below the protocol.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

type Error = StreamableHttpError<HttpError>;

/// A guarded client and the most one answer (a JSON body, or all of one
/// event stream) may hold.
#[derive(Clone)]
pub struct GuardedHttp {
    client: reqwest::Client,
    max_bytes: usize,
}

impl GuardedHttp {
    pub fn new(client: reqwest::Client, max_bytes: usize) -> Self {
        Self { client, max_bytes }
    }

    fn request(
        &self,
        method: reqwest::Method,
        uri: &str,
        session: Option<&str>,
        auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let mut r = self
            .client
            .request(method, uri)
            .header(ACCEPT, format!("{EVENT_STREAM}, {JSON}"));
        for (name, value) in headers {
            if RESERVED.contains(&name.as_str()) {
                return Err(StreamableHttpError::ReservedHeaderConflict(
                    name.to_string(),
                ));
            }
            r = r.header(name, value);
        }
        if let Some(token) = auth {
            r = r.bearer_auth(token);
        }
        if let Some(s) = session {
            r = r.header(SESSION, s);
        }
        Ok(r)
    }

    /// The body's bytes as server-sent events, cut off past the cap.
    fn events(&self, response: reqwest::Response) -> BoxStream<'static, Result<Sse, SseError>> {
        let max = self.max_bytes;
        let mut seen = 0usize;
        let bytes = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(HttpError::Request)?;
            seen += chunk.len();
            if seen > max {
                return Err(HttpError::TooLarge(max));
            }
            Ok(chunk)
        });
        SseStream::from_bytes_stream(bytes).boxed()
    }

    /// A JSON body read whole, refused past the cap.
    async fn json_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| StreamableHttpError::Client(e.into()))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(StreamableHttpError::Client(HttpError::TooLarge(
                    self.max_bytes,
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn content_type(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn send_error(e: reqwest::Error) -> Error {
    StreamableHttpError::Client(HttpError::Request(e))
}

impl StreamableHttpClient for GuardedHttp {
    type Error = HttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let had_session = session_id.is_some();
        let response = self
            .request(
                reqwest::Method::POST,
                &uri,
                session_id.as_deref(),
                auth_header,
                custom_headers,
            )?
            .json(&message)
            .send()
            .await
            .map_err(send_error)?;
        let status = response.status();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if status == StatusCode::UNAUTHORIZED {
                return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
                    challenge,
                )));
            }
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status}: the server refused the credentials"),
            )));
        }
        if status == StatusCode::NOT_FOUND && had_session {
            return Err(StreamableHttpError::SessionExpired);
        }
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        let session = response
            .headers()
            .get(SESSION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let kind = content_type(&response);
        let is = |mime: &str| kind.as_deref().is_some_and(|k| k.starts_with(mime));
        if !status.is_success() {
            // A JSON-RPC error in the body is the server's answer; anything else is a failure.
            let json = is(JSON);
            let body = self.json_body(response).await.unwrap_or_default();
            if json {
                if let Ok(m @ ServerJsonRpcMessage::Error(_)) =
                    serde_json::from_slice::<ServerJsonRpcMessage>(&body)
                {
                    return Ok(StreamableHttpPostResponse::Json(m, session));
                }
            }
            let excerpt: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status}: {excerpt}"),
            )));
        }
        if is(EVENT_STREAM) {
            return Ok(StreamableHttpPostResponse::Sse(
                self.events(response),
                session,
            ));
        }
        if is(JSON) {
            let body = self.json_body(response).await?;
            if body.is_empty() && !matches!(message, ClientJsonRpcMessage::Request(_)) {
                return Ok(StreamableHttpPostResponse::Accepted);
            }
            let m = serde_json::from_slice(&body)?;
            return Ok(StreamableHttpPostResponse::Json(m, session));
        }
        if response.content_length() == Some(0)
            && !matches!(message, ClientJsonRpcMessage::Request(_))
        {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        Err(StreamableHttpError::UnexpectedContentType(kind))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        let response = self
            .request(
                reqwest::Method::DELETE,
                &uri,
                Some(&session_id),
                auth_header,
                custom_headers,
            )?
            .send()
            .await
            .map_err(send_error)?;
        // A server that keeps no sessions may not take DELETE: nothing to end.
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        response.error_for_status().map_err(send_error)?;
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        let mut request = self.request(
            reqwest::Method::GET,
            &uri,
            Some(&session_id),
            auth_header,
            custom_headers,
        )?;
        if let Some(id) = last_event_id {
            request = request.header(LAST_EVENT, id);
        }
        let response = request.send().await.map_err(send_error)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        let response = response.error_for_status().map_err(send_error)?;
        match content_type(&response) {
            Some(k) if k.starts_with(EVENT_STREAM) => Ok(self.events(response)),
            other => Err(StreamableHttpError::UnexpectedContentType(other)),
        }
    }
}
