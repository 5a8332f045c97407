-- A workflow's webhook and schedule triggers, kept in step with its graph by
-- the database itself: whenever a workflow's canvas, status or deletion
-- changes, `sync_workflow_triggers` upserts one row per trigger node of kind
-- `webhook` or `schedule` (keyed by workflow and node id, so a webhook keeps
-- its URL across edits) and marks the rows of nodes that are gone as
-- removed. No handler can forget to. A trigger fires only while its
-- workflow is published (`armed`) and it is not paused.
--
-- Schedules on AWS are EventBridge Scheduler schedules, one per armed and
-- unpaused row, pushed by the reconciler (the sweeper): a change sets
-- `sync_state = 'pending'` and bumps `version`; the reconciler creates,
-- updates or deletes the schedule and records the version it pushed. A
-- removed row is deleted once its schedule is (at once when it has none).

CREATE TABLE workflow_triggers (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    workflow_id        uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    node_id            text NOT NULL CHECK (char_length(node_id) BETWEEN 1 AND 64),
    kind               text NOT NULL CHECK (kind IN ('webhook', 'schedule')),
    -- The trigger node's config as saved (cron, timezone, overlap, auth, sync, headers).
    config             jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    -- Webhooks: the URL's id (122 random bits; every row has one, so a node
    -- turned into a webhook keeps it), and the signing secret, sealed
    -- with the workspace's vault key (NULL until one is made: POST …/secret).
    hook_id            text UNIQUE CHECK (hook_id ~ '^[0-9a-f]{32}$'),
    secret_sealed      bytea,
    secret_created_at  timestamptz,
    -- The workflow is published and not deleted.
    armed              boolean NOT NULL DEFAULT false,
    paused             boolean NOT NULL DEFAULT false,
    paused_reason      text CHECK (paused_reason IN ('user', 'failing')),
    -- Consecutive fires that could not start a run (reset by one that did, or by resume).
    failures           integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_error         text CHECK (char_length(last_error) <= 1000),
    last_fired_at      timestamptz,
    last_execution_id  uuid,
    -- Schedules on AWS: whether EventBridge Scheduler has this version.
    version            integer NOT NULL DEFAULT 1,
    sync_state         text NOT NULL DEFAULT 'pending' CHECK (sync_state IN ('pending', 'synced', 'failed')),
    synced_version     integer,
    sync_error         text CHECK (char_length(sync_error) <= 1000),
    removed_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, node_id),
    CHECK (paused = (paused_reason IS NOT NULL))
);
CREATE INDEX workflow_triggers_workspace ON workflow_triggers (workspace_id, kind) WHERE removed_at IS NULL;
CREATE INDEX workflow_triggers_unsynced ON workflow_triggers (updated_at)
    WHERE kind = 'schedule' AND sync_state <> 'synced';

CREATE FUNCTION sync_workflow_triggers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n     jsonb;
    kind  text;
    seen  text[] := '{}';
    live  boolean := NEW.deleted_at IS NULL AND NEW.status = 'published';
BEGIN
    FOR n IN
        SELECT value FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(NEW.canvas -> 'nodes') = 'array' THEN NEW.canvas -> 'nodes' ELSE '[]'::jsonb END)
    LOOP
        kind := n -> 'config' ->> 'kind';
        CONTINUE WHEN n ->> 'type' IS DISTINCT FROM 'trigger'
            OR kind IS NULL OR kind NOT IN ('webhook', 'schedule')
            OR jsonb_typeof(n -> 'id') IS DISTINCT FROM 'string'
            OR char_length(n ->> 'id') NOT BETWEEN 1 AND 64
            OR jsonb_typeof(n -> 'config') IS DISTINCT FROM 'object';
        seen := seen || (n ->> 'id');
        INSERT INTO workflow_triggers AS t (workspace_id, workflow_id, node_id, kind, config, hook_id, armed)
        VALUES (NEW.workspace_id, NEW.id, n ->> 'id', kind, n -> 'config',
                replace(gen_random_uuid()::text, '-', ''), live)
        ON CONFLICT (workflow_id, node_id) DO UPDATE SET
            kind = EXCLUDED.kind,
            config = EXCLUDED.config,
            armed = EXCLUDED.armed,
            -- A webhook keeps its URL (and its secret) across edits; one whose node
            -- was removed and is added again gets a new URL and no secret: what was
            -- revoked stays revoked.
            hook_id = CASE WHEN t.removed_at IS NULL THEN t.hook_id ELSE EXCLUDED.hook_id END,
            secret_sealed = CASE WHEN t.removed_at IS NULL THEN t.secret_sealed END,
            secret_created_at = CASE WHEN t.removed_at IS NULL THEN t.secret_created_at END,
            removed_at = NULL,
            version = t.version + 1,
            sync_state = 'pending',
            updated_at = now()
        WHERE (t.kind, t.config, t.armed, t.removed_at IS NULL)
              IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.config, EXCLUDED.armed, true);
    END LOOP;
    -- Gone from the graph: a row with nothing to take down elsewhere goes at
    -- once; one with a schedule to delete is marked, and goes once it is.
    DELETE FROM workflow_triggers
     WHERE workflow_id = NEW.id AND NOT (node_id = ANY (seen)) AND synced_version IS NULL;
    UPDATE workflow_triggers
       SET removed_at = now(), armed = false, version = version + 1, sync_state = 'pending', updated_at = now()
     WHERE workflow_id = NEW.id AND removed_at IS NULL AND NOT (node_id = ANY (seen));
    RETURN NULL;
END
$$;

CREATE TRIGGER workflows_sync_triggers
    AFTER INSERT OR UPDATE OF canvas, status, deleted_at ON workflows
    FOR EACH ROW EXECUTE FUNCTION sync_workflow_triggers();

-- The workflows that already declare triggers.
UPDATE workflows SET status = status
 WHERE jsonb_typeof(canvas -> 'nodes') = 'array'
   AND EXISTS (SELECT 1 FROM jsonb_array_elements(canvas -> 'nodes') e
                WHERE e.value ->> 'type' = 'trigger' AND e.value -> 'config' ->> 'kind' IN ('webhook', 'schedule'));
