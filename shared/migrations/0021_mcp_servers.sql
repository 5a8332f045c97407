-- A workspace's MCP servers (the mcp-servers routes): a streamable HTTP
-- endpoint and the headers sent to it, whose values may name vault secrets
-- ({{secrets.NAME}}, resolved only when connecting or in a run). `connect`
-- records the handshake's outcome and caches the server's tools; agents name
-- a server's tools as `mcp:<name>` or `mcp:<name>/<tool>`.
CREATE TABLE mcp_servers (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    url           text NOT NULL,
    headers       jsonb NOT NULL DEFAULT '[]',
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'connected', 'failed', 'disabled')),
    last_error    text,
    server_info   jsonb,
    tools         jsonb NOT NULL DEFAULT '[]',
    checked_at    timestamptz,
    connected_at  timestamptz,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);
