-- An account's recent notifications, newest first (the console's webhook deliveries).
CREATE INDEX outbox_account ON outbox (auth_id, seq);
