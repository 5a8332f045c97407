-- Scale (issue 20).
--
-- (The claim's index of active runs is 0024, built concurrently.)

-- An agent's uses, appended as runs start and folded into
-- agents.usage_count by the sweeper, so a busy agent (the built-in ones are
-- everyone's) is not a row every run start must update. No foreign key: it
-- would lock the agent's row for every insert; the fold joins on agents.
CREATE TABLE agent_uses (
    agent_id  uuid NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

-- When a run's heartbeat was last forwarded to the tracker: at most every
-- third of the tracker's window (TRACKER_HEARTBEAT_SECONDS), not at every
-- beat; liveness itself is heartbeat_at, judged by the sweeper.
ALTER TABLE executions ADD COLUMN tracker_beat_at timestamptz;
