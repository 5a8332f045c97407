//! `local [--port N]`: the whole backend in one process on 127.0.0.1.
//! `local set-tier EMAIL|WORKSPACE_ID TIER`: set the plan of a local user's
//! personal workspace, or of a team workspace, by hand (recorded with the
//! cause `admin`). On AWS, Stripe decides plans: its webhooks change them.
//! Without `STRIPE_SECRET_KEY` the stack starts a local Stripe double (its
//! Checkout and Portal pages take pretend payments and send the webhooks);
//! `STRIPE_DOUBLE=off` starts none, `STRIPE_DOUBLE_PORT` fixes its port.
//! Without `OAUTH_GOOGLE_CLIENT_ID` or `OAUTH_GITHUB_CLIENT_ID` it starts a
//! local OAuth double for both (its sign-in page asks which address signs
//! in); `OAUTH_DOUBLE=off` starts none, `OAUTH_DOUBLE_PORT` fixes its port.
//! Unless `MCP_DOUBLE=off` it starts a local MCP server (an "orders"
//! service built with rmcp, behind a bearer token it prints), which the API
//! and the executor may reach on loopback; `MCP_DOUBLE_PORT` fixes its port.
//! Without `WEB_SEARCH_PROVIDER` it starts a local search double (made-up
//! results) for `web_search` and the tools API; `SEARCH_DOUBLE=off` starts none.
//! `local outbox [EMAIL]`: print the emails the local stack sent (to EMAIL),
//! oldest first, from `EMAIL_OUTBOX_DIR` (`.local/outbox`).
//! `local render-job TIER [--secret]`: print the executor Job manifest a run of
//! that tier gets, or the Secret holding its callback token (what
//! `scripts/test` checks with kubernetes-validate).
//! Needs `DATABASE_URL` and `JWT_SECRET` (`scripts/run` provides both).

use std::time::Duration;

use anyhow::Context;
use shared::{db, runtime, settings::Settings, telemetry, tier::Tier, AppState};

const USAGE: &str = "usage: local [--port N]          (default 3000)\n       local set-tier EMAIL|WORKSPACE_ID TIER   (FREE, DESIGNER, STARTER, PROFESSIONAL, SCALE, ENTERPRISE)\n       local outbox [EMAIL]          (the emails sent locally, oldest first)\n       local render-job TIER [--secret]\n       local openapi                 (prints the OpenAPI document)";

/// Prints the local outbox (the emails to `to`, when given).
async fn print_outbox(to: Option<&str>) -> anyhow::Result<()> {
    let email = shared::settings::EmailSettings::from_lookup(&shared::settings::Lookup::env())?;
    let outbox = shared::email::outbox::Outbox::new(
        email
            .outbox_dir
            .unwrap_or_else(|| std::path::PathBuf::from(".local/outbox")),
    );
    let sent = match to {
        Some(to) => outbox.to(to).await,
        None => outbox.read().await,
    }
    .with_context(|| format!("cannot read the outbox {}", outbox.dir().display()))?;
    if sent.is_empty() {
        eprintln!("no emails in {}", outbox.dir().display());
    }
    let mut out = String::new();
    for s in sent {
        out.push_str(&format!(
            "--- {}\nTo: {}\nSubject: {}\n\n{}\n",
            s.sent_at.to_rfc3339(),
            s.email.to,
            s.email.subject,
            s.email.text
        ));
    }
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
    Ok(())
}

/// Prints the Job manifest for a sample execution of `tier` (or its token Secret).
fn render_job(tier: &str, secret: bool) -> anyhow::Result<()> {
    let tier: Tier = tier
        .to_uppercase()
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}\n{USAGE}"))?;
    let id = shared::ids::new_id();
    let spec = shared::runs::JobSpec {
        name: shared::runs::job_name(id),
        execution_id: id,
        tier,
        env: vec![
            ("EXECUTION_ID".into(), id.to_string()),
            ("CALLBACK_URL".into(), "https://api.example.com".into()),
        ],
        callback_token: "execution-scoped-token".to_owned().into(),
        resources: tier.limits().resources,
        deadline: tier
            .limits()
            .max_runtime
            .unwrap_or(Duration::from_secs(3600)),
    };
    let target = shared::runs::k8s::JobTarget {
        namespace: "saasit-executions",
        image: "saasit-executor:latest",
        llm: &shared::runs::k8s::JobLlm::default(),
    };
    let manifest = if secret {
        shared::runs::k8s::render_token_secret(
            &spec,
            target.namespace,
            "00000000-0000-0000-0000-000000000000",
        )
    } else {
        shared::runs::k8s::render_job(&spec, &target)
    };
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(
        &mut out,
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(())
}

fn port_from_args(args: &[String]) -> anyhow::Result<u16> {
    let mut it = args.iter();
    let mut port = 3000;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let v = it.next().context("--port needs a value")?;
                port = v
                    .parse()
                    .with_context(|| format!("--port: {v:?} is not a port number"))?;
            }
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(port)
}

