-- Invitations into team workspaces, and the activity log of every workspace.

CREATE TABLE workspace_invitations (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- Normalised (trimmed, lower-case) as sign-up stores addresses.
    email         text NOT NULL CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 254),
    role          text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    -- SHA-256 of the single-use token; the token itself is only in the email.
    token_hash    bytea NOT NULL UNIQUE,
    -- Expiry is not a stored status: a pending invitation past expires_at is expired.
    status        text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    invited_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at    timestamptz NOT NULL,
    sent_count    integer NOT NULL DEFAULT 1 CHECK (sent_count >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    responded_at  timestamptz,
    responded_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    CHECK ((status = 'pending') = (responded_at IS NULL))
);
-- One pending invitation per address and workspace.
CREATE UNIQUE INDEX workspace_invitations_one_pending
    ON workspace_invitations (workspace_id, email) WHERE status = 'pending';
CREATE INDEX workspace_invitations_for_email
    ON workspace_invitations (email) WHERE status = 'pending';

-- Who changed what in a workspace, written in the transaction of the change.
CREATE TABLE activity_log (
    -- UUIDv7: time-ordered, the page cursor.
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- NULL when the system acted (a run ending) or the user is gone.
    actor_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    action         text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    resource_type  text NOT NULL CHECK (resource_type ~ '^[a-z_]+$'),
    resource_id    uuid,
    details        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    ip             text CHECK (char_length(ip) <= 64),
    user_agent     text CHECK (char_length(user_agent) <= 512),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_log_page ON activity_log (workspace_id, id DESC);
CREATE INDEX activity_log_resource ON activity_log (workspace_id, resource_type, resource_id, id DESC);
CREATE INDEX activity_log_actor ON activity_log (workspace_id, actor_id, id DESC);
-- Retention deletes by time across workspaces.
CREATE INDEX activity_log_created ON activity_log (created_at);
