//! What every function binary does: read settings, start logging, build state,
//! then serve its router on Lambda (when `AWS_LAMBDA_RUNTIME_API` is set) or
//! on a local port. This is the only place besides `Settings::from_env` that
//! looks at the environment.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use axum::Router;

use crate::{db, settings::Settings, state::AppState, telemetry};

/// Reads settings, starts logging, builds the pool (lazily: no connection yet)
/// and, when `DB_MIGRATE_ON_START` is true, applies migrations. A migration
/// that cannot reach the database is logged, not fatal: requests answer 503
/// until the database is back.
pub async fn bootstrap(function: &'static str) -> anyhow::Result<AppState> {
    let settings = Settings::from_env().context("invalid settings")?;
    telemetry::init(settings.log_format, &settings.log_filter);
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
