-- The sweeper closes the WebSocket connections of recently revoked sessions.
CREATE INDEX refresh_token_families_revoked_at
    ON refresh_token_families (revoked_at)
    WHERE revoked_at IS NOT NULL;
