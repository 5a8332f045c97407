-- The run tracker (Step Functions on AWS) registers a task token per running
-- execution; heartbeats and the end of the run are reported against it.
ALTER TABLE executions
    ADD COLUMN task_token text,
    ADD COLUMN runtime_ms bigint,
    -- When a queue message for this queued run was last sent or seen: the
    -- sweeper re-sends only runs whose message has been silent too long.
    ADD COLUMN enqueued_at timestamptz NOT NULL DEFAULT now();

-- The log bundle is stored once per execution, whoever finalizes the run.
CREATE UNIQUE INDEX execution_artifacts_blob_key ON execution_artifacts (execution_id, blob_key);
