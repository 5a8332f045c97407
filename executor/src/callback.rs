//! The executor's side of the internal callback API, opened by the
//! execution-scoped bearer token and nothing else:
//!
//! | call | what |
//! |---|---|
//! | `GET  {base}/spec` | the [`RunSpec`] |
//! | `POST {base}/events` | `{"events": [Event…]}`; the API applies each `seq` once |
//! | `POST {base}/heartbeat` | liveness; the answer `{"cancel": true}` asks the run to stop |
//! | `POST {base}/artifacts` | `{"name","contentType","size"}` → `{"artifactId","uploadUrl"}`, then `PUT uploadUrl` |
//! | `POST {base}/result` | the final [`RunOutcome`](crate::engine::RunOutcome) |
//!
//! `{base}` is `{CALLBACK_URL}/api/v1/internal/executions/{EXECUTION_ID}`.
//! Every call is retried with exponential backoff while the API is down.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::{event::Event, spec::RunSpec};

pub struct CallbackClient {
    http: reqwest::Client,
    base: String,
    token: String,
    /// How long one call keeps retrying before giving up.
    patience: Duration,
}

impl std::fmt::Debug for CallbackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackClient")
            .field("base", &self.base)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the callback API refused {what}: HTTP {status}")]
    Refused { what: &'static str, status: u16 },
    #[error("the callback API did not answer {what} within {secs} s: {last}")]
    GaveUp {
        what: &'static str,
        secs: u64,
        last: String,
    },
    #[error("the callback API sent an unreadable {what}: {reason}")]
    Unreadable { what: &'static str, reason: String },
}

impl CallbackClient {
    pub fn new(callback_url: &str, execution_id: &str, token: String, patience: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: format!(
                "{}/api/v1/internal/executions/{execution_id}",
                callback_url.trim_end_matches('/')
            ),
            token,
            patience,
        }
    }

    /// Sends one request until it gets a 2xx (returned), a 4xx other than
    /// 408/429 (refused, not retried), or `patience` runs out.
    async fn call(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, CallbackError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let last = match req.send().await {
                Ok(res) if res.status().is_success() => return Ok(res),
                Ok(res) => {
                    let status = res.status().as_u16();
                    if (400..500).contains(&status) && status != 408 && status != 429 {
                        return Err(CallbackError::Refused { what, status });
                    }
                    format!("HTTP {status}")
                }
                Err(e) => e.without_url().to_string(),
            };
            if started.elapsed() + delay > self.patience {
                return Err(CallbackError::GaveUp {
                    what,
                    secs: self.patience.as_secs(),
                    last,
                });
            }
            let jitter = rand::random::<f64>() * 0.5 + 0.75;
            tokio::time::sleep(delay.mul_f64(jitter)).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    pub async fn fetch_spec(&self) -> Result<RunSpec, CallbackError> {
        let res = self
            .call("the spec request", reqwest::Method::GET, "/spec", None)
            .await?;
        res.json().await.map_err(|e| CallbackError::Unreadable {
            what: "spec",
            reason: e.without_url().to_string(),
        })
    }

    /// Delivers a batch, retrying for as long as it takes (the caller bounds
    /// the whole delivery with its flush deadline).
    pub async fn post_events_until_delivered(&self, batch: &[Event]) {
        let body = json!({ "events": batch });
        loop {
            match self
                .call("events", reqwest::Method::POST, "/events", Some(&body))
                .await
            {
                Ok(_) => return,
                Err(CallbackError::Refused { status, .. }) => {
                    eprintln!("executor: the callback API refused an event batch (HTTP {status}); dropping it");
                    return;
                }
                Err(e) => eprintln!("executor: {e}; still trying"),
            }
        }
    }

    /// Reports liveness; returns whether the API asks the run to stop.
    pub async fn heartbeat(&self) -> Result<bool, CallbackError> {
        #[derive(Deserialize, Default)]
        struct Answer {
            #[serde(default)]
            cancel: bool,
        }
        let res = self
            .call(
                "the heartbeat",
                reqwest::Method::POST,
                "/heartbeat",
                Some(&json!({})),
            )
            .await?;
        let answer: Answer = res.json().await.unwrap_or_default();
        Ok(answer.cancel)
    }

    /// Uploads an artifact through a presigned URL; returns the artifact id.
    pub async fn upload_artifact(
        &self,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, CallbackError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Slot {
            artifact_id: String,
            upload_url: String,
        }
        let res = self
            .call(
                "the artifact request",
                reqwest::Method::POST,
                "/artifacts",
                Some(&json!({ "name": name, "contentType": content_type, "size": bytes.len() })),
            )
            .await?;
        let slot: Slot = res.json().await.map_err(|e| CallbackError::Unreadable {
            what: "artifact slot",
            reason: e.without_url().to_string(),
        })?;
        let put = self
            .http
            .put(&slot.upload_url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .map_err(|e| CallbackError::GaveUp {
                what: "the artifact upload",
                secs: 30,
                last: e.without_url().to_string(),
            })?;
        if !put.status().is_success() {
            return Err(CallbackError::Refused {
                what: "the artifact upload",
                status: put.status().as_u16(),
            });
        }
        Ok(slot.artifact_id)
    }

    pub async fn finish(&self, outcome: &Value) -> Result<(), CallbackError> {
        self.call(
            "the result",
            reqwest::Method::POST,
            "/result",
            Some(outcome),
        )
        .await
        .map(|_| ())
    }
}
