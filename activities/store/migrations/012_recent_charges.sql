-- Recent payment charges seen on the Stripe webhook (starter/api/charges.py), for the proactive
-- rules: `duplicate_charge` (the same customer, amount and currency again within the rule's window)
-- and `payment_dispute` (a dispute names only its charge: its customer and order are found here).
-- Ids and amounts only, no names or addresses. Rows are pruned by the API after
-- `charge_retention_days` of the intake file's [stripe] section (120 days: Stripe's dispute window).
CREATE TABLE recent_charges (
    charge_id    text        PRIMARY KEY,
    customer_id  text        NOT NULL,
    order_id     text,
    amount_minor bigint      NOT NULL,
    currency     text        NOT NULL,
    charged_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX recent_charges_same ON recent_charges (customer_id, amount_minor, currency, charged_at);
CREATE INDEX recent_charges_received_at ON recent_charges (received_at);
