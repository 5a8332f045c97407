//! Applying Stripe's word to a workspace. The webhook re-reads the
//! subscription from Stripe with the workspace row locked, so whatever order
//! events arrive in, the newest state wins: a later event's reader waits for
//! the lock and then reads a state at least as new. A downgrade only changes
//! `workspaces.tier`: runs in flight keep the tier they were launched with;
//! the new plan applies to the next run.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    plan::{self, Cause, SubscriptionState},
    stripe::{self, Subscription},
    Billing,
};
use crate::{
    activity::{Action, Activity, Origin},
    db::{activity::Entry, billing as store},
    realtime::publish::Published,
    tier::Tier,
    AppState,
};

/// What applying a subscription did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub workspace_id: Option<Uuid>,
    /// The plan changed: from, to, why.
    pub change: Option<(Tier, Tier, Cause)>,
    /// The activity entry of the change, to publish after commit.
    pub entry: Option<Entry>,
    /// Why nothing was stored (an older subscription, a price not ours).
    pub ignored: Option<&'static str>,
}

/// Our state of a Stripe subscription, or why it has none (its price is
/// not one of ours, its status unknown). A payment failing starts its grace
/// at `seen` (when Stripe's event about it was created), not when we got it.
pub fn state_of(
    billing: &Billing,
    sub: &Subscription,
    before: Option<&SubscriptionState>,
    seen: DateTime<Utc>,
) -> Result<SubscriptionState, &'static str> {
    let status = sub.status().ok_or("unknown_status")?;
    let (tier, interval) = sub
        .items
        .data
        .iter()
        .find_map(|i| billing.catalog.plan_of(&i.price.id))
        .ok_or("unknown_price")?;
    let (period_start, period_end) = sub.period();
    let same = before.filter(|b| b.stripe_id == sub.id);
    Ok(SubscriptionState {
        stripe_id: sub.id.clone(),
        tier,
        interval,
        status,
        period_start,
        period_end,
        cancel_at_period_end: sub.cancel_at_period_end,
        past_due_since: plan::past_due_since(same, status, seen),
        metered: sub
            .items
            .data
            .iter()
            .any(|i| billing.catalog.is_metered(&i.price.id)),
        created: stripe::at(sub.created).unwrap_or(seen),
    })
}

/// Whether `incoming` may replace what is stored: the same subscription, or
/// a newer live one, or anything when the stored one is over. An old
/// subscription ending never ends the live one.
fn replaces(before: Option<&SubscriptionState>, incoming: &SubscriptionState) -> bool {
    match before {
        None => true,
        Some(b) if b.stripe_id == incoming.stripe_id || b.status.is_over() => true,
        Some(b) => !incoming.status.is_over() && incoming.created > b.created,
    }
}

/// Moves the workspace to `to` if it is not there, recording the cause and
/// an activity entry (in the caller's transaction).
async fn move_to(
    tx: &mut PgConnection,
    workspace_id: Uuid,
    from: Tier,
    to: Tier,
    cause: Cause,
    event_id: Option<&str>,
) -> Result<Option<Entry>, sqlx::Error> {
    if from == to || !store::change_tier(tx, workspace_id, from, to, cause, event_id).await? {
        return Ok(None);
    }
    let entry = Activity::system(workspace_id, Action::PlanChanged)
        .details(json!({ "from": from, "to": to, "cause": cause }))
        .record(&mut *tx, &Origin::system())
        .await?;
    Ok(Some(entry))
}

