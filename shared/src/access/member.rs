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
    auth::{AuthUser, TokenKeys},
    db::workspaces,
    error::{ApiError, ErrorCode},
    tier::Tier,
};

/// The header naming the workspace a request acts in.
pub const WORKSPACE_HEADER: HeaderName = HeaderName::from_static("x-workspace-id");

/// The caller, a member of the workspace the request names.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub workspace_id: Uuid,
    pub role: Role,
    /// The workspace's plan.
    pub tier: Tier,
}

impl Member {
    /// 403 `FORBIDDEN` unless the member's role allows `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.allows(p) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("a workspace {} may not do this", self.role.as_str()),
        )
        .with_details(serde_json::json!({ "role": self.role, "permission": p })))
    }

    /// The workspace a request names: the header, or the caller's personal
    /// workspace (whose id is the caller's).
    fn named(parts: &Parts, user_id: Uuid) -> Result<Uuid, ApiError> {
        match parts.headers.get(&WORKSPACE_HEADER) {
            None => Ok(user_id),
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
            session_id: caller.session_id,
            workspace_id,
            role,
            tier,
        })
    }
}

impl<S> FromRequestParts<S> for Member
where
    S: Send + Sync,
    std::sync::Arc<TokenKeys>: FromRef<S>,
    PgPool: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = AuthUser::from_request_parts(parts, state).await?;
        let workspace_id = Self::named(parts, caller.user_id)?;
        Self::of(&PgPool::from_ref(state), &caller, workspace_id).await
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
    std::sync::Arc<TokenKeys>: FromRef<S>,
    PgPool: FromRef<S>,
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
