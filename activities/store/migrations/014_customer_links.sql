-- Personal case links (`/c/{token}`, recovery/links.py): one row per customer message that carried a
-- link. The token names only `id` (plus its key id, expiry and MAC); who and which case are here.
-- `erase-customer` revokes every link of the customer's cases.
CREATE TABLE customer_links (
    id           uuid        PRIMARY KEY,
    note_key     text        NOT NULL UNIQUE,   -- the notification the link went out in (retries reuse it)
    workflow_id  text        NOT NULL,
    customer_id  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX customer_links_customer ON customer_links (customer_id);
CREATE INDEX customer_links_workflow ON customer_links (workflow_id);
