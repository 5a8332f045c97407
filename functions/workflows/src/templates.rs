//! `/api/v1/templates`: the template catalogue (built-in and user-published),
//! publishing a workflow as a template, and instantiating one into a workflow
//! the caller owns. Lives with the workflows function because instantiating
//! follows the same creation rules (tier limits, first version).

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::{
    access::{can, Allowed, InWorkspace},
    activity::{self, Action, Activity, Origin},
    catalog::{parse_category, Category},
    db::{
        templates::{self, NewTemplate, Template},
        workflows::{self, Content},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::{offset_page, Json},
    workflow::Graph,
    ApiError, ApiResult, AppState,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    dto::{
        description_schema, optional_name_schema, parse_name, parse_tags, tags_schema,
        WorkflowView, DESCRIPTION,
    },
    handlers::{check_limits, full_report, take_creation, with_etag},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(value_type = Option<Category>)]
    pub category: Option<String>,
    /// Part of the name or description.
    pub q: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"workflowId": "01930000-0000-7000-8000-000000000201", "name": "Research brief", "description": "Researches a topic and writes a one-page brief.", "category": "research", "tags": ["research"]}))]
pub struct PublishTemplate {
    /// One of your workflows; its graph must be valid.
    pub workflow_id: Uuid,
    /// Defaults to the workflow's name.
    #[serde(default)]
    #[schema(schema_with = optional_name_schema)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[schema(value_type = Category)]
    pub category: String,
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "My research brief"}))]
pub struct Instantiate {
    /// Name of the new workflow; defaults to the template's.
    #[serde(default)]
    #[schema(schema_with = optional_name_schema)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub category: String,
    pub tags: Vec<String>,
    pub built_in: bool,
    pub mine: bool,
    pub node_count: usize,
    pub usage_count: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    #[serde(flatten)]
    pub summary: TemplateSummary,
    #[schema(value_type = Object)]
    pub canvas: Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplatePage {
    pub items: Vec<TemplateSummary>,
    pub total: i64,
}

fn summary(t: &Template, caller: Uuid) -> TemplateSummary {
    TemplateSummary {
        id: t.id,
        name: t.name.clone(),
        description: t.description.clone(),
        category: t.category.clone(),
        tags: t.tags.clone(),
        built_in: t.workspace_id.is_none(),
        mine: t.workspace_id == Some(caller),
        node_count: Graph::from_canvas(&t.canvas.0).map_or(0, |g| g.nodes.len()),
        usage_count: t.usage_count,
        created_at: t.created_at,
    }
}

fn listed(t: templates::Listed, caller: Uuid) -> TemplateSummary {
    TemplateSummary {
        id: t.id,
        name: t.name,
        description: t.description,
        category: t.category,
        tags: t.tags,
        built_in: t.workspace_id.is_none(),
        mine: t.workspace_id == Some(caller),
        node_count: usize::try_from(t.node_count).unwrap_or(0),
        usage_count: t.usage_count,
        created_at: t.created_at,
    }
}

fn category(raw: &str) -> ApiResult<&'static str> {
    parse_category(raw).map_err(|m| ApiError::field("category", m))
}

/// The template catalogue: built-in templates first, then the most used.
#[utoipa::path(
    operation_id = "templates_list",
    get, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])),
    params(InWorkspace, ListParams),
    responses(
        (status = 200, description = "One page of templates", body = TemplatePage),
        (status = 400, description = "Invalid filter (VALIDATION_ERROR)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<TemplatePage>> {
    let category = p.category.as_deref().map(category).transpose()?;
    let (limit, offset) = offset_page(p.limit, p.offset, 50)?;
    let search = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let (rows, total) = templates::list(&state.db, category, search, limit, offset).await?;
    Ok(Json(TemplatePage {
        items: rows
            .into_iter()
            .map(|t| listed(t, caller.workspace_id))
            .collect(),
        total,
    }))
}

/// One template with its graph.
#[utoipa::path(
    operation_id = "templates_get",
    get, path = "/api/v1/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Template id")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 404, description = "No such template", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<TemplateView>> {
    let t = templates::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    Ok(Json(TemplateView {
        summary: summary(&t, caller.workspace_id),
        canvas: t.canvas.0,
    }))
}

