//! What our layers cost per request (issue 18): server CPU of an
//! authenticated `GET /api/v1/workflows/{id}` through the full router (request
//! ids, security headers, CORS, the error shape, the request log as JSON
//! lines at `info`) against a bare axum + sqlx handler doing the same token
//! check, the same workspace-membership read and the same query, on the same
//! database, in one run. Run with:
//! DATABASE_URL=postgres://… cargo bench -p saasit-tests --bench request_cost
//!
//! Both run in-process (`oneshot`) on a current-thread runtime, so every CPU
//! cycle of the server side, the database driver included, is spent on this
//! thread; its CPU time (Linux's /proc/thread-self/schedstat) divided by the
//! requests is the cost per request. PostgreSQL's own work is in its own
//! processes and not counted. Prints µs per request for each and the ratio
//! (six rounds, alternating which goes first). `REQUEST_COST_ONLY=bare` or
//! `=full` runs one side alone, to profile it (`perf record`).

// A load script: printing its figures is its job.
#![allow(clippy::print_stdout)]

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use http_body_util::BodyExt;
use saasit_tests::{json, spawn_app, Req};
use shared::{
    auth::{extract::bearer_token, TokenKind},
    db::{workflows, workspaces},
    AppState,
};
use tower::ServiceExt;
use uuid::Uuid;

/// The bare handler: the token check, the query, the JSON; nothing else.
async fn bare_get(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    req: Request<Body>,
) -> Response {
    let (parts, _) = req.into_parts();
    let Ok(token) = bearer_token(&parts) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(claims) = state.tokens.verify(token, TokenKind::Access) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // The caller's membership of the workspace (their personal one here),
    // read per request as the product does.
    match workspaces::membership(&state.db, claims.sub, claims.sub).await {
        Ok(Some(_)) => {}
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    match workflows::find(&state.db, claims.sub, id).await {
        Ok(Some(wf)) => {
            let etag = format!("\"{}\"", wf.version);
            (
                [(header::ETAG, etag)],
                axum::Json(::workflows::WorkflowView::from(wf)),
            )
                .into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// CPU time of this thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .expect("/proc/thread-self/schedstat (Linux)")
}

async fn cost(router: &Router, path: &str, token: &str, n: u32) -> f64 {
    let request = || {
        Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::ORIGIN, "http://localhost:5173")
            .body(Body::empty())
            .expect("request")
    };
    for _ in 0..n / 5 {
        let res = router.clone().oneshot(request()).await.expect("infallible");
        assert_eq!(res.status(), StatusCode::OK);
        let _ = res.into_body().collect().await;
    }
    let start = thread_cpu_ns();
    for _ in 0..n {
        let res = router.clone().oneshot(request()).await.expect("infallible");
        let _ = res.into_body().collect().await.expect("body").to_bytes();
    }
    (thread_cpu_ns() - start) as f64 / f64::from(n) / 1000.0
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Production logging: JSON lines at `info`, written (to /dev/null) as on Lambda.
    let sink = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::sync::Mutex::new(sink))
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .try_init();
    rt.block_on(async {
        let app = spawn_app().await;
        let token = app.access_token("cost@example.com").await;
        let created = app
            .send(Req::post("/api/v1/workflows").bearer(&token).json(&json!({
                "name": "cost", "tags": ["bench"],
                "canvas": {"nodes": [{"id": "start", "type": "trigger"}], "edges": []}
            })))
            .await;
        let path = format!("/api/v1/workflows/{}", created.body["id"].as_str().expect("id"));
        let bare = Router::new()
            .route("/api/v1/workflows/{id}", get(bare_get))
            .with_state(app.state.clone());
        let n = 20_000;
        // `REQUEST_COST_ONLY=bare|full` runs one side only (to profile it).
        if let Ok(only) = std::env::var("REQUEST_COST_ONLY") {
            let router = if only == "bare" { &bare } else { &app.router };
            let c = cost(router, &path, &token, n * 3).await;
            println!("{only} only: {c:.1} µs per request");
            return;
        }
        let rounds = 6;
        // Alternate which goes first, so drift (caches, the database's state,
        // the machine's other load) hits both alike.
        let (mut full_sum, mut bare_sum) = (0.0, 0.0);
        for round in 0..rounds {
            let (b, f) = if round % 2 == 0 {
                let b = cost(&bare, &path, &token, n).await;
                (b, cost(&app.router, &path, &token, n).await)
            } else {
                let f = cost(&app.router, &path, &token, n).await;
                (cost(&bare, &path, &token, n).await, f)
            };
            println!("round {round}: bare {b:.1} µs, full router {f:.1} µs per request");
            bare_sum += b;
            full_sum += f;
        }
        println!(
            "GET /api/v1/workflows/{{id}}: bare axum + sqlx {:.1} µs, full router {:.1} µs of server CPU per request; ratio {:.2}",
            bare_sum / f64::from(rounds),
            full_sum / f64::from(rounds),
            full_sum / bare_sum
        );
    });
}
