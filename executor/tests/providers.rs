//! LLM providers against local servers speaking the Anthropic Messages and
//! OpenAI chat-completions formats, including 429 with Retry-After and 5xx.

mod support;

use std::{collections::HashMap, time::Duration};

use executor::{
    error::ErrorKind,
    providers::{CompletionRequest, Provider},
    EngineConfig, RunStatus,
};
use secrecy::SecretString;
use serde_json::json;
use settings::{LlmProvider, LlmSettings};
use support::{run_with, runtime, serve, trigger};
use tokio_util::sync::CancellationToken;

fn request() -> CompletionRequest {
    CompletionRequest {
        model: Some("test-model".into()),
        system: Some("You are terse.".into()),
        prompt: "Say hi".into(),
        temperature: Some(0.2),
        max_tokens: Some(64),
        tools: Vec::new(),
        turns: Vec::new(),
    }
}

fn llm(
    provider: Option<LlmProvider>,
    key: Option<&str>,
    base_url: Option<String>,
    model: Option<&str>,
) -> LlmSettings {
    LlmSettings {
        provider,
        api_key: key.map(|k| SecretString::from(k.to_owned())),
        key_problem: None,
        base_url,
        model: model.map(str::to_owned),
    }
}

fn anthropic(base: &str, mode: &str) -> Provider {
    Provider::from_settings(&llm(
        Some(LlmProvider::Anthropic),
        Some("test-key"),
        Some(format!("{base}/anthropic/{mode}")),
        None,
    ))
}

fn openai(base: &str, mode: &str) -> Provider {
    Provider::from_settings(&llm(
        Some(LlmProvider::OpenAi),
        Some("test-key"),
        Some(format!("{base}/openai/{mode}")),
        Some("gpt-default"),
    ))
}

#[tokio::test]
async fn anthropic_messages_round_trip() {
    let (base, fake) = serve().await;
    let done = anthropic(&base, "ok")
        .complete(&request())
        .await
        .expect("completion");
    assert_eq!(done.text, "echo: Say hi");
    assert_eq!((done.input_tokens, done.output_tokens), (11, 7));
    assert_eq!(done.model, "test-model");
    let (headers, body) = fake.llm_requests.lock().expect("lock")[0].clone();
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": "Say hi"})
    );
}

#[tokio::test]
async fn anthropic_errors_are_classified() {
    let (base, _) = serve().await;
    let limited = anthropic(&base, "limited")
        .complete(&request())
        .await
        .expect_err("429");
    assert_eq!(limited.kind, ErrorKind::RateLimited);
    assert_eq!(limited.retry_after, Some(Duration::from_secs(1)));
    assert!(limited.kind.transient());
    let overloaded = anthropic(&base, "overloaded")
        .complete(&request())
        .await
        .expect_err("529");
    assert_eq!(overloaded.kind, ErrorKind::Overloaded);
    let broken = anthropic(&base, "broken")
        .complete(&request())
        .await
        .expect_err("500");
    assert_eq!(broken.kind, ErrorKind::Upstream);
    assert!(broken.kind.transient());
    let invalid = anthropic(&base, "invalid")
        .complete(&request())
        .await
        .expect_err("400");
    assert_eq!(invalid.kind, ErrorKind::Invalid);
    assert!(!invalid.kind.transient());
    assert!(invalid.message.contains("max_tokens too large"));
    assert!(
        !invalid.message.contains("test-key"),
        "the key leaked into an error"
    );
}

#[tokio::test]
async fn openai_compatible_round_trip_and_errors() {
    let (base, fake) = serve().await;
    let mut req = request();
    req.model = None;
    let done = openai(&base, "ok")
        .complete(&req)
        .await
        .expect("completion");
    assert_eq!(done.text, "hello from openai");
    assert_eq!((done.input_tokens, done.output_tokens), (5, 2));
    let (_, body) = fake.llm_requests.lock().expect("lock")[0].clone();
    assert_eq!(
        body["model"], "gpt-default",
        "the configured default model is used"
    );
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );

    let limited = openai(&base, "limited")
        .complete(&request())
        .await
        .expect_err("429");
    assert_eq!(
        (limited.kind, limited.retry_after),
        (ErrorKind::RateLimited, Some(Duration::from_secs(2)))
    );
    assert_eq!(
        openai(&base, "broken")
            .complete(&request())
            .await
            .expect_err("502")
            .kind,
        ErrorKind::Upstream
    );
    assert_eq!(
        openai(&base, "invalid")
            .complete(&request())
            .await
            .expect_err("400")
            .kind,
        ErrorKind::Invalid
    );
}

#[tokio::test]
async fn with_nothing_configured_the_dev_provider_answers_and_says_so() {
    let p = Provider::from_settings(&llm(None, None, None, None));
    assert_eq!(p.name(), "dev");
    let a = p.complete(&request()).await.expect("answer");
    let b = p.complete(&request()).await.expect("answer");
    assert_eq!(a, b, "deterministic");
    assert!(a.text.contains("dev provider") && a.text.contains("Say hi"));
    // Asked for by name (local use), with or without a key.
    let p = Provider::from_settings(&llm(Some(LlmProvider::Dev), Some("k"), None, None));
    assert_eq!(p.name(), "dev");
    // A key alone means the default provider, Anthropic.
    let p = Provider::from_settings(&llm(None, Some("k"), None, None));
    assert_eq!(p.name(), "anthropic");
}

