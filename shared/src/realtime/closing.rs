//! Connections end with their credentials. A connection is bound to the
//! session (refresh-token family) and the expiry of the access token it was
//! opened with, through two topics it is subscribed to at `$connect`:
//!
//! - `session:{sid}`: revoking a session publishes [`revoked`] there, and the
//!   fan-out closes every connection of the session ([`close_session`]);
//! - `expiry:{bucket}` (five-minute buckets of the expiry time): the sweeper
//!   reads the buckets that have begun and closes what has expired
//!   ([`close_expired`]), so no store needs a scan.
//!
//! A closed connection first gets a `closing` frame with the reason (API
//! Gateway's `DeleteConnection` sends no reason of ours), then the close
//! (locally a close frame with the reason's code), and is forgotten. A client
//! keeps its connection past expiry by sending a fresh access token
//! (`authenticate`), which moves it to the new token's session and bucket.

use run_protocol::message::MessageType;
use serde_json::json;
use uuid::Uuid;

use super::publish::Published;
use super::{CloseReason, Connection, PushError, Realtime, CONNECTION_TTL_SECONDS};
use crate::db::sessions;

/// The width of an expiry bucket.
pub const EXPIRY_BUCKET_SECONDS: i64 = 300;

pub fn session_topic(session_id: Uuid) -> String {
    format!("session:{session_id}")
}

pub fn expiry_topic(expires_at: i64) -> String {
    format!("expiry:{}", expires_at.div_euclid(EXPIRY_BUCKET_SECONDS))
}

/// What revoking a session publishes: its connections are closed.
pub fn revoked(session_id: Uuid) -> Published {
    Published {
        topic: session_topic(session_id),
        message: json!({ "type": MessageType::Closing, "reason": CloseReason::SessionRevoked.as_str() }),
    }
}

/// The frame a connection gets before it is closed.
pub fn closing_frame(reason: CloseReason) -> String {
    json!({ "type": MessageType::Closing, "reason": reason.as_str(), "message": reason.message() })
        .to_string()
}

/// Subscribes a stored connection to the topics of its credentials.
pub async fn bind(rt: &Realtime, c: &Connection) -> anyhow::Result<()> {
    rt.store
        .subscribe(c.id.clone(), session_topic(c.session_id), 0)
        .await?;
    rt.store
        .subscribe(c.id.clone(), expiry_topic(c.expires_at), 0)
        .await
}

/// Moves a connection to new credentials (a fresh token of the same user):
/// stored with the new session and expiry, bound to their topics, unbound
/// from the old ones.
pub async fn rebind(rt: &Realtime, old: &Connection, new: Connection) -> anyhow::Result<()> {
    rt.store.put(new.clone()).await?;
    bind(rt, &new).await?;
    if old.session_id != new.session_id {
        rt.store
            .unsubscribe(old.id.clone(), session_topic(old.session_id))
            .await?;
    }
    if expiry_topic(old.expires_at) != expiry_topic(new.expires_at) {
        rt.store
            .unsubscribe(old.id.clone(), expiry_topic(old.expires_at))
            .await?;
    }
    Ok(())
}

/// Closes one connection with `reason`: the `closing` frame, the close, and
/// the store forgets it. Frames being sent to it leave first (its lock).
pub async fn close(rt: &Realtime, connection_id: &str, reason: CloseReason) {
    let lock = rt.locks.of(connection_id);
    let _held = lock.lock().await;
    // A connection already gone needs no frame and no close; a frame that
    // could not be sent does not keep the connection open.
    let pushed = rt
        .pusher
        .push(connection_id.to_owned(), closing_frame(reason))
        .await;
    if !matches!(pushed, Err(PushError::Gone)) {
        match rt.pusher.close(connection_id.to_owned(), reason).await {
            Ok(()) | Err(PushError::Gone) => {}
            Err(PushError::Failed(e)) => {
                tracing::warn!(connection_id, error = %e, "could not close a connection; it is forgotten anyway");
            }
        }
    }
    let topics = rt
        .store
        .subscriptions(connection_id.to_owned())
        .await
        .unwrap_or_default();
    if let Err(e) = rt.store.remove(connection_id.to_owned()).await {
        tracing::warn!(connection_id, error = %e, "could not forget a closed connection");
    }
    drop(_held);
    // The workflows it had open have one follower fewer.
    super::presence::announce_left(rt, &topics).await;
    tracing::info!(connection_id, reason = reason.as_str(), "connection closed");
}

/// Closes every connection of a revoked session; returns how many.
pub async fn close_session(rt: &Realtime, session_id: Uuid) -> anyhow::Result<usize> {
    let conns = rt.store.subscribers(session_topic(session_id)).await?;
    for c in &conns {
        close(rt, c, CloseReason::SessionRevoked).await;
    }
    Ok(conns.len())
}

/// Closes every connection whose token expired at or before `now` (unix
/// seconds); returns how many. Reads the buckets from the oldest a stored
/// connection can be in up to `now`'s; those before are empty once swept.
pub async fn close_expired(rt: &Realtime, now: i64) -> anyhow::Result<usize> {
    let first = (now - CONNECTION_TTL_SECONDS).div_euclid(EXPIRY_BUCKET_SECONDS);
    let last = now.div_euclid(EXPIRY_BUCKET_SECONDS);
    let mut closed = 0;
    for bucket in first..=last {
        let topic = format!("expiry:{bucket}");
        for id in rt.store.subscribers(topic).await? {
            match rt.store.get(id.clone()).await? {
                Some(c) if c.expires_at <= now => {
                    close(rt, &id, CloseReason::TokenExpired).await;
                    closed += 1;
                }
                Some(_) => {}
                // A subscription left by a connection that is gone.
                None => rt.store.remove(id).await?,
            }
        }
    }
    Ok(closed)
}

/// Sessions revoked this recently have their connections closed again by
/// every sweep (the close at revocation may not have reached them).
pub const REVOKED_RECHECK: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// What a sweep of connections closed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub expired: usize,
    pub revoked: usize,
}

/// The sweeper's part: close expired connections, and those of sessions
/// revoked within [`REVOKED_RECHECK`].
pub async fn sweep(
    rt: &Realtime,
    db: &sqlx::PgPool,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Closed> {
    let expired = close_expired(rt, now.timestamp()).await?;
    let since = now - chrono::Duration::from_std(REVOKED_RECHECK).unwrap_or_default();
    let mut revoked = 0;
    for session in sessions::revoked_since(db, since).await? {
        revoked += close_session(rt, session).await?;
    }
    Ok(Closed { expired, revoked })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_five_minutes_wide() {
        assert_eq!(expiry_topic(0), "expiry:0");
        assert_eq!(expiry_topic(299), "expiry:0");
        assert_eq!(expiry_topic(300), "expiry:1");
        assert_eq!(
            expiry_topic(1_800_000_000),
            format!("expiry:{}", 1_800_000_000 / 300)
        );
    }

    #[test]
    fn the_closing_frame_names_its_reason() {
        let f: serde_json::Value =
            serde_json::from_str(&closing_frame(CloseReason::SessionRevoked)).expect("json");
        assert_eq!(f["type"], "closing");
        assert_eq!(f["reason"], "session_revoked");
    }
}
