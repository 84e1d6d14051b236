-- A customer's choice, made on their case page (`/c/{token}`, starter/customer/actions.py), to get
-- no non-essential messages (status updates) on any of their cases. The Notifier skips those for a
-- customer listed here (recorded as skipped, like quiet hours); promises and outcomes still go out.
-- Turning them back on deletes the row.
CREATE TABLE customer_optouts (
    customer_id  text        PRIMARY KEY,
    opted_out_at timestamptz NOT NULL DEFAULT now(),
    link_id      uuid                               -- the link whose page it was done on
);
