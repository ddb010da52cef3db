-- Times are INTEGER unix nanoseconds UTC; 0 stands for "no time" where a column is NOT NULL.
-- Booleans are INTEGER 0/1.

CREATE TABLE accounts (
	auth_id    TEXT    NOT NULL PRIMARY KEY,
	auth_token TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE applications (
	seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
	app_id               TEXT    NOT NULL UNIQUE,
	auth_id              TEXT    NOT NULL,
	config_key           TEXT,
	app_name             TEXT    NOT NULL,
	answer_url           TEXT    NOT NULL,
	answer_method        TEXT    NOT NULL,
	hangup_url           TEXT    NOT NULL,
	hangup_method        TEXT    NOT NULL,
	fallback_answer_url  TEXT,
	fallback_method      TEXT    NOT NULL,
	message_url          TEXT,
	message_method       TEXT    NOT NULL,
	default_number_app   INTEGER NOT NULL,
	default_endpoint_app INTEGER NOT NULL,
	public_uri           INTEGER NOT NULL,
	enabled              INTEGER NOT NULL,
	log_incoming_message INTEGER NOT NULL,
	sip_transfer_url     TEXT,
	sip_transfer_method  TEXT    NOT NULL,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL,
	UNIQUE (auth_id, config_key)
) STRICT;
CREATE INDEX applications_account ON applications (auth_id, created_at, seq);
-- At most one default of each kind per account; the store clears the old one first.
CREATE UNIQUE INDEX applications_default_number ON applications (auth_id) WHERE default_number_app = 1;
CREATE UNIQUE INDEX applications_default_endpoint ON applications (auth_id) WHERE default_endpoint_app = 1;

CREATE TABLE endpoints (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	endpoint_id TEXT    NOT NULL UNIQUE,
	auth_id     TEXT    NOT NULL,
	username    TEXT    NOT NULL UNIQUE,
	password    TEXT    NOT NULL,
	alias       TEXT    NOT NULL,
	app_id      TEXT REFERENCES applications (app_id) ON DELETE SET NULL ON UPDATE CASCADE,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX endpoints_account ON endpoints (auth_id, created_at, seq);
CREATE INDEX endpoints_app ON endpoints (app_id);

CREATE TABLE calls (
	call_uuid         TEXT    NOT NULL PRIMARY KEY,
	auth_id           TEXT    NOT NULL,
	parent_call_uuid  TEXT    NOT NULL,
	direction         TEXT    NOT NULL,
	from_party        TEXT    NOT NULL,
	to_party          TEXT    NOT NULL,
	caller_name       TEXT    NOT NULL,
	start_time        INTEGER NOT NULL,
	answer_time       INTEGER,
	end_time          INTEGER,
	hangup_cause_code INTEGER NOT NULL,
	hangup_cause      TEXT    NOT NULL,
	hangup_cause_name TEXT    NOT NULL,
	hangup_source     TEXT    NOT NULL,
	sip_call_id       TEXT    NOT NULL
) STRICT;
CREATE INDEX calls_end ON calls (end_time) WHERE end_time IS NOT NULL;

CREATE TABLE call_warnings (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	call_uuid TEXT    NOT NULL REFERENCES calls (call_uuid) ON DELETE CASCADE,
	text      TEXT    NOT NULL
) STRICT;
CREATE INDEX call_warnings_call ON call_warnings (call_uuid, seq);

CREATE TABLE recordings (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	recording_id    TEXT    NOT NULL UNIQUE,
	auth_id         TEXT    NOT NULL,
	call_uuid       TEXT    NOT NULL,
	conference_name TEXT,
	from_number     TEXT    NOT NULL,
	to_number       TEXT    NOT NULL,
	format          TEXT    NOT NULL CHECK (format IN ('mp3', 'wav')),
	type            TEXT    NOT NULL CHECK (type IN ('call', 'conference')),
	start_ms        INTEGER NOT NULL,
	end_ms          INTEGER NOT NULL,
	duration_ms     INTEGER NOT NULL,
	file_path       TEXT    NOT NULL,
	add_time        INTEGER NOT NULL
) STRICT;
CREATE INDEX recordings_account ON recordings (auth_id, add_time, seq);
CREATE INDEX recordings_call ON recordings (call_uuid);

-- state: 0 pending, 1 delivered, 2 dropped.
CREATE TABLE outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT    NOT NULL UNIQUE,
	auth_id      TEXT    NOT NULL,
	url          TEXT    NOT NULL,
	method       TEXT    NOT NULL,
	params       TEXT    NOT NULL,
	order_key    TEXT    NOT NULL,
	attempts     INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	last_error   TEXT    NOT NULL,
	state        INTEGER NOT NULL DEFAULT 0,
	finished_at  INTEGER
) STRICT;
CREATE INDEX outbox_pending ON outbox (created_at, seq) WHERE state = 0;
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE state <> 0;
