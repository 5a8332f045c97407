//! Where events go: stdout as JSON lines (standalone), memory (tests), or the
//! callback API in small batches (in a Job). The [`Reporter`] numbers events,
//! stamps them and strips secret values before anything leaves the process.

use std::{
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::{
    callback::CallbackClient,
    event::{Event, EventKind},
};

/// Replaces secret values wherever they appear in an event.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

pub const REDACTED: &str = "[REDACTED]";

impl Redactor {
    /// Secrets shorter than 4 characters are not redacted (they would mangle ordinary text).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    pub fn redact_str(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    fn redact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) if self.secrets.iter().any(|x| s.contains(x.as_str())) => {
                *s = self.redact_str(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.redact_value(i)),
            _ => {}
        }
    }

    /// A JSON value with every secret replaced (results, artifacts).
    pub fn redact_json(&self, mut v: Value) -> Value {
        if !self.secrets.is_empty() {
            self.redact_value(&mut v);
        }
        v
    }

    /// The event with every secret replaced.
    pub fn redact(&self, event: Event) -> Event {
        if self.secrets.is_empty() {
            return event;
        }
        let Ok(mut v) = serde_json::to_value(&event) else {
            return event;
        };
        self.redact_value(&mut v);
        serde_json::from_value(v).unwrap_or(event)
    }
}

/// Where events are delivered.
pub enum Sink {
    /// One JSON object per line on stdout.
    Stdout,
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<Event>>>),
    /// Batched to the callback API by a background task.
    Callback(CallbackSink),
}

impl Sink {
    fn send(&self, event: Event) {
        match self {
            Sink::Stdout => {
                if let Ok(line) = serde_json::to_string(&event) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
            Sink::Memory(events) => events.lock().unwrap_or_else(|p| p.into_inner()).push(event),
            Sink::Callback(c) => c.send(event),
        }
    }
}

/// Numbers, stamps, redacts and delivers events. Cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

struct Inner {
    seq: AtomicU64,
    sink: Sink,
    redactor: Redactor,
}

impl Reporter {
    pub fn new(sink: Sink, redactor: Redactor) -> Self {
        Self {
            inner: Arc::new(Inner {
                seq: AtomicU64::new(0),
                sink,
                redactor,
            }),
        }
    }

    /// A reporter that keeps events in memory, and the list it fills.
    pub fn memory(redactor: Redactor) -> (Self, Arc<Mutex<Vec<Event>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        (Self::new(Sink::Memory(events.clone()), redactor), events)
    }

    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    pub fn emit(&self, kind: EventKind) {
        let seq = self.inner.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let event = self.inner.redactor.redact(Event { seq, ts, kind });
        self.inner.sink.send(event);
    }

    pub fn log(&self, level: &str, node: Option<&str>, message: impl Into<String>) {
        self.emit(EventKind::Log {
            level: level.to_owned(),
            message: message.into(),
            node: node.map(str::to_owned),
        });
    }

    /// Waits until every event is delivered (callback sink), at most `limit`.
    pub async fn flush(&self, limit: Duration) -> anyhow::Result<()> {
        match &self.inner.sink {
            Sink::Callback(c) => c.flush(limit).await,
            _ => Ok(()),
        }
    }
}

/// Sends events to the callback API in batches of up to `MAX_BATCH`, at most
/// `LINGER` after the first event of a batch. A failed POST is retried with
/// backoff until it succeeds or the flush deadline passes; the batch's events
/// keep their sequence numbers, so the API applies a retried batch once.
pub struct CallbackSink {
    tx: Mutex<Option<mpsc::UnboundedSender<Event>>>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

const MAX_BATCH: usize = 100;
const LINGER: Duration = Duration::from_millis(200);

impl CallbackSink {
    pub fn start(client: Arc<CallbackClient>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + LINGER;
                while batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(e)) => batch.push(e),
                        Ok(None) | Err(_) => break,
                    }
                }
                client.post_events_until_delivered(&batch).await;
            }
        });
        Self {
            tx: Mutex::new(Some(tx)),
            task: tokio::sync::Mutex::new(Some(task)),
        }
    }

    fn send(&self, event: Event) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(event);
        }
    }

    async fn flush(&self, limit: Duration) -> anyhow::Result<()> {
        // Closing the channel lets the task drain what is queued and end.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(task) = self.task.lock().await.take() else {
            return Ok(());
        };
        match tokio::time::timeout(limit, task).await {
            Ok(_) => Ok(()),
            Err(_) => anyhow::bail!("events could not be delivered within {} s", limit.as_secs()),
        }
    }
}
