//! What every function binary does: read settings, start logging, build state,
//! then serve its router on Lambda (when `AWS_LAMBDA_RUNTIME_API` is set) or
//! on a local port. This is the only place besides `Settings::from_env` that
//! looks at the environment.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;

use crate::{
    db,
    future::BoxFuture,
    secrets::{self, Resolved},
    settings::{DatabaseSettings, Lookup, Settings},
    state::AppState,
    telemetry,
};

/// The process environment with its secrets read ([`crate::secrets`]): the
/// `NAME_FROM_SECRET` variables from Secrets Manager, and with `DATABASE_IAM_HOST` a
/// `DATABASE_URL` carrying a fresh IAM token. Locally, the environment as it is.
pub async fn environment() -> anyhow::Result<Resolved> {
    let env = secrets::process_env();
    let refs = secrets::references(&env).map_err(anyhow::Error::msg)?;
    let iam = env
        .get("DATABASE_IAM_HOST")
        .is_some_and(|v| !v.trim().is_empty());
    if refs.is_empty() && !iam {
        return Resolved::load(env, &secrets::MemorySecrets::default()).await;
    }
    from_aws(env).await
}

#[cfg(feature = "secrets")]
async fn from_aws(env: std::collections::HashMap<String, String>) -> anyhow::Result<Resolved> {
    use aws_credential_types::provider::ProvideCredentials;
    let sdk = crate::runs::aws::sdk_config(None).await;
    let mut resolved =
        Resolved::load(env, &secrets::aws::SecretsManager::from_config(&sdk)).await?;
    if let Some(db) = secrets::rds::IamDatabase::from_env(&resolved.values)? {
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| anyhow::anyhow!("no AWS credentials for the database's IAM token"))?
            .provide_credentials()
            .await
            .context("no AWS credentials for the database's IAM token")?;
        let region = sdk
            .region()
            .ok_or_else(|| anyhow::anyhow!("no AWS region for the database's IAM token"))?;
        let token = secrets::rds::auth_token(
            &credentials,
            region.as_ref(),
            &db,
            std::time::SystemTime::now(),
        )?;
        resolved.add_secret(
            "DATABASE_URL",
            secrets::rds::database_url(&db, &token),
            secrets::rds::TOKEN_REFRESH,
        );
    }
    Ok(resolved)
}

#[cfg(not(feature = "secrets"))]
async fn from_aws(_env: std::collections::HashMap<String, String>) -> anyhow::Result<Resolved> {
    anyhow::bail!(
        "this binary is built without Secrets Manager (the `secrets` feature), but its \
         environment names secrets (NAME_FROM_SECRET) or an IAM database (DATABASE_IAM_HOST)"
    )
}

/// Builds a function's state from an environment already read (see
/// [`environment`]): settings (secrets included), logging, the pool (lazily:
/// no connection yet) and, when `DB_MIGRATE_ON_START` is true (the local
/// stack; never on AWS, where the migration function runs them once per
/// deploy), migrations. A migration that cannot reach the database is
/// logged, not fatal: requests answer 503 until it is back.
pub async fn bootstrap_from(function: &'static str, env: &Resolved) -> anyhow::Result<AppState> {
    let settings = Settings::from_lookup(&Lookup::map(&env.values)).context("invalid settings")?;
    telemetry::init(settings.log_format, &settings.log_filter);
    crate::metrics::init_from_env();
    let pool = db::pool(&settings.database).context("invalid DATABASE_URL")?;
    if settings.database.migrate_on_start {
        match tokio::time::timeout(Duration::from_secs(10), db::migrate(&pool)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(function, error = %e, "migrations not applied"),
            Err(_) => tracing::warn!(function, "migrations timed out"),
        }
    }
    let billing = crate::billing::Billing::from_settings(&settings.billing)
        .context("invalid billing settings")?
        .map(std::sync::Arc::new);
    tracing::info!(function, "started");
    Ok(AppState::new(settings, pool).with_billing(billing))
}

/// What the migration function needs: the database (as the schema's owner)
/// and the functions' role (`DB_APP_USER`, `DB_APP_PASSWORD`), no JWT key.
pub struct MigrationSettings {
    pub database: DatabaseSettings,
    pub app_role: Option<db::roles::AppRole>,
}

