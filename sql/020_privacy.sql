-- 020_privacy: retention and the data subject's rights (daemon/retention.h,
-- daemon/privacy.h).
--
-- Scrubbing a ticket removes what names or describes the person who wrote
-- it and keeps what the reports count: classification, status, timings,
-- SLA timers and pauses, work log minutes, events' kinds and times.

-- A ticket under a legal hold is never scrubbed, by retention or erasure.
-- scrubbed_at: when its personal data went; scrub_reason: retention or erasure.
ALTER TABLE tickets
	ADD COLUMN legal_hold boolean NOT NULL DEFAULT false,
	ADD COLUMN scrubbed_at timestamptz,
	ADD COLUMN scrub_reason text CHECK (scrub_reason IN ('retention', 'erasure')),
	ADD CONSTRAINT tickets_scrubbed CHECK ((scrubbed_at IS NULL) = (scrub_reason IS NULL));

-- Retention's candidates: closed, not yet scrubbed, not held.
CREATE INDEX tickets_retention ON tickets (closed_at)
	WHERE status = 'closed' AND scrubbed_at IS NULL AND NOT legal_hold;
-- The data subject's messages and chats, by address.
CREATE INDEX messages_from_address ON messages (lower(from_address)) WHERE from_address <> '';
CREATE INDEX chat_conversations_email ON chat_conversations (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX outbox_to_address ON outbox (lower(to_address));

-- One row per retention run (seutudeskctl retention or the daemon's daily
-- run): the daily run looks here for when the last one was.
CREATE TABLE retention_runs (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	started_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	by text NOT NULL,
	tickets bigint NOT NULL DEFAULT 0,
	counts jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX retention_runs_started ON retention_runs (started_at);

-- The audit log stays append-only, with two exceptions taken only inside
-- a transaction that set seutudesk.privacy to on (SET LOCAL): the data of
-- a row may lose personal data (its id, ticket, actor, kind and time stay),
-- and audit retention may delete old rows.
CREATE OR REPLACE FUNCTION seutudesk_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('seutudesk.privacy', true) = 'on' THEN
		IF TG_OP = 'DELETE' THEN
			RETURN OLD;
		END IF;
		IF NEW.id = OLD.id AND NEW.ticket IS NOT DISTINCT FROM OLD.ticket
			AND NEW.actor = OLD.actor AND NEW.kind = OLD.kind AND NEW.at = OLD.at THEN
			RETURN NEW;
		END IF;
	END IF;
	RAISE EXCEPTION 'events is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;

-- An event's data without what may name a person: addresses (from, to),
-- file names, error and bounce texts, warnings.  status and transfer
-- events keep from and to: there they are statuses and queues, which the
-- reports read.
CREATE FUNCTION seutudesk_scrub_event(k text, d jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN jsonb_typeof(d) <> 'object' THEN d
		WHEN k IN ('status', 'transfer') THEN d - ARRAY['filename', 'error', 'reason', 'bounce']
		ELSE d - ARRAY['from', 'to', 'filename', 'error', 'reason', 'bounce', 'warning',
			'name', 'email', 'address', 'subject', 'text']
	END
$$;

-- A ticket's classification without the text it was decided from: the
-- matched words of each rule, the fields' reasons, the warnings and the
-- learned features' words (their hashed keys stay for the learned model).
CREATE FUNCTION seutudesk_scrub_classification(c jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN jsonb_typeof(c) <> 'object' THEN c ELSE
		(SELECT coalesce(jsonb_object_agg(k,
			CASE WHEN k = 'rules' AND jsonb_typeof(v) = 'array' THEN
				(SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(r) = 'object'
					THEN r - 'matched' ELSE r END), '[]') FROM jsonb_array_elements(v) r)
			WHEN k = 'learn' AND jsonb_typeof(v) = 'object' THEN v - 'words'
			WHEN k = 'warnings' THEN '[]'::jsonb
			WHEN jsonb_typeof(v) = 'object' THEN v - 'reason'
			ELSE v END), '{}')
		FROM jsonb_each(c) e(k, v))
	END
$$;

-- Scrubs the tickets nums (why: retention or erasure) and everything hung
-- on them: messages (text, sources, sender), attachments, mail sent, the
-- intake log's sources, work log notes, events' data, learned words, chat
-- reply reasons, and the chat conversations that no unscrubbed ticket
-- uses any more.  Tickets under a legal hold are left alone.  Returns
-- the tickets scrubbed.
CREATE FUNCTION seutudesk_scrub_tickets(nums bigint[], why text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	todo bigint[];
BEGIN
	PERFORM set_config('seutudesk.privacy', 'on', true);
	todo := ARRAY(SELECT number FROM tickets WHERE number = ANY (nums) AND NOT legal_hold
		ORDER BY number FOR UPDATE);
	IF cardinality(todo) = 0 THEN
		RETURN 0;
	END IF;
	DELETE FROM attachments a USING messages m WHERE a.message = m.id AND m.ticket = ANY (todo);
	UPDATE messages SET from_address = '', from_name = '', subject = '', body = '', raw = NULL
		WHERE ticket = ANY (todo);
	UPDATE outbox SET to_address = '', subject = '', body = '', headers = '[]', raw = NULL,
		bounce = NULL, last_error = CASE WHEN status IN ('queued', 'sending')
			THEN 'not sent: the ticket''s personal data was removed' END,
		failed_at = CASE WHEN status IN ('queued', 'sending') THEN now() ELSE failed_at END,
		status = CASE WHEN status IN ('queued', 'sending') THEN 'failed' ELSE status END
		WHERE ticket = ANY (todo);
	UPDATE intake_log SET raw = NULL, reason = ''
		WHERE ticket = ANY (todo) AND (raw IS NOT NULL OR reason <> '');
	UPDATE worklog SET note = '' WHERE ticket = ANY (todo) AND note <> '';
	UPDATE events SET data = seutudesk_scrub_event(kind, data)
		WHERE ticket = ANY (todo) AND data <> seutudesk_scrub_event(kind, data);
	UPDATE learn_examples SET words = NULL WHERE ticket = ANY (todo) AND words IS NOT NULL;
	UPDATE chat_replies SET reason = NULL WHERE ticket = ANY (todo) AND reason IS NOT NULL;
	UPDATE chat_conversations c SET name = '', handle = '', email = NULL, resume_url = NULL
		WHERE (c.bridge, c.id) IN (SELECT m.bridge, m.conversation FROM messages m
			WHERE m.ticket = ANY (todo) AND m.conversation IS NOT NULL)
		AND NOT EXISTS (SELECT 1 FROM messages m JOIN tickets t ON t.number = m.ticket
			WHERE m.bridge = c.bridge AND m.conversation = c.id
			AND t.scrubbed_at IS NULL AND t.number <> ALL (todo));
	UPDATE tickets SET requester_address = '', requester_name = '', subject = '',
		classification = seutudesk_scrub_classification(classification),
		scrubbed_at = now(), scrub_reason = why
		WHERE number = ANY (todo);
	RETURN cardinality(todo);
END
$$;
