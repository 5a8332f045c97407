-- How a run was started: by a person (`manual`), a script (`api`), or one of
-- the workflow's triggers (`webhook`, `schedule`), with what the trigger
-- handed over. A retry keeps its run's trigger. Existing runs were manual.
ALTER TABLE executions
    ADD COLUMN trigger_type text NOT NULL DEFAULT 'manual'
        CHECK (trigger_type IN ('manual', 'api', 'webhook', 'schedule')),
    ADD COLUMN trigger_data jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(trigger_data) = 'object');
