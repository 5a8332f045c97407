//! A local stand-in for the Kubernetes API's `batch/v1` Jobs endpoints,
//! answering as the real one does: 201 with the object, 409 `AlreadyExists`
//! for a taken name, 404 `NotFound`, 401 without a bearer token — as
//! `Status` objects. It keeps what it was sent for the test to inspect; a
//! test sets a Job's `status` to play its pod starting, running or failing.
//! Secrets (the Jobs' callback tokens) can be created, and go with the Job
//! that owns them.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Seen {
    /// Jobs by `namespace/name`.
    pub jobs: BTreeMap<String, Value>,
    /// Secrets by `namespace/name`; deleting a Job deletes the Secrets it
    /// owns (the garbage collector's part).
    pub secrets: BTreeMap<String, Value>,
    /// Every Authorization header value received.
    pub tokens: Vec<String>,
    pub creates: usize,
    pub deletes: usize,
}

#[derive(Clone, Default)]
pub struct FakeKube {
    pub seen: Arc<Mutex<Seen>>,
}

fn status(code: StatusCode, reason: &str, message: String) -> (StatusCode, Json<Value>) {
    (
        code,
        Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()
        })),
    )
}

fn authorized(kube: &FakeKube, headers: &HeaderMap) -> bool {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ok = auth.starts_with("Bearer ") && auth.len() > "Bearer ".len();
    kube.seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .tokens
        .push(auth);
    ok
}

async fn create(
    State(kube): State<FakeKube>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    Json(mut job): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&kube, &headers) {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
        );
    }
    let name = job["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut seen = kube.seen.lock().unwrap_or_else(PoisonError::into_inner);
    seen.creates += 1;
    let key = format!("{ns}/{name}");
    if seen.jobs.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("jobs.batch \"{name}\" already exists"),
        );
    }
    job["metadata"]["uid"] = json!(uuid::Uuid::now_v7().to_string());
    job["metadata"]["namespace"] = json!(ns);
    job["metadata"]["creationTimestamp"] = json!(chrono::Utc::now().to_rfc3339());
    seen.jobs.insert(key, job.clone());
    (StatusCode::CREATED, Json(job))
}

async fn read(
    State(kube): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if !authorized(&kube, &headers) {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
        );
    }
    let seen = kube.seen.lock().unwrap_or_else(PoisonError::into_inner);
    match seen.jobs.get(&format!("{ns}/{name}")) {
        Some(job) => (StatusCode::OK, Json(job.clone())),
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("jobs.batch \"{name}\" not found"),
        ),
    }
}

async fn remove(
    State(kube): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if !authorized(&kube, &headers) {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
        );
    }
    let mut seen = kube.seen.lock().unwrap_or_else(PoisonError::into_inner);
    seen.deletes += 1;
    match seen.jobs.remove(&format!("{ns}/{name}")) {
        Some(job) => {
            let uid = job["metadata"]["uid"].clone();
            seen.secrets.retain(|_, s| {
                !s["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
            });
            (StatusCode::OK, Json(job))
        }
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("jobs.batch \"{name}\" not found"),
        ),
    }
}

async fn create_secret(
    State(kube): State<FakeKube>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    Json(mut secret): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&kube, &headers) {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
        );
    }
    let name = secret["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut seen = kube.seen.lock().unwrap_or_else(PoisonError::into_inner);
    let key = format!("{ns}/{name}");
    if seen.secrets.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("secrets \"{name}\" already exists"),
        );
    }
    secret["metadata"]["uid"] = json!(uuid::Uuid::now_v7().to_string());
    secret["metadata"]["namespace"] = json!(ns);
    seen.secrets.insert(key, secret.clone());
    (StatusCode::CREATED, Json(secret))
}

impl FakeKube {
    /// Serves on a free loopback port; returns the API server URL.
    pub async fn start(&self) -> String {
        let app = Router::new()
            .route("/apis/batch/v1/namespaces/{ns}/jobs", post(create))
            .route("/api/v1/namespaces/{ns}/secrets", post(create_secret))
            .route(
                "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
                get(read).delete(remove),
            )
            .with_state(self.clone());
        crate::serve(app).await
    }

    /// Sets the `status` of every Job whose name ends with `suffix`.
    pub fn set_status(&self, suffix: &str, status: Value) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, job) in seen.jobs.iter_mut() {
            if name.ends_with(suffix) {
                job["status"] = status.clone();
            }
        }
    }

    pub fn job_names(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .jobs
            .keys()
            .cloned()
            .collect()
    }
}
