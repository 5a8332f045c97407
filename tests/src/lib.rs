//! Test support: [`spawn_app`] gives each test its own Postgres database
//! (created from `DATABASE_URL`, migrated, dropped on no one's behalf: the
//! test cluster is thrown away by `scripts/test`) and the real local router,
//! called in-process with `oneshot`.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::{settings::Settings, AppState};
use sqlx::{Connection, Executor, PgConnection};
use tower::ServiceExt;

pub use serde_json::json;

pub mod billing;
pub mod design_double;
pub mod fake_kube;
pub mod hooks;
pub mod moto;
pub mod proxy;
pub mod runs;
pub mod statements;
pub mod ws;

/// The server URL tests create their databases on.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. Run `scripts/test`, which starts a private PostgreSQL, \
             or point DATABASE_URL at a server where this user may CREATE DATABASE."
        )
    })
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..cut], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub jwt_secret: String,
    pub database_url: String,
}

/// Settings for a test: the given database, a random JWT secret, quiet logs.
pub fn test_settings(database_url: &str, extra: &[(&str, &str)]) -> (Settings, String) {
    let secret = format!("test-secret-{}", uuid::Uuid::now_v7().simple());
    let mut map: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("JWT_SECRET".into(), secret.clone()),
        ("LOG_LEVEL".into(), "warn".into()),
        ("DB_ACQUIRE_TIMEOUT_MS".into(), "2000".into()),
        (
            "CORS_ALLOWED_ORIGINS".into(),
            "https://app.example.com".into(),
        ),
        // Tests make many accounts and requests from one address; the tests of
        // the limits set their own.
        ("RATE_LIMIT_API".into(), "1000000/1h".into()),
        ("RATE_LIMIT_SIGNUP".into(), "1000000/1h".into()),
        ("RATE_LIMIT_MAIL".into(), "1000000/1h".into()),
        ("RATE_LIMIT_OTP_REQUEST".into(), "1000000/1h".into()),
        ("RATE_LIMIT_OTP_VERIFY".into(), "1000000/1h".into()),
        ("RATE_LIMIT_RECOVERY".into(), "1000000/1h".into()),
        ("RATE_LIMIT_OTP_EMAIL".into(), "1000000/1h".into()),
    ]);
    for (k, v) in extra {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    (
        Settings::from_map(&map).expect("test settings are valid"),
        secret,
    )
}

/// A fresh vault master key for the test database `name`, in a file.
pub fn vault_key_file(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("saasit-vault-key-{}", &name[5..]));
    let hex = shared::vault::local::LocalKeys::generate_hex();
    std::fs::write(&path, hex).expect("write the vault key");
    path
}

/// A fresh, migrated database and the whole local router on it.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A fresh, empty database (no migrations); its name and URL.
pub async fn create_database() -> (String, String) {
    let server = server_url();
    let name = format!("test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to DATABASE_URL for tests: {e}"));
    drop_stale_databases(&mut admin).await;
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create test database");
    let url = with_database(&server, &name);
    (name, url)
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let (name, database_url) = create_database().await;

    let outbox_dir = std::env::temp_dir().join(format!("saasit-outbox-{}", &name[5..]));
    let mut extra = extra.to_vec();
    if !extra.iter().any(|(k, _)| *k == "EMAIL_OUTBOX_DIR") {
        extra.push((
            "EMAIL_OUTBOX_DIR",
            outbox_dir.to_str().expect("utf-8 temp dir"),
        ));
    }
    let vault_key = vault_key_file(&name);
    if !extra.iter().any(|(k, _)| *k == "VAULT_MASTER_KEY_FILE") {
        extra.push((
            "VAULT_MASTER_KEY_FILE",
            vault_key.to_str().expect("utf-8 temp dir"),
        ));
    }
    let (settings, jwt_secret) = test_settings(&database_url, &extra);
    shared::telemetry::init(settings.log_format, &settings.log_filter);
    let pool = shared::db::pool(&settings.database).expect("pool");
    shared::db::migrate(&pool).await.expect("migrations apply");
    // Files on a local blob store no server serves: the file routes' records
    // and checks work; uploads themselves need a stack (spawn_stack).
    let blob_dir = std::env::temp_dir().join(format!("saasit-app-blobs-{}", &name[5..]));
    let state = AppState::new(settings, pool).with_blobs(std::sync::Arc::new(
        shared::runs::local::blobs::LocalBlobs::new(blob_dir, "http://127.0.0.1:9", b"test blobs"),
    ));
    TestApp {
        router: local::app(state.clone()),
        state,
        jwt_secret,
        database_url,
    }
}

impl TestApp {
    /// The emails this app sent (its own outbox directory), oldest first.
    pub async fn outbox(&self) -> Vec<shared::email::outbox::SentEmail> {
        let dir = self
            .state
            .settings
            .email
            .outbox_dir
            .clone()
            .expect("test apps write email to an outbox");
        shared::email::outbox::Outbox::new(dir)
            .read()
            .await
            .expect("read the outbox")
    }
}

