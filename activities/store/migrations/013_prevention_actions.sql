-- Prevention actions (workflows/prevention.py): a lead's fix for a root cause, its owner and due
-- date, the reminder and escalations, and the note it was closed with. Written by the
-- `project_prevention` activity only (a newer `version` wins); read by the causes report, the
-- console's /prevention page and GET /v1/prevention.
CREATE TABLE prevention_actions (
    action_id        text        PRIMARY KEY,
    cause            text        NOT NULL,
    description      text        NOT NULL,
    owner            text        NOT NULL,
    due_at           timestamptz NOT NULL,
    opened_by        text        NOT NULL,
    opened_at        timestamptz NOT NULL,
    status           text        NOT NULL CHECK (status IN ('open', 'done')),
    reminded_at      timestamptz,
    escalation_level int         NOT NULL DEFAULT 0,
    escalated_to     text,
    escalated_at     timestamptz,
    done_at          timestamptz,
    done_by          text,
    note             text,
    version          int         NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prevention_actions_cause ON prevention_actions (cause, status);
CREATE INDEX prevention_actions_open_due ON prevention_actions (due_at) WHERE status = 'open';
