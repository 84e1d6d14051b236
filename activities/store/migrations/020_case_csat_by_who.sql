-- The causes and proactive reports count the customers' own follow-up scores apart from those agents
-- entered (issue 22.6): per-case columns written by the projection's fold
-- (activities/store/case_figures.py, which defines them), computed here for the cases stored before,
-- by the rules of the SLA report's CSAT section (recovery/csat.py). `csat_answers` / `csat_total`
-- become both together, so a middle score sent from the case page counts there too.
ALTER TABLE cases
    ADD COLUMN customer_csat_answers integer NOT NULL DEFAULT 0,
    ADD COLUMN customer_csat_total   numeric,
    ADD COLUMN agent_csat_answers    integer NOT NULL DEFAULT 0,
    ADD COLUMN agent_csat_total      numeric;

-- Each follow-up event numbered by the `follow_up_done` events before it: question k is asked after
-- the k-th done and recorded by the (k+1)-th; the customer's last answer after its first ask is its score.
WITH flow AS MATERIALIZED (
    SELECT workflow_id, seq, type,
           actor = 'customer' AND (type = 'follow_up_done'
                                   OR (type = 'customer_replied' AND starts_with(data->>'event_id', 'case-page-score-')))
               AS by_customer,
           CASE WHEN type = 'follow_up_done' AND jsonb_typeof(data->'csat') = 'number'
                THEN (data->>'csat')::numeric
                WHEN type = 'customer_replied'
                THEN substring(data->>'text' FROM '^The customer scored ([1-5])')::numeric
           END AS score,
           count(*) FILTER (WHERE type = 'follow_up_done') OVER (
               PARTITION BY workflow_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS k
    FROM events
    WHERE type IN ('follow_up_asked', 'follow_up_done', 'customer_replied')
), questions AS (
    SELECT workflow_id, k, min(seq) AS asked_seq FROM flow WHERE type = 'follow_up_asked' GROUP BY workflow_id, k
), answers AS (
    SELECT DISTINCT ON (f.workflow_id, f.k) f.workflow_id, f.score
    FROM flow f
    JOIN questions q USING (workflow_id, k)
    WHERE f.by_customer AND f.seq > q.asked_seq
    ORDER BY f.workflow_id, f.k, f.seq DESC
), customer AS (
    SELECT workflow_id, count(score)::int AS n, sum(score) AS total FROM answers GROUP BY workflow_id
), agents AS (
    SELECT workflow_id, count(*)::int AS n, sum((data->>'csat')::numeric) AS total
    FROM events
    WHERE type = 'follow_up_done' AND actor <> 'customer' AND jsonb_typeof(data->'csat') = 'number'
    GROUP BY workflow_id
)
UPDATE cases c
SET customer_csat_answers = coalesce(customer.n, 0),
    customer_csat_total = CASE WHEN customer.n > 0 THEN customer.total END,
    agent_csat_answers = coalesce(agents.n, 0),
    agent_csat_total = agents.total,
    csat_answers = coalesce(customer.n, 0) + coalesce(agents.n, 0),
    csat_total = CASE WHEN coalesce(customer.n, 0) + coalesce(agents.n, 0) > 0
                      THEN coalesce(customer.total, 0) + coalesce(agents.total, 0) END
FROM cases k
LEFT JOIN customer USING (workflow_id)
LEFT JOIN agents USING (workflow_id)
WHERE c.workflow_id = k.workflow_id
  AND (customer.n > 0 OR agents.n IS NOT NULL OR k.csat_answers > 0);

-- The causes report's per-cause pass stays an index-only scan: the index covers the new columns.
DROP INDEX IF EXISTS cases_closed_by_cause_figures;
CREATE INDEX cases_closed_by_cause_figures ON cases ((coalesce(root_cause, 'unspecified')), closed_at)
    INCLUDE (root_cause, opened_at, contact_count, breaches, reopen_count, csat_answers, csat_total,
             customer_csat_answers, customer_csat_total, agent_csat_answers, agent_csat_total, agent_step_s)
    WHERE closed_at IS NOT NULL;