/// Applies `sub` (as just read from Stripe) to `workspace_id`, inside the
/// caller's transaction: locks the workspace, stores the subscription if it
/// is the one that counts, and moves the plan to what it gives at `now`.
/// `seen` is when Stripe's event was created (`now` without one).
pub async fn apply(
    tx: &mut PgConnection,
    billing: &Billing,
    workspace_id: Uuid,
    sub: &Subscription,
    event_id: Option<&str>,
    now: DateTime<Utc>,
    seen: DateTime<Utc>,
) -> Result<Applied, sqlx::Error> {
    let Some(account) = store::lock(&mut *tx, workspace_id).await? else {
        return Ok(Applied {
            ignored: Some("no_workspace"),
            ..Applied::default()
        });
    };
    let mut applied = Applied {
        workspace_id: Some(workspace_id),
        ..Applied::default()
    };
    let before = store::subscription(&mut *tx, workspace_id).await?;
    let state = match state_of(billing, sub, before.as_ref(), seen.min(now)) {
        Ok(s) => s,
        Err(why) => {
            tracing::warn!(%workspace_id, subscription = %sub.id, why, "a subscription billing cannot apply");
            applied.ignored = Some(why);
            return Ok(applied);
        }
    };
    if !replaces(before.as_ref(), &state) {
        applied.ignored = Some("superseded");
        return Ok(applied);
    }
    store::save_subscription(&mut *tx, workspace_id, &state).await?;
    if !state.status.is_over() {
        store::clear_checkout(&mut *tx, workspace_id).await?;
    }
    let to = plan::effective_tier(Some(&state), now, billing.grace);
    let cause = plan::cause(account.tier, to, before.as_ref(), &state);
    applied.entry = move_to(tx, workspace_id, account.tier, to, cause, event_id).await?;
    if applied.entry.is_some() {
        applied.change = Some((account.tier, to, cause));
    }
    Ok(applied)
}

/// Ends the plans whose grace period is over (the sweeper): each workspace
/// in its own transaction, re-checked under its lock. Returns how many fell
/// back to FREE.
pub async fn expire_grace(state: &AppState, billing: &Billing) -> anyhow::Result<usize> {
    let now = Utc::now();
    let cutoff = chrono::Duration::from_std(billing.grace)
        .ok()
        .and_then(|g| now.checked_sub_signed(g))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut expired = 0;
    for workspace_id in store::grace_over(&state.db, cutoff).await? {
        let mut tx = state.db.begin().await?;
        let Some(account) = store::lock(&mut tx, workspace_id).await? else {
            continue;
        };
        let sub = store::subscription(&mut *tx, workspace_id).await?;
        let to = plan::effective_tier(sub.as_ref(), now, billing.grace);
        if to != Tier::Free {
            continue;
        }
        let entry = move_to(
            &mut tx,
            workspace_id,
            account.tier,
            to,
            Cause::GraceExpired,
            None,
        )
        .await?;
        tx.commit().await?;
        if let Some(entry) = entry {
            expired += 1;
            announce(
                state,
                workspace_id,
                (account.tier, to, Cause::GraceExpired),
                entry,
            )
            .await;
        }
    }
    Ok(expired)
}

/// After commit: the activity entry to the workspace's members, and a
/// `notification` to each owner and admin (`user:{id}`).
pub async fn announce(
    state: &AppState,
    workspace_id: Uuid,
    change: (Tier, Tier, Cause),
    entry: Entry,
) {
    state
        .publish_within(
            crate::activity::message(entry),
            std::time::Duration::from_secs(5),
        )
        .await;
    let managers = match store::managers(&state.db, workspace_id).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(%workspace_id, error = %e, "cannot list who to notify of a plan change");
            return;
        }
    };
    let (from, to, cause) = change;
    for user in managers {
        state
            .publish_within(
                Published {
                    topic: format!("user:{user}"),
                    message: json!({
                        "type": run_protocol::message::MessageType::Notification,
                        "kind": "plan_changed",
                        "workspaceId": workspace_id,
                        "from": from, "to": to, "cause": cause,
                    }),
                },
                std::time::Duration::from_secs(5),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::{Interval, SubscriptionStatus};

    fn state(id: &str, status: SubscriptionStatus, created: i64) -> SubscriptionState {
        SubscriptionState {
            stripe_id: id.into(),
            tier: Tier::Starter,
            interval: Interval::Month,
            status,
            period_start: None,
            period_end: None,
            cancel_at_period_end: false,
            past_due_since: None,
            metered: false,
            created: stripe::at(created).expect("time"),
        }
    }

    #[test]
    fn the_live_and_newest_subscription_counts() {
        use SubscriptionStatus::*;
        let live = state("sub_a", Active, 100);
        assert!(replaces(None, &live));
        assert!(replaces(Some(&live), &state("sub_a", Canceled, 100)));
        // An older subscription ending does not end the live one.
        assert!(!replaces(Some(&live), &state("sub_old", Canceled, 50)));
        assert!(!replaces(Some(&live), &state("sub_old", Active, 50)));
        assert!(replaces(Some(&live), &state("sub_new", Active, 200)));
        assert!(replaces(
            Some(&state("sub_a", Canceled, 100)),
            &state("sub_b", Incomplete, 90)
        ));
    }
}
