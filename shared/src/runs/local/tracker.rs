//! The local run tracker: one timer task per run with the state machine's
//! rules. It waits for heartbeats (each within `heartbeat`) and for the end
//! (within `timeout`); silence or overtime sends a reap, the end a finalize.
//! [`drive`] applies those signals with the same steps the tracker Lambda runs.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use crate::runs::{
    track::{Expiry, Reaped},
    BoxFuture, RunTracker, Runs, TrackedRun,
};

/// What a run's timer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Finalize(Uuid),
    Reap(Uuid, Expiry),
}

struct Watch {
    beat: Arc<Notify>,
    end: Arc<Notify>,
    /// Whether ending it should finalize (`finished`) or just stop (`stop`).
    finalize: Arc<std::sync::atomic::AtomicBool>,
}

type Watches = Arc<Mutex<HashMap<Uuid, Watch>>>;

pub struct LocalTracker {
    runs: Watches,
    signals: mpsc::UnboundedSender<Signal>,
}

impl std::fmt::Debug for LocalTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTracker").finish_non_exhaustive()
    }
}

impl LocalTracker {
    /// The tracker and the receiver of its signals (give it to [`drive`]).
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Signal>) {
        let (signals, rx) = mpsc::unbounded_channel();
        (
            Self {
                runs: Arc::default(),
                signals,
            },
            rx,
        )
    }

    /// How many runs are being watched.
    pub fn watching(&self) -> usize {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn with_watch(&self, id: Uuid, f: impl FnOnce(&Watch)) {
        if let Some(w) = self
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            f(w);
        }
    }
}

impl RunTracker for LocalTracker {
    fn start(&self, run: TrackedRun) -> BoxFuture<'_, anyhow::Result<()>> {
        let id = run.execution_id;
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if runs.contains_key(&id) {
            return Box::pin(async { Ok(()) });
        }
        let watch = Watch {
            beat: Arc::new(Notify::new()),
            end: Arc::new(Notify::new()),
            finalize: Arc::default(),
        };
        let (beat, end, finalize) = (
            watch.beat.clone(),
            watch.end.clone(),
            watch.finalize.clone(),
        );
        runs.insert(id, watch);
        drop(runs);
        let signals = self.signals.clone();
        let all = self.runs.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + run.timeout;
            let signal = loop {
                tokio::select! {
                    () = end.notified() => {
                        break finalize
                            .load(std::sync::atomic::Ordering::SeqCst)
                            .then_some(Signal::Finalize(id));
                    }
                    () = beat.notified() => {}
                    () = tokio::time::sleep(run.heartbeat) => break Some(Signal::Reap(id, Expiry::HeartbeatLost)),
                    () = tokio::time::sleep_until(deadline) => break Some(Signal::Reap(id, Expiry::Timeout)),
                }
            };
            all.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            if let Some(s) = signal {
                // The receiver is gone only when the stack shuts down.
                let _ = signals.send(s);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn heartbeat(&self, id: Uuid, _token: Option<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        self.with_watch(id, |w| w.beat.notify_one());
        Box::pin(async { Ok(()) })
    }

    fn finished(&self, id: Uuid, _token: Option<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        self.with_watch(id, |w| {
            w.finalize.store(true, std::sync::atomic::Ordering::SeqCst);
            w.end.notify_one();
        });
        Box::pin(async { Ok(()) })
    }

    fn stop(&self, id: Uuid) -> BoxFuture<'_, anyhow::Result<()>> {
        self.with_watch(id, |w| w.end.notify_one());
        Box::pin(async { Ok(()) })
    }

    fn resume(&self, run: TrackedRun, _token: Option<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        // The timer that reaped it has ended: a new one takes over.
        self.start(run)
    }
}

/// Applies the tracker's signals until the tracker is dropped.
pub async fn drive(mut signals: mpsc::UnboundedReceiver<Signal>, runs: Arc<Runs>) {
    while let Some(signal) = signals.recv().await {
        let done = match signal {
            Signal::Finalize(id) => runs.finalize(id).await,
            Signal::Reap(id, why) => match runs.reap(id).await {
                Ok(Reaped::Alive(run)) => {
                    tracing::warn!(execution_id = %id, ?why, "the tracker's wait expired on a live run: tracking on");
                    runs.tracker.resume(run, None).await
                }
                Ok(Reaped::Over) => Ok(()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = done {
            // The sweeper judges the run later if this could not.
            tracing::warn!(?signal, error = %e, "tracker step failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run(heartbeat_ms: u64, timeout_ms: u64) -> TrackedRun {
        TrackedRun {
            execution_id: Uuid::now_v7(),
            heartbeat: Duration::from_millis(heartbeat_ms),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silence_reaps_and_beats_keep_a_run_alive() {
        let (t, mut rx) = LocalTracker::new();
        let r = run(1_000, 60_000);
        t.start(r).await.expect("start");
        t.start(r).await.expect("starting twice is harmless");
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            t.heartbeat(r.execution_id, None).await.expect("beat");
        }
        assert!(rx.try_recv().is_err(), "3 s of beats every 0.6 s: alive");
        assert_eq!(
            rx.recv().await,
            Some(Signal::Reap(r.execution_id, Expiry::HeartbeatLost))
        );
        assert_eq!(t.watching(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn overtime_reaps_even_with_beats() {
        let (t, mut rx) = LocalTracker::new();
        let r = run(1_000, 2_500);
        t.start(r).await.expect("start");
        let beats = async {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                t.heartbeat(r.execution_id, None).await.expect("beat");
            }
        };
        tokio::select! {
            s = rx.recv() => assert_eq!(s, Some(Signal::Reap(r.execution_id, Expiry::Timeout))),
            () = beats => {}
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_finalizes_and_a_stop_does_not() {
        let (t, mut rx) = LocalTracker::new();
        let (a, b) = (run(1_000, 60_000), run(1_000, 60_000));
        t.start(a).await.expect("start");
        t.start(b).await.expect("start");
        t.finished(a.execution_id, None).await.expect("finished");
        t.stop(b.execution_id).await.expect("stop");
        assert_eq!(rx.recv().await, Some(Signal::Finalize(a.execution_id)));
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(rx.try_recv().is_err(), "a stopped run is never reaped");
        assert_eq!(t.watching(), 0);
        // Unknown runs are fine to report on.
        t.heartbeat(Uuid::now_v7(), None).await.expect("beat");
    }
}
