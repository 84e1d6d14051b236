-- Whether a customer message's delivery will be recorded in the timeline (a `notified` or
-- `notification_failed` event whose data.key is the message's key): the console shows it as being
-- sent until then. False for messages logged before this column, logged only (no channel), or sent
-- by the webhook of old: those show as sent, as they always did.
ALTER TABLE customer_messages ADD COLUMN tracked boolean NOT NULL DEFAULT false;
