-- An output too large to store inline lives in the blob store as an artifact
-- of the run; the row keeps the reference.
ALTER TABLE executions
    ADD COLUMN output_ref jsonb,
    -- How many times the dispatcher's claim expired without the run starting:
    -- the sweeper re-queues a stuck `dispatching` run a few times, then fails it.
    ADD COLUMN dispatch_attempts integer NOT NULL DEFAULT 0;

-- The sweeper looks for runs stuck in `dispatching` by claim time.
CREATE INDEX executions_dispatching ON executions (dispatched_at) WHERE status = 'dispatching';
