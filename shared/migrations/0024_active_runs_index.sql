-- no-transaction
-- Scale (issue 20): the claim counts a workspace's active runs under the
-- workspace's lock; a partial index of active runs only answers it however
-- many runs the workspace has had. Built concurrently (outside a
-- transaction), so a deploy does not block writes to executions meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS executions_workspace_active ON executions (workspace_id)
    WHERE status IN ('dispatching', 'running');
