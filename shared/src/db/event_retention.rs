//! A run's raw events are kept for its plan's retention after it ends
//! (`executions.events_expire_at`, set by the statement that ends it), then
//! pruned by the sweeper in bounded batches: all but the last, which says how
//! the run ended. The run's row, its output and the analytics rollups stay.

use sqlx::PgExecutor;

/// Runs looked at in one pass.
const RUNS: i64 = 20;

/// Deletes at most `batch` events of runs past their retention, the longest
/// expired first; a run whose events are all gone (but its last) is marked
/// done. Returns how many events went.
pub async fn prune(db: impl PgExecutor<'_>, batch: i64) -> Result<u64, sqlx::Error> {
    let gone: i64 = sqlx::query_scalar(
        "WITH due AS (
             SELECT id, last_seq FROM executions
              WHERE events_expire_at < now() ORDER BY events_expire_at LIMIT $2),
         doomed AS (
             SELECT ev.execution_id, ev.seq FROM execution_events ev JOIN due ON ev.execution_id = due.id
              WHERE ev.seq < due.last_seq LIMIT $1),
         gone AS (
             DELETE FROM execution_events ev USING doomed d
              WHERE ev.execution_id = d.execution_id AND ev.seq = d.seq RETURNING 1),
         -- Fewer than a batch: nothing of these runs is left to prune.
         done AS (
             UPDATE executions e SET events_expire_at = NULL, events_pruned = true FROM due
              WHERE e.id = due.id AND (SELECT count(*) FROM doomed) < $1 RETURNING 1)
         SELECT count(*) FROM gone",
    )
    .bind(batch)
    .bind(RUNS)
    .fetch_one(db)
    .await?;
    Ok(u64::try_from(gone).unwrap_or(0))
}
