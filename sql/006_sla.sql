-- 006_sla: SLA timers (see daemon/sla.h for how they are computed and fired).
--
-- Every ticket has up to two timers, first_response and resolution, each
-- counting open time of its policy's calendar.  Due times are a pure
-- function of the ticket's history (when it started, its pauses, its
-- policy), so the daemon can recompute them at any time: a trigger queues
-- the ticket in sla_recompute whenever something they depend on changes,
-- and the timer workers (one per daemon, SKIP LOCKED) do the arithmetic,
-- which needs the calendars of the configuration.

-- Where the resolution clock stood still: each stretch in which the ticket
-- was pending (waiting for the requester), resolved or closed.  Kept by the
-- trigger below, whatever program changes the status.
CREATE TABLE sla_pauses (
	ticket bigint NOT NULL REFERENCES tickets (number) ON DELETE CASCADE,
	started_at timestamptz NOT NULL,
	ended_at timestamptz,
	status text NOT NULL,
	CHECK (ended_at IS NULL OR ended_at >= started_at)
);

CREATE INDEX sla_pauses_ticket ON sla_pauses (ticket, started_at);
-- At most one open pause per ticket.
CREATE UNIQUE INDEX sla_pauses_open ON sla_pauses (ticket) WHERE ended_at IS NULL;

CREATE TABLE sla_timers (
	ticket bigint NOT NULL REFERENCES tickets (number) ON DELETE CASCADE,
	kind text NOT NULL CHECK (kind IN ('first_response', 'resolution')),
	policy text NOT NULL,
	calendar text NOT NULL,
	-- The target and the warning threshold, in seconds of open time.
	target integer NOT NULL CHECK (target > 0),
	warn_after integer NOT NULL CHECK (warn_after > 0 AND warn_after <= target),
	started_at timestamptz NOT NULL,
	-- NULL while the clock is paused or stopped.
	warn_at timestamptz,
	due_at timestamptz,
	-- When the clock stopped for good: the target was met (or missed) then.
	stopped_at timestamptz,
	-- Open seconds left when the clock last paused or stopped.
	remaining integer,
	-- When the warning and the breach were fired; each fires once.
	warned_at timestamptz,
	breached_at timestamptz,
	-- The earliest of warn_at and due_at that has not fired; NULL: nothing to
	-- fire.  Set by the trigger below.
	next_fire_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (ticket, kind)
);

-- The timer workers sleep until min(next_fire_at) and take due rows by it.
CREATE INDEX sla_timers_next_fire ON sla_timers (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- next_fire_at follows from the other columns, whoever writes them: the
-- warning or breach still to fire, where it falls before the clock stopped
-- (a target missed while the daemon was down still fires when it returns).
CREATE FUNCTION seutudesk_sla_next_fire() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.next_fire_at := least(
		CASE WHEN NEW.warned_at IS NULL
			AND NEW.warn_at < coalesce(NEW.stopped_at, 'infinity') THEN NEW.warn_at END,
		CASE WHEN NEW.breached_at IS NULL
			AND NEW.due_at < coalesce(NEW.stopped_at, 'infinity') THEN NEW.due_at END);
	RETURN NEW;
END
$$;

CREATE TRIGGER sla_timers_next_fire BEFORE INSERT OR UPDATE ON sla_timers
	FOR EACH ROW EXECUTE FUNCTION seutudesk_sla_next_fire();

-- Tickets whose timers must be computed again: a row per change, so that a
-- change committed while a worker computes the ticket leaves a row of its
-- own behind (the worker deletes only the rows it locked).
CREATE TABLE sla_recompute (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket bigint NOT NULL REFERENCES tickets (number) ON DELETE CASCADE,
	queued_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sla_recompute_ticket ON sla_recompute (ticket);

CREATE FUNCTION seutudesk_sla_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	was_paused boolean := TG_OP = 'UPDATE' AND OLD.status IN ('pending', 'resolved', 'closed');
	is_paused boolean := NEW.status IN ('pending', 'resolved', 'closed');
BEGIN
	IF is_paused AND NOT was_paused THEN
		INSERT INTO sla_pauses (ticket, started_at, status)
			VALUES (NEW.number, now(), NEW.status);
	ELSIF was_paused AND NOT is_paused THEN
		UPDATE sla_pauses SET ended_at = now()
			WHERE ticket = NEW.number AND ended_at IS NULL;
	END IF;
	INSERT INTO sla_recompute (ticket) VALUES (NEW.number);
	PERFORM pg_notify('seutudesk_sla', '');
	RETURN NULL;
END
$$;

CREATE TRIGGER tickets_sla_insert AFTER INSERT ON tickets
	FOR EACH ROW EXECUTE FUNCTION seutudesk_sla_track();
CREATE TRIGGER tickets_sla_update AFTER UPDATE ON tickets
	FOR EACH ROW
	WHEN (OLD.status IS DISTINCT FROM NEW.status
		OR OLD.priority IS DISTINCT FROM NEW.priority
		OR OLD.sector IS DISTINCT FROM NEW.sector
		OR OLD.municipality IS DISTINCT FROM NEW.municipality
		OR OLD.queue IS DISTINCT FROM NEW.queue
		OR OLD.first_response_at IS DISTINCT FROM NEW.first_response_at)
	EXECUTE FUNCTION seutudesk_sla_track();

-- The [sla] and [calendar] settings the timers were last computed with: a
-- daemon that starts or reloads with others computes every active ticket
-- again (see sla_sync_config()).
CREATE TABLE sla_config (
	id boolean PRIMARY KEY DEFAULT true CHECK (id),
	signature text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- Notifications about timers (mail to a queue's lead) go through the outbox.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('ack', 'reply', 'notice'));

-- Tickets opened before this migration get their timers too.
INSERT INTO sla_recompute (ticket)
	SELECT number FROM tickets WHERE status IN ('new', 'open', 'pending');
