//! What an agent node and its model say to each other when tools are in
//! play: the tools offered, the calls the model makes, and what each call
//! answered. Providers turn these into their own wire formats.

use serde_json::Value;

/// A tool offered to the model: its name, what it does, and a JSON Schema of its input.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// One call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The provider's id of the call, which its result must name.
    pub id: String,
    pub name: String,
    pub input: Value,
}

/// What a call answered (or why it failed), as the model is given it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub call_id: String,
    pub content: String,
    pub is_error: bool,
}

/// One turn after the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// The user's next message (a chat goes on).
    User(String),
    /// The model's answer that asked for tools (its text, if any, and its calls).
    Assistant { text: String, calls: Vec<ToolCall> },
    /// The calls' outcomes, in the order of the calls.
    Results(Vec<ToolOutcome>),
}