pub async fn migration_settings() -> anyhow::Result<MigrationSettings> {
    let mut values = environment().await?.values;
    if let Some(url) = owner_url(&values)? {
        values.insert("DATABASE_URL".into(), url);
    }
    let l = Lookup::map(&values);
    let log_format = crate::settings::server::log_format(&l).context("invalid settings")?;
    telemetry::init(log_format, &l.or("LOG_LEVEL", "info"));
    let database = DatabaseSettings::from_lookup(&l).context("invalid settings")?;
    let app_role = l.get("DB_APP_USER").map(|name| db::roles::AppRole {
        name,
        password: l.get("DB_APP_PASSWORD").map(secrecy::SecretString::from),
    });
    Ok(MigrationSettings { database, app_role })
}

/// The owner's URL from its parts, when the stack created the database: RDS
/// manages the owner's password (`DB_OWNER_USER`, `DB_OWNER_PASSWORD`, read
/// from its secret) and the instance's address is `DB_OWNER_HOST`. Encrypted
/// (`require`): the instance's certificate is signed by the RDS CA.
fn owner_url(values: &std::collections::HashMap<String, String>) -> anyhow::Result<Option<String>> {
    let get = |k: &str| values.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(host) = get("DB_OWNER_HOST") else {
        return Ok(None);
    };
    let need = |k: &'static str| {
        get(k).ok_or_else(|| anyhow::anyhow!("{k} is required with DB_OWNER_HOST"))
    };
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    Ok(Some(format!(
        "postgres://{}:{}@{host}:{}/{}?sslmode=require",
        enc(need("DB_OWNER_USER")?),
        enc(need("DB_OWNER_PASSWORD")?),
        get("DB_OWNER_PORT").unwrap_or("5432"),
        enc(need("DATABASE_NAME")?),
    )))
}

type Build<T> = dyn Fn(Resolved) -> BoxFuture<'static, anyhow::Result<T>> + Send + Sync;
type Reload = dyn Fn() -> BoxFuture<'static, anyhow::Result<Resolved>> + Send + Sync;

/// What a Lambda serves with, rebuilt when its secrets change. Each
/// invocation asks for [`Live::get`]: when the secrets are due (every
/// `SECRETS_REFRESH_SECONDS`, 300; every 10 minutes with an IAM database
/// token) they are read again, and if a value changed (a rotation, a new
/// token) the state is built anew from them. A failed re-read or rebuild
/// keeps the current state and is logged; it is tried again after another
/// period. Without secrets (locally) nothing is ever re-read.
pub struct Live<T> {
    function: &'static str,
    current: tokio::sync::Mutex<(Resolved, Arc<T>)>,
    build: Box<Build<T>>,
    reload: Box<Reload>,
}

impl<T: Send + Sync + 'static> Live<T> {
    /// Reads the environment and builds the first state.
    pub async fn start<F>(function: &'static str, build: F) -> anyhow::Result<Self>
    where
        F: Fn(Resolved) -> BoxFuture<'static, anyhow::Result<T>> + Send + Sync + 'static,
    {
        Self::start_with(function, || Box::pin(environment()), build).await
    }

    /// [`Live::start`] reading its environment with `reload` (tests).
    pub async fn start_with<R, F>(
        function: &'static str,
        reload: R,
        build: F,
    ) -> anyhow::Result<Self>
    where
        R: Fn() -> BoxFuture<'static, anyhow::Result<Resolved>> + Send + Sync + 'static,
        F: Fn(Resolved) -> BoxFuture<'static, anyhow::Result<T>> + Send + Sync + 'static,
    {
        let env = reload().await?;
        let first = build(env.clone()).await?;
        Ok(Self {
            function,
            current: tokio::sync::Mutex::new((env, Arc::new(first))),
            build: Box::new(build),
            reload: Box::new(reload),
        })
    }

    /// The current state, renewed first if its secrets are due and changed.
    pub async fn get(&self) -> Arc<T> {
        let mut current = self.current.lock().await;
        if !current.0.stale() {
            return current.1.clone();
        }
        match (self.reload)().await {
            Ok(newer) if current.0.changed(&newer) => match (self.build)(newer.clone()).await {
                Ok(state) => {
                    tracing::info!(function = self.function, "secrets changed: state rebuilt");
                    *current = (newer, Arc::new(state));
                }
                Err(e) => {
                    tracing::error!(function = self.function, error = %format!("{e:#}"), "secrets changed but the state cannot be rebuilt; keeping the current one");
                    current.0.postpone();
                }
            },
            Ok(newer) => current.0 = newer,
            Err(e) => {
                tracing::warn!(function = self.function, error = %format!("{e:#}"), "cannot read the secrets again; keeping the current ones");
                current.0.postpone();
            }
        }
        current.1.clone()
    }
}

