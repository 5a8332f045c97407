//! `POST /api/v1/billing/webhook`: Stripe's events. No JWT: the
//! `Stripe-Signature` header over the raw body is the credential, checked
//! before anything is read. Each event id is recorded once, in the
//! transaction that applies it, so a replay is a 200 that changes nothing
//! and a failure (Stripe unreachable when re-read) leaves no record, answers
//! 503, and Stripe delivers it again. Subscriptions are re-read from Stripe
//! with the workspace locked, so out-of-order events cannot make an older
//! state win.

use axum::{body::Bytes, extract::State, http::HeaderMap};
use chrono::Utc;
use serde_json::{json, Value};
use shared::{
    billing::{signature, sync, Billing, StripeError},
    db::billing as store,
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::{
    dto::{StripeEvent, WebhookAck},
    stripe_error::{answer, configured},
};

/// What an event is about: the subscription to re-read, and who it belongs to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Subject {
    subscription: Option<String>,
    customer: Option<String>,
    workspace: Option<Uuid>,
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The events billing acts on, and what each is about.
fn subject(kind: &str, o: &Value) -> Option<Subject> {
    let workspace = |pointer: &str| text(o, pointer).and_then(|s| Uuid::try_parse(&s).ok());
    match kind {
        "checkout.session.completed" => Some(Subject {
            subscription: text(o, "/subscription"),
            customer: text(o, "/customer"),
            workspace: workspace("/client_reference_id")
                .or_else(|| workspace("/metadata/workspace_id")),
        }),
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => Some(Subject {
            subscription: text(o, "/id"),
            customer: text(o, "/customer"),
            workspace: workspace("/metadata/workspace_id"),
        }),
        // Before API version 2025-03-31 an invoice names its subscription at
        // the top; since, under `parent`.
        "invoice.paid" | "invoice.payment_failed" => Some(Subject {
            subscription: text(o, "/subscription")
                .or_else(|| text(o, "/parent/subscription_details/subscription")),
            customer: text(o, "/customer"),
            workspace: workspace("/subscription_details/metadata/workspace_id")
                .or_else(|| workspace("/parent/subscription_details/metadata/workspace_id")),
        }),
        _ => None,
    }
}

fn refused(e: signature::SignatureError) -> ApiError {
    if e == signature::SignatureError::NoSecret {
        // Our configuration, not the caller's request: 503 (Stripe retries).
        return ApiError::unavailable(anyhow::anyhow!("STRIPE_WEBHOOK_SECRET is not set"))
            .with_details(json!({ "reason": "webhook_not_configured" }));
    }
    ApiError::new(ErrorCode::InvalidSignature, format!("webhook refused: {e}"))
        .with_details(json!({ "reason": e.reason() }))
}

/// The workspace an event is about: the one whose Stripe customer it names
/// (we created it), else the one in its metadata if that workspace has no
/// other customer (bound once Stripe confirms the subscription).
async fn workspace_of(
    tx: &mut sqlx::PgConnection,
    s: &Subject,
) -> Result<Option<Uuid>, sqlx::Error> {
    if let Some(c) = &s.customer {
        if let Some(ws) = store::workspace_of_customer(&mut *tx, c).await? {
            return Ok(Some(ws));
        }
    }
    let Some(ws) = s.workspace else {
        return Ok(None);
    };
    Ok(store::account(&mut *tx, ws)
        .await?
        .filter(|a| a.stripe_customer_id.is_none())
        .map(|_| ws))
}

/// Receive a Stripe event (Stripe calls this; not for clients).
#[utoipa::path(
    post, path = "/api/v1/billing/webhook", operation_id = "billing_webhook", tag = "billing",
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the raw body")),
    request_body(content = StripeEvent, content_type = "application/json", description = "A Stripe event, exactly as Stripe sent it (the signature covers the raw bytes)"),
    responses(
        (status = 200, description = "Received (applied, ignored, or a replay that changed nothing)", body = WebhookAck),
        (status = 400, description = "A missing, malformed, wrong or expired signature (INVALID_SIGNATURE, details.reason = missing | malformed | mismatch | expired), or not an event (VALIDATION_ERROR); nothing changed", body = ErrorEnvelope),
        (status = 503, description = "Stripe or the database is unavailable, or no signing secret is configured; Stripe delivers the event again (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookAck>> {
    let billing = configured(&state)?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(
        header,
        &body,
        &billing.webhook_secrets,
        billing.webhook_tolerance,
        Utc::now().timestamp(),
    ) {
        tracing::warn!(reason = e.reason(), "a Stripe webhook was refused");
        return Err(refused(e));
    }
    let event: StripeEvent =
        serde_json::from_slice(&body).map_err(|_| ApiError::field("body", "not a Stripe event"))?;
    let fresh = handle(&state, &billing, &event).await?;
    Ok(Json(WebhookAck {
        received: true,
        duplicate: !fresh,
    }))
}

/// Records and applies one event; `false` when it was seen before.
async fn handle(state: &AppState, billing: &Billing, event: &StripeEvent) -> ApiResult<bool> {
    let created = shared::billing::stripe::at(event.created).unwrap_or_else(Utc::now);
    let mut tx = state.db.begin().await?;
    if !store::record_event(&mut *tx, &event.id, &event.kind, created).await? {
        return Ok(false);
    }
    let subject = subject(&event.kind, &event.data.object);
    let Some(subject) = subject.filter(|s| s.subscription.is_some()) else {
        tx.commit().await?; // recorded, nothing to do
        return Ok(true);
    };
    let Some(ws) = workspace_of(&mut tx, &subject).await? else {
        tracing::warn!(event = %event.id, kind = %event.kind, "a Stripe event for no workspace of ours");
        tx.commit().await?;
        return Ok(true);
    };
    store::event_workspace(&mut *tx, &event.id, ws).await?;
    // Lock first (waiting at most store::LOCK_WAIT), then read Stripe
    // (within its timeout): whoever reads later applies later.
    store::lock(&mut tx, ws).await?;
    let id = subject.subscription.as_deref().unwrap_or_default();
    let sub = match billing.stripe.subscription(id).await {
        Ok(sub) => sub,
        Err(StripeError::Rejected { status: 404, .. }) => {
            tracing::warn!(event = %event.id, subscription = id, "a Stripe event for a subscription Stripe does not know");
            tx.commit().await?;
            return Ok(true);
        }
        Err(e) => return Err(answer(e)),
    };
    // The workspace named only by metadata gets the subscription's customer.
    store::set_customer(&mut *tx, ws, &sub.customer).await?;
    let applied = sync::apply(
        &mut tx,
        billing,
        ws,
        &sub,
        Some(&event.id),
        Utc::now(),
        created,
    )
    .await?;
    tx.commit().await?;
    if let (Some(change), Some(entry)) = (applied.change, applied.entry) {
        tracing::info!(workspace_id = %ws, from = %change.0, to = %change.1, cause = ?change.2, "plan changed");
        sync::announce(state, ws, change, entry).await;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_their_subscription_in_old_and_new_api_shapes() {
        let ws = Uuid::now_v7();
        let checkout = json!({"subscription": "sub_1", "customer": "cus_1", "client_reference_id": ws.to_string()});
        assert_eq!(
            subject("checkout.session.completed", &checkout),
            Some(Subject {
                subscription: Some("sub_1".into()),
                customer: Some("cus_1".into()),
                workspace: Some(ws)
            })
        );
        let old = json!({"subscription": "sub_2", "customer": "cus_1"});
        let new = json!({"customer": "cus_1", "parent": {"subscription_details": {"subscription": "sub_2", "metadata": {"workspace_id": ws.to_string()}}}});
        for (o, w) in [(old, None), (new, Some(ws))] {
            let s = subject("invoice.payment_failed", &o).expect("handled");
            assert_eq!(s.subscription.as_deref(), Some("sub_2"));
            assert_eq!(s.workspace, w);
        }
        assert_eq!(subject("charge.refunded", &json!({})), None);
        // A workspace id that is not a UUID is no workspace.
        let bad = json!({"id": "sub_3", "metadata": {"workspace_id": "x"}});
        assert_eq!(
            subject("customer.subscription.updated", &bad)
                .expect("handled")
                .workspace,
            None
        );
    }
}
