-- Customers' words in events (subjects, messages, descriptions, notes, reasons, references).
-- With payload keys configured (RECOVERY_CODEC_KEYS) they are AES-GCM encrypted into `sealed` with
-- the same keys as Temporal payloads, and `data` keeps only ids, types, amounts and timings.
ALTER TABLE events ADD COLUMN sealed bytea;

-- Finding a customer's cases for an erasure.
CREATE INDEX events_opened_customer ON events ((data->>'customer_id')) WHERE type = 'opened';

-- GDPR erasures (`recovery db erase-customer`): when, by whom, how much. The customer id is kept
-- only as a SHA-256, so the log of an erasure does not undo it.
CREATE TABLE erasures (
    id               bigserial   PRIMARY KEY,
    customer_sha256  text        NOT NULL,
    erased_by        text        NOT NULL,
    erased_at        timestamptz NOT NULL DEFAULT now(),
    cases            integer     NOT NULL,
    events           integer     NOT NULL
);
