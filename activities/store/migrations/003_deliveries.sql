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
