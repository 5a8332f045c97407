//! `GET /api/v1/billing/invoices`: the workspace's invoices, from Stripe,
//! newest first, a page at a time. Owners and admins only.

use axum::extract::{Query, State};
use shared::{
    access::{can, Allowed, InWorkspace},
    billing::{stripe::at, StripeError},
    db::billing as store,
    error::ErrorEnvelope,
    extract::Json,
    ApiError, ApiResult, AppState,
};

use crate::{
    dto::{InvoicePage, InvoiceQuery, InvoiceView},
    stripe_error::{answer, configured},
};

/// The workspace's invoices, newest first.
#[utoipa::path(
    get, path = "/api/v1/billing/invoices", operation_id = "billing_invoices", tag = "billing", security(("bearer" = [])),
    params(InWorkspace, InvoiceQuery),
    responses(
        (status = 200, description = "A page of invoices (empty before anything was bought)", body = InvoicePage),
        (status = 400, description = "Invalid `limit` or `cursor` (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Only owners and admins see invoices (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "Payments are not configured, or Stripe is unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<can::ManageBilling>,
    Query(q): Query<InvoiceQuery>,
) -> ApiResult<Json<InvoicePage>> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 100"));
    }
    let cursor = q.cursor.filter(|c| !c.is_empty());
    if let Some(c) = &cursor {
        let valid = c.len() <= 255
            && c.starts_with("in_")
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(ApiError::field(
                "cursor",
                "must be the nextCursor of a page",
            ));
        }
    }
    let billing = configured(&state)?;
    let account = store::account(&state.db, member.workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let Some(customer) = account.stripe_customer_id else {
        return Ok(Json(InvoicePage {
            items: vec![],
            next_cursor: None,
        }));
    };
    let page = billing
        .stripe
        .invoices(&customer, limit, cursor.as_deref())
        .await
        .map_err(|e| match e {
            StripeError::Rejected {
                status: 400 | 404, ..
            } if cursor.is_some() => ApiError::field("cursor", "must be the nextCursor of a page"),
            e => answer(e),
        })?;
    let next_cursor = page
        .has_more
        .then(|| page.data.last().map(|i| i.id.clone()))
        .flatten();
    let items = page
        .data
        .into_iter()
        .map(|i| InvoiceView {
            created: at(i.created),
            period_start: i.period_start.and_then(at),
            period_end: i.period_end.and_then(at),
            id: i.id,
            number: i.number,
            status: i.status,
            currency: i.currency,
            amount_due: i.amount_due,
            amount_paid: i.amount_paid,
            hosted_invoice_url: i.hosted_invoice_url,
            invoice_pdf: i.invoice_pdf,
        })
        .collect();
    Ok(Json(InvoicePage { items, next_cursor }))
}