/// Serves an HTTP function: on Lambda each request goes to the router of the
/// [`Live`] state (renewed on rotation); locally the first router is served.
pub async fn serve_live(live: Live<Router>) -> anyhow::Result<()> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        let router = (*live.get().await).clone();
        return serve(router).await;
    }
    let live = Arc::new(live);
    lambda_http::run(lambda_http::service_fn(move |req: lambda_http::Request| {
        let live = live.clone();
        async move {
            use tower::ServiceExt;
            let router = (*live.get().await).clone();
            router
                .oneshot(req)
                .await
                .map_err(|e| lambda_http::Error::from(e.to_string()))
        }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// Builds an HTTP function's router from its state, renewed on rotation:
/// `run_http("health", |state| async move { Ok(health::app(state)) })`.
pub async fn run_http<F, Fut>(function: &'static str, app: F) -> anyhow::Result<()>
where
    F: Fn(AppState) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Router>> + Send + 'static,
{
    let live = Live::start(function, move |env| {
        Box::pin(async move { app(bootstrap_from(function, &env).await?).await })
    })
    .await?;
    serve_live(live).await
}

/// Serves `router`: through the Lambda runtime on AWS, else on
/// `127.0.0.1:$PORT` (default 3000) until Ctrl-C or SIGTERM.
pub async fn serve(router: Router) -> anyhow::Result<()> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_http::run(router)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse().context("PORT must be a port number"))
        .transpose()?
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("server failed")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    };

    use super::*;
    use crate::secrets::MemorySecrets;

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:1:secret:jwt";

    #[tokio::test]
    async fn a_rotated_secret_rebuilds_the_state_and_a_failed_read_keeps_it() {
        let source = Arc::new(MemorySecrets::default());
        source.put(ARN, r#"{"key":"one"}"#);
        let failing = Arc::new(AtomicBool::new(false));
        let builds = Arc::new(AtomicUsize::new(0));
        let (s, f, b) = (source.clone(), failing.clone(), builds.clone());
        let live = Live::start_with(
            "test",
            move || {
                let (s, f) = (s.clone(), f.clone());
                Box::pin(async move {
                    anyhow::ensure!(!f.load(Ordering::SeqCst), "Secrets Manager is down");
                    let env = HashMap::from([
                        ("JWT_SECRET_FROM_SECRET".to_owned(), format!("{ARN}#key")),
                        ("SECRETS_REFRESH_SECONDS".to_owned(), "0".to_owned()),
                    ]);
                    Resolved::load(env, &*s).await
                })
            },
            move |env| {
                b.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move { Ok(env.values["JWT_SECRET"].clone()) })
            },
        )
        .await
        .expect("started");
        assert_eq!(*live.get().await, "one");
        assert_eq!(builds.load(Ordering::SeqCst), 1, "unchanged: not rebuilt");
        source.put(ARN, r#"{"key":"two"}"#);
        assert_eq!(*live.get().await, "two", "rotated: rebuilt");
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        failing.store(true, Ordering::SeqCst);
        source.put(ARN, r#"{"key":"three"}"#);
        assert_eq!(
            *live.get().await,
            "two",
            "unreadable: the current state serves on"
        );
        failing.store(false, Ordering::SeqCst);
        assert_eq!(*live.get().await, "three", "readable again: caught up");
    }

    #[test]
    fn the_owners_url_is_made_from_its_parts() {
        let v = HashMap::from([
            (
                "DB_OWNER_HOST".to_owned(),
                "db.abc.eu-west-1.rds.amazonaws.com".to_owned(),
            ),
            ("DB_OWNER_USER".to_owned(), "saasit_owner".to_owned()),
            ("DB_OWNER_PASSWORD".to_owned(), "p@ss/w:rd".to_owned()),
            ("DATABASE_NAME".to_owned(), "saasit".to_owned()),
        ]);
        assert_eq!(
            owner_url(&v).expect("ok").expect("some"),
            "postgres://saasit_owner:p%40ss%2Fw%3Ard@db.abc.eu-west-1.rds.amazonaws.com:5432/saasit?sslmode=require"
        );
        assert!(owner_url(&HashMap::new()).expect("ok").is_none());
        let mut partial = v.clone();
        partial.remove("DB_OWNER_PASSWORD");
        assert_eq!(
            owner_url(&partial).expect_err("an error").to_string(),
            "DB_OWNER_PASSWORD is required with DB_OWNER_HOST"
        );
    }
}
