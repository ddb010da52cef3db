-- Outbox leases (several dispatchers on one database): a pending item held by lease_owner
-- until lease_until (unix nanoseconds) is not handed to another owner before then. A free
-- item has lease_owner '' and lease_until 0.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT    NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
