//! `/api/v1/workspaces/{id}/invitations`: inviting people by email (owners
//! and admins), listing, sending again and revoking. Seats count members and
//! pending invitations; the workspace row is locked while they are counted.
//! The email goes out before the transaction commits (within five seconds):
//! when it cannot be sent, nothing is recorded (503) and the admin can
//! simply try again. (Should the commit then fail, the emailed link opens
//! nothing: 404.)

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::json;
use shared::{
    access::{require_verified, Member, NeedsVerified, Permission, Role},
    activity::{self, Action, Activity, Origin},
    auth::{jwt::fingerprint, opaque, AuthUser, Email},
    db::{
        invitations::{self, Invitation, NewInvitation as Row, Stored, Target},
        workspaces,
    },
    email::MailError,
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    invite_dto::{InvitationList, InvitationView, NewInvitation, Resend},
    invite_email::{compose, Invite},
};

fn conflict(reason: &str, message: &str) -> ApiError {
    ApiError::new(ErrorCode::Conflict, message).with_details(json!({ "reason": reason }))
}

/// 403 `TIER_LIMIT` when the plan's seats are all taken.
fn check_seats(target: &Target) -> Result<(), ApiError> {
    let seats = target.tier.limits().seats;
    if target.seats_used >= i64::from(seats) {
        return Err(
            ApiError::tier_limit(target.tier, "seats", seats).with_details(json!({
                "tier": target.tier, "limit": "seats", "max": seats, "used": target.seats_used,
            })),
        );
    }
    Ok(())
}

/// A mail failure as the API reports it: 503, nothing changed.
pub(crate) fn mail_failed(e: MailError) -> ApiError {
    if matches!(e, MailError::Rejected(_)) {
        tracing::error!(error = %e, "the email service refused an invitation");
    }
    ApiError::unavailable(anyhow::anyhow!(e)).with_details(json!({ "reason": "email" }))
}

/// Composes and sends the invitation email for `inv` with its new `token`.
async fn send(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    inv: &Invitation,
    token: &str,
    workspace: &str,
    inviter: Uuid,
) -> ApiResult<()> {
    let inviter = workspaces::member(&mut **tx, inv.workspace_id, inviter)
        .await?
        .map_or_else(|| "A member".to_owned(), |m| m.name);
    let email = compose(&Invite {
        to: &inv.email,
        inviter: &inviter,
        workspace,
        role: inv.role,
        app_url: &state.settings.email.app_url,
        token,
        expires: inv.expires_at,
    })
    .map_err(ApiError::internal)?;
    // The workspace row stays locked while the email goes out: bounded.
    match tokio::time::timeout(SEND_WITHIN, state.mailer.send(&email)).await {
        Ok(sent) => sent.map_err(mail_failed),
        Err(_) => Err(mail_failed(MailError::Unavailable(format!(
            "no answer from the email service within {SEND_WITHIN:?}"
        )))),
    }
}

