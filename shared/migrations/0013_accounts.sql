-- Accounts and access: verified email, recovery, one-time codes, API keys and
-- rate limits shared by every Lambda instance.

-- Accounts made with a one-time code have no password.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
-- When the address was proven (a verification link or a one-time code sent to it).
-- Accounts made before verification existed are not verified: they can ask for a link.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
-- The user asked for the account to be deleted: it can no longer sign in, and
-- the sweeper deletes it once its runs have ended and Stripe forgot it.
ALTER TABLE users ADD COLUMN deletion_requested_at timestamptz;
CREATE INDEX users_deletion_idx ON users (deletion_requested_at) WHERE deletion_requested_at IS NOT NULL;

ALTER TABLE refresh_token_families DROP CONSTRAINT refresh_token_families_revoked_reason_check;
ALTER TABLE refresh_token_families ADD CONSTRAINT refresh_token_families_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'reuse_detected', 'password_changed', 'account_secured', 'account_deleted'));

-- Single-use links sent by email (verification, password reset): only their
-- SHA-256 is stored. `email` is the address the link was sent to: verifying
-- proves that address, not whatever the account holds later.
CREATE TABLE account_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expiry_idx ON account_tokens (expires_at);

-- One-time sign-in codes: an HMAC of the code under a server key (six digits
-- alone would be found from a plain hash in a second). A newer code for the
-- same address supersedes older ones; each allows a few attempts.
CREATE TABLE otp_codes (
    id          uuid PRIMARY KEY,
    email       text NOT NULL,
    code_hash   bytea NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otp_codes_email_idx ON otp_codes (email, created_at DESC);
CREATE INDEX otp_codes_expiry_idx ON otp_codes (expires_at);

-- Request counters in fixed windows; a limit reads the current and the
-- previous window (a sliding estimate). Incremented with one upsert, so
-- concurrent requests on any instance each see a distinct count.
CREATE TABLE rate_counters (
    bucket        text NOT NULL,
    subject       text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    -- When no limit reads the row any more: the window and the one after it have ended.
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (bucket, subject, window_start)
);
CREATE INDEX rate_counters_expiry_idx ON rate_counters (expires_at);

-- Failed logins are counted in rate_counters now (before the password is checked).
DROP TABLE login_failures;

-- API keys: a member's credential for scripts, in one workspace, with scopes.
-- `public_id` is the part shown in lists and used to find the key; only the
-- SHA-256 of the secret part is kept. A key goes with its member: when they
-- leave the workspace, the key is deleted.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    user_id       uuid NOT NULL,
    name          text NOT NULL,
    public_id     text NOT NULL UNIQUE,
    secret_hash   bytea NOT NULL,
    scopes        text[] NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, user_id)
        REFERENCES workspace_members (workspace_id, user_id) ON DELETE CASCADE
);
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, created_at DESC);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- Sign-in with Google or GitHub: an account's identities at providers. The
-- provider's stable subject id, not the email, says who it is; an identity is
-- linked to an existing account only through an email the provider verified.
CREATE TABLE oauth_identities (
    provider    text NOT NULL CHECK (provider IN ('google', 'github')),
    subject     text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_user_idx ON oauth_identities (user_id);

-- An authorization in flight (10 minutes, used once): found by the SHA-256 of
-- its `state`, it holds the PKCE verifier, the OIDC nonce and the redirect URI
-- the code was issued for. It finishes only with the `binding` secret the
-- starting browser kept (SHA-256 here), so a code and state sent to someone
-- else's browser (login CSRF) or leaked in a URL finish nothing.
CREATE TABLE oauth_states (
    state_hash    bytea PRIMARY KEY,
    binding_hash  bytea NOT NULL,
    provider      text NOT NULL,
    pkce_verifier text NOT NULL,
    nonce         text NOT NULL,
    redirect_uri  text NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX oauth_states_expiry_idx ON oauth_states (expires_at);
