-- 008_search: what the agents' ticket listing needs: full-text search over
-- subjects and message bodies, and the keyset order of the queue views.
--
-- Search uses the 'simple' configuration (lower-cased words, no stemming:
-- the region writes Finnish, Swedish and English, often mixed) with prefix
-- matching.  The vector is built from the first 65536 characters only, so
-- no message is ever refused for an over-long text (a tsvector holds 1 MB).
CREATE FUNCTION seutudesk_search_vector(doc text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT to_tsvector('simple'::regconfig, left(doc, 65536))
$$;

CREATE INDEX tickets_search ON tickets USING gin (seutudesk_search_vector(subject));
CREATE INDEX messages_search ON messages USING gin (seutudesk_search_vector(body));

-- The listing's order and keyset: the resolution due time with tickets
-- without one last, then the number.  coalesce() to 'infinity' makes that
-- one ordered key, so a cursor is a single row comparison on the index.
CREATE INDEX tickets_sla_order ON tickets ((coalesce(due_resolution, 'infinity')), number);
CREATE INDEX tickets_active_sla_order ON tickets ((coalesce(due_resolution, 'infinity')), number)
	WHERE status IN ('new', 'open', 'pending');
CREATE INDEX tickets_queue_sla_order
	ON tickets (queue, (coalesce(due_resolution, 'infinity')), number)
	WHERE status IN ('new', 'open', 'pending');
