//! Agent answers streamed as they are written (server-sent events from both
//! providers), out as `agent_delta` events: in order, adding up to the whole
//! answer, never splitting a secret between two events; a stream that breaks
//! fails the attempt as the transient failure it is.

mod support;

use std::{collections::BTreeMap, collections::HashMap};

use executor::{providers::Provider, EngineConfig, RunStatus};
use secrecy::SecretString;
use serde_json::{json, Value};
use settings::{LlmProvider, LlmSettings};
use support::{run_with, runtime, serve, trigger, Run};
use tokio_util::sync::CancellationToken;

fn scripted(base: &str, vendor: LlmProvider, script: &str) -> Provider {
    let path = match vendor {
        LlmProvider::OpenAi => "openai",
        _ => "anthropic",
    };
    Provider::from_settings(&LlmSettings {
        provider: Some(vendor),
        api_key: Some(SecretString::from("test-key".to_owned())),
        key_problem: None,
        base_url: Some(format!("{base}/scripted/{path}/{script}")),
        model: Some("scripted".into()),
    })
}

async fn run_agent(
    provider: Provider,
    config: Value,
    inputs: Value,
    secrets: BTreeMap<String, String>,
) -> Run {
    run_with(
        runtime(provider),
        json!({
            "nodes": [trigger(), {"id": "ask", "type": "agent", "config": config}],
            "edges": [{"from": "start", "to": "ask"}]
        }),
        inputs,
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        secrets,
    )
    .await
}

/// The deltas of one turn, joined.
fn streamed(run: &Run, turn: u64) -> String {
    run.of("agent_delta")
        .iter()
        .filter(|d| d["turn"] == turn)
        .map(|d| d["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn answers_stream_as_deltas_with_both_providers_and_tools_still_work() {
    for vendor in [LlmProvider::Anthropic, LlmProvider::OpenAi] {
        let (base, _) = serve().await;
        let run = run_agent(
            scripted(&base, vendor, "two_tools_sse"),
            json!({"systemPrompt": "Use tools.", "prompt": "What is the answer?", "tools": ["web_read", "http_request"]}),
            json!({}),
            BTreeMap::new(),
        )
        .await;
        assert_eq!(
            run.outcome.status,
            RunStatus::Completed,
            "{vendor:?}: {:?}",
            run.outcome
        );
        let out = &run.for_node("node_succeeded", "ask")[0]["output"];
        let text = out["text"].as_str().expect("text");
        assert!(
            text.contains("The answer is 42") && text.contains("1.4.2"),
            "{vendor:?}: {text}"
        );
        // Tool inputs streamed as JSON pieces arrive whole.
        let calls = run.of("tool_called");
        assert_eq!(
            calls[1]["input"]["url"],
            format!("{base}/status.json"),
            "{vendor:?}"
        );
        // Each turn's deltas add up to its text, and come before the node's end.
        assert_eq!(streamed(&run, 1), "Let me look.", "{vendor:?}");
        assert_eq!(streamed(&run, 2), text, "{vendor:?}");
        let seqs = |kind: &str| -> Vec<u64> {
            run.of(kind)
                .iter()
                .map(|e| e["seq"].as_u64().unwrap_or(0))
                .collect()
        };
        let ended = seqs("node_succeeded").into_iter().max().unwrap_or(0);
        assert!(seqs("agent_delta").iter().all(|s| *s < ended), "{vendor:?}");
        // Tokens from the streams' usage.
        assert_eq!(
            out["usage"],
            json!({"inputTokens": 20, "outputTokens": 10}),
            "{vendor:?}"
        );
    }
}

#[tokio::test]
async fn a_long_answer_goes_out_in_pieces_and_no_piece_holds_part_of_a_secret() {
    let secret = "sk-live-0123456789abcdefXYZ";
    let prompt: String = (0..60)
        .map(|i| format!("word{i} {{{{ secrets.API_TOKEN }}}} "))
        .collect();
    for vendor in [LlmProvider::Anthropic, LlmProvider::OpenAi] {
        let (base, _) = serve().await;
        let run = run_agent(
            scripted(&base, vendor, "echo_sse"),
            json!({"systemPrompt": "Echo.", "prompt": prompt}),
            json!({}),
            BTreeMap::from([("API_TOKEN".to_owned(), secret.to_owned())]),
        )
        .await;
        assert_eq!(run.outcome.status, RunStatus::Completed, "{vendor:?}");
        let deltas = run.of("agent_delta");
        assert!(deltas.len() > 3, "{vendor:?}: {} deltas", deltas.len());
        let text = run.for_node("node_succeeded", "ask")[0]["output"]["text"]
            .as_str()
            .expect("text")
            .to_owned();
        assert!(
            text.contains("[REDACTED]") && !text.contains(secret),
            "{text}"
        );
        assert_eq!(streamed(&run, 1), text, "{vendor:?}");
        let windows: Vec<&str> = (0..=secret.len() - 6).map(|i| &secret[i..i + 6]).collect();
        for d in &deltas {
            let piece = d["text"].as_str().unwrap_or_default();
            for w in &windows {
                assert!(
                    !piece.contains(w),
                    "{vendor:?}: a delta holds {w:?}: {piece:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_stream_that_breaks_or_errors_fails_the_attempt_as_transient() {
    let (base, _) = serve().await;
    for (script, kind) in [("cut_sse", "network"), ("overloaded_sse", "overloaded")] {
        let run = run_agent(
            scripted(&base, LlmProvider::Anthropic, script),
            json!({"systemPrompt": "Answer.", "prompt": "Hi"}),
            json!({}),
            BTreeMap::new(),
        )
        .await;
        assert_eq!(run.outcome.status, RunStatus::Failed, "{script}");
        let failed = run.for_node("node_failed", "ask");
        let last = failed.last().expect("failed");
        assert_eq!(last["error"]["kind"], kind, "{script}: {last}");
        assert_eq!(last["error"]["retryable"], true, "{script}");
    }
}
