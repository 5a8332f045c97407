-- Run analytics: rollups kept up to date when a run ends (executions::finish
-- adds each ended run in the same statement that ends it), per workspace and
-- hour, per workflow and hour, and per workflow and day, by when the run
-- ended (UTC). Analytics
-- routes read these, never the runs themselves.
--
-- Durations and queue waits are also counted in 80 log-spaced buckets, so
-- percentiles come from the rollups: bucket 1 holds 0–10 ms, bucket k (2..80)
-- holds [10 * 1.25^(k-2), 10 * 1.25^(k-1)) ms, the last also everything
-- longer (about 100 hours and up). shared::analytics::histogram knows the same edges.

CREATE FUNCTION analytics_bucket(ms bigint) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN ms < 10 THEN 1
                ELSE least(80, 2 + floor(ln(ms / 10.0) / ln(1.25))::int) END;

-- An 80-bucket histogram holding one count, at `ms`'s bucket (none for NULL).
CREATE FUNCTION analytics_one(ms bigint) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h bigint[] := array_fill(0::bigint, ARRAY[80]);
BEGIN
    IF ms IS NOT NULL THEN
        h[analytics_bucket(ms)] := 1;
    END IF;
    RETURN h;
END $$;

-- Two histograms added bucket by bucket (a NULL one counts as empty).
CREATE FUNCTION analytics_add(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
              FROM unnest(a, b) WITH ORDINALITY AS u (x, y, i));

-- The sum of histograms: `analytics_sum(duration_hist)` over rollup rows.
CREATE AGGREGATE analytics_sum(bigint[]) (SFUNC = analytics_add, STYPE = bigint[]);

CREATE TABLE workspace_run_hours (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    hour           timestamptz NOT NULL,
    runs           bigint NOT NULL DEFAULT 0,
    completed      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    cancelled      bigint NOT NULL DEFAULT 0,
    timed_out      bigint NOT NULL DEFAULT 0,
    -- Of the runs that started: their run time, and how long they waited queued.
    started        bigint NOT NULL DEFAULT 0,
    duration_ms    bigint NOT NULL DEFAULT 0,
    duration_hist  bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    wait_ms        bigint NOT NULL DEFAULT 0,
    wait_hist      bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    llm_tokens     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, hour)
);

CREATE TABLE workflow_run_hours (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    workflow_id    uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    hour           timestamptz NOT NULL,
    runs           bigint NOT NULL DEFAULT 0,
    completed      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    cancelled      bigint NOT NULL DEFAULT 0,
    timed_out      bigint NOT NULL DEFAULT 0,
    started        bigint NOT NULL DEFAULT 0,
    duration_ms    bigint NOT NULL DEFAULT 0,
    duration_hist  bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    wait_ms        bigint NOT NULL DEFAULT 0,
    wait_hist      bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    llm_tokens     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow_id, hour)
);
CREATE INDEX workflow_run_hours_workspace ON workflow_run_hours (workspace_id, hour);

-- Per workflow and UTC day: what the rankings of busiest workflows read for
-- the whole days of a period (the hours at its edges come from the table above).
CREATE TABLE workflow_run_days (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    workflow_id    uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    day            date NOT NULL,
    runs           bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    llm_tokens     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow_id, day)
);
CREATE INDEX workflow_run_days_workspace ON workflow_run_days (workspace_id, day);

-- The runs that ended before this migration.
CREATE TEMPORARY TABLE ended_runs ON COMMIT DROP AS
SELECT workspace_id, workflow_id, date_trunc('hour', finished_at) AS hour, status, llm_tokens,
       CASE WHEN started_at IS NOT NULL THEN runtime_ms END AS duration,
       (extract(epoch FROM started_at - created_at) * 1000)::bigint AS wait
  FROM executions WHERE finished_at IS NOT NULL;

INSERT INTO workspace_run_hours
SELECT workspace_id, hour, count(*),
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'timed_out'),
       count(duration), coalesce(sum(duration), 0), analytics_sum(analytics_one(duration)),
       coalesce(sum(wait), 0), analytics_sum(analytics_one(wait)), least(coalesce(sum(llm_tokens), 0), 9223372036854775807)
  FROM ended_runs GROUP BY 1, 2;

INSERT INTO workflow_run_hours
SELECT workspace_id, workflow_id, hour, count(*),
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'timed_out'),
       count(duration), coalesce(sum(duration), 0), analytics_sum(analytics_one(duration)),
       coalesce(sum(wait), 0), analytics_sum(analytics_one(wait)), least(coalesce(sum(llm_tokens), 0), 9223372036854775807)
  FROM ended_runs GROUP BY 1, 2, 3;

INSERT INTO workflow_run_days
SELECT workspace_id, workflow_id, (hour AT TIME ZONE 'UTC')::date, count(*),
       count(*) FILTER (WHERE status = 'failed'), least(coalesce(sum(llm_tokens), 0), 9223372036854775807)
  FROM ended_runs GROUP BY 1, 2, 3;
