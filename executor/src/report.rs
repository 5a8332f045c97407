//! Where events go: stdout as JSON lines (standalone), memory (tests), or the
//! callback API in small batches (in a Job). The [`Reporter`] numbers events,
//! stamps them and strips secret values before anything leaves the process.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use run_protocol::{
    limits::{json_size, MAX_BATCH_BYTES, MAX_INLINE_OUTPUT_BYTES},
    OutputRef,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use agent_kit::redact::{Redactor, REDACTED};

use crate::{
    callback::{CallbackClient, CallbackError},
    event::{Event, EventKind},
};

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
    /// The last sequence number; held while an event is numbered and handed
    /// to the sink, so events leave in sequence order whatever task emits them.
    seq: Mutex<u64>,
    sink: Sink,
    redactor: Redactor,
}

impl Reporter {
    pub fn new(sink: Sink, redactor: Redactor) -> Self {
        Self {
            inner: Arc::new(Inner {
                seq: Mutex::new(0),
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
        // Redact before numbering: the lock is held only to number and hand over.
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let event = self.inner.redactor.redact(Event { seq: 0, ts, kind });
        let mut seq = self.inner.seq.lock().unwrap_or_else(|p| p.into_inner());
        *seq += 1;
        self.inner.sink.send(Event { seq: *seq, ..event });
    }

    pub fn log(&self, level: &str, node: Option<&str>, message: impl Into<String>) {
        self.emit(EventKind::Log {
            level: level.to_owned(),
            message: message.into(),
            node: node.map(str::to_owned),
        });
    }

    /// Why event delivery failed for good, if it did (callback sink).
    pub fn delivery_failure(&self) -> Option<String> {
        match &self.inner.sink {
            Sink::Callback(c) => c.failure(),
            _ => None,
        }
    }

    /// Where the run's output went when `run_finished` carried it as an
    /// artifact (callback sink): the result reuses it instead of storing it twice.
    pub fn run_output_ref(&self) -> Option<OutputRef> {
        match &self.inner.sink {
            Sink::Callback(c) => lock(&c.state.run_output).clone(),
            _ => None,
        }
    }

    /// Waits until every event is delivered (callback sink), at most `limit`.
    pub async fn flush(&self, limit: Duration) -> anyhow::Result<()> {
        match &self.inner.sink {
            Sink::Callback(c) => c.flush(limit).await,
            _ => Ok(()),
        }
    }
}

/// Sends events to the callback API in batches of up to `MAX_BATCH` events
/// and [`MAX_BATCH_BYTES`] bytes, at most `LINGER` after the first event of a
/// batch. An output too large to travel inline is stored as an artifact first
/// and the event carries its reference. A failed POST is retried with backoff
/// until it succeeds or the flush deadline passes; the batch's events keep
/// their sequence numbers, so the API applies a retried batch once.
///
/// Nothing is dropped quietly: a batch the API refuses, or an output that
/// cannot be stored, cancels the run and is its failure ([`CallbackSink::failure`]).
pub struct CallbackSink {
    tx: Mutex<Option<mpsc::UnboundedSender<Event>>>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    state: Arc<Delivery>,
}

const MAX_BATCH: usize = 100;
const LINGER: Duration = Duration::from_millis(200);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the delivery task shares with the run: its first failure (which
/// stops the run) and where the run's output went.
struct Delivery {
    failure: Mutex<Option<String>>,
    cancel: CancellationToken,
    run_output: Mutex<Option<OutputRef>>,
}

impl Delivery {
    fn fail(&self, why: String) {
        eprintln!("executor: {why}");
        lock(&self.failure).get_or_insert(why);
        self.cancel.cancel();
    }
}

/// An event as sent: serialized once, unless it is large enough to carry an
/// output that must leave as an artifact first.
async fn prepare(client: &CallbackClient, delivery: &Delivery, e: Event) -> (u64, String) {
    let seq = e.seq;
    let text = serde_json::to_string(&e).unwrap_or_default();
    if text.len() <= MAX_INLINE_OUTPUT_BYTES {
        return (seq, text);
    }
    let e = offload_large(client, delivery, e).await;
    (seq, serde_json::to_string(&e).unwrap_or_default())
}

/// Moves an output too large to travel inline to an artifact.
async fn offload_large(client: &CallbackClient, delivery: &Delivery, mut event: Event) -> Event {
    let is_run_output = matches!(event.kind, EventKind::RunFinished { .. });
    let (name, output, output_ref) = match &mut event.kind {
        EventKind::NodeSucceeded {
            node,
            attempt,
            output,
            output_ref,
            ..
        } => (format!("output-{node}-{attempt}.json"), output, output_ref),
        EventKind::RunFinished {
            output: Some(output),
            output_ref,
            ..
        } => ("run-output.json".to_owned(), output, output_ref),
        _ => return event,
    };
    if json_size(output) <= MAX_INLINE_OUTPUT_BYTES {
        return event;
    }
    match client.offload(&name, output).await {
        Ok(r) => {
            if is_run_output {
                *lock(&delivery.run_output) = Some(r.clone());
            }
            *output_ref = Some(r);
        }
        Err(e) => delivery.fail(format!("could not store {name} (event {}): {e}", event.seq)),
    }
    *output = Value::Null;
    event
}

impl CallbackSink {
    /// Starts delivering; `cancel` is cancelled when delivery fails for good.
    pub fn start(client: Arc<CallbackClient>, cancel: CancellationToken) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let state = Arc::new(Delivery {
            failure: Mutex::new(None),
            cancel,
            run_output: Mutex::new(None),
        });
        let delivery = state.clone();
        let task = tokio::spawn(async move {
            let mut carry: Option<(u64, String)> = None;
            loop {
                let first = match carry.take() {
                    Some(c) => c,
                    None => match rx.recv().await {
                        Some(e) => prepare(&client, &delivery, e).await,
                        None => break,
                    },
                };
                let first_seq = first.0;
                let mut bytes = first.1.len();
                let mut batch = vec![first.1];
                let mut last_seq = first_seq;
                let deadline = tokio::time::Instant::now() + LINGER;
                while batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(e)) => {
                            let (seq, text) = prepare(&client, &delivery, e).await;
                            if bytes + text.len() + 1 > MAX_BATCH_BYTES {
                                carry = Some((seq, text));
                                break;
                            }
                            bytes += text.len() + 1;
                            batch.push(text);
                            last_seq = seq;
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
                match client.post_events(&batch).await {
                    Ok(()) => {}
                    Err(CallbackError::RunEnded) => {
                        delivery.fail(
                            "the run ended on the API's side; no more events are taken".into(),
                        );
                        // Nothing more will be accepted: let senders go on without waiting.
                        while rx.recv().await.is_some() {}
                        break;
                    }
                    Err(e) => delivery.fail(format!(
                        "the callback API refused events {first_seq}-{last_seq}: {e}"
                    )),
                }
            }
        });
        Self {
            tx: Mutex::new(Some(tx)),
            task: tokio::sync::Mutex::new(Some(task)),
            state,
        }
    }

    /// Why delivery failed, if it did (the run then fails with this).
    pub fn failure(&self) -> Option<String> {
        lock(&self.state.failure).clone()
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
