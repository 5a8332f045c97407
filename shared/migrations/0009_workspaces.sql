-- Workspaces own everything a team shares. Every user has a personal
-- workspace whose id is the user's own id, so every row that belonged to a
-- user (its `owner_id`) already names the user's personal workspace: the
-- columns are renamed to `workspace_id` and point at workspaces, and who made
-- a row is kept in `created_by`. Nothing is copied, so nothing can be lost.

CREATE TABLE workspaces (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The user whose personal workspace this is; NULL for a team workspace.
    personal_of  uuid UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    -- The plan: a personal workspace's plan is its owner's.
    tier         text NOT NULL DEFAULT 'FREE'
        CHECK (tier IN ('FREE', 'DESIGNER', 'STARTER', 'PROFESSIONAL', 'SCALE', 'ENTERPRISE')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (personal_of IS NULL OR personal_of = id)
);

CREATE TABLE workspace_members (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    invited_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
-- At most one owner per workspace (the code keeps at least one).
CREATE UNIQUE INDEX workspace_members_one_owner ON workspace_members (workspace_id) WHERE role = 'owner';
CREATE INDEX workspace_members_user ON workspace_members (user_id);

INSERT INTO workspaces (id, name, personal_of, tier, created_at)
SELECT id, 'Personal', id, tier, created_at FROM users;
INSERT INTO workspace_members (workspace_id, user_id, role, joined_at)
SELECT id, id, 'owner', created_at FROM users;

-- Workflows.
ALTER TABLE workflows DROP COLUMN team_id;
ALTER TABLE workflows RENAME COLUMN owner_id TO workspace_id;
ALTER TABLE workflows ADD COLUMN created_by uuid REFERENCES users (id) ON DELETE SET NULL;
UPDATE workflows SET created_by = workspace_id;
ALTER TABLE workflows DROP CONSTRAINT workflows_owner_id_fkey,
    ADD CONSTRAINT workflows_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE;
ALTER INDEX workflows_owner_recent_idx RENAME TO workflows_workspace_recent_idx;

-- Usage counters.
ALTER TABLE usage_metrics RENAME COLUMN user_id TO workspace_id;
ALTER TABLE usage_metrics DROP CONSTRAINT usage_metrics_user_id_fkey,
    ADD CONSTRAINT usage_metrics_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE;

-- Custom agents (built-in ones have no workspace).
ALTER TABLE agents RENAME COLUMN owner_id TO workspace_id;
ALTER TABLE agents ADD COLUMN created_by uuid REFERENCES users (id) ON DELETE SET NULL;
UPDATE agents SET created_by = workspace_id WHERE workspace_id IS NOT NULL;
ALTER TABLE agents DROP CONSTRAINT agents_owner_id_fkey,
    ADD CONSTRAINT agents_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE;
ALTER INDEX agents_owner_name_key RENAME TO agents_workspace_name_key;

-- Templates published by a workspace (built-in ones have none).
ALTER TABLE workflow_templates RENAME COLUMN owner_id TO workspace_id;
ALTER TABLE workflow_templates ADD COLUMN created_by uuid REFERENCES users (id) ON DELETE SET NULL;
UPDATE workflow_templates SET created_by = workspace_id WHERE workspace_id IS NOT NULL;
ALTER TABLE workflow_templates DROP CONSTRAINT workflow_templates_owner_id_fkey,
    ADD CONSTRAINT workflow_templates_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE;

-- Executions: the workspace they run in (its limits) and who started them.
ALTER TABLE executions RENAME COLUMN owner_id TO workspace_id;
ALTER TABLE executions ADD COLUMN started_by uuid REFERENCES users (id) ON DELETE SET NULL;
UPDATE executions SET started_by = workspace_id;
ALTER TABLE executions DROP CONSTRAINT executions_owner_id_fkey,
    ADD CONSTRAINT executions_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE;
ALTER INDEX executions_owner_recent_idx RENAME TO executions_workspace_recent_idx;

-- A user's tier is their personal workspace's plan.
ALTER TABLE users DROP COLUMN tier;
