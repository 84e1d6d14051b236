-- Deliveries the channels have completed (issue 10): a retried `deliver` activity whose first
-- attempt was accepted (but whose completion was lost with a killed worker) finds its row here and
-- sends nothing again. The key is channel + delivery key (notification key + recipient).
CREATE TABLE IF NOT EXISTS deliveries (
    key         text PRIMARY KEY,
    workflow_id text NOT NULL,
    channel     text NOT NULL,
    address     text NOT NULL,
    detail      text NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now()
);

-- Ticket events on an open case (comments, status changes) find it by the ticket that opened it
-- or added a contact (starter/api/ticket_events.py).
CREATE INDEX IF NOT EXISTS events_ticket ON events ((data->>'source'), (data->>'ticket_id'))
    WHERE type IN ('opened', 'contact_added');
