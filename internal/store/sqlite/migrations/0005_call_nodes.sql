-- The call directory of a cluster: the node holding a live leg (node_id, and boot_id, the boot
-- of that node's process), and what the leg's hangup webhook needs should that node die
-- (hangup_url, hangup_method, and hangup_params: the parameters known at the start,
-- form-encoded). A single node stores '' in all of them.
ALTER TABLE calls ADD COLUMN node_id       TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN boot_id       TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN hangup_url    TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN hangup_method TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN hangup_params TEXT NOT NULL DEFAULT '';

-- The live legs of a node boot (CloseNodeCalls) and the live leg of a CallUUID (LiveCallNode
-- uses the primary key).
CREATE INDEX calls_live_node ON calls (node_id, boot_id) WHERE end_time IS NULL;
