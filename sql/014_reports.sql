-- 014_reports: what the managers' reports (doc/reports.md, daemon/report.c)
-- read: whose tickets a reader's reports count, and indexes for the
-- figures of a period.

-- The scope of a reader's reports, one definition for every report: no row
-- for someone who may read none (a plain agent, an inactive or unknown
-- one).  members: the municipalities whose tickets count (NULL: every
-- ticket, unknown municipality included); queues: likewise the queues.
--   admin    everything;
--   manager  the members in their municipalities list (NULL: all) and the
--            organisation they work for (a manager of Saarikka sees
--            Saarikka's own tickets, not those of the towns it serves);
--   lead     the queues in their queues list (NULL: all).
-- sote: whether the reader may see the subjects and requesters of
-- sensitive tickets (the counts include them either way).
CREATE FUNCTION seutudesk_report_scope(reader bigint)
RETURNS TABLE (role text, sote boolean, members text[], queues text[])
LANGUAGE sql STABLE AS $$
	SELECT a.role, a.sote,
		CASE WHEN a.role = 'manager' AND a.municipalities IS NOT NULL
			THEN ARRAY(SELECT DISTINCT m FROM unnest(a.municipalities || a.organisation) m
				WHERE m IS NOT NULL ORDER BY m)
		END,
		CASE WHEN a.role = 'lead' THEN coalesce(a.queues, NULL) END
	FROM agents a
	WHERE a.id = reader AND a.active AND a.role IN ('manager', 'admin', 'lead')
$$;

-- Workload and reopenings: the agents' events of a period, without the
-- intake's and the timers' (most of the table).
CREATE INDEX events_report ON events (at) INCLUDE (ticket, actor, kind)
	WHERE kind IN ('status', 'reply', 'note', 'reopened');
-- Auto-generated mail kept out of tickets, per period.
CREATE INDEX intake_log_auto ON intake_log (at) WHERE outcome = 'auto';
-- Worklog per period and agent.
CREATE INDEX worklog_at_agent ON worklog (at) INCLUDE (agent, ticket, minutes);
