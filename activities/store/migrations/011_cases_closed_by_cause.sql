-- The causes report (recovery/causes.py) selects the cases closed in a window, by root cause.
CREATE INDEX IF NOT EXISTS cases_closed_at_root_cause ON cases (closed_at, root_cause) WHERE closed_at IS NOT NULL;