/// Test databases are named `test_{uuidv7}`: those made more than two hours
/// ago belong to runs long over (on a server a developer reuses, they would
/// otherwise pile up). Once per test process; failures are ignored.
async fn drop_stale_databases(admin: &mut PgConnection) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    ONCE.call_once(|| first = true);
    if !first {
        return;
    }
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    else {
        return;
    };
    let cutoff = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    for name in names {
        let made = uuid::Uuid::try_parse(&name[5..])
            .ok()
            .and_then(|u| u.get_timestamp())
            .map(|t| {
                let (secs, nanos) = t.to_unix();
                std::time::UNIX_EPOCH + Duration::new(secs, nanos)
            });
        if made.is_some_and(|m| m < cutoff) {
            let _ = admin
                .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                .await;
        }
    }
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestResponse {
    /// The stable error code of an error response.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts status and, for errors, the code; returns self for more checks.
    #[track_caller]
    pub fn expect(self, status: u16, code: Option<&str>) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        if let Some(code) = code {
            assert_eq!(self.code(), code, "unexpected code; body: {}", self.text);
            assert!(
                self.body["error"]["message"].is_string(),
                "error without message: {}",
                self.text
            );
            assert!(
                self.body.get("requestId").is_some(),
                "error without requestId: {}",
                self.text
            );
        }
        self
    }
}

/// A request under construction.
pub struct Req {
    inner: axum::http::request::Builder,
    body: Body,
    ip: Option<SocketAddr>,
}

impl Req {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            inner: Request::builder().method(method).uri(path),
            body: Body::empty(),
            ip: None,
        }
    }

    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: &str) -> Self {
        Self::new(Method::POST, path)
    }

    pub fn delete(path: &str) -> Self {
        Self::new(Method::DELETE, path)
    }

    pub fn patch(path: &str) -> Self {
        Self::new(Method::PATCH, path)
    }

    pub fn json(mut self, value: &Value) -> Self {
        self.inner = self.inner.header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(value.to_string());
        self
    }

    /// A body sent as is, with the given content type (or none).
    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<Body>) -> Self {
        if let Some(ct) = content_type {
            self.inner = self.inner.header(header::CONTENT_TYPE, ct);
        }
        self.body = body.into();
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.header(name, value);
        self
    }

    /// The client address the server sees (as the socket peer would be).
    pub fn from_ip(mut self, ip: &str) -> Self {
        self.ip = Some(format!("{ip}:40000").parse().expect("ip"));
        self
    }
}

impl TestApp {
    pub async fn send(&self, req: Req) -> TestResponse {
        send(&self.router, req).await
    }

    /// Signs up (202, the same answer whether or not the address is taken).
    pub async fn sign_up(&self, email: &str, password: &str) -> TestResponse {
        self.send(
            Req::post("/api/v1/auth/register")
                .json(&json!({ "email": email, "password": password })),
        )
        .await
    }

