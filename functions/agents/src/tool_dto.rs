//! What the tools routes read and answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    User,
    Assistant,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: ChatRole,
    /// 1–100,000 characters.
    #[schema(min_length = 1, max_length = 100000)]
    pub content: String,
}

/// A chat with the workspace's model: the messages so far, alternating, the
/// first and the last from the user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"messages": [{"role": "user", "content": "Name three uses of a message queue."}], "maxTokens": 400}))]
pub struct ChatRequest {
    /// 1–50 messages.
    #[schema(min_items = 1, max_items = 50)]
    pub messages: Vec<ChatMessage>,
    /// Up to 20,000 characters of instructions.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub system: Option<String>,
    /// The provider's model name; absent: the platform's default.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[A-Za-z0-9._:/-]+$")]
    pub model: Option<String>,
    /// 1–8192; absent: 4096.
    #[serde(default, deserialize_with = "shared::extract::whole")]
    #[schema(minimum = 1, maximum = 8192)]
    pub max_tokens: Option<u32>,
    /// 0–2.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatAnswer {
    pub text: String,
    /// `anthropic`, `openai`, or `dev` (the local stand-in, which says so).
    pub provider: String,
    pub model: String,
    pub usage: TokenUsage,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"query": "rust async runtimes", "count": 5}))]
pub struct SearchRequest {
    /// 1–400 characters.
    #[schema(min_length = 1, max_length = 400)]
    pub query: String,
    /// 1–10; absent: 5.
    #[serde(default, deserialize_with = "shared::extract::whole")]
    #[schema(minimum = 1, maximum = 10)]
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    pub title: String,
    pub url: String,
    pub snippet: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchAnswer {
    pub query: String,
    pub results: Vec<SearchResult>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://example.com/"}))]
pub struct ReadRequest {
    /// An http(s) URL on a public address.
    #[schema(
        max_length = 2048,
        pattern = "^[hH][tT][tT][pP][sS]?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][^\\x00-\\x20\\x7f-\\x9f]*)?$"
    )]
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadAnswer {
    pub url: String,
    pub content_type: String,
    /// The page's readable text (links as footnotes), at most 2 MiB read.
    pub text: String,
}

/// An agent to try on a prompt.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"prompt": "Summarise https://example.com/ in one line.", "tools": ["web_read"], "maxIterations": 3}))]
pub struct AgentTestRequest {
    /// 1–20,000 characters.
    #[schema(min_length = 1, max_length = 20000)]
    pub prompt: String,
    /// The tools to offer instead of the agent's own (`read_file` works in runs only).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub tools: Option<Vec<String>>,
    /// 1–10 model turns; absent: 5.
    #[serde(default, deserialize_with = "shared::extract::whole")]
    #[schema(minimum = 1, maximum = 10)]
    pub max_iterations: Option<u32>,
}

/// A tool call of a test.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestCall {
    pub tool: String,
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// What the model was given (cut at 16 KiB).
    pub output: String,
    pub error: bool,
    pub duration_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentTestAnswer {
    /// The `testId` of its `agent:test` messages.
    pub test_id: uuid::Uuid,
    pub text: String,
    pub provider: String,
    pub model: String,
    pub usage: TokenUsage,
    /// Model turns taken.
    pub turns: u32,
    pub calls: Vec<TestCall>,
}
