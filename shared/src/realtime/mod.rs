//! Real-time delivery over WebSockets, written once for API Gateway's
//! WebSocket API and the local gateway.
//!
//! - [`ConnectionStore`]: connections (bound to a user) and their topic
//!   subscriptions, each with a delivery cursor: DynamoDB on AWS, memory locally.
//! - [`Pusher`]: a frame to one connection: the Management API's
//!   `PostToConnection` on AWS, the socket locally. `Gone` removes the connection.
//! - [`handlers`]: `$connect`, `$disconnect` and `$default` with API Gateway's
//!   event shapes, called by the Lambdas and by the local gateway alike.
//! - [`deliver`]: the fan-out of what the pipeline publishes. Events of an
//!   execution carry a sequence number; a connection's cursor per topic moves
//!   by compare-and-set, and a gap is filled from Postgres first, so each
//!   subscriber gets every event once and in order, live or after a reconnect.

pub mod closing;
pub mod deliver;
pub mod handlers;
pub mod membership;
pub mod memory;
pub mod presence;
pub mod publish;

#[cfg(feature = "apigw")]
pub mod apigw;
#[cfg(feature = "dynamodb")]
pub mod dynamo;

use std::{collections::HashMap, sync::Arc};

use uuid::Uuid;

use crate::future::BoxFuture;

/// API Gateway closes WebSocket connections after 2 hours; stored ones expire a little later.
pub const CONNECTION_TTL_SECONDS: i64 = 2 * 3600 + 600;

/// The largest frame sent as is (API Gateway's WebSocket frame limit is 32 KiB);
/// a larger event is sent as a reference to its log entry.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub user_id: Uuid,
    /// Unix seconds.
    pub connected_at: i64,
    /// The sign-in session (refresh-token family) of the token it was opened
    /// (or last authenticated) with: revoking it closes the connection.
    pub session_id: Uuid,
    /// Unix seconds: when that token expires, the connection is closed
    /// (unless the client sends a fresh token with `authenticate`).
    pub expires_at: i64,
}

/// Connections and their subscriptions. Every method is idempotent.
pub trait ConnectionStore: Send + Sync {
    fn put(&self, c: Connection) -> BoxFuture<'_, anyhow::Result<()>>;
    fn get(&self, id: String) -> BoxFuture<'_, anyhow::Result<Option<Connection>>>;
    /// Removes a connection and all its subscriptions.
    fn remove(&self, id: String) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Subscribes (or re-subscribes) with the delivery cursor at `cursor`:
    /// the next event delivered is `cursor + 1`.
    fn subscribe(
        &self,
        id: String,
        topic: String,
        cursor: i64,
    ) -> BoxFuture<'_, anyhow::Result<()>>;
    fn unsubscribe(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Connection ids subscribed to `topic`.
    fn subscribers(&self, topic: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
    /// The topics a connection is subscribed to.
    fn subscriptions(&self, id: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
    /// Connection ids of a user.
    fn connections_of(&self, user_id: Uuid) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
    /// The delivery cursor of a subscription (`None`: not subscribed).
    fn cursor(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<Option<i64>>>;
    /// Moves the cursor from `from` to `to`; `false` if it was not at `from`
    /// (someone else delivered) or the subscription is gone.
    fn advance(
        &self,
        id: String,
        topic: String,
        from: i64,
        to: i64,
    ) -> BoxFuture<'_, anyhow::Result<bool>>;
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection no longer exists (API Gateway's 410).
    #[error("the connection is gone")]
    Gone,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Why the server closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The access token it was opened with has expired.
    TokenExpired,
    /// Its sign-in session was revoked (logout, a reused refresh token).
    SessionRevoked,
}

impl CloseReason {
    /// The reason word of the `closing` frame and of the close frame.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenExpired => "token_expired",
            Self::SessionRevoked => "session_revoked",
        }
    }

    /// The WebSocket close code (4000–4999 are the application's).
    pub fn code(self) -> u16 {
        match self {
            Self::TokenExpired => 4001,
            Self::SessionRevoked => 4003,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::TokenExpired => {
                "the access token of this connection has expired: connect again with a fresh one"
            }
            Self::SessionRevoked => "the session of this connection was signed out",
        }
    }
}

/// Sends frames to one connection, and closes it.
pub trait Pusher: Send + Sync {
    fn push(&self, connection_id: String, frame: String) -> BoxFuture<'_, Result<(), PushError>>;
    /// Closes the connection from the server's side (API Gateway's
    /// `DeleteConnection`; locally a close frame with the reason's code).
    /// A connection already gone is not an error.
    fn close(
        &self,
        connection_id: String,
        reason: CloseReason,
    ) -> BoxFuture<'_, Result<(), PushError>>;
}

/// A per-connection lock held while a frame is chosen and sent, so frames to
/// one connection leave in cursor order within a process.
#[derive(Default)]
pub struct ConnectionLocks {
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ConnectionLocks {
    pub fn of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if locks.len() > 10_000 {
            // Forget locks nobody holds.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(id.to_owned()).or_default().clone()
    }
}

/// The real-time ports, shared by the handlers and the fan-out.
pub struct Realtime {
    pub store: Arc<dyn ConnectionStore>,
    pub pusher: Arc<dyn Pusher>,
    pub locks: ConnectionLocks,
    /// How many connections one message is pushed to at once.
    pub fanout_concurrency: usize,
    /// How long one publication may spend starting deliveries of numbered
    /// messages (on AWS, inside the publisher's request): a subscriber not
    /// reached by then is not lost, it is caught up from Postgres by the
    /// next message of its topic, the run's end, or its reconnect.
    pub fanout_budget: std::time::Duration,
}

impl std::fmt::Debug for Realtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realtime").finish_non_exhaustive()
    }
}

impl Realtime {
    pub fn new(store: Arc<dyn ConnectionStore>, pusher: Arc<dyn Pusher>) -> Self {
        Self {
            store,
            pusher,
            locks: ConnectionLocks::default(),
            fanout_concurrency: 64,
            fanout_budget: std::time::Duration::from_secs(5),
        }
    }

    /// Pushes a frame; a gone connection is removed from the store.
    pub async fn push(&self, connection_id: &str, frame: String) -> bool {
        match self.pusher.push(connection_id.to_owned(), frame).await {
            Ok(()) => true,
            Err(PushError::Gone) => {
                if let Err(e) = self.store.remove(connection_id.to_owned()).await {
                    tracing::warn!(connection_id, error = %e, "could not remove a gone connection");
                }
                false
            }
            Err(PushError::Failed(e)) => {
                tracing::warn!(connection_id, error = %e, "push failed");
                false
            }
        }
    }
}