/// The longest an invitation waits for its email to be accepted for delivery.
const SEND_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Invite someone by email (owners and admins). Team workspaces only.
#[utoipa::path(
    post, path = "/api/v1/workspaces/{id}/invitations", operation_id = "workspaces_invite", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    request_body = NewInvitation,
    responses(
        (status = 201, description = "Invited; the email is on its way", body = InvitationView),
        (status = 400, description = "Invalid email (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not invite (FORBIDDEN), your email address is not verified (EMAIL_NOT_VERIFIED), or every seat is taken (TIER_LIMIT, details.max and details.used)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "A personal workspace, already a member, or already invited (CONFLICT, details.reason = personal | member | pending)", body = ErrorEnvelope),
        (status = 503, description = "The email could not be sent; nothing changed (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<NewInvitation>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::InviteMembers)?;
    require_verified(&state.db, caller.user_id, NeedsVerified::InviteMembers).await?;
    let email = Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    let role = Role::from(body.role);
    let mut tx = state.db.begin().await?;
    let target = invitations::lock_target(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    if target.personal {
        return Err(conflict(
            "personal",
            "a personal workspace cannot be shared; create a team workspace",
        ));
    }
    if invitations::is_member(&mut *tx, id, email.as_str()).await? {
        return Err(conflict("member", "that address is already a member"));
    }
    let token = opaque::new_token();
    let hash = fingerprint(&token);
    let existing = invitations::pending_for(&mut *tx, id, email.as_str()).await?;
    let inv = match existing {
        Some(p) if !p.expired(chrono::Utc::now()) => {
            return Err(conflict(
                "pending",
                "that address has a pending invitation; send it again instead",
            )
            .with_details(json!({ "reason": "pending", "invitationId": p.id })));
        }
        // An expired invitation to the same address is renewed in place.
        Some(p) => {
            check_seats(&target)?;
            invitations::renew(&mut *tx, id, p.id, &hash, Some(role), caller.user_id)
                .await?
                .ok_or_else(|| conflict("changed", "the invitation changed meanwhile; try again"))?
        }
        None => {
            check_seats(&target)?;
            invitations::insert(
                &mut *tx,
                &Row {
                    id: shared::ids::new_id(),
                    workspace_id: id,
                    email: email.as_str(),
                    role,
                    token_hash: &hash,
                    invited_by: caller.user_id,
                },
            )
            .await?
        }
    };
    let entry = Activity::new(id, caller.user_id, Action::InvitationCreated)
        .on(inv.id)
        .details(json!({ "email": inv.email, "role": inv.role }))
        .record(&mut *tx, &origin)
        .await?;
    send(&state, &mut tx, &inv, &token, &target.name, caller.user_id).await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok((StatusCode::CREATED, Json(InvitationView::from(inv))))
}

/// The workspace's pending invitations, expired ones included (owners and admins).
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/invitations", operation_id = "workspaces_invitations", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Pending invitations, newest first", body = InvitationList),
        (status = 403, description = "Your role may not invite (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<InvitationList>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::InviteMembers)?;
    let items = invitations::pending(&state.db, id)
        .await?
        .into_iter()
        .map(InvitationView::from)
        .collect();
    Ok(Json(InvitationList { items }))
}

/// The pending invitation `invitation_id` of workspace `id`, or why not.
async fn pending_one(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    invitation_id: Uuid,
) -> ApiResult<Invitation> {
    let inv = invitations::find(&mut **tx, id, invitation_id)
        .await?
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    if inv.status != Stored::Pending {
        return Err(conflict(
            "answered",
            "the invitation was already accepted, declined or revoked",
        ));
    }
    Ok(inv)
}

/// Send an invitation again: a new link (the old one stops working), seven
/// more days, and optionally another role.
#[utoipa::path(
    post, path = "/api/v1/workspaces/{id}/invitations/{invitationId}/resend", operation_id = "workspaces_resend_invitation", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("invitationId" = Uuid, Path, description = "Invitation id")),
    request_body(content = Option<Resend>, description = "Optional: another role"),
    responses(
        (status = 200, description = "Sent again", body = InvitationView),
        (status = 403, description = "Your role may not invite (FORBIDDEN), or an expired invitation would need a seat that is taken (TIER_LIMIT)", body = ErrorEnvelope),
        (status = 404, description = "No such invitation in a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "Already answered (CONFLICT, details.reason = answered)", body = ErrorEnvelope),
        (status = 503, description = "The email could not be sent; nothing changed (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, invitation_id)): Path<(Uuid, Uuid)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<InvitationView>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::InviteMembers)?;
    let body: Resend = shared::extract::optional_object(&body)?;
    let mut tx = state.db.begin().await?;
    let target = invitations::lock_target(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let old = pending_one(&mut tx, id, invitation_id).await?;
    // An expired invitation held no seat; renewing it takes one again.
    if old.expired(chrono::Utc::now()) {
        check_seats(&target)?;
    }
    let token = opaque::new_token();
    let inv = invitations::renew(
        &mut *tx,
        id,
        invitation_id,
        &fingerprint(&token),
        body.role.map(Role::from),
        caller.user_id,
    )
    .await?
    .ok_or_else(|| conflict("answered", "the invitation was answered meanwhile"))?;
    let entry = Activity::new(id, caller.user_id, Action::InvitationResent)
        .on(inv.id)
        .details(json!({ "email": inv.email, "role": inv.role }))
        .record(&mut *tx, &origin)
        .await?;
    send(&state, &mut tx, &inv, &token, &target.name, caller.user_id).await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(InvitationView::from(inv)))
}

/// Revoke a pending invitation: its link stops working.
#[utoipa::path(
    delete, path = "/api/v1/workspaces/{id}/invitations/{invitationId}", operation_id = "workspaces_revoke_invitation", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("invitationId" = Uuid, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Your role may not invite (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such invitation in a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "Already answered (CONFLICT, details.reason = answered)", body = ErrorEnvelope),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, invitation_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::InviteMembers)?;
    let mut tx = state.db.begin().await?;
    // The workspace first, then the invitation: the one lock order.
    invitations::lock_target(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let inv = pending_one(&mut tx, id, invitation_id).await?;
    if !invitations::close(&mut *tx, inv.id, Stored::Revoked, caller.user_id).await? {
        return Err(conflict(
            "answered",
            "the invitation was answered meanwhile",
        ));
    }
    let entry = Activity::new(id, caller.user_id, Action::InvitationRevoked)
        .on(inv.id)
        .details(json!({ "email": inv.email, "role": inv.role }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(StatusCode::NO_CONTENT)
}
