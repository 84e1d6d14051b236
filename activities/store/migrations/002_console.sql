-- Ownership and the agents' console.

-- The case's owner (`assign` events), folded from events like the other columns.
ALTER TABLE cases ADD COLUMN assignee text;
CREATE INDEX cases_assignee ON cases (assignee) WHERE closed_at IS NULL;

-- The engine's own status of each case as of its last projected event (sent with the events by the
-- workflow's projector): deadlines, escalation role, pending compensation and the steps the engine
-- accepts now. Pages read it instead of querying Temporal. Not derived from events, so
-- `recovery db rebuild` keeps it; cases whose histories predate it have no row until their next event.
CREATE TABLE case_status (
    workflow_id  text        PRIMARY KEY,
    case_id      text        NOT NULL,
    last_seq     integer     NOT NULL,
    due_at       timestamptz,
    status       jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_status_due_at ON case_status (due_at) WHERE due_at IS NOT NULL;

-- Every message the customer was sent, as they saw it (title and text rendered by the notifier),
-- once per notification key however often a send is retried.
CREATE TABLE customer_messages (
    key          text        PRIMARY KEY,
    workflow_id  text        NOT NULL,
    case_id      text        NOT NULL,
    template     text        NOT NULL,
    title        text        NOT NULL,
    text         text        NOT NULL,
    sent_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_messages_workflow ON customer_messages (workflow_id, sent_at);
