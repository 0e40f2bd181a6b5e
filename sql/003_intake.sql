-- 003_intake: what the intake pipeline needs beyond the core schema.
--
-- Exactly-once intake has two keys, both claimed by the one intake_log row
-- that first sees a message (INSERT ... ON CONFLICT DO NOTHING, so a
-- concurrent worker waits for the claim to commit and then backs off):
--   the source key: (mailbox, uidvalidity, uid) for IMAP, (mailbox,
--     external_id) for other channels, where mailbox names the channel;
--   the message key, dedupe_key: the Message-ID, or for a message without
--     one (or with one too long to index) 'sha256:' and the hex SHA-256 of
--     its raw source after the leading trace fields (Return-Path, Received,
--     Delivered-To, X-Original-To), so the same copy seen in two mailboxes
--     is one message.  Rows logged as duplicates leave it NULL.

ALTER TABLE intake_log
	ALTER COLUMN uidvalidity DROP NOT NULL,
	ALTER COLUMN uid DROP NOT NULL,
	ADD COLUMN external_id text,
	ADD COLUMN dedupe_key text,
	-- The source of mail that made no ticket (auto-generated, rejected):
	-- kept so that nothing is lost; NULL otherwise (the message has it).
	ADD COLUMN raw bytea,
	ADD CONSTRAINT intake_log_source CHECK (
		(uidvalidity IS NOT NULL AND uid IS NOT NULL AND external_id IS NULL)
		OR (uidvalidity IS NULL AND uid IS NULL AND external_id IS NOT NULL)),
	ADD CONSTRAINT intake_log_outcome CHECK (outcome IN ('new', 'followup', 'reopened',
		'linked', 'auto', 'auto_attached', 'duplicate', 'rejected'));

CREATE UNIQUE INDEX intake_log_external ON intake_log (mailbox, external_id)
	WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX intake_log_dedupe_key ON intake_log (dedupe_key)
	WHERE dedupe_key IS NOT NULL;
CREATE INDEX intake_log_ticket ON intake_log (ticket) WHERE ticket IS NOT NULL;

-- What an outbox row is: 'ack' (the automatic acknowledgement of a new
-- ticket, rate-limited per address) or 'reply' (written by an agent).
ALTER TABLE outbox
	ADD COLUMN kind text NOT NULL DEFAULT 'reply' CHECK (kind IN ('ack', 'reply'));

-- The acknowledgement rate limit counts an address's recent acks.
CREATE INDEX outbox_ack_rate ON outbox (lower(to_address), created_at) WHERE kind = 'ack';

-- Mail sources and attachments are large and often already compressed:
-- lz4 costs a fraction of the default pglz's time (a 5 MB mail: 0.2 s
-- instead of 0.4 s to store).  Skipped where PostgreSQL lacks lz4.
DO $$
BEGIN
	ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4;
	ALTER TABLE attachments ALTER COLUMN content SET COMPRESSION lz4;
	ALTER TABLE intake_log ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'no lz4 in this PostgreSQL: sources are compressed with pglz';
END
$$;
