-- Each workspace numbers its activity (1, 2, 3, …), as each run numbers its
-- events: the live `workspace:activity` messages carry the number, and a
-- subscriber's delivery cursor and catch-up (`after`) work as for a run.
-- The counter is taken with the workspace row locked until the change
-- commits, so numbers commit in order.

ALTER TABLE workspaces ADD COLUMN activity_seq bigint NOT NULL DEFAULT 0 CHECK (activity_seq >= 0);
ALTER TABLE activity_log ADD COLUMN seq bigint;

UPDATE activity_log a SET seq = n.rn
  FROM (SELECT id, row_number() OVER (PARTITION BY workspace_id ORDER BY id) AS rn FROM activity_log) n
 WHERE n.id = a.id;
UPDATE workspaces w SET activity_seq = s.last
  FROM (SELECT workspace_id, max(seq) AS last FROM activity_log GROUP BY workspace_id) s
 WHERE s.workspace_id = w.id;

ALTER TABLE activity_log ALTER COLUMN seq SET NOT NULL;
ALTER TABLE activity_log ADD CONSTRAINT activity_log_seq UNIQUE (workspace_id, seq);

-- Pages and filters go by number now.
DROP INDEX activity_log_page;
DROP INDEX activity_log_resource;
DROP INDEX activity_log_actor;
CREATE INDEX activity_log_resource ON activity_log (workspace_id, resource_type, resource_id, seq DESC);
CREATE INDEX activity_log_actor ON activity_log (workspace_id, actor_id, seq DESC);
CREATE INDEX activity_log_action ON activity_log (workspace_id, action, seq DESC);
-- Deleting a user sets these to NULL: found by index, not by scanning.
CREATE INDEX activity_log_actor_id ON activity_log (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX workspace_invitations_invited_by ON workspace_invitations (invited_by) WHERE invited_by IS NOT NULL;
CREATE INDEX workspace_invitations_responded_by ON workspace_invitations (responded_by) WHERE responded_by IS NOT NULL;
