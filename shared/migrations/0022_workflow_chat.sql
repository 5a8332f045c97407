-- The design assistant's chat (issue 19). The conversation itself stays in
-- `workflows.chat_history` (messages with roles, proposals and their
-- outcome). What streams while the assistant answers is numbered per
-- workflow, so `chat:{workflowId}` subscribers get it in order, once each,
-- across reconnects: `workflow_chat_streams` holds each workflow's last
-- number, `workflow_chat_events` the numbered messages. An answer's deltas
-- are dropped once its final message is stored (which holds the whole
-- text); final messages are dropped after a day (the history keeps them).
-- The messages users sent to the assistant (answered or being answered): what
-- the plan's messages per workflow count. Kept apart from the history, which
-- a client may replace (PATCH chatHistory), so clearing it frees nothing.
ALTER TABLE workflows ADD COLUMN chat_sent integer NOT NULL DEFAULT 0 CHECK (chat_sent >= 0);

CREATE TABLE workflow_chat_streams (
    workflow_id  uuid PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    last_seq     bigint NOT NULL DEFAULT 0
);

CREATE TABLE workflow_chat_events (
    workflow_id  uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    message_id   uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('delta', 'message')),
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, seq)
);
CREATE INDEX workflow_chat_events_message_idx ON workflow_chat_events (message_id, kind);
CREATE INDEX workflow_chat_events_age_idx ON workflow_chat_events (created_at);
