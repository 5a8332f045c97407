-- The performance rollups (analytics/performance), written by the statement
-- that ends a run, like those of migrations 0016 and 0017.
--
-- Per workspace, UTC hour (by when the run ended) and the run's tier, of the
-- runs that started: how long each waited queued before the dispatcher took
-- it (created_at → dispatched_at, the last dispatch if it was retried), and
-- how long from that dispatch to its executor's start (dispatched_at →
-- started_at: the Job's creation, the pod's scheduling, the image pull).
-- Histograms as in migration 0016.
CREATE TABLE workspace_tier_hours (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    hour           timestamptz NOT NULL,
    tier           text NOT NULL,
    started        bigint NOT NULL DEFAULT 0,
    queue_ms       bigint NOT NULL DEFAULT 0,
    queue_hist     bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    dispatch_ms    bigint NOT NULL DEFAULT 0,
    dispatch_hist  bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    PRIMARY KEY (workspace_id, hour, tier)
);

-- Per workspace, UTC day and node type (`agent`, `http`, …, from the run's
-- graph): the nodes' attempts that succeeded (reused outputs not counted)
-- with their run time, and those that failed for good, as workflow_node_days
-- counts them per node.
CREATE TABLE workspace_node_type_days (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    day            date NOT NULL,
    node_type      text NOT NULL,
    succeeded      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    duration_ms    bigint NOT NULL DEFAULT 0,
    duration_hist  bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[80]),
    PRIMARY KEY (workspace_id, day, node_type)
);

-- The runs that ended before this migration.
INSERT INTO workspace_tier_hours
SELECT workspace_id, date_trunc('hour', finished_at), tier, count(*),
       coalesce(sum(queue), 0), analytics_sum(analytics_one(queue)),
       coalesce(sum(dispatch), 0), analytics_sum(analytics_one(dispatch))
  FROM (SELECT workspace_id, finished_at, tier,
               greatest((extract(epoch FROM dispatched_at - created_at) * 1000)::bigint, 0) AS queue,
               greatest((extract(epoch FROM started_at - dispatched_at) * 1000)::bigint, 0) AS dispatch
          FROM executions
         WHERE finished_at IS NOT NULL AND started_at IS NOT NULL AND dispatched_at IS NOT NULL) r
 GROUP BY 1, 2, 3;

-- Their nodes, from the events retention has kept.
INSERT INTO workspace_node_type_days
SELECT e.workspace_id, (e.finished_at AT TIME ZONE 'UTC')::date, n.node_type,
       count(*) FILTER (WHERE ev.type = 'node_succeeded'),
       count(*) FILTER (WHERE ev.type = 'node_failed'),
       coalesce(sum(m.ms) FILTER (WHERE ev.type = 'node_succeeded'), 0),
       coalesce(analytics_sum(analytics_one(m.ms)) FILTER (WHERE ev.type = 'node_succeeded'),
                array_fill(0::bigint, ARRAY[80]))
  FROM executions e
  JOIN execution_events ev ON ev.execution_id = e.id AND ev.node IS NOT NULL
  CROSS JOIN LATERAL (SELECT left(x->>'type', 32) AS node_type
                        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.graph->'nodes') = 'array'
                                                       THEN e.graph->'nodes' ELSE '[]' END) x
                       WHERE x->>'id' = ev.node LIMIT 1) n
  CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(ev.payload->'durationMs') = 'number'
                          THEN least(greatest((ev.payload->>'durationMs')::numeric, 0), 9223372036854775807)::bigint
                          END AS ms) m
 WHERE e.finished_at IS NOT NULL AND n.node_type IS NOT NULL
   AND ((ev.type = 'node_succeeded' AND (ev.payload->>'reused') IS DISTINCT FROM 'true')
        OR (ev.type = 'node_failed' AND (ev.payload->>'willRetry') IS DISTINCT FROM 'true'))
 GROUP BY 1, 2, 3;
