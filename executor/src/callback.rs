//! The executor's side of the internal callback API, opened by the
//! execution-scoped bearer token and nothing else:
//!
//! | call | what |
//! |---|---|
//! | `GET  {base}/spec` | the [`RunSpec`] |
//! | `POST {base}/events` | `{"events": [Event…]}`; the API applies each `seq` once. It counts as a heartbeat, and answers as one |
//! | `POST {base}/heartbeat` | liveness; the answer `{"cancel": true}` asks the run to stop, `{"budgetExceeded": true}` to end it for the workspace's monthly budget |
//! | `POST {base}/artifacts` | `{"name","contentType","size"}` → `{"artifactId","uploadUrl"}`, then `PUT uploadUrl` |
//! | `POST {base}/result` | the final [`RunResult`] |
//!
//! `{base}` is `{CALLBACK_URL}/api/v1/internal/executions/{EXECUTION_ID}`.
//! Every call is retried with exponential backoff while the API is down. A
//! 409 `RUN_ENDED` means the run is over on the API's side (cancelled, timed
//! out, or already reported): the token is dead and nothing more is accepted.
//! A batch answered 413 is split in halves until it fits; one event that
//! still does not fit is refused, and the run fails with the reason.

use std::time::Duration;

use run_protocol::{OutputRef, RunResult};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::spec::RunSpec;

/// What the API answers a heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BeatAnswer {
    /// The run was cancelled: stop.
    #[serde(default)]
    pub cancel: bool,
    /// The workspace's monthly budget is spent: end the run `failed`,
    /// reason `budget_exceeded`.
    #[serde(default)]
    pub budget_exceeded: bool,
}

pub struct CallbackClient {
    http: reqwest::Client,
    base: String,
    token: String,
    /// How long one call keeps retrying before giving up.
    patience: Duration,
    /// When events were last accepted, and the API's answer: a batch is a
    /// heartbeat too, so none is sent while batches keep coming.
    last_events: std::sync::Mutex<Option<(tokio::time::Instant, BeatAnswer)>>,
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
    /// The run is over on the API's side; nothing more is accepted.
    #[error("the run has already ended on the API's side")]
    RunEnded,
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
            last_events: std::sync::Mutex::new(None),
        }
    }

    /// The answer to the last accepted batch of events, if it came within
    /// `within`: the run's liveness is recorded, no heartbeat is needed.
    pub fn events_answer(&self, within: Duration) -> Option<BeatAnswer> {
        let last = *self.last_events.lock().unwrap_or_else(|p| p.into_inner());
        last.filter(|(at, _)| at.elapsed() < within).map(|(_, a)| a)
    }

    /// Sends one request until it gets a 2xx (returned), a 4xx other than
    /// 408/429 (refused, not retried), or `patience` runs out.
    async fn call(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<reqwest::Response, CallbackError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_vec());
            }
            let last = match req.send().await {
                Ok(res) if res.status().is_success() => return Ok(res),
                Ok(res) => {
                    let status = res.status().as_u16();
                    if status == 409 {
                        let body: Value = res.json().await.unwrap_or_default();
                        if body["error"]["code"] == "RUN_ENDED" {
                            return Err(CallbackError::RunEnded);
                        }
                        return Err(CallbackError::Refused { what, status });
                    }
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

    /// Delivers serialized events as one batch, retrying while the API is
    /// down (the caller bounds the whole delivery with its flush deadline). A
    /// batch too large for the API (413) is split in halves; an event that
    /// fits nowhere, or any other refusal, is an error.
    pub async fn post_events(&self, events: &[String]) -> Result<(), CallbackError> {
        let mut pending: Vec<&[String]> = vec![events];
        while let Some(part) = pending.pop() {
            if part.is_empty() {
                continue;
            }
            let body = format!("{{\"events\":[{}]}}", part.join(","));
            loop {
                // When the batch left: liveness is recorded no later than that.
                let sent = tokio::time::Instant::now();
                match self
                    .call(
                        "events",
                        reqwest::Method::POST,
                        "/events",
                        Some(body.as_bytes()),
                    )
                    .await
                {
                    Ok(res) => {
                        // An older API answers 204 without a body: it took the
                        // batch as no heartbeat, so the beats go on as before.
                        if let Ok(answer) = res.json::<BeatAnswer>().await {
                            *self.last_events.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some((sent, answer));
                        }
                        break;
                    }
                    Err(CallbackError::Refused { status: 413, .. }) if part.len() > 1 => {
                        let (a, b) = part.split_at(part.len() / 2);
                        // Later half first on the stack, so halves go out in order.
                        pending.push(b);
                        pending.push(a);
                        break;
                    }
                    Err(e @ (CallbackError::Refused { .. } | CallbackError::RunEnded)) => {
                        return Err(e)
                    }
                    Err(e) => eprintln!("executor: {e}; still trying"),
                }
            }
        }
        Ok(())
    }

    /// Stores a JSON value too large to travel inline as an artifact of the
    /// run; events and the result then carry the reference.
    pub async fn offload(&self, name: &str, value: &Value) -> Result<OutputRef, CallbackError> {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let size = bytes.len() as u64;
        let artifact_id = self
            .upload_artifact(name, "application/json", bytes)
            .await?;
        Ok(OutputRef {
            artifact_id,
            size,
            content_type: "application/json".into(),
        })
    }

    /// Reports liveness; the answer says whether the API asks the run to stop.
    pub async fn heartbeat(&self) -> Result<BeatAnswer, CallbackError> {
        let res = self
            .call(
                "the heartbeat",
                reqwest::Method::POST,
                "/heartbeat",
                Some(b"{}"),
            )
            .await?;
        Ok(res.json().await.unwrap_or_default())
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
        let body = json!({ "name": name, "contentType": content_type, "size": bytes.len() });
        let res = self
            .call(
                "the artifact request",
                reqwest::Method::POST,
                "/artifacts",
                Some(body.to_string().as_bytes()),
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

    /// A file of the run's workspace by id or name: `None` when there is no
    /// such ready file.
    pub async fn file(
        &self,
        reference: &str,
    ) -> Result<Option<run_protocol::files::FileLink>, CallbackError> {
        let path = format!(
            "/files?ref={}",
            url::form_urlencoded::byte_serialize(reference.as_bytes()).collect::<String>()
        );
        match self
            .call("the file request", reqwest::Method::GET, &path, None)
            .await
        {
            Ok(res) => res
                .json()
                .await
                .map(Some)
                .map_err(|e| CallbackError::Unreadable {
                    what: "file",
                    reason: e.without_url().to_string(),
                }),
            Err(CallbackError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The bytes behind a download link of the platform's blob store, at
    /// most `max` of them (`Err` with the size past that).
    pub async fn download(&self, url: &str, max: u64) -> Result<Vec<u8>, String> {
        let mut res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !res.status().is_success() {
            return Err(format!(
                "the file store answered HTTP {}",
                res.status().as_u16()
            ));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url().to_string())? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(format!("the file is larger than {max} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Posts the result. An answer that the run had already ended is final
    /// too (a retried result whose first answer was lost, or a run the API
    /// ended meanwhile).
    pub async fn finish(&self, result: &RunResult) -> Result<(), CallbackError> {
        let body = serde_json::to_vec(result).unwrap_or_default();
        self.call("the result", reqwest::Method::POST, "/result", Some(&body))
            .await
            .map(|_| ())
    }
}