/// Publish one of your workflows as a template everyone can use.
#[utoipa::path(
    operation_id = "templates_publish",
    post, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])),
    params(InWorkspace),
    request_body = PublishTemplate,
    responses(
        (status = 201, description = "Published", body = TemplateView),
        (status = 400, description = "Invalid fields, or the workflow's graph is invalid (details.report)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
    )
)]
pub async fn publish(
    State(state): State<AppState>,
    caller: Allowed<can::CreateWorkflows>,
    origin: Origin,
    Json(body): Json<PublishTemplate>,
) -> ApiResult<(StatusCode, Json<TemplateView>)> {
    let category = category(&body.category)?;
    let name = body
        .name
        .as_deref()
        .map(parse_name)
        .transpose()
        .map_err(|m| ApiError::field("name", m))?;
    let description = DESCRIPTION
        .parse(body.description.as_deref().unwrap_or_default())
        .map_err(|m| ApiError::field("description", m))?;
    let tags = parse_tags(body.tags.unwrap_or_default()).map_err(|m| ApiError::field("tags", m))?;
    let mut tx = state.db.begin().await?;
    let wf = workflows::find(&mut *tx, caller.workspace_id, body.workflow_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let report = full_report(&mut tx, caller.workspace_id, &wf.canvas.0).await?;
    if !report.valid {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            "only a workflow with a valid graph can be published as a template",
        )
        .with_details(json!({ "reason": "invalid_graph", "report": report })));
    }
    // Keep the graph (nodes and edges) and its layout; never chat history or settings.
    let t = templates::insert(
        &mut *tx,
        NewTemplate {
            id: shared::ids::new_id(),
            workspace_id: caller.workspace_id,
            created_by: caller.user_id,
            source_workflow_id: wf.id,
            name: name.as_deref().unwrap_or(&wf.name),
            description: &description,
            category,
            tags: &tags,
            canvas: &wf.canvas.0,
        },
    )
    .await?;
    let entry = Activity::new(
        caller.workspace_id,
        caller.user_id,
        Action::TemplatePublished,
    )
    .on(t.id)
    .details(json!({ "name": t.name, "workflowId": wf.id }))
    .record(&mut *tx, &origin)
    .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok((
        StatusCode::CREATED,
        Json(TemplateView {
            summary: summary(&t, caller.workspace_id),
            canvas: t.canvas.0,
        }),
    ))
}

/// Create a workflow of your own from a template (counts as a new workflow).
#[utoipa::path(
    operation_id = "templates_instantiate",
    post, path = "/api/v1/templates/{id}/instantiate", tag = "templates", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Template id")),
    request_body(content = Option<Instantiate>, description = "Optional: absent, empty or `null` takes the template's name"),
    responses(
        (status = 201, description = "The new workflow (version 1, draft)", body = WorkflowView),
        (status = 400, description = "Invalid body (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Over a tier limit (TIER_LIMIT)", body = ErrorEnvelope),
        (status = 404, description = "No such template", body = ErrorEnvelope),
    )
)]
pub async fn instantiate(
    State(state): State<AppState>,
    caller: Allowed<can::CreateWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: Instantiate = shared::extract::optional_object(&body)?;
    let name = body
        .name
        .as_deref()
        .map(parse_name)
        .transpose()
        .map_err(|m| ApiError::field("name", m))?;
    let t = templates::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    let tier = caller.tier;
    check_limits(tier, Graph::from_canvas(&t.canvas.0).ok().as_ref(), None)?;
    let content = Content {
        name: name.unwrap_or_else(|| t.name.clone()),
        description: t.description.clone(),
        status: "draft".into(),
        tags: t.tags.clone(),
        canvas: t.canvas.0.clone(),
        chat_history: json!([]),
        settings: json!({ "templateId": t.id }),
    };
    let mut tx = state.db.begin().await?;
    take_creation(&mut tx, tier, caller.workspace_id).await?;
    let wf = workflows::insert(
        &mut tx,
        shared::ids::new_id(),
        caller.workspace_id,
        caller.user_id,
        &content,
    )
    .await?;
    templates::count_use(&mut *tx, t.id).await?;
    let entry = Activity::new(caller.workspace_id, caller.user_id, Action::WorkflowCreated)
        .on(wf.id)
        .details(json!({ "name": wf.name, "version": wf.version, "templateId": t.id }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(with_etag(StatusCode::CREATED, wf))
}

/// Withdraw a template you published.
#[utoipa::path(
    operation_id = "templates_delete",
    delete, path = "/api/v1/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A built-in template (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No template of yours with this id", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Allowed<can::DeleteWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    if templates::delete(&mut *tx, caller.workspace_id, id).await? {
        let entry = Activity::new(caller.workspace_id, caller.user_id, Action::TemplateDeleted)
            .on(id)
            .record(&mut *tx, &origin)
            .await?;
        tx.commit().await?;
        activity::publish(&state, [entry]).await;
        return Ok(StatusCode::NO_CONTENT);
    }
    drop(tx);
    // Built-in templates are read-only; anyone else's is "not found" for this route.
    match templates::find(&state.db, id).await? {
        Some(t) if t.workspace_id.is_none() => Err(ApiError::new(
            ErrorCode::Forbidden,
            "built-in templates cannot be withdrawn",
        )),
        _ => Err(ApiError::not_found("template")),
    }
}
