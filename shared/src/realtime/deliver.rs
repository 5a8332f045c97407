//! Fan-out of published messages to subscribed connections.
//!
//! An execution's events carry `seq`. For each subscriber the cursor of its
//! subscription moves by compare-and-set from `seq - 1` to `seq` before the
//! frame is sent, so a frame is never sent twice; when the cursor is behind
//! (a reconnect with `after`, a missed message), the gap is read from Postgres
//! and sent first, so nothing is skipped. The end of a run is a sequenced
//! message too (`execution:completed`, from the `execution_ended` event that
//! is always the run's last), so it never overtakes the run's events, live or
//! on catch-up. A workspace's activity (`workspace:activity` on
//! `workspace:{id}`) is numbered the same way and delivered the same way.
//! Messages without `seq` (queued, status changes, presence, and anything on
//! `user:` topics) are live notifications, sent as they come.

use futures_util::{stream, StreamExt};
use run_protocol::message::MessageType;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::publish::Published;
use super::{Realtime, MAX_FRAME_BYTES};
use crate::db::{activity, chat, executions};

/// A numbered stream of messages a topic carries: a run's events on
/// `execution:{id}`, a workspace's activity on `workspace:{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Execution(Uuid),
    Workspace(Uuid),
    /// A workflow's design-assistant chat on `chat:{id}`.
    Chat(Uuid),
}

impl Stream {
    /// The stream a numbered message belongs to, with its number.
    fn of(topic: &str, message: &Value) -> Option<(Self, i64)> {
        let seq = message["seq"].as_i64()?;
        let kind = message_type(message)?;
        let (prefix, id) = topic.split_once(':')?;
        let id: Uuid = id.parse().ok()?;
        match prefix {
            "execution" if kind.is_sequenced() => Some((Self::Execution(id), seq)),
            "workspace" if kind == MessageType::WorkspaceActivity => {
                Some((Self::Workspace(id), seq))
            }
            "chat" if matches!(kind, MessageType::ChatDelta | MessageType::ChatMessage) => {
                Some((Self::Chat(id), seq))
            }
            _ => None,
        }
    }

    /// The numbered messages a published message carries (itself, or a
    /// batch's, all of one stream), in order of their numbers.
    fn numbered(published: &Published) -> Option<(Self, Due)> {
        let (stream, messages) = Self::messages(published)?;
        Some((stream, Due::new(messages)))
    }

    fn messages(published: &Published) -> Option<(Self, Vec<(i64, Value)>)> {
        let topic = &published.topic;
        if message_type(&published.message) != Some(MessageType::Batch) {
            let (stream, seq) = Self::of(topic, &published.message)?;
            return Some((stream, vec![(seq, published.message.clone())]));
        }
        let mut stream = None;
        let mut all = Vec::new();
        for m in published.message["messages"].as_array()? {
            let (s, seq) = Self::of(topic, m)?;
            if *stream.get_or_insert(s) != s {
                return None;
            }
            all.push((seq, m.clone()));
        }
        all.sort_by_key(|(seq, _)| *seq);
        all.dedup_by_key(|(seq, _)| *seq);
        Some((stream?, all))
    }

    /// The number of the stream's latest message (`None`: it is gone).
    async fn last_seq(self, db: &PgPool) -> Result<Option<i64>, sqlx::Error> {
        match self {
            Self::Execution(id) => Ok(executions::get(db, id).await?.map(|e| e.last_seq)),
            Self::Workspace(id) => activity::last_seq(db, id).await,
            Self::Chat(id) => chat::last_seq(db, id).await,
        }
    }

    /// Up to `limit` stored messages numbered after `after`, in order.
    async fn after(
        self,
        db: &PgPool,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Value)>, sqlx::Error> {
        Ok(match self {
            Self::Execution(id) => executions::events_after(db, id, after, limit)
                .await?
                .into_iter()
                .map(|e| (e.seq, event_message(id, e.seq, &e.kind, &e.payload.0)))
                .collect(),
            Self::Workspace(id) => activity::after_seq(db, id, after, limit)
                .await?
                .into_iter()
                .map(|e| (e.seq, crate::activity::live(e)))
                .collect(),
            Self::Chat(id) => chat::after(db, id, after, limit).await?,
        })
    }
}

