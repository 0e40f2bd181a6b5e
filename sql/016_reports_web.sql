-- 016_reports_web: the report pages' sign-in (daemon/reports_web.c) and
-- the monthly report mail's claims (daemon/report_mail.c).

-- A sign-in asked for at POST /reports/login, one row per request: also
-- for an address that is nobody's (agent and hash NULL), so that the rate
-- limits count every try without telling who is a manager.  Of a mailed
-- link only the SHA-256 of its token is kept; used_at makes it single use.
-- Rows older than a day are deleted by the next sign-in.
CREATE TABLE report_links (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email text NOT NULL,  -- as typed, in lower case
	client text NOT NULL, -- the client's address
	agent bigint REFERENCES agents (id) ON DELETE CASCADE,
	hash bytea UNIQUE CHECK (length(hash) = 32),
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	used_at timestamptz,
	CHECK ((agent IS NULL) = (hash IS NULL))
);
CREATE INDEX report_links_email ON report_links (email, created_at);
CREATE INDEX report_links_client ON report_links (client, created_at);

-- A browser signed in to the report pages (the cookie sd_session holds the
-- token; only its SHA-256 is kept).
CREATE TABLE report_sessions (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
	client text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	ended_at timestamptz
);

-- The monthly mail of a [report NAME] section for a month, claimed in the
-- transaction that queues its mails: one daemon sends it, once.
CREATE TABLE report_mailings (
	name text NOT NULL,
	period date NOT NULL CHECK (extract(day FROM period) = 1), -- the month reported
	sent_at timestamptz NOT NULL DEFAULT now(),
	recipients integer NOT NULL,
	PRIMARY KEY (name, period)
);

-- The monthly mail's reader: the report a manager of just the member
-- (seutudesk.report_member; all: an admin) without sote clearance reads.
-- The mail's worker puts this schema first in its own connection's
-- search_path while it builds a report, so this function stands in for
-- public.seutudesk_report_scope (014) there and nowhere else.
CREATE SCHEMA seutudesk_report_mail;
CREATE FUNCTION seutudesk_report_mail.seutudesk_report_scope(reader bigint)
RETURNS TABLE (role text, sote boolean, members text[], queues text[])
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN m = 'all' THEN 'admin' ELSE 'manager' END, false,
		CASE WHEN m <> 'all' THEN ARRAY[m] END, NULL::text[]
	FROM (SELECT current_setting('seutudesk.report_member') AS m) s
	WHERE m <> ''
$$;
