//! `GET /api/v1/workspaces/{id}/analytics/overview` and
//! `…/analytics/workflows/{workflowId}`: a period's runs by status, success
//! rate, run-time and queue-wait percentiles, LLM tokens and cost, a series
//! in hour, day or week buckets of a time zone, and (the overview) the
//! busiest and costliest workflows. `…/analytics/performance`: queue wait
//! and dispatch latency by tier, node run time by type. `…/analytics/costs`: cost by model,
//! workflow and bucket. `…/analytics/usage`: this month against the plan's
//! limits and the spend caps. Read from rollups kept when runs end and
//! counters (`shared::analytics`). Any member may read them (viewers too).

use axum::{
    extract::{Path, Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use shared::{
    access::{Member, Permission},
    analytics::{
        self,
        costs::CostReport,
        csv,
        performance::PerformanceReport,
        period::{Format, Period, PeriodParams},
        usage::UsageReport,
        Report,
    },
    auth::AuthUser,
    db::workflows,
    error::ErrorEnvelope,
    extract::Json,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

/// The workspace's runs in a period.
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/analytics/overview", operation_id = "analytics_overview", tag = "analytics", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), PeriodParams),
    responses(
        (status = 200, description = "Totals, percentiles, a series and the busiest workflows (runs counted in the hour they ended); with `format=csv` the series as CSV", content((Report = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad period, bucket, time zone or format (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn overview(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<PeriodParams>,
) -> ApiResult<Response> {
    let (_, period, format) = asked(&state, &caller, id, &p).await?;
    let report = analytics::report(&state.db, id, None, period)
        .await
        .map_err(unknown_zone)?;
    Ok(answer(format, "overview", &report, |r| {
        csv::series(&r.series)
    }))
}

/// A member who may read the workspace's analytics (viewers too), and the
/// period and format they asked for.
async fn asked(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    p: &PeriodParams,
) -> ApiResult<(Member, Period, Format)> {
    let me = Member::of(&state.db, caller, id).await?;
    me.require(Permission::ViewAnalytics)?;
    Ok((me, Period::parse(p, Utc::now())?, p.format()?))
}

/// The report as JSON, or its series as a CSV file named `{name}.csv`.
fn answer<T: serde::Serialize>(
    format: Format,
    name: &str,
    report: &T,
    series: impl Fn(&T) -> String,
) -> Response {
    match format {
        Format::Json => Json(report).into_response(),
        Format::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            series(report),
        )
            .into_response(),
    }
}

/// Postgres knows a few zone names fewer than the IANA database `tz` is
/// checked against: one it does not know is the caller's error.
fn unknown_zone(e: sqlx::Error) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("22023") => {
            ApiError::field("tz", "is not a time zone the database knows")
        }
        _ => e.into(),
    }
}

/// One workflow's runs in a period.
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/analytics/workflows/{workflowId}", operation_id = "analytics_workflow", tag = "analytics", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Workspace id"),
        ("workflowId" = Uuid, Path, description = "A workflow of the workspace"),
        PeriodParams,
    ),
    responses(
        (status = 200, description = "The workflow's totals, percentiles and series; with `format=csv` the series as CSV", content((Report = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad period, bucket, time zone or format (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours, or not its workflow (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn workflow(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, workflow_id)): Path<(Uuid, Uuid)>,
    Query(p): Query<PeriodParams>,
) -> ApiResult<Response> {
    let (_, period, format) = asked(&state, &caller, id, &p).await?;
    workflows::find(&state.db, id, workflow_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let report = analytics::report(&state.db, id, Some(workflow_id), period)
        .await
        .map_err(unknown_zone)?;
    Ok(answer(format, "workflow", &report, |r| {
        csv::series(&r.series)
    }))
}

/// What the workspace's agent calls cost in a period: by model, by workflow
/// and by bucket.
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/analytics/costs", operation_id = "analytics_costs", tag = "analytics", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), PeriodParams),
    responses(
        (status = 200, description = "Costs by model, workflow and bucket (runs counted in the hour they ended; calls priced by the API's price table when reported); with `format=csv` the series as CSV", content((CostReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad period, bucket, time zone or format (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn costs(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<PeriodParams>,
) -> ApiResult<Response> {
    let (_, period, format) = asked(&state, &caller, id, &p).await?;
    let report = analytics::costs::report(&state.db, id, period)
        .await
        .map_err(unknown_zone)?;
    Ok(answer(format, "costs", &report, |r| csv::costs(&r.series)))
}

/// This month against the plan's limits and the spend caps, and a period's
/// runs, run minutes, tokens and cost by bucket.
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/analytics/usage", operation_id = "analytics_usage", tag = "analytics", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), PeriodParams),
    responses(
        (status = 200, description = "This month's usage against the limits, what the workspace stores, and the period's series; with `format=csv` the series as CSV", content((UsageReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad period, bucket, time zone or format (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<PeriodParams>,
) -> ApiResult<Response> {
    let (me, period, format) = asked(&state, &caller, id, &p).await?;
    let report = analytics::usage::report(&state.db, id, me.tier, period)
        .await
        .map_err(unknown_zone)?;
    Ok(answer(format, "usage", &report, |r| csv::usage(&r.series)))
}

/// How long the workspace's runs waited for the dispatcher and then for
/// their executor, by tier and bucket, and how long each node type takes.
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/analytics/performance", operation_id = "analytics_performance", tag = "analytics", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), PeriodParams),
    responses(
        (status = 200, description = "Queue wait and dispatch latency in all, by tier and by bucket (runs counted in the hour they ended), and node run time by node type (over the UTC days the period touches); with `format=csv` the series as CSV", content((PerformanceReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad period, bucket, time zone or format (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn performance(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<PeriodParams>,
) -> ApiResult<Response> {
    let (_, period, format) = asked(&state, &caller, id, &p).await?;
    let report = analytics::performance::report(&state.db, id, period)
        .await
        .map_err(unknown_zone)?;
    Ok(answer(format, "performance", &report, |r| {
        csv::performance(&r.series)
    }))
}
