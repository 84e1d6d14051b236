-- Which cases an erasure (`recovery erase-customer`) covered, and when: the API never answers for
-- one of them from Temporal (whose histories still hold the texts until the cases are deleted),
-- only from the erased read model, else 410 with `erased_at`.
CREATE TABLE erased_cases (
    workflow_id  text        PRIMARY KEY,
    erased_at    timestamptz NOT NULL DEFAULT now()
);
