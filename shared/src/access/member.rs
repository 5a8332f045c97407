//! The caller as a member of the workspace a request names: the
//! `X-Workspace-Id` header, or the caller's personal workspace when there is
//! none. Membership is read on every request (not carried in the token), so
//! a removed member loses access at once.

use std::marker::PhantomData;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{request::Parts, HeaderName},
};
use sqlx::PgPool;
use uuid::Uuid;

use super::{can::Need, Permission, Role};
use crate::{
    auth::{
        api_key::{self, Scope},
        extract::{bearer_token, count_request, session_required},
        AuthUser,
    },
    db::{api_keys, workspaces},
    error::{ApiError, ErrorCode},
    ratelimit::Bucket,
    tier::Tier,
    AppState,
};

/// The header naming the workspace a request acts in.
pub const WORKSPACE_HEADER: HeaderName = HeaderName::from_static("x-workspace-id");

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token of a sign-in session.
    Session(Uuid),
    /// An API key, limited to its scopes.
    ApiKey { id: Uuid, scopes: Vec<Scope> },
}

/// The caller, a member of the workspace the request names.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: Uuid,
    pub credential: Credential,
    pub workspace_id: Uuid,
    pub role: Role,
    /// The workspace's plan.
    pub tier: Tier,
}

impl Member {
    /// 403 unless the member's role allows `p` (`FORBIDDEN`) and, for an API
    /// key, its scopes do too (`INSUFFICIENT_SCOPE` naming the missing one).
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if !self.role.allows(p) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("a workspace {} may not do this", self.role.as_str()),
            )
            .with_details(serde_json::json!({ "role": self.role, "permission": p })));
        }
        let Credential::ApiKey { scopes, .. } = &self.credential else {
            return Ok(());
        };
        match Scope::for_permission(p) {
            None => Err(session_required()),
            Some(s) if scopes.contains(&s) => Ok(()),
            Some(s) => Err(ApiError::new(
                ErrorCode::InsufficientScope,
                format!("this API key lacks the {s} scope"),
            )
            .with_details(serde_json::json!({ "missingScope": s, "scopes": scopes }))),
        }
    }

    /// The workspace a request names: the header, or `default` (the
    /// caller's personal workspace, whose id is the caller's; a key's own).
    fn named(parts: &Parts, default: Uuid) -> Result<Uuid, ApiError> {
        match parts.headers.get(&WORKSPACE_HEADER) {
            None => Ok(default),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| Uuid::try_parse(s.trim()).ok())
                .ok_or_else(|| {
                    ApiError::field("X-Workspace-Id", "must be the id of one of your workspaces")
                }),
        }
    }

    /// The caller as a member of `workspace_id`: 404 when they are not one.
    pub async fn of(db: &PgPool, caller: &AuthUser, workspace_id: Uuid) -> Result<Self, ApiError> {
        let (role, tier) = workspaces::membership(db, workspace_id, caller.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("workspace"))?;
        Ok(Self {
            user_id: caller.user_id,
            credential: Credential::Session(caller.session_id),
            workspace_id,
            role,
            tier,
        })
    }

    /// The member an API key stands for, in the key's workspace.
    async fn of_key(parts: &mut Parts, state: &AppState, raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::new(ErrorCode::TokenInvalid, "the API key is invalid");
        let presented = api_key::parse(raw).ok_or_else(invalid)?;
        // A key whose member left is gone with the membership (the row cascades).
        let holder = api_keys::holder(&state.db, presented.public_id)
            .await?
            .filter(|h| presented.matches(&h.secret_hash))
            .ok_or_else(invalid)?;
        if holder.revoked {
            return Err(ApiError::new(
                ErrorCode::TokenRevoked,
                "the API key has been revoked",
            ));
        }
        if holder.expired {
            return Err(ApiError::new(
                ErrorCode::TokenExpired,
                "the API key has expired",
            ));
        }
        count_request(parts, state, Bucket::ApiKey, &holder.id.to_string()).await?;
        let workspace_id = Self::named(parts, holder.workspace_id)?;
        if workspace_id != holder.workspace_id {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this API key belongs to another workspace",
            )
            .with_details(serde_json::json!({ "credential": "apiKey", "keyWorkspaceId": holder.workspace_id })));
        }
        api_keys::touch(&state.db, holder.id).await?;
        Ok(Self {
            user_id: holder.user_id,
            credential: Credential::ApiKey {
                id: holder.id,
                scopes: holder
                    .scopes
                    .iter()
                    .filter_map(|s| Scope::parse(s))
                    .collect(),
            },
            workspace_id,
            role: holder.role,
            tier: holder.tier,
        })
    }
}

impl<S> FromRequestParts<S> for Member
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let bearer = bearer_token(parts)?.to_owned();
        if api_key::looks_like_key(&bearer) {
            return Self::of_key(parts, &state, &bearer).await;
        }
        let caller = AuthUser::live(parts, &state).await?;
        let workspace_id = Self::named(parts, caller.user_id)?;
        Self::of(&state.db, &caller, workspace_id).await
    }
}

/// A member whose role allows `P` (see [`super::can`]); 403 otherwise.
#[derive(Debug, Clone)]
pub struct Allowed<P: Need>(pub Member, PhantomData<P>);

impl<P: Need> std::ops::Deref for Allowed<P> {
    type Target = Member;
    fn deref(&self) -> &Member {
        &self.0
    }
}

impl<S, P> FromRequestParts<S> for Allowed<P>
where
    S: Send + Sync,
    P: Need + Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let member = Member::from_request_parts(parts, state).await?;
        member.require(P::PERMISSION)?;
        Ok(Self(member, PhantomData))
    }
}

/// The header every workspace-scoped route takes, for its OpenAPI description
/// (`params(InWorkspace, …)`); the document declares 403 for such routes.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct InWorkspace {
    /// The workspace the request acts in: one you are a member of (404
    /// otherwise). Without it, your personal workspace.
    #[serde(rename = "X-Workspace-Id")]
    pub workspace: Option<Uuid>,
}
