//! `/api/v1/api-keys`: a member's keys for scripts, in the workspace the
//! request names. The key itself is shown once, at creation. Any member may
//! make keys for themselves (with a verified address, and only from a
//! signed-in session: a key cannot make keys); owners and admins see and
//! revoke everyone's.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    access::{require_verified, Credential, InWorkspace, Member, NeedsVerified, Permission},
    activity::{self, Action, Activity, Origin},
    auth::api_key::{self, Scope},
    db::api_keys::{self, KeyRow, NewKey},
    error::{ErrorCode, ErrorEnvelope, FieldErrors},
    extract::Json,
    text::{self, TextRule},
    ApiError, ApiResult, AppState,
};
use utoipa::{
    openapi::{RefOr, Schema},
    ToSchema,
};
use uuid::Uuid;

/// A key's name.
const NAME: TextRule = text::line(100);

fn name_schema() -> RefOr<Schema> {
    NAME.schema("1–100 characters on one line.")
}
/// Live keys one member may hold in one workspace.
pub const MAX_KEYS_PER_MEMBER: i64 = 50;
/// The longest a key may live.
pub const MAX_DAYS: u32 = 365;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "nightly import", "scopes": ["workflows:read", "executions:read"], "expiresInDays": 90}))]
pub struct NewApiKey {
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// At least one; what the key may do, within its member's role.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// 1–365; absent or `null`: the key does not expire.
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<u32>,
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters (`sak_` and its public id), to recognise it.
    #[schema(example = "sak_3f9c2a7b1d4e5f60")]
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// The member it acts as.
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<KeyRow> for ApiKeyView {
    fn from(k: KeyRow) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: format!("{}{}", api_key::PREFIX, k.public_id),
            scopes: k.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            user_id: k.user_id,
            workspace_id: k.workspace_id,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            created_at: k.created_at,
        }
    }
}

/// A new key, with its secret: shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Send as `Authorization: Bearer <secret>`. It is not shown again.
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyView>,
}

/// The member, signed in as a person (not with a key).
fn in_person(member: &Member) -> Result<(), ApiError> {
    match member.credential {
        Credential::Session(_) => Ok(()),
        Credential::ApiKey { .. } => Err(shared::auth::extract::session_required()),
    }
}

/// A key request that passed validation.
struct KeySpec {
    name: String,
    scopes: Vec<Scope>,
    expires_at: Option<DateTime<Utc>>,
}

impl NewApiKey {
    fn parse(self, member: &Member) -> Result<KeySpec, ApiError> {
        let mut errors = FieldErrors::new();
        let name = errors.check("name", NAME.parse(&self.name));
        let mut scopes = self.scopes;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            errors.add("scopes", "name at least one scope");
        }
        // A scope the member's role can never use would be a key that only fails.
        let useless: Vec<&str> = scopes
            .iter()
            .filter(|s| {
                !shared::access::Permission::ALL
                    .iter()
                    .any(|p| Scope::for_permission(*p) == Some(**s) && member.role.allows(*p))
            })
            .map(|s| s.as_str())
            .collect();
        if !useless.is_empty() {
            errors.add(
                "scopes",
                format!(
                    "a workspace {} cannot use {}",
                    member.role.as_str(),
                    useless.join(", ")
                ),
            );
        }
        let expires_at = match self.expires_in_days {
            None => None,
            Some(d) if (1..=MAX_DAYS).contains(&d) => {
                Some(Utc::now() + chrono::Duration::days(i64::from(d)))
            }
            Some(_) => {
                errors.add("expiresInDays", "must be 1–365");
                None
            }
        };
        errors.finish()?;
        Ok(KeySpec {
            name: name.unwrap_or_default(),
            scopes,
            expires_at,
        })
    }
}

/// Make an API key for yourself in this workspace. The response holds the
/// secret, shown this once.
#[utoipa::path(
    post, path = "/api/v1/api-keys", operation_id = "api_keys_create", tag = "api-keys",
    security(("bearer" = [])),
    params(InWorkspace),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The key, with its secret (shown once)", body = CreatedApiKey),
        (status = 400, description = "Invalid name, scopes or lifetime (VALIDATION_ERROR; details.fields)", body = ErrorEnvelope),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 403, description = "Your email address is not verified (EMAIL_NOT_VERIFIED), or an API key cannot make keys (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "You hold the most live keys a member may (CONFLICT, details.max)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    member: Member,
    origin: Origin,
    Json(body): Json<NewApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    in_person(&member)?;
    let KeySpec {
        name,
        scopes,
        expires_at,
    } = body.parse(&member)?;
    require_verified(&state.db, member.user_id, NeedsVerified::CreateApiKey).await?;
    let mut tx = state.db.begin().await?;
    // One member's keys are counted under their membership row's lock.
    sqlx::query(
        "SELECT 1 FROM workspace_members WHERE workspace_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(member.workspace_id)
    .bind(member.user_id)
    .execute(&mut *tx)
    .await?;
    if api_keys::count_live(&mut *tx, member.workspace_id, member.user_id).await?
        >= MAX_KEYS_PER_MEMBER
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you hold the most live API keys a member may; revoke one first",
        )
        .with_details(serde_json::json!({ "max": MAX_KEYS_PER_MEMBER })));
    }
    let generated = api_key::generate();
    let row = api_keys::insert(
        &mut *tx,
        NewKey {
            id: shared::ids::new_id(),
            workspace_id: member.workspace_id,
            user_id: member.user_id,
            name: &name,
            public_id: &generated.public_id,
            secret_hash: &generated.secret_hash,
            scopes: &scopes,
            expires_at,
        },
    )
    .await?;
    let entry = Activity::new(member.workspace_id, member.user_id, Action::ApiKeyCreated)
        .on(row.id)
        .details(serde_json::json!({ "name": name, "scopes": scopes }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: row.into(),
            secret: generated.key,
        }),
    ))
}

/// The live keys in this workspace: yours, or everyone's for owners and admins.
#[utoipa::path(
    get, path = "/api/v1/api-keys", operation_id = "api_keys_list", tag = "api-keys",
    security(("bearer" = [])),
    params(InWorkspace),
    responses(
        (status = 200, description = "Keys, newest first (never their secrets)", body = ApiKeyList),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 403, description = "An API key cannot list keys (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn list(State(state): State<AppState>, member: Member) -> ApiResult<Json<ApiKeyList>> {
    in_person(&member)?;
    let whose = (!member.role.allows(Permission::RemoveMembers)).then_some(member.user_id);
    let items = api_keys::list(&state.db, member.workspace_id, whose)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(ApiKeyList { items }))
}

/// Revoke a key: it stops working at once. Yours, or anyone's for owners and
/// admins. Idempotent.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", operation_id = "api_keys_revoke", tag = "api-keys",
    security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 403, description = "Another member's key and you are not an owner or admin, or an API key cannot revoke keys (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such key in this workspace, or not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    member: Member,
    origin: Origin,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    in_person(&member)?;
    let key = api_keys::find(&state.db, member.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    if key.user_id != member.user_id {
        member.require(Permission::RemoveMembers)?;
    }
    let mut tx = state.db.begin().await?;
    if !api_keys::revoke(&mut *tx, id).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    let entry = Activity::new(member.workspace_id, member.user_id, Action::ApiKeyRevoked)
        .on(id)
        .details(serde_json::json!({ "name": key.name }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(StatusCode::NO_CONTENT)
}
