-- Call detail records (calls-more.md §E): what the CDR object needs beyond the hangup webhook,
-- and the indexes of the CDR list (newest end first, per account) and its parent filter.
ALTER TABLE calls ADD COLUMN source_ip       TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN conference_uuid TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN call_status     TEXT NOT NULL DEFAULT '';

-- Legs that ended before this migration get the CallStatus their hangup webhook carried
-- (vobiz-api.md §8.8 and §10.2; the same rule as flow.FinalStatus at the time of writing).
UPDATE calls SET call_status = CASE
		WHEN direction = 'inbound' OR answer_time IS NOT NULL THEN 'completed'
		WHEN hangup_cause_code IN (3010, 3020) THEN 'busy'
		WHEN hangup_cause_code IN (3000, 6000, 6010) THEN 'no-answer'
		WHEN hangup_cause_code = 3070 THEN 'timeout'
		WHEN hangup_cause_code = 1000 THEN 'cancel'
		ELSE 'failed' END
	WHERE end_time IS NOT NULL;

CREATE INDEX calls_account_end ON calls (auth_id, end_time DESC, call_uuid) WHERE end_time IS NOT NULL;
CREATE INDEX calls_parent ON calls (parent_call_uuid) WHERE parent_call_uuid != '';
