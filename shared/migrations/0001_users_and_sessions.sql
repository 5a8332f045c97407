-- Users, refresh-token families and login throttling (the foundation issue).

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL,
    password_hash       text NOT NULL,
    name                text NOT NULL,
    avatar_url          text,
    tier                text NOT NULL DEFAULT 'FREE'
        CONSTRAINT users_tier_check
        CHECK (tier IN ('FREE', 'DESIGNER', 'STARTER', 'PROFESSIONAL', 'SCALE', 'ENTERPRISE')),
    stripe_customer_id  text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_stripe_customer_key UNIQUE (stripe_customer_id)
);

-- One family per sign-in. Each refresh rotates the token inside the family; presenting
-- a token that was already rotated revokes the whole family (reuse detection).
CREATE TABLE refresh_token_families (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    revoked_reason  text CHECK (revoked_reason IN ('logout', 'reuse_detected'))
);
CREATE INDEX refresh_token_families_user_idx ON refresh_token_families (user_id);

-- Tokens are stored only as their SHA-256.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    family_id   uuid NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Failed logins, per normalised email and per client IP, so throttling holds
-- across Lambda instances.
CREATE TABLE login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope      text NOT NULL CHECK (scope IN ('email', 'ip')),
    subject    text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_subject_idx ON login_failures (scope, subject, failed_at);
