-- The node whose recordings_dir holds a recording's file (docs/cluster.md): another node asked
-- for the file passes the download on to it. '' for the rows written before.
ALTER TABLE recordings ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
