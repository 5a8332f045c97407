//! The design assistant's chat: a workflow's `chat_history` (read and
//! written under the workflow's row lock, without a new version: a message
//! is not a design change), and the numbered messages of its live stream
//! (`workflow_chat_streams`, `workflow_chat_events`, migration 0022).

use serde_json::Value;
use sqlx::{types::Json, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// A workflow's chat as locked for a change: its history, and the version
/// and canvas a proposal is made against.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Locked {
    pub chat_history: Json<Value>,
    pub canvas: Json<Value>,
    pub version: i32,
    pub status: String,
    /// Messages users sent to the assistant (what the plan's limit counts).
    pub chat_sent: i32,
}

/// Locks a live workflow of the workspace for a chat change (`None`: not found).
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    workspace_id: Uuid,
    workflow_id: Uuid,
) -> Result<Option<Locked>, sqlx::Error> {
    sqlx::query_as(
        "SELECT chat_history, canvas, version, status, chat_sent FROM workflows
          WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(workflow_id)
    .bind(workspace_id)
    .fetch_optional(&mut **tx)
    .await
}

/// How many messages users sent a live workflow's assistant (`None`: no
/// such workflow in the workspace).
pub async fn sent(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    workflow_id: Uuid,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT chat_sent FROM workflows WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL",
    )
    .bind(workflow_id)
    .bind(workspace_id)
    .fetch_optional(db)
    .await
}

/// Stores a locked workflow's chat history as it is now (no new version),
/// and moves its count of sent messages by `sent` (+1 for a message, -1
/// for one whose answer failed).
pub async fn store(
    tx: &mut Transaction<'_, Postgres>,
    workflow_id: Uuid,
    history: &Value,
    sent: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE workflows SET chat_history = $2, chat_sent = greatest(chat_sent + $3, 0) WHERE id = $1",
    )
    .bind(workflow_id)
    .bind(Json(history))
    .bind(sent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a stream message is: a piece of an answer being written, or a
/// whole message (a user's, an answer's end, a proposal's outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Delta,
    Message,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delta => "delta",
            Self::Message => "message",
        }
    }
}

/// Numbers and stores messages of one chat message's stream, in order, in
/// one statement; their numbers, ascending.
pub async fn record(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
    message_id: Uuid,
    items: &[(EventKind, Value)],
) -> Result<Vec<i64>, sqlx::Error> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
    let payloads: Vec<Json<&Value>> = items.iter().map(|(_, p)| Json(p)).collect();
    let mut seqs: Vec<i64> = sqlx::query_scalar(
        "WITH s AS (
             INSERT INTO workflow_chat_streams (workflow_id, last_seq) VALUES ($1, $3)
             ON CONFLICT (workflow_id) DO UPDATE SET last_seq = workflow_chat_streams.last_seq + $3
             RETURNING last_seq - $3 AS base)
         INSERT INTO workflow_chat_events (workflow_id, seq, message_id, kind, payload)
         SELECT $1, s.base + t.ord, $2, t.kind, t.payload
           FROM s, unnest($4::text[], $5::jsonb[]) WITH ORDINALITY AS t(kind, payload, ord)
         RETURNING seq",
    )
    .bind(workflow_id)
    .bind(message_id)
    .bind(items.len() as i64)
    .bind(&kinds)
    .bind(&payloads)
    .fetch_all(db)
    .await?;
    seqs.sort_unstable();
    Ok(seqs)
}

/// The number of a workflow's latest chat stream message (0: none yet;
/// `None`: no such live workflow).
pub async fn last_seq(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(s.last_seq, 0) FROM workflows w
           LEFT JOIN workflow_chat_streams s ON s.workflow_id = w.id
          WHERE w.id = $1 AND w.deleted_at IS NULL",
    )
    .bind(workflow_id)
    .fetch_optional(db)
    .await
}

/// Up to `limit` stored stream messages numbered after `after`, in order,
/// each with its number.
pub async fn after(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, Value)>, sqlx::Error> {
    let rows: Vec<(i64, Json<Value>)> = sqlx::query_as(
        "SELECT seq, payload FROM workflow_chat_events
          WHERE workflow_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(workflow_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, Json(mut payload))| {
            payload["seq"] = seq.into();
            (seq, payload)
        })
        .collect())
}

/// Drops the pieces of an answer once its whole message is stored: a
/// subscriber catching up gets the message, which holds the whole text.
pub async fn drop_deltas(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
    message_id: Uuid,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM workflow_chat_events WHERE workflow_id = $1 AND message_id = $2 AND kind = 'delta'",
    )
    .bind(workflow_id)
    .bind(message_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Drops stream messages older than a day, at most `batch` (the history
/// keeps every message; the stream only serves catching up).
pub async fn prune(db: impl PgExecutor<'_>, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM workflow_chat_events WHERE (workflow_id, seq) IN (
             SELECT workflow_id, seq FROM workflow_chat_events
              WHERE created_at < now() - interval '1 day' LIMIT $1)",
    )
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
