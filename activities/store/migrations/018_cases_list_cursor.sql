-- GET /v1/complaints pages the read model newest first by a cursor (opened_at, workflow_id)
-- (starter/api/listing.py): a page far in reads from its cursor on, as the first one does.
CREATE INDEX IF NOT EXISTS cases_opened_at_workflow ON cases (opened_at, workflow_id);
