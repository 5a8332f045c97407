-- Billing: Stripe is the source of truth for plans. A workspace has one
-- Stripe customer (created once, remembered) and at most one subscription
-- row: the newest state read from Stripe. `workspaces.tier` stays the plan
-- every limit reads; it changes only with a row in `tier_changes` naming why.

ALTER TABLE workspaces ADD COLUMN stripe_customer_id text UNIQUE;
-- The Checkout Session last opened for the workspace: a new one expires it,
-- so two tabs of Checkout cannot both be paid into two subscriptions.
ALTER TABLE workspaces ADD COLUMN checkout_session_id text;
-- Until then it can be paid: a team workspace is not deleted meanwhile.
ALTER TABLE workspaces ADD COLUMN checkout_expires_at timestamptz;

CREATE TABLE subscriptions (
    workspace_id            uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    stripe_subscription_id  text NOT NULL UNIQUE,
    -- The tier the subscription's price buys, and how often it is paid.
    tier                    text NOT NULL
        CHECK (tier IN ('DESIGNER', 'STARTER', 'PROFESSIONAL', 'SCALE', 'ENTERPRISE')),
    billing_interval        text NOT NULL CHECK (billing_interval IN ('month', 'year')),
    status                  text NOT NULL CHECK (status IN ('incomplete', 'incomplete_expired', 'trialing',
                                'active', 'past_due', 'canceled', 'unpaid', 'paused')),
    current_period_start    timestamptz,
    current_period_end      timestamptz,
    cancel_at_period_end    boolean NOT NULL DEFAULT false,
    -- When a payment first failed (past_due or unpaid); the grace period
    -- runs from here. NULL while paid.
    past_due_since          timestamptz,
    -- The subscription also has a usage-based price: finished runs are
    -- reported to Stripe as meter events.
    metered                 boolean NOT NULL DEFAULT false,
    -- Stripe's `created` of the subscription: a newer subscription replaces
    -- an older one, never the other way round.
    stripe_created          timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
-- The sweeper's question: whose grace has run out.
CREATE INDEX subscriptions_past_due ON subscriptions (past_due_since) WHERE past_due_since IS NOT NULL;

-- A run's LLM tokens, added as its `usage` events are stored (under the run's
-- row lock, once per event), so its end reads the total from its own row.
ALTER TABLE executions ADD COLUMN llm_tokens bigint NOT NULL DEFAULT 0 CHECK (llm_tokens >= 0);
-- Monthly counters of tokens outgrow 32 bits.
ALTER TABLE usage_metrics ALTER COLUMN count TYPE bigint;

-- Every Stripe event id is processed once: a replay finds its row.
CREATE TABLE stripe_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    workspace_id uuid REFERENCES workspaces (id) ON DELETE SET NULL,
    created      timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_received ON stripe_events (received_at);
CREATE INDEX stripe_events_workspace ON stripe_events (workspace_id) WHERE workspace_id IS NOT NULL;

-- Every change of a workspace's plan, with its cause.
CREATE TABLE tier_changes (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    from_tier       text NOT NULL,
    to_tier         text NOT NULL,
    cause           text NOT NULL CHECK (cause IN ('subscribed', 'plan_changed', 'payment_recovered',
                        'grace_expired', 'canceled', 'admin')),
    stripe_event_id text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tier_changes_workspace ON tier_changes (workspace_id, created_at DESC);

-- Usage of metered subscriptions, reported to Stripe once per run and metric.
-- The identifier sent with each report is derived from the primary key, so a
-- retry after a lost answer is deduplicated by Stripe.
CREATE TABLE meter_reports (
    execution_id     uuid NOT NULL,
    metric           text NOT NULL CHECK (metric IN ('runs', 'run_minutes', 'llm_tokens')),
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    stripe_customer_id text NOT NULL,
    value            bigint NOT NULL CHECK (value >= 0),
    occurred_at      timestamptz NOT NULL,
    reported_at      timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    -- When it was first sent: Stripe deduplicates an identifier for 24 hours
    -- only, so a report is not sent again after 20.
    first_attempt_at timestamptz,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    PRIMARY KEY (execution_id, metric)
);
CREATE INDEX meter_reports_due ON meter_reports (next_attempt_at) WHERE reported_at IS NULL;
-- Pruned some months after Stripe has them.
CREATE INDEX meter_reports_reported ON meter_reports (reported_at) WHERE reported_at IS NOT NULL;
