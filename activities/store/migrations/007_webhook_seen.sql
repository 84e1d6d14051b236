-- Signed webhooks already handled (starter/api/replays.py): a redelivery or a replayed request
-- with a key seen here is answered 200 "duplicate" and changes nothing. The key is the event's own
-- id (Zendesk's event/audit id, Jira's changelog/comment id or delivery id), else the SHA-256 of
-- the body with its timestamp. Rows older than the retention window (`seen_retention_hours` in
-- the intake file) are pruned by the API.
CREATE TABLE webhook_seen (
    source     text        NOT NULL,
    event_key  text        NOT NULL,
    seen_at    timestamptz NOT NULL,
    PRIMARY KEY (source, event_key)
);
CREATE INDEX webhook_seen_seen_at ON webhook_seen (seen_at);
