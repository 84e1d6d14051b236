-- The read model at 100,000 cases (bench figure (l); docs/performance.md lists each query's index).

-- GET /v1/complaints pages newest first by a cursor (opened_at, workflow_id) (starter/api/listing.py):
-- a page far in reads from its cursor on, as the first one does.
CREATE INDEX IF NOT EXISTS cases_opened_at_workflow ON cases (opened_at, workflow_id);

-- The console's queue reads open cases only: their tab and filter columns in one small index, so the
-- tab counts are an index-only scan and the tabs ordered by opening read it in order.
CREATE INDEX IF NOT EXISTS cases_open_queue ON cases (opened_at)
    INCLUDE (workflow_id, assignee, escalation_level, paused, severity, step, source, customer_id)
    WHERE closed_at IS NULL;

-- The approval tab (and its count): the few cases whose compensation waits for approval, by age.
CREATE INDEX IF NOT EXISTS case_status_pending_approval ON case_status (updated_at)
    WHERE (status -> 'pending_compensation' ->> 'status') = 'pending_approval';
