-- 001_core: the core schema: members, catalogue, tickets, messages, audit,
-- outbox and intake bookkeeping.
--
-- seutudeskctl migrate runs each file in its own transaction and records it
-- in schema_migrations (which the migrator creates itself), so files hold no
-- BEGIN/COMMIT.  Every timestamp is timestamptz.  Classification values that
-- could not be determined ("unknown") are stored as NULL.

-- Members of the pool: municipalities, joint authorities, municipal companies.
CREATE TABLE organisations (
	id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{0,31}$'),
	name text NOT NULL,
	kind text NOT NULL DEFAULT 'municipality'
		CHECK (kind IN ('municipality', 'joint_authority', 'company')),
	-- Mail from this domain or a subdomain of it belongs to the member.
	mail_domain text UNIQUE CHECK (mail_domain = lower(mail_domain)),
	-- Volume figures for sharing common costs; NULL until the member reports them.
	population integer CHECK (population >= 0),
	users integer CHECK (users >= 0),
	workstations integer CHECK (workstations >= 0),
	active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Which municipalities a joint authority serves (Saarikka serves five).
CREATE TABLE organisation_serves (
	organisation text NOT NULL REFERENCES organisations (id),
	municipality text NOT NULL REFERENCES organisations (id),
	PRIMARY KEY (organisation, municipality)
);

CREATE TABLE sectors (
	id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{0,31}$'),
	name text NOT NULL,
	-- Requests may hold health or social-care data: visible only to cleared agents.
	sensitive boolean NOT NULL DEFAULT false
);

CREATE TABLE categories (
	id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{0,31}$'),
	name text NOT NULL
);

CREATE TABLE queues (
	id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{0,31}$'),
	name text NOT NULL,
	description text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tickets (
	number bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	requester_address text NOT NULL,
	requester_name text NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	municipality text REFERENCES organisations (id),
	sector text REFERENCES sectors (id),
	category text REFERENCES categories (id),
	priority text NOT NULL DEFAULT 'normal'
		CHECK (priority IN ('low', 'normal', 'high', 'critical')),
	lang text NOT NULL DEFAULT 'fi' CHECK (lang IN ('fi', 'sv', 'en')),
	status text NOT NULL DEFAULT 'new'
		CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
	queue text NOT NULL DEFAULT 'triage' REFERENCES queues (id),
	-- agents arrive with the regional pool; the foreign key comes with them.
	assignee bigint,
	-- The earlier ticket a late reply continues (after the reopen window).
	follows bigint REFERENCES tickets (number),
	-- Why the classifier decided as it did: rules matched, scores, sources.
	classification jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	-- SLA bookkeeping; the policy and its timers come with the SLA work.
	sla_policy text,
	due_first_response timestamptz,
	due_resolution timestamptz,
	first_response_at timestamptz,
	resolved_at timestamptz,
	closed_at timestamptz,
	paused_at timestamptz,
	pause_total interval NOT NULL DEFAULT '0',
	CHECK (paused_at IS NULL OR status = 'pending')
);

-- The agents' queue views: active tickets of a queue, most urgent first.
CREATE INDEX tickets_queue_active ON tickets (queue, status, due_resolution)
	WHERE status IN ('new', 'open', 'pending');
CREATE INDEX tickets_status_queue ON tickets (status, queue);
-- The SLA sweep: what falls due next.
CREATE INDEX tickets_due_first_response ON tickets (due_first_response)
	WHERE first_response_at IS NULL AND status IN ('new', 'open');
CREATE INDEX tickets_due_resolution ON tickets (due_resolution)
	WHERE status IN ('new', 'open');
CREATE INDEX tickets_assignee ON tickets (assignee, status) WHERE assignee IS NOT NULL;
-- A requester's earlier tickets (reopen window, rate limits).
CREATE INDEX tickets_requester ON tickets (lower(requester_address), created_at);
-- Reports by member and period.
CREATE INDEX tickets_municipality_created ON tickets (municipality, created_at);
CREATE INDEX tickets_created ON tickets (created_at);
-- Closing resolved tickets after N days.
CREATE INDEX tickets_resolved_at ON tickets (resolved_at) WHERE status = 'resolved';

CREATE FUNCTION seutudesk_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

CREATE TRIGGER tickets_touch BEFORE UPDATE ON tickets
	FOR EACH ROW EXECUTE FUNCTION seutudesk_touch_updated_at();

CREATE TABLE messages (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket bigint NOT NULL REFERENCES tickets (number) ON DELETE CASCADE,
	direction text NOT NULL CHECK (direction IN ('in', 'out', 'note', 'system')),
	channel text NOT NULL DEFAULT 'email',
	-- Message-IDs without angle brackets.
	message_id text,
	in_reply_to text,
	refs text[] NOT NULL DEFAULT '{}',
	from_address text NOT NULL DEFAULT '',
	from_name text NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	body text NOT NULL DEFAULT '',
	-- The source as received (in) or as sent (out); NULL for notes.
	raw bytea,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Duplicate suppression and threading look messages up by Message-ID.
CREATE UNIQUE INDEX messages_message_id ON messages (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX messages_ticket ON messages (ticket, created_at);

CREATE TABLE attachments (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	message bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	filename text NOT NULL DEFAULT '',
	content_type text NOT NULL DEFAULT 'application/octet-stream',
	content_id text,
	is_inline boolean NOT NULL DEFAULT false,
	size bigint NOT NULL CHECK (size >= 0),
	content bytea NOT NULL
);

CREATE INDEX attachments_message ON attachments (message);

-- The audit log: who did what and when.  Rows are never changed.
CREATE TABLE events (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket bigint REFERENCES tickets (number),
	actor text NOT NULL,
	kind text NOT NULL,
	data jsonb NOT NULL DEFAULT '{}',
	at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX events_ticket ON events (ticket, at) WHERE ticket IS NOT NULL;
CREATE INDEX events_at ON events (at);

CREATE FUNCTION seutudesk_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'events is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION seutudesk_events_append_only();

-- Mail to send.  A row is sent at most once per attempt and never again once sent.
CREATE TABLE outbox (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket bigint REFERENCES tickets (number),
	-- The out message this row delivers, when there is one.
	message bigint REFERENCES messages (id),
	-- Fixed when queued, so a retry sends the very same message.
	message_id text NOT NULL,
	to_address text NOT NULL,
	subject text NOT NULL DEFAULT '',
	-- Extra header fields: [["Auto-Submitted", "auto-replied"], ...].
	headers jsonb NOT NULL DEFAULT '[]',
	body text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
	attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error text,
	created_at timestamptz NOT NULL DEFAULT now(),
	sent_at timestamptz,
	CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

CREATE UNIQUE INDEX outbox_message_id ON outbox (message_id);
-- The senders take due rows with FOR UPDATE SKIP LOCKED.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX outbox_ticket ON outbox (ticket) WHERE ticket IS NOT NULL;

-- One row per message seen in a mailbox: the key of exactly-once intake.
CREATE TABLE intake_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	mailbox text NOT NULL,
	uidvalidity bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	uid bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
	message_id text,
	-- new, followup, duplicate, auto, rejected, ...
	outcome text NOT NULL,
	reason text NOT NULL DEFAULT '',
	ticket bigint REFERENCES tickets (number),
	at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (mailbox, uidvalidity, uid)
);

CREATE INDEX intake_log_message_id ON intake_log (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX intake_log_at ON intake_log (at);

-- Where each mailbox's poller got to.
CREATE TABLE mailbox_state (
	mailbox text PRIMARY KEY,
	uidvalidity bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	last_uid bigint NOT NULL DEFAULT 0 CHECK (last_uid BETWEEN 0 AND 4294967295),
	updated_at timestamptz NOT NULL DEFAULT now()
);
