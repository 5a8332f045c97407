//! The `http` node: method, URL, headers and body (all rendered by the
//! engine), a timeout and a response-size cap. Requests to loopback,
//! link-local, private and other non-public addresses are refused unless the
//! allow-list permits the host: executors run inside a cluster network
//! ([`crate::guard`] says how).

use std::{sync::Arc, time::Duration};

use crate::guard::{self, blocked_literal};
pub use crate::guard::{guarded_client, is_blocked_literal, AllowList};
use reqwest::{
    header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE},
    Method,
};
use serde_json::{json, Map, Value};

use crate::error::{from_transport, retry_after, ErrorKind, NodeError};

pub struct HttpRunner {
    client: reqwest::Client,
    allow: Arc<AllowList>,
}

/// A rendered request.
pub struct HttpCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub timeout: Duration,
    pub max_response_bytes: u64,
}

impl HttpRunner {
    pub fn new(allow: AllowList) -> Self {
        let client = guard::guarded_builder(&allow)
            .user_agent(concat!("saasit/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            client,
            allow: Arc::new(allow),
        }
    }

    /// The hosts it may reach on private addresses.
    pub fn allow(&self) -> &AllowList {
        &self.allow
    }

    pub async fn call(&self, call: HttpCall) -> Result<Value, NodeError> {
        let url = reqwest::Url::parse(&call.url)
            .map_err(|e| NodeError::new(ErrorKind::Config, format!("invalid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NodeError::new(
                ErrorKind::Config,
                "only http and https URLs are allowed",
            ));
        }
        if blocked_literal(&url, &self.allow) {
            return Err(NodeError::new(
                ErrorKind::Blocked,
                format!(
                    "blocked: {} is a private or loopback address",
                    url.host_str().unwrap_or_default()
                ),
            ));
        }
        let method = Method::from_bytes(call.method.as_bytes())
            .map_err(|_| NodeError::new(ErrorKind::Config, "invalid method"))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &call.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                NodeError::new(ErrorKind::Config, format!("invalid header name {k:?}"))
            })?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                NodeError::new(ErrorKind::Config, format!("invalid value for header {k:?}"))
            })?;
            headers.insert(name, value);
        }
        let mut req = self
            .client
            .request(method, url)
            .headers(headers)
            .timeout(call.timeout);
        if let Some(body) = &call.body {
            req = match body {
                Value::String(s) => req.body(s.clone()),
                other => req.json(other),
            };
        }
        let mut res = req.send().await.map_err(|e| {
            let text = format!("{e:?}");
            if text.contains("blocked:") {
                NodeError::new(
                    ErrorKind::Blocked,
                    "blocked: the host resolves to a private or loopback address",
                )
            } else {
                from_transport(e, "the request")
            }
        })?;
        let status = res.status().as_u16();
        let after = retry_after(res.headers());
        let content_type = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| from_transport(e, "the response"))?
        {
            if (bytes.len() + chunk.len()) as u64 > call.max_response_bytes {
                return Err(NodeError::new(
                    ErrorKind::Invalid,
                    format!(
                        "the response is larger than maxResponseBytes ({})",
                        call.max_response_bytes
                    ),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if status >= 400 {
            return Err(NodeError::from_status(status, after, "the endpoint", &text));
        }
        let body = if content_type.contains("json") {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        } else {
            Value::String(text)
        };
        let mut out = Map::new();
        out.insert("status".into(), json!(status));
        out.insert("contentType".into(), json!(content_type));
        out.insert("body".into(), body);
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_targets_are_refused_before_any_request() {
        let runner = HttpRunner::new(AllowList::default());
        for url in [
            "http://127.0.0.1:9/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://localhost:9/",
            "http://[64:ff9b::7f00:1]:9/",
            "http://[::127.0.0.1]:9/",
            "http://[2002:a9fe:a9fe::]/latest/meta-data",
        ] {
            let e = runner
                .call(HttpCall {
                    method: "GET".into(),
                    url: url.into(),
                    headers: vec![],
                    body: None,
                    timeout: Duration::from_secs(2),
                    max_response_bytes: 1024,
                })
                .await
                .expect_err("blocked");
            assert_eq!(e.kind, ErrorKind::Blocked, "{url}: {e}");
        }
    }
}