    /// Registers an account with a verified address (as if its link had been
    /// followed), signs in and returns the sign-in body.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        self.sign_up(email, password).await.expect(202, None);
        sqlx::query("UPDATE users SET email_verified_at = now() WHERE email = $1")
            .bind(email.trim().to_lowercase())
            .execute(&self.state.db)
            .await
            .expect("verify");
        self.login(email, password).await.expect(200, None).body
    }

    /// Registers an account with the tests' password: its id and access token.
    pub async fn user(&self, email: &str) -> (uuid::Uuid, String) {
        let r = self.register(email, "correct horse 9").await;
        (
            r["user"]["id"].as_str().expect("id").parse().expect("uuid"),
            r["accessToken"].as_str().expect("token").to_owned(),
        )
    }

    /// Creates a team workspace as the holder of `token`; its id.
    pub async fn team(&self, token: &str, name: &str) -> uuid::Uuid {
        self.send(
            Req::post("/api/v1/workspaces")
                .bearer(token)
                .json(&json!({ "name": name })),
        )
        .await
        .expect(201, None)
        .body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }

    /// Registers an account with the tests' password and returns its access token.
    pub async fn access_token(&self, email: &str) -> String {
        self.register(email, "correct horse 9").await["accessToken"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.send(
            Req::post("/api/v1/auth/login").json(&json!({ "email": email, "password": password })),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.send(Req::post("/api/v1/auth/refresh").json(&json!({ "refreshToken": refresh_token })))
            .await
    }
}

/// Sends `req` through `router` in-process.
pub async fn send(router: &Router, req: Req) -> TestResponse {
    let mut request = req.inner.body(req.body).expect("valid request");
    if let Some(addr) = req.ip {
        request.extensions_mut().insert(ConnectInfo(addr));
    }
    let res = tokio::time::timeout(Duration::from_secs(30), router.clone().oneshot(request))
        .await
        .expect("the router answered within 30 s")
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    TestResponse {
        status,
        headers,
        body,
        text,
    }
}

/// The whole local stack on a real port (executors call back over HTTP), with
/// short heartbeat and sweep intervals so fault tests finish quickly.
pub struct TestStack {
    pub app: TestApp,
    /// The run lifecycle the stack runs on.
    pub runs: std::sync::Arc<shared::runs::Runs>,
    pub base_url: String,
    pub launcher: std::sync::Arc<shared::runs::local::launcher::ProcessLauncher>,
    pub blob_dir: std::path::PathBuf,
}

pub async fn spawn_stack() -> TestStack {
    spawn_stack_with(spawn_app().await, test_pipeline_config()).await
}

/// The pipeline settings of test stacks: quick heartbeats and deferrals.
pub fn test_pipeline_config() -> shared::runs::RunSettings {
    shared::runs::RunSettings {
        heartbeat_every: Duration::from_secs(1),
        heartbeat_timeout: Duration::from_secs(3),
        // The tracker's backstop as short as the heartbeat window: the
        // tests of tracking see it act within seconds.
        tracker_heartbeat: Duration::from_secs(3),
        defer: Duration::from_millis(200),
        ..shared::runs::RunSettings::default()
    }
}

/// Serves `app` on a free loopback port until the test ends; returns its URL.
/// For the doubles of third parties (the Kubernetes API, API Gateway's).
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// The local stack on `app`'s state, with these pipeline settings.
pub async fn spawn_stack_with(mut app: TestApp, config: shared::runs::RunSettings) -> TestStack {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let blob_dir =
        std::env::temp_dir().join(format!("saasit-blobs-{}", uuid::Uuid::now_v7().simple()));
    let options = local::LocalOptions {
        executor: local::LocalOptions::default_executor(),
        blob_dir: blob_dir.clone(),
        executor_env: vec![("EXECUTOR_HTTP_ALLOW".into(), "127.0.0.1".into())],
        executor_logs: Some(blob_dir.join("logs")),
        config,
        sweep_every: Duration::from_millis(500),
    };
    assert!(
        options.executor.exists(),
        "the executor binary is missing at {}: build it with cargo build -p executor (cargo test --workspace does)",
        options.executor.display()
    );
    let stack = local::Stack::new(app.state.clone(), addr, options);
    app.router = stack.router();
    app.state = stack.state.clone();
    let launcher = stack.launcher.clone();
    let runs = stack.runs.clone();
    tokio::spawn(async move {
        let _ = local::run(listener, stack, std::future::pending()).await;
    });
    TestStack {
        app,
        runs,
        base_url: format!("http://{addr}"),
        launcher,
        blob_dir,
    }
}

/// A new STARTER user's `n` queued runs of a two-node workflow, created
/// through the API on `runs` (so queued on its queue).
pub async fn queued_runs(
    app: &TestApp,
    runs: &executions::RunsState,
    email: &str,
    n: usize,
) -> Vec<uuid::Uuid> {
    let state = &runs.app;
    let token = app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query(
        "UPDATE workspaces SET tier = 'STARTER' WHERE id = (SELECT id FROM users WHERE email = $1)",
    )
    .bind(email)
    .execute(&state.db)
    .await
    .expect("tier");
    let router = local::router(runs.clone(), None);
    let canvas = json!({"nodes": [{"id": "start", "type": "trigger"}, {"id": "out", "type": "output"}],
                        "edges": [{"from": "start", "to": "out"}]});
    let wf = send(
        &router,
        Req::post("/api/v1/workflows")
            .bearer(&token)
            .json(&json!({"name": "w", "canvas": canvas})),
    )
    .await
    .expect(201, None);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let r = send(
            &router,
            Req::post("/api/v1/executions")
                .bearer(&token)
                .json(&json!({"workflowId": wf.body["id"]})),
        )
        .await
        .expect(202, None);
        ids.push(r.body["id"].as_str().expect("id").parse().expect("uuid"));
    }
    ids
}

/// A run lifecycle on local adapters that nothing drives (no sweeper, no
/// dispatcher): for tests that call a step themselves on an app without runs.
pub fn idle_runs(app: &TestApp) -> shared::runs::Runs {
    use shared::runs::local::{
        blobs::LocalBlobs, launcher::ProcessLauncher, queue::LocalQueue, tracker::LocalTracker,
    };
    shared::runs::Runs::new(
        app.state.db.clone(),
        app.state.tokens.clone(),
        shared::runs::Ports {
            queue: std::sync::Arc::new(LocalQueue::new()),
            launcher: std::sync::Arc::new(ProcessLauncher::new(
                std::path::PathBuf::from("/nonexistent/executor"),
                Vec::new(),
                None,
            )),
            tracker: std::sync::Arc::new(LocalTracker::new().0),
            blobs: std::sync::Arc::new(LocalBlobs::new(
                std::env::temp_dir(),
                "http://127.0.0.1:9",
                b"k",
            )),
            publisher: std::sync::Arc::new(shared::realtime::publish::BroadcastPublisher::nowhere()),
            vault: app.state.vault.clone(),
            schedules: std::sync::Arc::new(shared::triggers::local::LocalSchedules::new()),
        },
        "http://127.0.0.1:9".into(),
        shared::runs::RunSettings::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres", "t1"),
            "postgres://u@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "t1"),
            "postgres://u@h:1/t1"
        );
    }
}
