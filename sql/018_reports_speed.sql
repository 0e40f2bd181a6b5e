-- 018_reports_speed: indexes the managers' reports (daemon/report.c) read
-- a year of a big history by, and the old timers' open times.
--
-- Each index serves one statement of a report over a period; most are
-- partial and hold only the rows that statement counts, with the columns
-- it reads, so that a year is an index-only range scan.

-- The tickets created in a period, with what the SLA and volume figures
-- group and scope them by.
CREATE INDEX tickets_report ON tickets (created_at)
	INCLUDE (number, municipality, queue, channel, follows);

-- The tickets of a manager's members (the scope of the statements that do
-- not read the tickets otherwise: the workload).
CREATE INDEX tickets_report_scope ON tickets (municipality) INCLUDE (number, queue);

-- The SLA table reads each ticket's two timers side by side: one index per
-- timer with the columns of its state and open time.
CREATE INDEX sla_timers_report_first_response ON sla_timers (ticket)
	INCLUDE (target, remaining, stopped_at, breached_at, due_at)
	WHERE kind = 'first_response';
CREATE INDEX sla_timers_report_resolution ON sla_timers (ticket)
	INCLUDE (target, remaining, stopped_at, breached_at, due_at)
	WHERE kind = 'resolution';
-- The breach list.
CREATE INDEX sla_timers_breached ON sla_timers (ticket)
	INCLUDE (kind, policy, due_at, stopped_at, remaining)
	WHERE breached_at IS NOT NULL;

-- Workload: replies and notes, and the resolutions and closings (handled),
-- each without the rest of the period's events.
CREATE INDEX events_report_replies ON events (at) INCLUDE (actor, ticket, kind)
	WHERE kind IN ('reply', 'note');
CREATE INDEX events_report_handled ON events (at) INCLUDE (actor, ticket)
	WHERE kind = 'status' AND data->>'to' IN ('resolved', 'closed');
-- Volume: the reopenings (the predicate is report.c's REOPEN).
CREATE INDEX events_report_reopen ON events (at) INCLUDE (ticket)
	WHERE (kind = 'reopened' OR (kind = 'status'
		AND data->>'from' IN ('resolved', 'closed')
		AND data->>'to' IN ('new', 'open', 'pending')));
-- How many status changes go where: without it the planner takes the
-- handled tickets for a few thousand and sorts them instead of hashing.
CREATE STATISTICS events_status_to ON (data->>'to') FROM events;

-- Timers stopped before the clock kept what was left of its target at the
-- stop have no remaining, so the reports can tell met from missed only by
-- the due moment and count no open time for their medians: computed again
-- by the timer workers, they get it.
INSERT INTO sla_recompute (ticket)
	SELECT DISTINCT ticket FROM sla_timers WHERE stopped_at IS NOT NULL AND remaining IS NULL;
NOTIFY seutudesk_sla;
