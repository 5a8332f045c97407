-- Executions: the run of a workflow version, its events and artifacts (the pipeline issue).

CREATE TABLE executions (
    id                uuid PRIMARY KEY,
    owner_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workflow_id       uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    workflow_version  integer NOT NULL,
    status            text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'dispatching', 'running', 'completed', 'failed', 'cancelled', 'timed_out')),
    -- The tier at launch decides priority, resources and the runtime limit.
    tier              text NOT NULL,
    priority          text NOT NULL CHECK (priority IN ('high', 'standard', 'low')),
    -- The snapshot that runs: graph and inputs, and outputs reused from an earlier run.
    graph             jsonb NOT NULL,
    inputs            jsonb NOT NULL DEFAULT '{}',
    prior_outputs     jsonb NOT NULL DEFAULT '{}',
    idempotency_key   text,
    retry_of          uuid REFERENCES executions (id) ON DELETE SET NULL,
    cancel_requested  boolean NOT NULL DEFAULT false,
    job_name          text,
    -- Every non-terminal state has a deadline; the sweeper ends runs past it.
    deadline_at       timestamptz NOT NULL,
    heartbeat_at      timestamptz,
    last_seq          bigint NOT NULL DEFAULT 0,
    output            jsonb,
    error             text,
    failed_node       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    dispatched_at     timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz,
    CONSTRAINT executions_idempotency_key UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX executions_owner_recent_idx ON executions (owner_id, created_at DESC, id DESC);
CREATE INDEX executions_active_idx ON executions (status, deadline_at)
    WHERE status IN ('queued', 'dispatching', 'running');

-- Everything the executor reported, applied once per sequence number.
CREATE TABLE execution_events (
    execution_id  uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq           bigint NOT NULL,
    type          text NOT NULL,
    node          text,
    payload       jsonb NOT NULL,
    ts            timestamptz NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE execution_artifacts (
    id            uuid PRIMARY KEY,
    execution_id  uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    name          text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL,
    blob_key      text NOT NULL,
    uploaded      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_artifacts_execution_idx ON execution_artifacts (execution_id);