/// Environment passed on to every executor the stack starts.
fn executor_env() -> Vec<(String, String)> {
    [
        "LLM_PROVIDER",
        "LLM_API_KEY",
        "LLM_BASE_URL",
        "LLM_MODEL",
        "EXECUTOR_HTTP_ALLOW",
        "EXECUTOR_MAX_CONCURRENCY",
        "WEB_SEARCH_PROVIDER",
        "WEB_SEARCH_URL",
        "WEB_SEARCH_API_KEY",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
    .collect()
}

/// The bearer token the local MCP double wants.
const MCP_DOUBLE_TOKEN: &str = "local-orders-token";

/// A local MCP server for trying MCP tools (unless `MCP_DOUBLE=off`): its URL.
async fn mcp_double() -> anyhow::Result<Option<String>> {
    if std::env::var("MCP_DOUBLE").is_ok_and(|v| v == "off") {
        return Ok(None);
    }
    let port: u16 = std::env::var("MCP_DOUBLE_PORT")
        .ok()
        .map(|p| p.parse().context("MCP_DOUBLE_PORT must be a port number"))
        .transpose()?
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .context("cannot start the local MCP double (MCP_DOUBLE_PORT in use?)")?;
    let addr = listener.local_addr()?;
    let app = agent_kit::mcp_double::router(Some(MCP_DOUBLE_TOKEN.to_owned()));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the local MCP double stopped");
        }
    });
    Ok(Some(format!("http://{addr}/mcp")))
}

/// A local SearXNG-compatible search for the tools API and `web_search`
/// when no provider is configured (unless `SEARCH_DOUBLE=off`): its URL.
async fn search_double() -> anyhow::Result<Option<String>> {
    if std::env::var("SEARCH_DOUBLE").is_ok_and(|v| v == "off")
        || std::env::var("WEB_SEARCH_PROVIDER").is_ok_and(|v| !v.trim().is_empty())
    {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot start the local search double")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, agent_kit::search_double::router()).await {
            tracing::error!(error = %e, "the local search double stopped");
        }
    });
    Ok(Some(format!("http://{addr}")))
}

/// `list` with `host` added (comma-separated).
fn allow_also(list: &str, host: &str) -> String {
    if list.trim().is_empty() {
        host.to_owned()
    } else {
        format!("{list},{host}")
    }
}

/// Billing for the local stack on `base_url`: real Stripe when
/// `STRIPE_SECRET_KEY` is set, else a local Stripe double (unless
/// `STRIPE_DOUBLE=off`) sending its webhooks to the stack.
async fn billing(
    settings: &Settings,
    base_url: &str,
) -> anyhow::Result<(
    Option<std::sync::Arc<shared::billing::Billing>>,
    Option<local::stripe_double::StripeDouble>,
)> {
    use local::stripe_double::{connect, local_prices, settings_for, StripeDouble};
    let wanted = std::env::var("STRIPE_DOUBLE").map_or(true, |v| v != "off");
    let (billing_settings, double) = if settings.billing.secret_key.is_none() && wanted {
        let port: u16 = std::env::var("STRIPE_DOUBLE_PORT")
            .ok()
            .map(|p| {
                p.parse()
                    .context("STRIPE_DOUBLE_PORT must be a port number")
            })
            .transpose()?
            .unwrap_or(0);
        let double = StripeDouble::start_on("sk_test_local", local_prices(), port)
            .await
            .context("cannot start the local Stripe double (STRIPE_DOUBLE_PORT in use?)")?;
        let s = settings_for(&double, &settings.billing);
        connect(&double, base_url, &s);
        (s, Some(double))
    } else {
        (settings.billing.clone(), None)
    };
    let billing = shared::billing::Billing::from_settings(&billing_settings)
        .context("invalid billing settings")?
        .map(std::sync::Arc::new);
    Ok((billing, double))
}

