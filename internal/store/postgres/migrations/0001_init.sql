-- The schema of the SQLite store (its migrations 0001 to 0004) for PostgreSQL, with the same
-- meaning: times are BIGINT unix nanoseconds UTC (0 stands for "no time" where a column is NOT
-- NULL), so they round-trip exactly; seq columns keep insertion order.

CREATE TABLE accounts (
	auth_id    TEXT   NOT NULL PRIMARY KEY,
	auth_token TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE applications (
	seq                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
	default_number_app   BOOLEAN NOT NULL,
	default_endpoint_app BOOLEAN NOT NULL,
	public_uri           BOOLEAN NOT NULL,
	enabled              BOOLEAN NOT NULL,
	log_incoming_message BOOLEAN NOT NULL,
	sip_transfer_url     TEXT,
	sip_transfer_method  TEXT    NOT NULL,
	created_at           BIGINT  NOT NULL,
	updated_at           BIGINT  NOT NULL,
	UNIQUE (auth_id, config_key)
);
CREATE INDEX applications_account ON applications (auth_id, created_at, seq);
-- At most one default of each kind per account; the store clears the old one first.
CREATE UNIQUE INDEX applications_default_number ON applications (auth_id) WHERE default_number_app;
CREATE UNIQUE INDEX applications_default_endpoint ON applications (auth_id) WHERE default_endpoint_app;

CREATE TABLE endpoints (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	endpoint_id TEXT   NOT NULL UNIQUE,
	auth_id     TEXT   NOT NULL,
	username    TEXT   NOT NULL UNIQUE,
	password    TEXT   NOT NULL,
	alias       TEXT   NOT NULL,
	app_id      TEXT REFERENCES applications (app_id) ON DELETE SET NULL ON UPDATE CASCADE,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);
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
	start_time        BIGINT  NOT NULL,
	answer_time       BIGINT,
	end_time          BIGINT,
	hangup_cause_code INTEGER NOT NULL,
	hangup_cause      TEXT    NOT NULL,
	hangup_cause_name TEXT    NOT NULL,
	hangup_source     TEXT    NOT NULL,
	sip_call_id       TEXT    NOT NULL,
	source_ip         TEXT    NOT NULL DEFAULT '',
	conference_uuid   TEXT    NOT NULL DEFAULT '',
	call_status       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX calls_end ON calls (end_time) WHERE end_time IS NOT NULL;
CREATE INDEX calls_account_end ON calls (auth_id, end_time DESC, call_uuid) WHERE end_time IS NOT NULL;
CREATE INDEX calls_parent ON calls (parent_call_uuid) WHERE parent_call_uuid <> '';

CREATE TABLE call_warnings (
	seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	call_uuid TEXT   NOT NULL REFERENCES calls (call_uuid) ON DELETE CASCADE,
	text      TEXT   NOT NULL
);
CREATE INDEX call_warnings_call ON call_warnings (call_uuid, seq);

CREATE TABLE recordings (
	seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	recording_id    TEXT   NOT NULL UNIQUE,
	auth_id         TEXT   NOT NULL,
	call_uuid       TEXT   NOT NULL,
	conference_name TEXT,
	from_number     TEXT   NOT NULL,
	to_number       TEXT   NOT NULL,
	format          TEXT   NOT NULL CHECK (format IN ('mp3', 'wav')),
	type            TEXT   NOT NULL CHECK (type IN ('call', 'conference')),
	start_ms        BIGINT NOT NULL,
	end_ms          BIGINT NOT NULL,
	duration_ms     BIGINT NOT NULL,
	file_path       TEXT   NOT NULL,
	add_time        BIGINT NOT NULL
);
CREATE INDEX recordings_account ON recordings (auth_id, add_time, seq);
CREATE INDEX recordings_call ON recordings (call_uuid);

-- state: 0 pending, 1 delivered, 2 dropped. A pending item held by lease_owner until
-- lease_until is not handed to another dispatcher before then; a free one has '' and 0.
CREATE TABLE outbox (
	seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id           TEXT     NOT NULL UNIQUE,
	auth_id      TEXT     NOT NULL,
	url          TEXT     NOT NULL,
	method       TEXT     NOT NULL,
	params       TEXT     NOT NULL,
	order_key    TEXT     NOT NULL,
	attempts     INTEGER  NOT NULL,
	next_attempt BIGINT   NOT NULL,
	created_at   BIGINT   NOT NULL,
	last_error   TEXT     NOT NULL,
	state        SMALLINT NOT NULL DEFAULT 0,
	finished_at  BIGINT,
	lease_owner  TEXT     NOT NULL DEFAULT '',
	lease_until  BIGINT   NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending ON outbox (created_at, seq) WHERE state = 0;
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE state <> 0;
-- An account's recent notifications, newest first (the console's webhook deliveries).
CREATE INDEX outbox_account ON outbox (auth_id, seq);
