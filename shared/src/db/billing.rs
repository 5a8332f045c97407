//! Billing's tables: a workspace's Stripe customer and subscription, the
//! Stripe events seen, and every change of plan with its cause.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    billing::{
        plan::{Cause, SubscriptionState, SubscriptionStatus},
        Interval,
    },
    tier::Tier,
};

/// A workspace as billing sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub tier: Tier,
    pub name: String,
    pub stripe_customer_id: Option<String>,
    pub personal_of: Option<Uuid>,
    /// The Checkout Session last opened (maybe paid or expired since).
    pub checkout_session_id: Option<String>,
}

const ACCOUNT: &str = "SELECT tier, name, stripe_customer_id, personal_of, checkout_session_id
                         FROM workspaces WHERE id = $1";

pub async fn account(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(ACCOUNT).bind(id).fetch_optional(db).await
}

/// The account with the workspace row locked until the transaction ends:
/// every billing change of one workspace happens one at a time. Waits for
/// the lock at most [`LOCK_WAIT`] (then a retryable error: 503).
pub async fn lock(db: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(LOCK_TIMEOUT).execute(&mut *db).await?;
    sqlx::query_as(&format!("{ACCOUNT} FOR NO KEY UPDATE"))
        .bind(id)
        .fetch_optional(&mut *db)
        .await
}

/// The longest a billing transaction waits for a workspace's row.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '5s'";

/// Remembers the workspace's Stripe customer (only if it has none).
pub async fn set_customer(
    db: impl PgExecutor<'_>,
    id: Uuid,
    customer: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE workspaces SET stripe_customer_id = $2 WHERE id = $1 AND stripe_customer_id IS NULL",
    )
    .bind(id)
    .bind(customer)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Makes `session` the workspace's one open Checkout Session; returns the
