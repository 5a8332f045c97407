//! Finishing account deletions (the sweeper, every minute on AWS and every
//! sweep locally): the account's own workspaces lose their runs (cancelled)
//! and their Stripe customers (deleted, which cancels their subscriptions),
//! then go with the account. A run that has not ended yet, or Stripe being
//! unreachable, leaves the account for the next sweep: nothing alive is cut
//! off and nobody is billed for a deleted account.

use uuid::Uuid;

use super::Runs;
use crate::{activity::Origin, db::account_deletion, AppState};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deletions {
    pub deleted: u64,
    /// Accounts still waiting (runs ending, Stripe unreachable).
    pub waiting: u64,
}

/// Accounts looked at per sweep.
const BATCH: i64 = 20;

pub async fn sweep(state: &AppState, runs: &Runs) -> Deletions {
    let mut done = Deletions::default();
    let pending = match account_deletion::pending(&state.db, BATCH).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "reading accounts to delete failed");
            return done;
        }
    };
    for user in pending {
        match finish(state, runs, user).await {
            Ok(true) => done.deleted += 1,
            Ok(false) => done.waiting += 1,
            Err(e) => {
                done.waiting += 1;
                tracing::warn!(user_id = %user, error = %format!("{e:#}"), "deleting an account failed; next sweep");
            }
        }
    }
    done
}

/// Deletes one account if nothing holds it back; false when something does.
pub async fn finish(state: &AppState, runs: &Runs, user: Uuid) -> anyhow::Result<bool> {
    let mut tx = state.db.begin().await?;
    let going = account_deletion::settle(&mut tx, user).await?;
    tx.commit().await?;
    let ids: Vec<Uuid> = going.iter().map(|g| g.id).collect();
    let active = account_deletion::active_runs(&state.db, &ids).await?;
    if !active.is_empty() {
        for (workspace, run) in &active {
            runs.cancel(*workspace, user, &Origin::system(), *run)
                .await
                .map_err(|e| anyhow::anyhow!("cancelling run {run}: {e}"))?;
        }
        if !account_deletion::active_runs(&state.db, &ids)
            .await?
            .is_empty()
        {
            return Ok(false);
        }
    }
    for customer in going.iter().filter_map(|g| g.stripe_customer_id.as_deref()) {
        let Some(billing) = &state.billing else {
            tracing::warn!(user_id = %user, "an account to delete has a Stripe customer but Stripe is not configured here");
            return Ok(false);
        };
        billing
            .stripe
            .delete_customer(customer)
            .await
            .map_err(|e| anyhow::anyhow!("deleting the Stripe customer: {e}"))?;
    }
    let mut tx = state.db.begin().await?;
    let deleted = account_deletion::finish(&mut tx, user, &ids).await?;
    tx.commit().await?;
    if deleted {
        tracing::info!(user_id = %user, workspaces = ids.len(), "account deleted");
    }
    Ok(deleted)
}
