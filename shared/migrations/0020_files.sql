-- A workspace's files (the files routes): uploaded straight to the blob store
-- through a presigned PUT, then confirmed (`…/complete`), which checks the
-- stored size against the plan. `size` is what the upload declared until then,
-- the stored size after; pending uploads count against the quota too, and
-- housekeeping forgets those never completed after a day.
CREATE TABLE workspace_files (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    blob_key      text NOT NULL UNIQUE,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready')),
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    uploaded_at   timestamptz
);
CREATE INDEX workspace_files_workspace ON workspace_files (workspace_id, id DESC);
CREATE INDEX workspace_files_pending ON workspace_files (created_at) WHERE status = 'pending';