/// A local OAuth double for sign-in with Google and GitHub, when neither is
/// configured (unless `OAUTH_DOUBLE=off`).
async fn oauth_double(
    settings: &Settings,
) -> anyhow::Result<Option<local::oauth_double::OAuthDouble>> {
    let configured = settings.oauth.google.is_some() || settings.oauth.github.is_some();
    let wanted = std::env::var("OAUTH_DOUBLE").map_or(true, |v| v != "off");
    if configured || !wanted {
        return Ok(None);
    }
    let port: u16 = std::env::var("OAUTH_DOUBLE_PORT")
        .ok()
        .map(|p| p.parse().context("OAUTH_DOUBLE_PORT must be a port number"))
        .transpose()?
        .unwrap_or(0);
    let double = local::oauth_double::OAuthDouble::start_on(port)
        .await
        .context("cannot start the local OAuth double (OAUTH_DOUBLE_PORT in use?)")?;
    Ok(Some(double))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        eprintln!("{USAGE}");
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("openapi") {
        let doc = serde_json::to_string_pretty(&health::api_doc())?;
        std::io::Write::write_all(&mut std::io::stdout(), doc.as_bytes())?;
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("outbox") {
        return print_outbox(args.get(1).map(String::as_str)).await;
    }
    if args.first().map(String::as_str) == Some("render-job") {
        return render_job(
            args.get(1).map_or("STARTER", String::as_str),
            args.iter().any(|a| a == "--secret"),
        );
    }
    let settings = Settings::from_env().context("invalid settings (see .env.example)")?;
    telemetry::init(settings.log_format, &settings.log_filter);
    let pool = db::pool(&settings.database).context("invalid DATABASE_URL")?;
    db::migrate(&pool)
        .await
        .context("cannot apply migrations: is the database running?")?;

    if args.first().map(String::as_str) == Some("set-tier") {
        let (Some(who), Some(tier)) = (args.get(1), args.get(2)) else {
            anyhow::bail!(USAGE)
        };
        let tier: Tier = tier
            .to_uppercase()
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}\n{USAGE}"))?;
        // A workspace id names that workspace; an email, the user's personal one.
        if let Ok(workspace) = who.parse::<uuid::Uuid>() {
            anyhow::ensure!(
                db::workspaces::set_tier(&pool, workspace, tier).await?,
                "no workspace {workspace}"
            );
            eprintln!("workspace {workspace} is now {tier} (set by hand; with billing on, Stripe's next word decides)");
        } else {
            anyhow::ensure!(
                db::users::set_tier(&pool, who, tier).await?,
                "no user with email {who}"
            );
            eprintln!("{who}'s personal workspace is now {tier} (set by hand; with billing on, Stripe's next word decides)");
        }
        return Ok(());
    }

    let port = port_from_args(&args)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} (in use? try --port)"))?;
    let addr = listener.local_addr()?;
    let mcp = mcp_double().await?;
    let mut executor_env = executor_env();
    let mut settings = settings;
    if let Some(url) = &mcp {
        // The API (connect) and the executor (agent nodes) may reach it on loopback.
        let host = url::Url::parse(url)?
            .socket_addrs(|| None)?
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        settings.http.outbound_allow = allow_also(&settings.http.outbound_allow, &host);
        let given = std::env::var("EXECUTOR_HTTP_ALLOW").unwrap_or_default();
        executor_env.retain(|(k, _)| k != "EXECUTOR_HTTP_ALLOW");
        executor_env.push(("EXECUTOR_HTTP_ALLOW".into(), allow_also(&given, &host)));
    }
    let search = search_double().await?;
    if let Some(url) = &search {
        settings.tools.web_search.provider = Some("searxng".into());
        settings.tools.web_search.url = Some(url.clone());
        executor_env.retain(|(k, _)| !k.starts_with("WEB_SEARCH_"));
        executor_env.push(("WEB_SEARCH_PROVIDER".into(), "searxng".into()));
        executor_env.push(("WEB_SEARCH_URL".into(), url.clone()));
    }
    let options = local::LocalOptions {
        executor_env,
        ..local::LocalOptions::from_settings(&settings)
    };
    anyhow::ensure!(
        options.executor.exists(),
        "the executor binary is missing at {} (cargo build -p executor, or set EXECUTOR_BIN)",
        options.executor.display()
    );
    let (billing, double) = billing(&settings, &format!("http://{addr}")).await?;
    let oauth_double = oauth_double(&settings).await?;
    if let Some(d) = &oauth_double {
        settings.oauth = d.settings();
    }
    let stack = local::Stack::new(
        AppState::new(settings, pool).with_billing(billing),
        addr,
        options,
    );
    tracing::info!(%addr, "local stack listening");
    eprintln!("SaasIt local stack: http://{addr}  (health: http://{addr}/health, API: http://{addr}/api/v1/openapi.json)");
    if let Some(d) = double {
        eprintln!("Stripe double: {}  (no money moves; checkout links from POST /api/v1/billing/checkout open its pages)", d.url());
    }
    if let Some(d) = oauth_double {
        eprintln!("OAuth double: {}  (Google and GitHub sign-in without real accounts; POST /api/v1/auth/oauth/{{provider}}/start)", d.url());
    }
    if let Some(url) = search {
        eprintln!("Search double: {url}  (made-up results for web_search and POST /api/v1/tools/web/search; set WEB_SEARCH_PROVIDER for real ones)");
    }
    if let Some(url) = mcp {
        eprintln!("MCP double: {url}  (an orders service; register it with the header Authorization: Bearer {{{{secrets.ORDERS_TOKEN}}}} and the secret ORDERS_TOKEN = {MCP_DOUBLE_TOKEN})");
    }
    local::run(listener, stack, runtime::shutdown_signal()).await?;
    tracing::info!("local stack stopped");
    Ok(())
}
