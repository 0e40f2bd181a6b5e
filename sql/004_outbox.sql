-- outbox: what the durable sender needs beyond 001's table (see daemon/outbox.h
-- for the protocol).
--
-- While a row is 'sending', next_attempt_at is the end of its sender's
-- lease: the one due index then finds queued rows that are due and
-- abandoned claims alike.

-- The envelope sender (MAIL FROM); '' is the null reverse-path <>.
ALTER TABLE outbox ADD COLUMN envelope_from text NOT NULL DEFAULT '';
-- The complete message exactly as it goes to the relay, fixed when queued
-- (with its Message-ID), so every attempt sends the same bytes.
ALTER TABLE outbox ADD COLUMN raw bytea;
-- The current (or last) attempt: a fresh id per claim, who claimed it, when.
ALTER TABLE outbox ADD COLUMN attempt_id uuid;
ALTER TABLE outbox ADD COLUMN claimed_by text;
ALTER TABLE outbox ADD COLUMN last_attempt_at timestamptz;
-- The SMTP reply that decided the last attempt (0: none, e.g. no connection).
ALTER TABLE outbox ADD COLUMN last_code integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN failed_at timestamptz;
-- A delivery report that came back for this mail, matched by its Message-ID.
ALTER TABLE outbox ADD COLUMN bounced_at timestamptz;
ALTER TABLE outbox ADD COLUMN bounce text;

-- Rows queued before this migration have no message to send.
UPDATE outbox SET status = 'failed', last_error = 'queued without a message (before 004_outbox)'
	WHERE status IN ('queued', 'sending');
UPDATE outbox SET failed_at = created_at WHERE status = 'failed';
ALTER TABLE outbox ADD CHECK ((status = 'failed') = (failed_at IS NOT NULL));
ALTER TABLE outbox ADD CHECK (status <> 'sending' OR attempt_id IS NOT NULL);
ALTER TABLE outbox ADD CHECK (raw IS NOT NULL OR status IN ('sent', 'failed'));

-- Invariant 2 in the schema: a sent row is final.  Nothing may send it again
-- or make it sendable, whatever program or person runs the UPDATE.
CREATE FUNCTION seutudesk_outbox_sent_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.status = 'sent' AND (NEW.status <> 'sent' OR NEW.sent_at <> OLD.sent_at) THEN
		RAISE EXCEPTION 'outbox row % was sent at %: it stays sent', OLD.id, OLD.sent_at
			USING ERRCODE = 'integrity_constraint_violation';
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER outbox_sent_is_final BEFORE UPDATE ON outbox
	FOR EACH ROW EXECUTE FUNCTION seutudesk_outbox_sent_is_final();
