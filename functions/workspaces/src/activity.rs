//! `GET /api/v1/workspaces/{id}/activity`: the workspace's activity log,
//! newest first (by its running number, `seq`), narrowed by actor, resource, action and time, within the
//! plan's retention. Any member may read it; addresses and user agents are
//! shown to owners and admins only.

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    access::{Member, Permission},
    activity::{Action, ActivityView, Resource},
    auth::AuthUser,
    db::activity::{self, Filter},
    error::{ErrorEnvelope, FieldErrors},
    extract::Json,
    ApiResult, AppState,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ActivityParams {
    /// Only what this user did.
    pub actor: Option<Uuid>,
    /// Only entries about this kind of resource.
    #[param(value_type = Option<Resource>)]
    pub resource: Option<String>,
    /// Only entries about this resource.
    pub resource_id: Option<Uuid>,
    /// Only this action (`workflow.updated`, `member.joined`, …).
    #[param(value_type = Option<Action>)]
    pub action: Option<String>,
    /// From this time (inclusive, RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Until this time (exclusive, RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page (older entries).
    #[param(minimum = 0)]
    pub cursor: Option<i64>,
    /// Entries numbered after this `seq`, oldest first: catching up (with
    /// `cursor`: those between).
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// A page of the activity log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityPage {
    pub items: Vec<ActivityView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page
    /// and with `after`.
    pub next_cursor: Option<i64>,
    /// Days this workspace's plan keeps entries.
    pub retention_days: u32,
}

/// The workspace's activity log.
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/activity", operation_id = "workspaces_activity", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ActivityParams),
    responses(
        (status = 200, description = "Entries, newest first (oldest first with `after`)", body = ActivityPage),
        (status = 400, description = "Invalid filter (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<ActivityParams>,
) -> ApiResult<Json<ActivityPage>> {
    let me = Member::of(&state.db, &caller, id).await?;
    me.require(Permission::ViewWorkflows)?;
    let mut e = FieldErrors::new();
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        e.add("limit", "must be between 1 and 100");
    }
    let resource_type = p.resource.as_deref().and_then(|r| {
        let parsed = Resource::parse(r);
        if parsed.is_none() {
            e.add("resource", "must be one of workspace, member, invitation, workflow, template, agent, execution");
        }
        parsed
    });
    let action = p.action.as_deref().and_then(|a| {
        let parsed = Action::parse(a);
        if parsed.is_none() {
            e.add("action", "is not a known action (see the Action schema)");
        }
        parsed
    });
    for (field, v) in [("cursor", p.cursor), ("after", p.after)] {
        if v.is_some_and(|v| v < 0) {
            e.add(field, "must be 0 or more");
        }
    }
    e.finish()?;
    let retention_days = me.tier.limits().activity_retention_days;
    let filter = Filter {
        actor: p.actor,
        resource_type,
        resource_id: p.resource_id,
        action,
        since: p.since,
        until: p.until,
        before: p.cursor,
        after: p.after,
    };
    let mut rows = activity::page(&state.db, id, retention_days, &filter, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more && p.after.is_none() {
        rows.last().map(|r| r.entry.seq)
    } else {
        None
    };
    let sees_origin = me.role.allows(Permission::WorkspaceSettings);
    let items = rows
        .into_iter()
        .map(|r| {
            let mut v = ActivityView::from(r);
            if !sees_origin {
                v.ip = None;
                v.user_agent = None;
            }
            v
        })
        .collect();
    Ok(Json(ActivityPage {
        items,
        next_cursor,
        retention_days,
    }))
}