/// The message for one stored event of an execution. The run's end also
/// says, at the top, how it ended.
pub fn event_message(execution_id: Uuid, seq: i64, kind: &str, event: &Value) -> Value {
    let kind_of = MessageType::of_event(kind);
    let mut m = json!({ "type": kind_of, "executionId": execution_id, "seq": seq, "event": event });
    if kind_of == MessageType::ExecutionCompleted {
        for field in ["status", "output", "outputRef", "error"] {
            if let Some(v) = event.get(field) {
                m[field] = v.clone();
            }
        }
    }
    m
}

/// A message as a frame within the size limit: one too large is replaced by
/// a reference to where the client can read it.
pub fn frame(message: &Value) -> String {
    let text = message.to_string();
    if text.len() <= MAX_FRAME_BYTES {
        return text;
    }
    if let (Some(workflow), Some(msg)) = (
        message["workflowId"].as_str(),
        message["messageId"].as_str(),
    ) {
        // A chat message: the whole of it is in the workflow's chat history.
        return json!({
            "type": message["type"], "workflowId": workflow, "messageId": msg, "seq": message["seq"],
            "truncated": true,
            "url": format!("/api/v1/workflows/{workflow}/chat/{msg}"),
        })
        .to_string();
    }
    let id = message["executionId"].as_str().unwrap_or_default();
    let seq = message["seq"].as_i64().unwrap_or(1);
    json!({
        "type": message["type"], "executionId": message["executionId"], "seq": message["seq"],
        "truncated": true,
        "url": format!("/api/v1/executions/{id}/logs?after={}&limit=1", seq - 1),
    })
    .to_string()
}

/// Numbered messages being published, in order, with their frames for a
/// subscriber where they begin: made once, whatever the subscribers.
#[derive(Debug)]
pub struct Due {
    messages: Vec<(i64, Value)>,
    /// `None` when the numbers have holes (what fills them is read from
    /// Postgres for each subscriber).
    frames: Option<Vec<(i64, String)>>,
}

impl Due {
    fn new(messages: Vec<(i64, Value)>) -> Self {
        let whole = messages.windows(2).all(|w| w[1].0 == w[0].0 + 1);
        let frames = whole.then(|| frames(&messages));
        Self { messages, frames }
    }
}

/// Several numbered messages as frames of at most [`MAX_FRAME_BYTES`]: one
/// alone as itself, more as a `batch` frame. Each frame comes with the number
/// of its last message.
pub fn frames(messages: &[(i64, Value)]) -> Vec<(i64, String)> {
    const OPEN: &str = r#"{"type":"batch","messages":["#;
    const CLOSE: &str = "]}";
    let mut out: Vec<(i64, String)> = Vec::new();
    let mut group: Vec<(i64, String)> = Vec::new();
    let mut size = OPEN.len() + CLOSE.len();
    let flush = |group: &mut Vec<(i64, String)>, out: &mut Vec<(i64, String)>| {
        let Some(&(last, _)) = group.last() else {
            return;
        };
        let text = if group.len() == 1 {
            group.pop().map(|(_, t)| t).unwrap_or_default()
        } else {
            let parts: Vec<String> = group.drain(..).map(|(_, t)| t).collect();
            format!("{OPEN}{}{CLOSE}", parts.join(","))
        };
        group.clear();
        out.push((last, text));
    };
    for (seq, message) in messages {
        let text = frame(message);
        if !group.is_empty() && size + 1 + text.len() > MAX_FRAME_BYTES {
            flush(&mut group, &mut out);
            size = OPEN.len() + CLOSE.len();
        }
        size += text.len() + 1;
        group.push((*seq, text));
    }
    flush(&mut group, &mut out);
    out
}

/// Several numbered messages of `topic` published at once: a `batch`, which
/// each subscriber gets in as few frames as fit (one cursor move per frame).
pub fn batch(messages: Vec<Value>) -> Value {
    json!({ "type": MessageType::Batch, "messages": messages })
}

fn message_type(message: &Value) -> Option<MessageType> {
    serde_json::from_value(message["type"].clone()).ok()
}

/// Progress messages (nodes, logs) go to execution topics only, not to the
/// workspace's `workspace:` topic, which carries status changes.
pub(crate) fn is_progress(message: &Value) -> bool {
    message_type(message).is_some_and(MessageType::is_progress)
}

