-- Per-case figures the causes report (recovery/causes.py) aggregates, so that it reads one row per
-- closed case: written by the projection's fold (activities/store/case_figures.py, which defines
-- them), computed here for the cases stored before.
ALTER TABLE cases
    ADD COLUMN reopen_count integer NOT NULL DEFAULT 0,
    ADD COLUMN csat_answers integer NOT NULL DEFAULT 0,
    ADD COLUMN csat_total   numeric,
    ADD COLUMN agent_step_s double precision;

WITH reopens AS (
    SELECT workflow_id, count(*)::int AS n FROM events WHERE type = 'reopened' GROUP BY workflow_id
), scores AS (
    SELECT workflow_id, count(*)::int AS n, sum((data->>'csat')::numeric) AS total
    FROM events
    WHERE type = 'follow_up_done' AND jsonb_typeof(data->'csat') = 'number'
    GROUP BY workflow_id
), pauses AS (
    -- each pause runs from its `paused` event to the next `resumed` (or the close, if none came)
    SELECT p.workflow_id, p.at AS start, coalesce(r.at, c.closed_at) AS stop
    FROM events p
    JOIN cases c ON c.workflow_id = p.workflow_id AND c.closed_at IS NOT NULL
    LEFT JOIN LATERAL (
        SELECT r.at FROM events r
        WHERE r.workflow_id = p.workflow_id AND r.type = 'resumed' AND r.seq > p.seq
        ORDER BY r.seq LIMIT 1
    ) r ON true
    WHERE p.type = 'paused'
), steps AS (
    SELECT st.workflow_id,
           st.completed_at - st.started_at - coalesce(sum(
               greatest(interval '0', least(st.completed_at, p.stop) - greatest(st.started_at, p.start)))
               FILTER (WHERE p.start IS NOT NULL), interval '0') AS span
    FROM case_steps st
    JOIN cases c ON c.workflow_id = st.workflow_id AND c.closed_at IS NOT NULL
    LEFT JOIN pauses p ON p.workflow_id = st.workflow_id
    WHERE st.step <> 'follow_up' AND st.completed_at IS NOT NULL
    GROUP BY st.workflow_id, st.round, st.step, st.started_at, st.completed_at
), agent AS (
    SELECT workflow_id, extract(epoch FROM sum(span))::float8 AS seconds FROM steps GROUP BY workflow_id
)
UPDATE cases c
SET reopen_count = coalesce(reopens.n, 0),
    csat_answers = coalesce(scores.n, 0),
    csat_total = scores.total,
    agent_step_s = agent.seconds
FROM cases k
LEFT JOIN reopens USING (workflow_id)
LEFT JOIN scores USING (workflow_id)
LEFT JOIN agent USING (workflow_id)
WHERE c.workflow_id = k.workflow_id
  AND (reopens.n IS NOT NULL OR scores.n IS NOT NULL OR agent.seconds IS NOT NULL);

-- Each compensation row carries its case's close and root cause, so the report sums money by cause
-- without joining `cases`.
ALTER TABLE case_compensations
    ADD COLUMN case_closed_at  timestamptz,
    ADD COLUMN case_root_cause text;

UPDATE case_compensations cc
SET case_closed_at = c.closed_at, case_root_cause = c.root_cause
FROM cases c
WHERE c.workflow_id = cc.workflow_id AND c.closed_at IS NOT NULL;

-- The report's per-cause pass reads only this index (an index-only scan, in cause order, so its
-- GROUP BY needs no sort; a window of a few weeks skips to each cause's part). root_cause is included
-- as well: an index-only scan needs every column the expression reads.
CREATE INDEX cases_closed_by_cause_figures ON cases ((coalesce(root_cause, 'unspecified')), closed_at)
    INCLUDE (root_cause, opened_at, contact_count, breaches, reopen_count, csat_answers, csat_total, agent_step_s)
    WHERE closed_at IS NOT NULL;
