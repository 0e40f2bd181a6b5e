-- 009_assign: automatic assignment of tickets to agents, per queue.
--
-- seutudesk_assign(ticket, online_window) gives an unassigned active ticket
-- to an agent by its queue's strategy (queues.strategy):
--   manual        nobody: agents claim;
--   round_robin   the next eligible online agent after queues.last_assigned,
--                 by id, wrapping around;
--   least_loaded  the eligible online agent with the fewest open tickets,
--                 ties by id.
-- Eligible: active, the queue in their queues (NULL: any), allowed to see
-- the ticket (seutudesk_may_see), fewer open tickets (status new, open or
-- pending) than max_open.  Online: last_seen_at within online_window.
-- It returns the agent's id, or NULL when the ticket stays unassigned
-- (manual queue, nobody eligible, the ticket already assigned, resolved or
-- closed).
--
-- Concurrency: the ticket row, then the queue row, then the chosen agent's
-- row are locked, in that order (claims lock the ticket, then the agent).
-- The queue lock serialises the queue's assignments, so round robin hands
-- out each turn once; the agent lock serialises what counts an agent's open
-- tickets, so nobody goes beyond max_open when a claim and an assignment
-- meet.  The count is taken again after the agent's lock, in a statement of
-- its own, so it sees every claim committed while we waited.
--
-- The optional except_agent is left out of the candidates: a ticket an
-- agent released is offered to someone else.

CREATE FUNCTION seutudesk_assign(t_number bigint, online_window interval,
		except_agent bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	t record;
	q record;
	chosen bigint;
	chosen_login text;
	skipped bigint[] := '{}';
	n_open bigint;
	cap integer;
	t_sensitive boolean;
BEGIN
	SELECT number, queue, municipality, sector, status, assignee INTO t
		FROM tickets WHERE number = t_number FOR UPDATE;
	IF NOT FOUND OR t.assignee IS NOT NULL OR t.status IN ('resolved', 'closed') THEN
		RETURN NULL;
	END IF;
	-- For seutudesk_may_see(): the sector the locked row has now.
	t_sensitive := (SELECT s.sensitive FROM sectors s WHERE s.id = t.sector);
	SELECT id, strategy, last_assigned, active INTO q FROM queues WHERE id = t.queue FOR UPDATE;
	IF NOT FOUND OR NOT q.active OR q.strategy = 'manual' THEN
		RETURN NULL;
	END IF;
	LOOP
		SELECT a.id INTO chosen
			FROM agents a
			LEFT JOIN LATERAL (SELECT count(*) AS n FROM tickets o
				WHERE o.assignee = a.id AND o.status IN ('new', 'open', 'pending')) l ON true
			WHERE a.active
				AND (a.queues IS NULL OR t.queue = ANY (a.queues))
				AND a.last_seen_at > now() - online_window
				AND a.id IS DISTINCT FROM except_agent
				AND a.id <> ALL (skipped)
				AND l.n < a.max_open
				AND seutudesk_may_see(a, t.queue, t.municipality, t.sector, t_sensitive)
			ORDER BY
				CASE WHEN q.strategy = 'least_loaded' THEN l.n ELSE 0 END,
				CASE WHEN q.strategy = 'round_robin'
					THEN a.id <= coalesce(q.last_assigned, 0) ELSE false END,
				a.id
			LIMIT 1;
		IF chosen IS NULL THEN
			RETURN NULL;
		END IF;
		SELECT login, max_open INTO chosen_login, cap
			FROM agents WHERE id = chosen AND active FOR NO KEY UPDATE;
		SELECT count(*) INTO n_open FROM tickets
			WHERE assignee = chosen AND status IN ('new', 'open', 'pending');
		EXIT WHEN cap IS NOT NULL AND n_open < cap;
		skipped := skipped || chosen;
		chosen := NULL;
	END LOOP;
	-- A new ticket is being worked from now on; a pending one still waits
	-- for its requester.
	UPDATE tickets SET assignee = chosen,
		status = CASE WHEN status = 'new' THEN 'open' ELSE status END
		WHERE number = t_number;
	IF q.strategy = 'round_robin' THEN
		UPDATE queues SET last_assigned = chosen WHERE id = q.id;
	END IF;
	INSERT INTO events (ticket, actor, kind, data)
		VALUES (t_number, 'system', 'assign', jsonb_build_object('agent', chosen,
			'login', chosen_login, 'queue', t.queue, 'strategy', q.strategy,
			'status', CASE WHEN t.status = 'new' THEN 'open' ELSE t.status END));
	RETURN chosen;
END
$$;

