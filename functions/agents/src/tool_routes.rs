//! `/api/v1/tools/…`: the tools of the FastAPI plan, outside any workflow —
//! a chat with the workspace's model, a web search and a page read — with the
//! same provider choice, address guard and providers as agent nodes
//! (`agent-kit`). Members who may run workflows may call them, 100 times an
//! hour per user (`RATE_LIMIT_TOOLS`).

use agent_kit::{
    conversation::Turn,
    error::{ErrorKind, NodeError},
    guard::AllowList,
    http::HttpRunner,
    providers::{CompletionRequest, Provider},
    tools::{search::SearchProvider, web_read},
};
use axum::extract::State;
use serde_json::json;
use shared::{
    access::{can, Allowed, InWorkspace, Member},
    activity::{self, Action, Activity, Origin},
    db::budgets,
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ratelimit::{self, Bucket},
    runs::{
        callbacks::{own_credential, PROVIDER_SECRETS},
        start::within_budget,
    },
    ApiError, ApiResult, AppState,
};

use crate::tool_dto::{
    ChatAnswer, ChatRequest, ChatRole, ReadAnswer, ReadRequest, SearchAnswer, SearchRequest,
    TokenUsage,
};

/// Counts one call of the caller's against the tools limit.
pub(crate) async fn count(state: &AppState, caller: &Member) -> ApiResult<()> {
    let limit = state.settings.auth.limits.tools;
    ratelimit::hit(state, Bucket::Tools, &caller.user_id.to_string(), limit)
        .await?
        .check(
            "user",
            "too many tools calls; the limit is per user and hour (RATE_LIMIT_TOOLS)",
        )?;
    Ok(())
}

/// A failure of the other side as the API answers it: what the caller got
/// wrong is 400; a platform provider that is not configured is 503; a page
/// or provider that failed, is down, slow or busy is 502 `UPSTREAM_ERROR`
/// (with its `Retry-After` when it gave one).
pub(crate) fn failed(e: NodeError, field: &str) -> ApiError {
    match e.kind {
        ErrorKind::Blocked | ErrorKind::Template | ErrorKind::Limit => {
            ApiError::field(field, e.message)
        }
        ErrorKind::Config => ApiError::not_configured(e.message),
        _ => {
            let mut err = ApiError::new(ErrorCode::UpstreamError, e.message)
                .with_details(json!({ "kind": e.kind.as_str(), "retryable": e.kind.transient() }));
            if let Some(after) = e.retry_after {
                err = err.retry_after(after.as_secs().max(1));
            }
            err
        }
    }
}

/// The workspace's own provider key from its vault, if it keeps one, and
/// its vault values (for what must not show them).
pub(crate) async fn own_key(
    state: &AppState,
    caller: &Member,
) -> ApiResult<(Option<run_protocol::LlmCredential>, Vec<String>)> {
    let names: Vec<String> = PROVIDER_SECRETS.iter().map(|n| (*n).to_owned()).collect();
    let values = state.vault.resolve(caller.workspace_id, &names).await?;
    let own = own_credential(&values);
    let own_values = if own.is_some() {
        values.into_values().collect()
    } else {
        Vec::new()
    };
    Ok((own, own_values))
}

/// The workspace's model: its own key when it keeps one, else the
/// platform's where the plan allows; and the own key's vault values when
/// they are used (none otherwise), for what must not show them.
pub(crate) async fn provider(
    state: &AppState,
    caller: &Member,
) -> ApiResult<(Provider, Vec<String>)> {
    let (own, own_values) = own_key(state, caller).await?;
    let allowed = caller.tier.limits().platform_llm;
    let platform = Provider::from_settings(&state.settings.tools.llm);
    // Locally, with no provider configured, the dev provider answers every plan (as in runs).
    if own.is_none() && !allowed && !matches!(platform, Provider::Dev) {
        return Err(ApiError::new(
            ErrorCode::TierLimit,
            format!(
                "the {} tier uses the workspace's own provider key: store ANTHROPIC_API_KEY or \
                 OPENAI_API_KEY in the workspace's secrets, or upgrade",
                caller.tier
            ),
        )
        .with_details(json!({ "tier": caller.tier, "limit": "platform model" })));
    }
    let allow = AllowList::parse(&state.settings.http.outbound_allow);
    Ok((
        Provider::for_run(platform, own, allowed, &allow),
        own_values,
    ))
}