#[tokio::test]
async fn a_provider_without_its_key_fails_agent_nodes_instead_of_pretending() {
    // What a Job on EKS gets when the key Secret is missing: the provider is named, the
    // key file is not there. Nothing answers in the model's place.
    let mut s = llm(Some(LlmProvider::Anthropic), None, None, None);
    s.key_problem = Some("cannot read /var/run/saasit-llm/api-key: No such file".into());
    let p = Provider::from_settings(&s);
    assert_eq!(p.name(), "unconfigured");
    let e = p.complete(&request()).await.expect_err("no answer");
    assert_eq!(e.kind, ErrorKind::Config, "deterministic: not retried");
    assert!(
        e.message
            .contains("no API key is configured for the anthropic provider")
            && e.message.contains("/var/run/saasit-llm/api-key"),
        "{}",
        e.message
    );
    // A blank key is no key.
    let p = Provider::from_settings(&llm(Some(LlmProvider::OpenAi), Some("  "), None, None));
    assert_eq!(p.name(), "unconfigured");
    // A missing key file with no provider named is a problem too, not the dev provider.
    let mut s = llm(None, None, None, None);
    s.key_problem = Some("the LLM API key file is empty".into());
    assert_eq!(Provider::from_settings(&s).name(), "unconfigured");
}

#[tokio::test]
async fn agent_nodes_report_usage_and_expose_json_answers() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "triage", "type": "agent", "config": {"systemPrompt": "Classify.", "prompt": "{{ inputs.message }}"}},
                  {"id": "urgent", "type": "condition", "config": {"expression": "triage.output.urgency >= 4"}},
                  {"id": "page", "type": "output", "config": {"value": "paged about {{ triage.output.topic }}"}}],
        "edges": [{"from":"start","to":"triage"},{"from":"triage","to":"urgent"},{"from":"urgent","to":"page","condition":"true"}]
    });
    let run = run_with(
        runtime(openai(&base, "json")),
        graph,
        json!({"message": "I was charged twice"}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    assert_eq!(run.outcome.output, Some(json!("paged about billing")));
    let usage = &run.of("usage")[0];
    assert_eq!(
        (
            usage["provider"].clone(),
            usage["inputTokens"].clone(),
            usage["outputTokens"].clone()
        ),
        (json!("openai"), json!(3), json!(4))
    );
}

#[tokio::test]
async fn rate_limited_agents_wait_at_least_retry_after() {
    let (base, fake) = serve().await;
    let graph = json!({
        "nodes": [trigger(), {"id": "ask", "type": "agent", "config": {"systemPrompt": "x", "prompt": "y"},
                              "policy": {"retries": 1, "backoffInitialMs": 10}}],
        "edges": [{"from":"start","to":"ask"}]
    });
    let run = run_with(
        runtime(anthropic(&base, "limited")),
        graph,
        json!({}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    let first = &run.for_node("node_failed", "ask")[0];
    assert_eq!(first["error"]["kind"], "rate_limited");
    assert!(
        first["retryInMs"].as_u64().is_some_and(|ms| ms >= 1000),
        "{first}"
    );
    assert_eq!(fake.llm_requests.lock().expect("lock").len(), 2);
}

#[test]
fn a_run_uses_the_workspaces_key_else_the_platforms_where_its_plan_allows() {
    use executor::{http_node::AllowList, providers::Provider};
    use run_protocol::{LlmCredential, LlmVendor};
    let platform = || {
        Provider::from_settings(&llm(
            Some(LlmProvider::Anthropic),
            Some("sk-platform"),
            None,
            None,
        ))
    };
    let own = || {
        Some(LlmCredential {
            vendor: LlmVendor::OpenAi,
            api_key: "sk-own".into(),
            base_url: Some("https://llm.example.com/v1".into()),
        })
    };
    let allow = AllowList::default();
    assert_eq!(
        Provider::for_run(platform(), own(), false, &allow).name(),
        "openai"
    );
    assert_eq!(
        Provider::for_run(platform(), None, true, &allow).name(),
        "anthropic"
    );
    let refused = Provider::for_run(platform(), None, false, &allow);
    assert!(
        matches!(&refused, Provider::Unconfigured(why) if why.contains("OPENAI_API_KEY")),
        "{}",
        refused.name()
    );
    // Nothing configured anywhere (local development): the dev provider.
    assert_eq!(
        Provider::for_run(Provider::Dev, None, false, &allow).name(),
        "dev"
    );
    // A base URL naming a private address outright is refused.
    let private = Some(LlmCredential {
        vendor: LlmVendor::OpenAi,
        api_key: "sk-own".into(),
        base_url: Some("http://169.254.169.254/latest".into()),
    });
    assert_eq!(
        Provider::for_run(platform(), private, true, &allow).name(),
        "unconfigured"
    );
}
