-- Workflows, their immutable versions, and per-period usage counters (the design-surface issue).

CREATE TABLE workflows (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Set by the teams issue; null for personal workflows.
    team_id       uuid,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
    tags          text[] NOT NULL DEFAULT '{}',
    -- The canvas state: the graph ({"nodes": [...], "edges": [...]}) plus layout.
    canvas        jsonb NOT NULL DEFAULT '{"nodes": [], "edges": []}',
    chat_history  jsonb NOT NULL DEFAULT '[]',
    settings      jsonb NOT NULL DEFAULT '{}',
    -- The latest version number; every change adds a row to workflow_versions.
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: restorable for 30 days.
    deleted_at    timestamptz
);
CREATE INDEX workflows_owner_recent_idx ON workflows (owner_id, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX workflows_tags_idx ON workflows USING gin (tags);

CREATE TABLE workflow_versions (
    workflow_id   uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version       integer NOT NULL,
    name          text NOT NULL,
    description   text NOT NULL,
    status        text NOT NULL,
    tags          text[] NOT NULL,
    canvas        jsonb NOT NULL,
    chat_history  jsonb NOT NULL,
    settings      jsonb NOT NULL,
    created_by    uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, version)
);

-- Counters per user, metric and period (the first day of a month), so
-- monthly tier limits survive deletes.
CREATE TABLE usage_metrics (
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    metric   text NOT NULL,
    period   date NOT NULL,
    count    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, metric, period)
);
