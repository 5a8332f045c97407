-- The workspace vault: secrets a workspace's workflows use as
-- `{{secrets.NAME}}`, encrypted at rest with envelope encryption. Each
-- workspace has one data key, stored only wrapped (by KMS on AWS, by the
-- local master key in local mode); each value is sealed with AES-256-GCM
-- under it, bound to its workspace and name. Values never leave through the
-- API: runs receive the ones their graph names, over the callback channel.

CREATE TABLE workspace_keys (
    workspace_id  uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    -- Which key wrapped it: 'kms:<key id>' or 'local:<key fingerprint>'.
    wrapped_by    text NOT NULL CHECK (char_length(wrapped_by) BETWEEN 1 AND 2048),
    wrapped_key   bytea NOT NULL CHECK (octet_length(wrapped_key) BETWEEN 16 AND 4096),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_secrets (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$'),
    -- nonce (12 bytes) || ciphertext || tag (16 bytes).
    sealed        bytea NOT NULL CHECK (octet_length(sealed) BETWEEN 28 AND 70000),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- When a run last received it.
    last_used_at  timestamptz,
    PRIMARY KEY (workspace_id, name)
);