/// Charges a model call made outside any run to the workspace (costs,
/// usage and the monthly spend).
pub(crate) async fn charge(
    state: &AppState,
    caller: &Member,
    provider: &str,
    model: &str,
    input_tokens: u64,
    output_tokens: u64,
) -> ApiResult<()> {
    let cost = state
        .settings
        .runs
        .prices
        .cost_micros(model, input_tokens, output_tokens);
    let n = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
    budgets::charge_outside_runs(
        &state.db,
        caller.workspace_id,
        provider,
        model,
        n(input_tokens),
        n(output_tokens),
        cost,
    )
    .await?;
    Ok(())
}

/// The platform's web search, as configured (`Err`: why it cannot be used).
pub(crate) fn search_provider(state: &AppState) -> Result<SearchProvider, String> {
    let ws = &state.settings.tools.web_search;
    SearchProvider::from_env(|k| match k {
        "WEB_SEARCH_PROVIDER" => ws.provider.clone(),
        "WEB_SEARCH_URL" => ws.url.clone(),
        "WEB_SEARCH_API_KEY" => ws
            .api_key
            .as_ref()
            .map(|k| secrecy::ExposeSecret::expose_secret(k).to_owned()),
        _ => None,
    })
}

/// Chat with the workspace's model (members who may run workflows).
#[utoipa::path(
    post, path = "/api/v1/tools/ai/chat", operation_id = "tools_chat", tag = "tools", security(("bearer" = [])),
    params(InWorkspace),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The model's answer and the tokens it took", body = ChatAnswer),
        (status = 400, description = "Messages that do not alternate, start and end with the user, or are empty (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than the API takes (MAX_BODY_BYTES, 1 MiB by default: PAYLOAD_TOO_LARGE)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not run workflows (FORBIDDEN), the plan needs the workspace's own provider key (TIER_LIMIT), or the monthly budget is spent (BUDGET_EXCEEDED)", body = ErrorEnvelope),
        (status = 404, description = "X-Workspace-Id names no workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Past the tools limit (RATE_LIMITED, Retry-After)", body = ErrorEnvelope),
        (status = 502, description = "The model provider failed, is busy or too slow (UPSTREAM_ERROR; details.kind, details.retryable, Retry-After when it said)", body = ErrorEnvelope),
        (status = 503, description = "No model provider is configured (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn chat(
    State(state): State<AppState>,
    caller: Allowed<can::ExecuteWorkflows>,
    origin: Origin,
    Json(body): Json<ChatRequest>,
) -> ApiResult<Json<ChatAnswer>> {
    let messages = &body.messages;
    if messages.first().map(|m| m.role) != Some(ChatRole::User)
        || messages.last().map(|m| m.role) != Some(ChatRole::User)
    {
        return Err(ApiError::field(
            "messages",
            "must start and end with a message of the user",
        ));
    }
    if messages.len() > 50 || messages.windows(2).any(|w| w[0].role == w[1].role) {
        return Err(ApiError::field(
            "messages",
            "at most 50, alternating between the user and the assistant",
        ));
    }
    if messages
        .iter()
        .any(|m| m.content.trim().is_empty() || m.content.chars().count() > 100_000)
    {
        return Err(ApiError::field(
            "messages",
            "each must hold 1–100,000 characters",
        ));
    }
    if body
        .system
        .as_ref()
        .is_some_and(|s| s.chars().count() > 20_000)
    {
        return Err(ApiError::field(
            "system",
            "must be at most 20,000 characters",
        ));
    }
    if body.max_tokens.is_some_and(|m| !(1..=8192).contains(&m)) {
        return Err(ApiError::field("maxTokens", "must be 1–8192"));
    }
    if body.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err(ApiError::field("temperature", "must be 0–2"));
    }
    within_budget(&budgets::standing(&state.db, caller.workspace_id).await?)?;
    count(&state, &caller).await?;
    let (provider, own_values) = provider(&state, &caller).await?;
    let turns = messages[1..]
        .iter()
        .map(|m| match m.role {
            ChatRole::User => Turn::User(m.content.clone()),
            ChatRole::Assistant => Turn::Assistant {
                text: m.content.clone(),
                calls: Vec::new(),
            },
        })
        .collect();
    let request = CompletionRequest {
        model: body.model.clone(),
        system: body.system.clone(),
        prompt: messages[0].content.clone(),
        temperature: body.temperature,
        max_tokens: body.max_tokens,
        tools: Vec::new(),
        turns,
    };
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(25),
        provider.complete(&request),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ErrorCode::UpstreamError,
            "the model did not answer within 25 s; ask for less (maxTokens) or try again",
        )
        .with_details(json!({ "kind": "timeout", "retryable": true }))
    })?
    .map_err(|e| failed(e, "messages"))?;
    charge(
        &state,
        &caller,
        provider.name(),
        &done.model,
        done.input_tokens,
        done.output_tokens,
    )
    .await?;
    if !own_values.is_empty() {
        let entry = Activity::new(caller.workspace_id, caller.user_id, Action::SecretUsed)
            .details(json!({ "names": ["provider key"], "tool": "ai/chat" }))
            .record(&state.db, &origin)
            .await?;
        activity::publish(&state, [entry]).await;
    }
    Ok(Json(ChatAnswer {
        text: done.text,
        provider: provider.name().to_owned(),
        model: done.model,
        usage: TokenUsage {
            input_tokens: done.input_tokens,
            output_tokens: done.output_tokens,
        },
    }))
}