/// Delivers one published message to every subscriber of its topic.
pub async fn fanout(rt: &Realtime, db: &PgPool, published: &Published) {
    // A revoked session: its connections are closed, not sent to.
    if let Some(session) = published.topic.strip_prefix("session:") {
        if let Ok(id) = session.parse() {
            if let Err(e) = super::closing::close_session(rt, id).await {
                tracing::warn!(topic = %published.topic, error = %e, "cannot close a session's connections; the sweeper will");
            }
        }
        return;
    }
    // A member left or was removed: their workspace subscriptions end.
    if let Some((workspace, user)) = super::membership::parse(&published.topic) {
        if let Err(e) = super::membership::end(rt, db, workspace, user).await {
            tracing::warn!(topic = %published.topic, error = %e, "cannot end a former member's subscriptions");
        }
        return;
    }
    if published.topic.starts_with("workspace:") && is_progress(&published.message) {
        return;
    }
    let subscribers = match rt.store.subscribers(published.topic.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(topic = %published.topic, error = %e, "cannot list subscribers");
            return;
        }
    };
    // Numbered messages are delivered in order, once each, on their stream's topic.
    let sequenced = Stream::numbered(published);
    if sequenced.is_none() && message_type(&published.message) == Some(MessageType::Batch) {
        tracing::warn!(topic = %published.topic, "dropping a batch that is not all numbered messages of its topic");
        return;
    }
    let sequenced = &sequenced;
    // Progress (a run's events, a chat's pieces) may be left to the next
    // message to catch up; what ends a stream, or may be its last for long,
    // is always sent.
    let budgeted = sequenced.as_ref().is_some_and(|(_, due)| {
        due.messages.iter().all(|(_, m)| {
            message_type(m).is_some_and(|t| t.is_progress() || t == MessageType::ChatDelta)
        })
    });
    let execution = published.message["executionId"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok());
    // A connection that follows the execution itself gets its status there,
    // not a second time through its `workspace:` topic.
    let own_topic = execution
        .filter(|_| published.topic.starts_with("workspace:"))
        .map(|id| format!("execution:{id}"));
    let own_topic = &own_topic;
    // Numbered messages are started within the budget; who is left waits
    // for the next one (or the run's end, or a reconnect) to catch up.
    let deadline = tokio::time::Instant::now() + rt.fanout_budget;
    let left_out = &std::sync::atomic::AtomicUsize::new(0);
    stream::iter(subscribers)
        .for_each_concurrent(rt.fanout_concurrency, |conn| async move {
            if let Some(t) = own_topic {
                if matches!(rt.store.cursor(conn.clone(), t.clone()).await, Ok(Some(_))) {
                    return;
                }
            }
            match sequenced {
                Some(_) if budgeted && tokio::time::Instant::now() >= deadline => {
                    left_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Some((stream, due)) => {
                    deliver_in_order(rt, db, &conn, &published.topic, *stream, Some(due)).await;
                }
                None => {
                    rt.push(&conn, frame(&published.message)).await;
                }
            }
        })
        .await;
    let left_out = left_out.load(std::sync::atomic::Ordering::Relaxed);
    if left_out > 0 {
        tracing::warn!(topic = %published.topic, left_out, budget_ms = rt.fanout_budget.as_millis() as u64,
            "the fan-out's budget ran out; those subscribers catch up with the topic's next message");
    }
}

