-- Event store: every domain event of every case, appended at least once, stored exactly once.
CREATE TABLE events (
    workflow_id  text        NOT NULL,
    seq          integer     NOT NULL,
    case_id      text        NOT NULL,
    type         text        NOT NULL,
    at           timestamptz NOT NULL,
    actor        text        NOT NULL,
    data         jsonb       NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, seq)
);
CREATE INDEX events_type_at ON events (type, at);

-- Read model: derived from events only (recovery db rebuild recreates it), updated by newer sequences.
CREATE TABLE cases (
    workflow_id          text        PRIMARY KEY,
    case_id              text        NOT NULL,
    customer_id          text        NOT NULL,
    source               text        NOT NULL,
    opening_severity     text        NOT NULL,
    severity             text        NOT NULL,
    step                 text        NOT NULL,
    escalation_level     integer     NOT NULL,
    max_escalation_level integer     NOT NULL,
    contact_count        integer     NOT NULL,
    paused               boolean     NOT NULL,
    breaches             integer     NOT NULL,
    opened_at            timestamptz NOT NULL,
    acknowledged_at      timestamptz,
    fixed_at             timestamptz,
    compensated_at       timestamptz,
    closed_at            timestamptz,
    root_cause           text,
    csat                 integer,
    anomalies            jsonb       NOT NULL,
    last_seq             integer     NOT NULL
);
CREATE INDEX cases_opened_at ON cases (opened_at);
CREATE INDEX cases_severity_opened_at ON cases (severity, opened_at);
CREATE INDEX cases_customer ON cases (customer_id);
CREATE INDEX cases_root_cause ON cases (root_cause) WHERE root_cause IS NOT NULL;

-- One row per step per round (a reopened case runs fix → close again as round 2).
CREATE TABLE case_steps (
    workflow_id   text        NOT NULL REFERENCES cases (workflow_id) ON DELETE CASCADE,
    round         integer     NOT NULL,
    step          text        NOT NULL,
    severity      text        NOT NULL,
    started_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    breached      boolean     NOT NULL,
    PRIMARY KEY (workflow_id, round, step)
);
CREATE INDEX case_steps_step_severity ON case_steps (step, severity);

-- Compensation granted per case (issued events), for totals by kind and by root cause.
CREATE TABLE case_compensations (
    workflow_id  text        NOT NULL REFERENCES cases (workflow_id) ON DELETE CASCADE,
    seq          integer     NOT NULL,
    kind         text        NOT NULL,
    amount       numeric(14, 3),
    currency     text,
    issued_at    timestamptz NOT NULL,
    PRIMARY KEY (workflow_id, seq)
);

-- Compensation ledger: a row per compensation, written before the payment provider is called.
CREATE TABLE ledger (
    idempotency_key  text        PRIMARY KEY,   -- workflow id + proposal event sequence
    workflow_id      text        NOT NULL,
    case_id          text        NOT NULL,
    customer_id      text        NOT NULL,
    kind             text        NOT NULL,
    amount           numeric(14, 3),
    currency         text,
    mode             text        NOT NULL,      -- provider | agent | record
    status           text        NOT NULL,      -- pending | succeeded | declined | refused
    reference        text,
    detail           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_customer_currency ON ledger (customer_id, currency, created_at);