/// one it replaces (to be expired), in one statement.
pub async fn swap_checkout_session(
    db: impl PgExecutor<'_>,
    id: Uuid,
    session: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Option<String>, sqlx::Error> {
    let previous: Option<Option<String>> = sqlx::query_scalar(
        "WITH old AS (SELECT checkout_session_id FROM workspaces WHERE id = $1 FOR NO KEY UPDATE)
         UPDATE workspaces w SET checkout_session_id = $2,
                checkout_expires_at = coalesce($3, now() + interval '24 hours')
           FROM old WHERE w.id = $1
         RETURNING old.checkout_session_id",
    )
    .bind(id)
    .bind(session)
    .bind(expires_at)
    .fetch_optional(db)
    .await?;
    Ok(previous.flatten())
}

/// Forgets the workspace's open Checkout (a subscription has started).
pub async fn clear_checkout(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE workspaces SET checkout_session_id = NULL, checkout_expires_at = NULL
          WHERE id = $1 AND checkout_session_id IS NOT NULL",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn workspace_of_customer(
    db: impl PgExecutor<'_>,
    customer: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE stripe_customer_id = $1")
        .bind(customer)
        .fetch_optional(db)
        .await
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    stripe_subscription_id: String,
    tier: Tier,
    billing_interval: Interval,
    status: SubscriptionStatus,
    current_period_start: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    past_due_since: Option<DateTime<Utc>>,
    metered: bool,
    stripe_created: DateTime<Utc>,
}

impl From<SubscriptionRow> for SubscriptionState {
    fn from(r: SubscriptionRow) -> Self {
        Self {
            stripe_id: r.stripe_subscription_id,
            tier: r.tier,
            interval: r.billing_interval,
            status: r.status,
            period_start: r.current_period_start,
            period_end: r.current_period_end,
            cancel_at_period_end: r.cancel_at_period_end,
            past_due_since: r.past_due_since,
            metered: r.metered,
            created: r.stripe_created,
        }
    }
}

pub async fn subscription(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Option<SubscriptionState>, sqlx::Error> {
    let row: Option<SubscriptionRow> = sqlx::query_as(
        "SELECT stripe_subscription_id, tier, billing_interval, status, current_period_start,
                current_period_end, cancel_at_period_end, past_due_since, metered, stripe_created
           FROM subscriptions WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// Stores the workspace's subscription as last read from Stripe.
pub async fn save_subscription(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    s: &SubscriptionState,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO subscriptions (workspace_id, stripe_subscription_id, tier, billing_interval, status,
                current_period_start, current_period_end, cancel_at_period_end, past_due_since, metered,
                stripe_created, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
         ON CONFLICT (workspace_id) DO UPDATE SET
                stripe_subscription_id = EXCLUDED.stripe_subscription_id, tier = EXCLUDED.tier,
                billing_interval = EXCLUDED.billing_interval, status = EXCLUDED.status,
                current_period_start = EXCLUDED.current_period_start,
                current_period_end = EXCLUDED.current_period_end,
                cancel_at_period_end = EXCLUDED.cancel_at_period_end,
                past_due_since = EXCLUDED.past_due_since, metered = EXCLUDED.metered,
                stripe_created = EXCLUDED.stripe_created, updated_at = now()
          -- The same subscription, one that replaces an ended one, or a newer live one
          -- (sync::apply decides under the workspace lock; this keeps it so).
          WHERE subscriptions.stripe_subscription_id = EXCLUDED.stripe_subscription_id
             OR subscriptions.status IN ('canceled', 'incomplete_expired')
             OR (EXCLUDED.status NOT IN ('canceled', 'incomplete_expired')
                 AND EXCLUDED.stripe_created > subscriptions.stripe_created)",
    )
    .bind(workspace_id)
    .bind(&s.stripe_id)
    .bind(s.tier)
    .bind(s.interval)
    .bind(s.status)
    .bind(s.period_start)
    .bind(s.period_end)
    .bind(s.cancel_at_period_end)
    .bind(s.past_due_since)
    .bind(s.metered)
    .bind(s.created)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a Stripe event id; `false` when it was recorded before (a replay).
pub async fn record_event(
    db: impl PgExecutor<'_>,
    id: &str,
    kind: &str,
    created: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO stripe_events (id, type, created) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(created)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Notes which workspace a recorded event was about.
pub async fn event_workspace(
    db: impl PgExecutor<'_>,
    id: &str,
    workspace_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stripe_events SET workspace_id = $2 WHERE id = $1")
        .bind(id)
        .bind(workspace_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Moves the workspace from `from` to `to` (only if it is still on `from`)
/// and records why; `false` when the plan was not `from` any more.
pub async fn change_tier(
    db: &mut sqlx::PgConnection,
    workspace_id: Uuid,
    from: Tier,
    to: Tier,
    cause: Cause,
    stripe_event_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE workspaces SET tier = $3, updated_at = now() WHERE id = $1 AND tier = $2",
    )
    .bind(workspace_id)
    .bind(from)
    .bind(to)
    .execute(&mut *db)
    .await?;
    if changed.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO tier_changes (id, workspace_id, from_tier, to_tier, cause, stripe_event_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crate::ids::new_id())
    .bind(workspace_id)
    .bind(from)
    .bind(to)
    .bind(cause)
    .bind(stripe_event_id)
    .execute(&mut *db)
    .await?;
    Ok(true)
}

/// One change of plan, as shown.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct TierChange {
    pub from_tier: Tier,
    pub to_tier: Tier,
    pub cause: Cause,
    pub created_at: DateTime<Utc>,
}

/// The workspace's latest changes of plan, newest first.
pub async fn tier_changes(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    limit: i64,
) -> Result<Vec<TierChange>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_tier, to_tier, cause, created_at FROM tier_changes
          WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(workspace_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Workspaces still on a paid plan whose payments have failed since before `cutoff`.
pub async fn grace_over(
    db: impl PgExecutor<'_>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.workspace_id FROM subscriptions s JOIN workspaces w ON w.id = s.workspace_id
          WHERE s.past_due_since < $1 AND s.status IN ('past_due', 'unpaid') AND w.tier <> 'FREE'
          LIMIT 500",
    )
    .bind(cutoff)
    .fetch_all(db)
    .await
}

/// The members who pay: the workspace's owner and admins.
pub async fn managers(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM workspace_members WHERE workspace_id = $1 AND role IN ('owner', 'admin')",
    )
    .bind(workspace_id)
    .fetch_all(db)
    .await
}

/// A workspace's usage this calendar month (the period the limits count),
/// and what it holds now.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Usage {
    pub workflows_created: i64,
    pub runs: i64,
    pub run_seconds: i64,
    /// Each run's minutes rounded up, as metered usage is billed.
    pub run_minutes: i64,
    pub llm_tokens: i64,
    /// Members and unexpired pending invitations.
    pub seats_used: i64,
    pub runs_in_flight: i64,
}

pub async fn usage(db: impl PgExecutor<'_>, workspace_id: Uuid) -> Result<Usage, sqlx::Error> {
    sqlx::query_as(
        "SELECT coalesce(sum(u.count) FILTER (WHERE u.metric = 'workflows_created'), 0)::bigint AS workflows_created,
                coalesce(sum(u.count) FILTER (WHERE u.metric = 'runs_finished'), 0)::bigint AS runs,
                coalesce(sum(u.count) FILTER (WHERE u.metric = 'run_seconds'), 0)::bigint AS run_seconds,
                coalesce(sum(u.count) FILTER (WHERE u.metric = 'run_minutes'), 0)::bigint AS run_minutes,
                coalesce(sum(u.count) FILTER (WHERE u.metric = 'llm_tokens'), 0)::bigint AS llm_tokens,
                (SELECT count(*) FROM workspace_members m WHERE m.workspace_id = $1)
              + (SELECT count(*) FROM workspace_invitations i
                  WHERE i.workspace_id = $1 AND i.status = 'pending' AND i.expires_at > now()) AS seats_used,
                (SELECT count(*) FROM executions e
                  WHERE e.workspace_id = $1 AND e.status IN ('queued', 'dispatching', 'running')) AS runs_in_flight
           FROM usage_metrics u
          WHERE u.workspace_id = $1 AND u.period = date_trunc('month', now())::date",
    )
    .bind(workspace_id)
    .fetch_one(db)
    .await
}

/// Forgets Stripe events received more than `days` ago (Stripe stops
/// retrying after three days; a later replay is harmless anyway: the
/// subscription is re-read). At most 5,000 rows a call.
pub async fn prune_events(db: impl PgExecutor<'_>, days: i32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM stripe_events WHERE id IN (
             SELECT id FROM stripe_events WHERE received_at < now() - make_interval(days => $1)
              LIMIT 5000)",
    )
    .bind(days)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
