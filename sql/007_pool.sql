-- 007_pool: the regional pool: agents, their API tokens, work logs, and the
-- change feed of the agents' API.
--
-- Queues are declared in the configuration ([queue NAME]); the daemon keeps
-- the queues table in step with it, so tickets and agents can refer to them.

ALTER TABLE queues
	ADD COLUMN strategy text NOT NULL DEFAULT 'manual'
		CHECK (strategy IN ('manual', 'round_robin', 'least_loaded')),
	-- Round robin: the agent who got this queue's previous ticket.
	ADD COLUMN last_assigned bigint,
	ADD COLUMN active boolean NOT NULL DEFAULT true;

-- People of the pool.  Each works for one member organisation (which pays
-- for their time) and may handle the tickets the columns below allow; a NULL
-- list allows every value, an empty list none.  A municipality or sector
-- restriction applies to tickets where it is known: unclassified tickets are
-- for whoever works the queue they are in (triage).  Sensitive sectors
-- (sectors.sensitive: sote) are visible only with sote = true, whatever the
-- lists say.
CREATE TABLE agents (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	login text NOT NULL UNIQUE CHECK (login ~ '^[a-z][a-z0-9._-]{0,63}$'),
	name text NOT NULL,
	email text NOT NULL,
	role text NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'lead', 'manager', 'admin')),
	organisation text REFERENCES organisations (id),
	queues text[],
	municipalities text[],
	sectors text[],
	sote boolean NOT NULL DEFAULT false,
	max_open integer NOT NULL DEFAULT 25 CHECK (max_open >= 0),
	active boolean NOT NULL DEFAULT true,
	-- The last API call or event-stream heartbeat: "online" for assignment.
	last_seen_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX agents_email ON agents (lower(email));

ALTER TABLE tickets ADD CONSTRAINT tickets_assignee_fkey
	FOREIGN KEY (assignee) REFERENCES agents (id);

-- Bearer tokens: only the SHA-256 of the token is kept; the token itself is
-- shown once, when issued.
CREATE TABLE api_tokens (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent bigint NOT NULL REFERENCES agents (id),
	hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
	-- The token's first characters, to tell tokens apart in listings.
	prefix text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at timestamptz
);

CREATE INDEX api_tokens_agent ON api_tokens (agent);

-- Agents' time on tickets: the base of direct-cost allocation to members.
CREATE TABLE worklog (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket bigint NOT NULL REFERENCES tickets (number),
	agent bigint NOT NULL REFERENCES agents (id),
	minutes integer NOT NULL CHECK (minutes > 0 AND minutes <= 24 * 60),
	note text NOT NULL DEFAULT '',
	-- The member the work is charged to: the ticket's municipality when logged.
	organisation text REFERENCES organisations (id),
	at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX worklog_ticket ON worklog (ticket);
CREATE INDEX worklog_at ON worklog (at, organisation);

-- A ticket merged into another keeps its number and points at the survivor.
ALTER TABLE tickets ADD COLUMN merged_into bigint REFERENCES tickets (number);

-- Queue views filter on the assignee and sort by the SLA due time.
CREATE INDEX tickets_active_due ON tickets (due_resolution, number)
	WHERE status IN ('new', 'open', 'pending');

-- The change feed: every event is announced on channel seutudesk_events
-- with its id and ticket, so every daemon's API streams every change.  The
-- payload carries no ticket content: each stream reads what its agent may see.
CREATE FUNCTION seutudesk_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('seutudesk_events',
		json_build_object('id', NEW.id, 'ticket', NEW.ticket, 'kind', NEW.kind)::text);
	RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
	FOR EACH ROW EXECUTE FUNCTION seutudesk_events_notify();

-- Access control, one definition for every read and write path: may the
-- agent a (their whole row) see a ticket in queue t_queue, of municipality
-- t_municipality and sector t_sector?  t_sensitive is that sector's
-- sectors.sensitive (NULL: no sector, or one not in sectors).  Callers join
-- the agent's row once ("JOIN agents me ON me.id = $N") and the ticket's
-- sector ("LEFT JOIN sectors s ON s.id = t.sector", or a scalar subquery
-- where the ticket row is locked FOR UPDATE, so that a re-checked row reads
-- the sector it has now).  A missing agent yields no row, so sees nothing.
--
-- The body is one expression over the arguments, with no sublink and no
-- table, so the planner inlines it: its AND-terms become quals of the
-- query, those on the agent alone (active) run once on the agent's row, and
-- the per-ticket test is a few array comparisons instead of a function call.
-- A NULL in a term only ever means "not visible" (tickets.queue is NOT NULL).
CREATE FUNCTION seutudesk_may_see(a agents, t_queue text, t_municipality text,
		t_sector text, t_sensitive boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT a.active
		AND (a.queues IS NULL OR t_queue = ANY (a.queues))
		AND (a.municipalities IS NULL OR t_municipality IS NULL
			OR t_municipality = ANY (a.municipalities))
		AND (a.sectors IS NULL OR t_sector IS NULL OR t_sector = ANY (a.sectors))
		AND (a.sote OR t_sector IS NULL OR NOT coalesce(t_sensitive, false))
$$;
