//! `local [--port N]`: the whole backend in one process on 127.0.0.1.
//! Needs `DATABASE_URL` and `JWT_SECRET` (`scripts/run` provides both).

use anyhow::Context;
use shared::{db, runtime, settings::Settings, telemetry, AppState};

fn port_from_args() -> anyhow::Result<u16> {
    let mut args = std::env::args().skip(1);
    let mut port = 3000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let v = args.next().context("--port needs a value")?;
                port = v
                    .parse()
                    .with_context(|| format!("--port: {v:?} is not a port number"))?;
            }
            "--help" | "-h" => {
                eprintln!("usage: local [--port N]   (default 3000)");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?} (usage: local [--port N])"),
        }
    }
    Ok(port)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port = port_from_args()?;
    let settings = Settings::from_env().context("invalid settings (see .env.example)")?;
    telemetry::init(settings.log_format, &settings.log_filter);
    let pool = db::pool(&settings.database).context("invalid DATABASE_URL")?;
    db::migrate(&pool)
        .await
        .context("cannot apply migrations: is the database running?")?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} (in use? try --port)"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "local stack listening");
    eprintln!("SaasIt local stack: http://{addr}  (health: http://{addr}/health, API: http://{addr}/api/v1/openapi.json)");

    local::run(
        listener,
        AppState::new(settings, pool),
        runtime::shutdown_signal(),
    )
    .await?;
    tracing::info!("local stack stopped");
    Ok(())
}
