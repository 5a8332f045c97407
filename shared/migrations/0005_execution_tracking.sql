-- The run tracker (Step Functions on AWS) registers a task token per running
-- execution; heartbeats and the end of the run are reported against it.
ALTER TABLE executions
    ADD COLUMN task_token text,
    ADD COLUMN runtime_ms bigint;

-- The log bundle is stored once per execution, whoever finalizes the run.
CREATE UNIQUE INDEX execution_artifacts_blob_key ON execution_artifacts (execution_id, blob_key);