/// Sends a subscriber everything after its cursor, in order, up to and
/// including the last of `upto` (the messages being published, in order), or
/// up to the stream's last stored message when `upto` is `None` (catch-up
/// after subscribing). Numbers may skip (activity past its retention): the
/// cursor moves to the number delivered.
///
/// A subscriber that is where the published messages begin (the common case)
/// costs one cursor move and one frame per 32 KiB: the move is tried first,
/// and the cursor is read only when it fails.
pub async fn deliver_in_order(
    rt: &Realtime,
    db: &PgPool,
    conn: &str,
    topic: &str,
    stream: Stream,
    upto: Option<&Due>,
) {
    let upto = upto.filter(|d| !d.messages.is_empty());
    let lock = rt.locks.of(conn);
    let _held = lock.lock().await;
    // Where the subscriber is believed to be; `None`: read it.
    let mut known = upto.map(|d| d.messages[0].0 - 1);
    for _ in 0..10_000 {
        let cursor = match known.take() {
            Some(c) => c,
            None => match rt.store.cursor(conn.to_owned(), topic.to_owned()).await {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(conn, error = %e, "cannot read a delivery cursor");
                    return;
                }
            },
        };
        let target = match upto {
            Some(d) => d.messages[d.messages.len() - 1].0,
            None => match stream.last_seq(db).await {
                Ok(Some(last)) => last,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(conn, error = %e, "cannot read a stream's last number for catch-up");
                    return;
                }
            },
        };
        if cursor >= target {
            return;
        }
        // What comes next: the published messages' frames, made once, for a
        // subscriber where they begin; else the published messages when they
        // follow on, else what Postgres has.
        let next = match upto {
            Some(d) if d.messages[0].0 == cursor + 1 && d.frames.is_some() => {
                d.frames.clone().unwrap_or_default()
            }
            _ => match to_send(db, conn, stream, upto, cursor, target).await {
                Some(next) => frames(&next),
                None => return,
            },
        };
        let mut at = cursor;
        let mut moved = true;
        for (last, text) in next {
            match rt
                .store
                .advance(conn.to_owned(), topic.to_owned(), at, last)
                .await
            {
                Ok(true) => {
                    if !rt.push(conn, text).await {
                        // Not sent: the cursor goes back, so the next message
                        // (or a reconnect) sends these again. A gone
                        // connection has no cursor left to move.
                        let _ = rt
                            .store
                            .advance(conn.to_owned(), topic.to_owned(), last, at)
                            .await;
                        return;
                    }
                    at = last;
                }
                // Someone else moved the cursor (or it was not where it was
                // believed to be): read it again.
                Ok(false) => {
                    moved = false;
                    break;
                }
                Err(e) => {
                    tracing::warn!(conn, error = %e, "cannot advance a delivery cursor");
                    return;
                }
            }
        }
        if moved {
            if at >= target {
                return;
            }
            known = Some(at);
        }
    }
}

/// The messages after `cursor` up to `target`: the published ones when they
/// follow on, else what Postgres has (`None`: nothing to send, or it cannot
/// be read).
async fn to_send(
    db: &PgPool,
    conn: &str,
    stream: Stream,
    upto: Option<&Due>,
    cursor: i64,
    target: i64,
) -> Option<Vec<(i64, Value)>> {
    let published: Vec<(i64, Value)> = upto
        .map(|d| {
            d.messages
                .iter()
                .filter(|(s, _)| *s > cursor)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // They follow on when they run from `cursor + 1` without a hole (a hole
    // may be stored already: Postgres has it).
    let follows = published
        .iter()
        .enumerate()
        .all(|(i, (s, _))| *s == cursor + 1 + i as i64);
    if follows && !published.is_empty() {
        return Some(published);
    }
    match stream.after(db, cursor, (target - cursor).min(500)).await {
        Ok(missed) if !missed.is_empty() => Some(missed),
        // Nothing stored up to the published ones (gaps): send them.
        Ok(_) if !published.is_empty() => Some(published),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(conn, error = %e, "cannot read missed messages");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_messages_become_references() {
        let id = Uuid::now_v7();
        let end = event_message(
            id,
            9,
            "execution_ended",
            &json!({"type": "execution_ended", "status": "completed", "output": {"a": 1}}),
        );
        assert_eq!(end["type"], "execution:completed");
        assert_eq!(end["status"], "completed");
        assert_eq!(end["output"], json!({"a": 1}));
        let small = event_message(id, 3, "log", &json!({"message": "hi"}));
        assert_eq!(frame(&small), small.to_string());
        assert_eq!(small["type"], "execution:logs");
        let big = event_message(
            id,
            7,
            "node_succeeded",
            &json!({"output": "x".repeat(40_000)}),
        );
        let f: Value = serde_json::from_str(&frame(&big)).expect("json");
        assert_eq!(f["truncated"], true);
        assert_eq!(f["seq"], 7);
        assert_eq!(f["type"], "execution:node");
        assert_eq!(
            f["url"],
            format!("/api/v1/executions/{id}/logs?after=6&limit=1")
        );
    }
}