/// Search the web through the platform's search provider (members who may
/// run workflows).
#[utoipa::path(
    post, path = "/api/v1/tools/web/search", operation_id = "tools_web_search", tag = "tools", security(("bearer" = [])),
    params(InWorkspace),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "The top results", body = SearchAnswer),
        (status = 400, description = "An empty or too long query, or a bad count (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not run workflows (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "X-Workspace-Id names no workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Past the tools limit (RATE_LIMITED, Retry-After)", body = ErrorEnvelope),
        (status = 502, description = "The search provider failed or could not be reached (UPSTREAM_ERROR; details.kind)", body = ErrorEnvelope),
        (status = 503, description = "Search is not configured on this platform (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn web_search(
    State(state): State<AppState>,
    caller: Allowed<can::ExecuteWorkflows>,
    Json(body): Json<SearchRequest>,
) -> ApiResult<Json<SearchAnswer>> {
    if body.query.trim().is_empty() || body.query.chars().count() > 400 {
        return Err(ApiError::field("query", "must hold 1–400 characters"));
    }
    if body.count.is_some_and(|c| !(1..=10).contains(&c)) {
        return Err(ApiError::field("count", "must be 1–10"));
    }
    count(&state, &caller).await?;
    let search = search_provider(&state).map_err(ApiError::not_configured)?;
    let found = search
        .search(&json!({ "query": body.query, "count": body.count.unwrap_or(5) }))
        .await
        .map_err(|e| failed(e, "query"))?;
    let results = serde_json::from_value(found["results"].clone()).unwrap_or_default();
    Ok(Json(SearchAnswer {
        query: body.query,
        results,
    }))
}

/// Read a web page's text (members who may run workflows). Private and
/// internal addresses are refused, redirects included.
#[utoipa::path(
    post, path = "/api/v1/tools/web/read", operation_id = "tools_web_read", tag = "tools", security(("bearer" = [])),
    params(InWorkspace),
    request_body = ReadRequest,
    responses(
        (status = 200, description = "The page's readable text", body = ReadAnswer),
        (status = 400, description = "Not an http(s) URL, or one on a private address (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not run workflows (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "X-Workspace-Id names no workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Past the tools limit (RATE_LIMITED, Retry-After)", body = ErrorEnvelope),
        (status = 502, description = "The page could not be read: unreachable, too slow, or it answered an error (UPSTREAM_ERROR; details.kind)", body = ErrorEnvelope),
    )
)]
pub async fn web_read(
    State(state): State<AppState>,
    caller: Allowed<can::ExecuteWorkflows>,
    Json(body): Json<ReadRequest>,
) -> ApiResult<Json<ReadAnswer>> {
    let url = url::Url::parse(&body.url)
        .map_err(|e| ApiError::field("url", format!("invalid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::field("url", "must be an http or https URL"));
    }
    count(&state, &caller).await?;
    let runner = HttpRunner::new(AllowList::parse(&state.settings.http.outbound_allow));
    let page = tokio::time::timeout(
        std::time::Duration::from_secs(25),
        web_read::call(&runner, &json!({ "url": url.as_str() })),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ErrorCode::UpstreamError,
            "the page did not answer within 25 s",
        )
        .with_details(json!({ "kind": "timeout", "retryable": true }))
    })?
    .map_err(|e| failed(e, "url"))?;
    Ok(Json(ReadAnswer {
        url: page["url"].as_str().unwrap_or(url.as_str()).to_owned(),
        content_type: page["contentType"].as_str().unwrap_or_default().to_owned(),
        text: page["text"].as_str().unwrap_or_default().to_owned(),
    }))
}
