//! `/api/v1/invitations`: the invitations addressed to you, and answering
//! one with the token from its email. Only the account whose email is the
//! invitation's may answer it; an answer is a conditional update from
//! `pending`, so a link works once.

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use shared::{
    access::{require_verified, NeedsVerified},
    activity::{self, Action, Activity, Origin},
    auth::{jwt::fingerprint, opaque, AuthUser},
    db::{
        activity::Entry,
        invitations::{self, Invitation, Stored},
        users, workspaces,
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use sqlx::{Postgres, Transaction};

use crate::{
    dto::WorkspaceView,
    invite_dto::{InboxList, InboxView, InvitationToken, Joined},
};

/// Pending invitations to your account's email address, newest first.
#[utoipa::path(
    get, path = "/api/v1/invitations", operation_id = "invitations_mine", tag = "workspaces", security(("bearer" = [])),
    responses((status = 200, description = "Invitations you can accept", body = InboxList))
)]
pub async fn mine(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<InboxList>> {
    let me = users::find(&state.db, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the account no longer exists"))?;
    let items = invitations::inbox(&state.db, &me.email)
        .await?
        .into_iter()
        .map(InboxView::from)
        .collect();
    Ok(Json(InboxList { items }))
}

/// The pending invitation the token opens, addressed to the caller (locked).
async fn open(
    tx: &mut Transaction<'_, Postgres>,
    caller: &AuthUser,
    token: &str,
) -> ApiResult<Invitation> {
    if !opaque::is_token(token) {
        return Err(ApiError::field(
            "token",
            "must be the 64-character token from the invitation's link",
        ));
    }
    let inv = invitations::by_token(tx, &fingerprint(token))
        .await?
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    let me = users::find(&mut **tx, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the account no longer exists"))?;
    if me.email != inv.email {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this invitation is for another email address: sign in with the address it was sent to",
        )
        .with_details(json!({ "reason": "email_mismatch" })));
    }
    if inv.status != Stored::Pending {
        let status = match inv.status {
            Stored::Accepted => "accepted",
            Stored::Declined => "declined",
            _ => "revoked",
        };
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the invitation was already {status}"),
        )
        .with_details(json!({ "reason": status })));
    }
    if inv.expired(chrono::Utc::now()) {
        return Err(ApiError::new(
            ErrorCode::InvitationExpired,
            "the invitation has expired; ask for it to be sent again",
        )
        .with_details(json!({ "expiredAt": inv.expires_at })));
    }
    Ok(inv)
}

/// Accept an invitation: you join the workspace with the invitation's role.
#[utoipa::path(
    post, path = "/api/v1/invitations/accept", operation_id = "invitations_accept", tag = "workspaces", security(("bearer" = [])),
    request_body = InvitationToken,
    responses(
        (status = 200, description = "Joined", body = Joined),
        (status = 400, description = "Not a token (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "The invitation is for another address (FORBIDDEN, details.reason = email_mismatch), your email address is not verified (EMAIL_NOT_VERIFIED), or the workspace's seats are over its plan (TIER_LIMIT)", body = ErrorEnvelope),
        (status = 404, description = "No invitation has this token (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "Already accepted, declined or revoked, or you are already a member (CONFLICT, details.reason)", body = ErrorEnvelope),
        (status = 410, description = "Expired (INVITATION_EXPIRED)", body = ErrorEnvelope),
    )
)]
pub async fn accept(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Json(body): Json<InvitationToken>,
) -> ApiResult<Json<Joined>> {
    // Only the proven owner of the invited address may take its seat.
    require_verified(&state.db, caller.user_id, NeedsVerified::AcceptInvitation).await?;
    let mut tx = state.db.begin().await?;
    let inv = open(&mut tx, &caller, &body.token).await?;
    let target = invitations::lock_target(&mut tx, inv.workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    // The invitation already holds its seat; only a plan that shrank since refuses.
    let seats = target.tier.limits().seats;
    if target.seats_used > i64::from(seats) {
        return Err(ApiError::tier_limit(target.tier, "seats", seats));
    }
    if !workspaces::add_member(
        &mut *tx,
        inv.workspace_id,
        caller.user_id,
        inv.role,
        inv.invited_by,
    )
    .await?
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you are already a member of this workspace",
        )
        .with_details(json!({ "reason": "member" })));
    }
    invitations::close(&mut *tx, inv.id, Stored::Accepted, caller.user_id).await?;
    let entry: Entry = Activity::new(inv.workspace_id, caller.user_id, Action::MemberJoined)
        .on(caller.user_id)
        .details(json!({ "role": inv.role, "invitationId": inv.id, "invitedBy": inv.invited_by }))
        .record(&mut *tx, &origin)
        .await?;
    let workspace = workspaces::find(&mut *tx, inv.workspace_id, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(Joined {
        workspace: WorkspaceView::from(workspace),
    }))
}

/// Decline an invitation: its link stops working.
#[utoipa::path(
    post, path = "/api/v1/invitations/decline", operation_id = "invitations_decline", tag = "workspaces", security(("bearer" = [])),
    request_body = InvitationToken,
    responses(
        (status = 204, description = "Declined"),
        (status = 400, description = "Not a token (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "The invitation is for another address (FORBIDDEN, details.reason = email_mismatch)", body = ErrorEnvelope),
        (status = 404, description = "No invitation has this token (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "Already accepted, declined or revoked (CONFLICT, details.reason)", body = ErrorEnvelope),
        (status = 410, description = "Expired (INVITATION_EXPIRED)", body = ErrorEnvelope),
    )
)]
pub async fn decline(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Json(body): Json<InvitationToken>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    let inv = open(&mut tx, &caller, &body.token).await?;
    invitations::close(&mut *tx, inv.id, Stored::Declined, caller.user_id).await?;
    let entry = Activity::new(inv.workspace_id, caller.user_id, Action::InvitationDeclined)
        .on(inv.id)
        .details(json!({ "email": inv.email, "role": inv.role }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(StatusCode::NO_CONTENT)
}
