-- Costs and spend caps.
--
-- A `usage` event is priced when it is stored (the API's price table,
-- LLM_PRICES): its cost goes onto the run (executions.cost_micros), onto the
-- run's per-model usage, and onto the workspace's spend this month (the
-- `llm_cost_micros` usage metric, which the monthly budget is checked
-- against while runs are still going). When the run ends, its cost and its
-- per-model usage join the analytics rollups (migration 0016) in the same
-- statement. Money is kept in whole micro-dollars (10⁻⁶ US$).

ALTER TABLE executions
    ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0,
    -- Why a run ended, when a reason is known beyond its status
    -- (run_protocol::EndReason: `budget_exceeded`).
    ADD COLUMN end_reason text;

ALTER TABLE workspace_run_hours ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0;
ALTER TABLE workflow_run_hours ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0;
ALTER TABLE workflow_run_days ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0;

-- A run's agent calls, per provider and model (kept while the run is kept).
CREATE TABLE execution_model_usage (
    execution_id   uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    provider       text NOT NULL,
    model          text NOT NULL,
    calls          bigint NOT NULL DEFAULT 0,
    input_tokens   bigint NOT NULL DEFAULT 0,
    output_tokens  bigint NOT NULL DEFAULT 0,
    cost_micros    bigint NOT NULL DEFAULT 0,
    -- Calls of a model the price table does not know (priced at 0).
    unpriced_calls bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (execution_id, provider, model)
);

-- The rollup of the above per workspace and hour (by when the run ended),
-- what the costs route reads by model.
CREATE TABLE workspace_model_hours (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    hour           timestamptz NOT NULL,
    provider       text NOT NULL,
    model          text NOT NULL,
    calls          bigint NOT NULL DEFAULT 0,
    input_tokens   bigint NOT NULL DEFAULT 0,
    output_tokens  bigint NOT NULL DEFAULT 0,
    cost_micros    bigint NOT NULL DEFAULT 0,
    unpriced_calls bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, hour, provider, model)
);

-- A workspace's spend caps: a monthly budget (UTC calendar months) and a
-- token budget for each run. No row, or NULL: no cap.
CREATE TABLE workspace_budgets (
    workspace_id          uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    monthly_budget_micros bigint CHECK (monthly_budget_micros > 0),
    run_token_budget      bigint CHECK (run_token_budget > 0),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    updated_by            uuid REFERENCES users (id) ON DELETE SET NULL
);

-- The budget notices sent: one per workspace, month and threshold (80, 100).
CREATE TABLE budget_notices (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    month         date NOT NULL,
    percent       smallint NOT NULL CHECK (percent IN (80, 100)),
    sent_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, month, percent)
);

-- What a workspace stores: its runs' artifacts (count and bytes), kept by a
-- trigger as artifacts come and go, so the usage route reads one row.
CREATE TABLE workspace_storage (
    workspace_id  uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    artifacts     bigint NOT NULL DEFAULT 0,
    bytes         bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION workspace_storage_track() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    row_  execution_artifacts;
    sign_ int;
    ws    uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        row_ := NEW; sign_ := 1;
    ELSE
        row_ := OLD; sign_ := -1;
    END IF;
    -- Not when its run is being deleted (the run's own trigger, below, counted
    -- its artifacts out), nor when its workspace is (the counter goes too).
    SELECT workspace_id INTO ws FROM executions WHERE id = row_.execution_id;
    IF ws IS NULL OR NOT EXISTS (SELECT 1 FROM workspaces WHERE id = ws) THEN
        RETURN NULL;
    END IF;
    INSERT INTO workspace_storage AS s (workspace_id, artifacts, bytes)
    VALUES (ws, sign_, sign_ * row_.size)
    ON CONFLICT (workspace_id) DO UPDATE
       SET artifacts = greatest(s.artifacts + EXCLUDED.artifacts, 0),
           bytes = greatest(s.bytes + EXCLUDED.bytes, 0);
    RETURN NULL;
END $$;

CREATE TRIGGER execution_artifacts_storage
    AFTER INSERT OR DELETE ON execution_artifacts
    FOR EACH ROW EXECUTE FUNCTION workspace_storage_track();

-- A run deleted (retention, account deletion) counts its artifacts out
-- before they go with it: once it is gone, they cannot name their workspace.
CREATE FUNCTION workspace_storage_run_deleted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM workspaces WHERE id = OLD.workspace_id) THEN
        UPDATE workspace_storage s
           SET artifacts = greatest(s.artifacts - a.n, 0), bytes = greatest(s.bytes - a.bytes, 0)
          FROM (SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes
                  FROM execution_artifacts WHERE execution_id = OLD.id) a
         WHERE s.workspace_id = OLD.workspace_id AND a.n > 0;
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER executions_storage
    BEFORE DELETE ON executions
    FOR EACH ROW EXECUTE FUNCTION workspace_storage_run_deleted();

INSERT INTO workspace_storage (workspace_id, artifacts, bytes)
SELECT e.workspace_id, count(*), coalesce(sum(a.size), 0)
  FROM execution_artifacts a JOIN executions e ON e.id = a.execution_id
 GROUP BY e.workspace_id;

-- The rankings read every workflow's rows of a period: from these covering
-- indexes alone (an index-only scan), not from the hourly rows, whose two
-- histograms make each about 1.3 kB.
DROP INDEX workflow_run_hours_workspace;
CREATE INDEX workflow_run_hours_ranking ON workflow_run_hours (workspace_id, hour)
    INCLUDE (workflow_id, runs, failed, llm_tokens, cost_micros);
DROP INDEX workflow_run_days_workspace;
CREATE INDEX workflow_run_days_ranking ON workflow_run_days (workspace_id, day)
    INCLUDE (workflow_id, runs, failed, llm_tokens, cost_micros);

-- Retention: a run's raw events (its log) are kept for its plan's retention
-- (shared::tier: the activity log's) after it ends, then pruned in bounded
-- batches by the sweeper, all but the last (`execution_ended`, how it ended);
-- the run's row and the rollups stay. The time is set when the run ends
-- (executions::finish), NULL once pruned, when `events_pruned` says so.
ALTER TABLE executions ADD COLUMN events_expire_at timestamptz,
    ADD COLUMN events_pruned boolean NOT NULL DEFAULT false;
UPDATE executions
   SET events_expire_at = finished_at + make_interval(days => CASE tier
           WHEN 'FREE' THEN 7 WHEN 'PROFESSIONAL' THEN 90 WHEN 'SCALE' THEN 365
           WHEN 'ENTERPRISE' THEN 730 ELSE 30 END)
 WHERE finished_at IS NOT NULL;
CREATE INDEX executions_events_expire ON executions (events_expire_at) WHERE events_expire_at IS NOT NULL;

-- Per workflow, node and UTC day (by when the run ended): the node's
-- attempts that succeeded (reused outputs not counted) with their run time,
-- and those that failed for good; and per workflow and day, why runs
-- failed (the end's reason, `timed_out`, or the failing node's error kind).
-- Both are written by the statement that ends a run, from its own events.
CREATE TABLE workflow_node_days (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    workflow_id    uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    day            date NOT NULL,
    node           text NOT NULL,
    succeeded      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    duration_ms    bigint NOT NULL DEFAULT 0,
    duration_hist  bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    PRIMARY KEY (workflow_id, day, node)
);

CREATE TABLE workflow_failure_days (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    workflow_id    uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    day            date NOT NULL,
    reason         text NOT NULL,
    runs           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow_id, day, reason)
);
