-- 019_learn: labelled examples for the learning stage (daemon/learn.h).
--
-- A ticket's features (the distinct base forms of its words and its
-- sender's "@domain", as 64-bit keys and as words) are in its
-- classification, under "learn", written by the intake for mail that is not
-- auto-generated.  An example is (ticket, field, value, features), written
-- here by triggers in the transactions of the agents' work:
--   reclassified  an agent's classify action (its 'classify' event): every
--                 field it leaves known; a field made unknown drops its example
--   resolved      a ticket resolved: each known field not already labelled
--                 by a reclassification confirms its value
-- A sensitive ticket's example (sote) keeps the label and the keys only:
-- its words stay on the ticket, under the sote access rules.
-- learn_counts holds, per (field, value, key), how many examples have the
-- feature, kept incrementally by the examples' trigger; its word is known
-- only from examples that are not sensitive.  seutudeskctl rules suggest
-- reads it; the daemon loads the examples and calibrates in memory.

CREATE TABLE learn_examples (
	ticket bigint NOT NULL REFERENCES tickets (number) ON DELETE CASCADE,
	field text NOT NULL CHECK (field IN ('municipality', 'sector', 'category')),
	value text NOT NULL,
	keys bigint[] NOT NULL,
	words text[], -- NULL for a sensitive ticket; else aligned with keys
	source text NOT NULL CHECK (source IN ('reclassified', 'resolved')),
	at timestamptz NOT NULL DEFAULT now(),
	-- changes whenever the row does: the daemon reloads when max(seq) moves
	seq bigint NOT NULL,
	PRIMARY KEY (ticket, field),
	CHECK (words IS NULL OR cardinality(words) = cardinality(keys))
);
CREATE SEQUENCE learn_examples_seq;
CREATE INDEX learn_examples_seq_idx ON learn_examples (seq);

CREATE TABLE learn_counts (
	field text NOT NULL,
	value text NOT NULL,
	key bigint NOT NULL,
	word text,
	tickets integer NOT NULL CHECK (tickets >= 0),
	PRIMARY KEY (field, value, key)
);
CREATE INDEX learn_counts_key ON learn_counts (field, key);

CREATE FUNCTION seutudesk_learn_count(f text, v text, k bigint[], w text[], d integer)
RETURNS void LANGUAGE sql AS $$
	-- in key order, so that concurrent transactions lock rows in one order
	INSERT INTO learn_counts AS c (field, value, key, word, tickets)
	SELECT f, v, x.key, x.word, greatest(d, 0)
	FROM unnest(k, coalesce(w, array_fill(NULL::text, ARRAY[cardinality(k)])))
		AS x(key, word)
	ORDER BY x.key
	ON CONFLICT (field, value, key) DO UPDATE
		SET tickets = c.tickets + d, word = coalesce(c.word, EXCLUDED.word);
$$;

CREATE FUNCTION seutudesk_learn_examples_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM seutudesk_learn_count(OLD.field, OLD.value, OLD.keys, NULL, -1);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		PERFORM seutudesk_learn_count(NEW.field, NEW.value, NEW.keys, NEW.words, 1);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER learn_examples_count AFTER INSERT OR UPDATE OR DELETE ON learn_examples
	FOR EACH ROW EXECUTE FUNCTION seutudesk_learn_examples_count();

-- Writes the ticket's example for each known field; reclassified replaces,
-- resolved only fills in what no reclassification labelled.
CREATE FUNCTION seutudesk_learn_label(t_number bigint, src text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	t tickets%ROWTYPE;
	k bigint[];
	w text[];
BEGIN
	SELECT * INTO t FROM tickets WHERE number = t_number;
	IF NOT FOUND OR jsonb_typeof(t.classification -> 'learn' -> 'keys') IS DISTINCT FROM 'array' THEN
		RETURN; -- no features: not from a person's mail
	END IF;
	k := ARRAY(SELECT jsonb_array_elements_text(t.classification -> 'learn' -> 'keys')::bigint);
	IF cardinality(k) = 0 THEN
		RETURN;
	END IF;
	IF NOT t.sensitive THEN
		w := ARRAY(SELECT jsonb_array_elements_text(t.classification -> 'learn' -> 'words'));
		IF cardinality(w) <> cardinality(k) THEN
			w := NULL;
		END IF;
	END IF;
	IF src = 'reclassified' THEN
		DELETE FROM learn_examples e WHERE e.ticket = t_number
			AND ((e.field = 'municipality' AND t.municipality IS NULL)
			  OR (e.field = 'sector' AND t.sector IS NULL)
			  OR (e.field = 'category' AND t.category IS NULL));
	END IF;
	INSERT INTO learn_examples AS e (ticket, field, value, keys, words, source, seq)
	SELECT t_number, x.field, x.value, k, w, src, nextval('learn_examples_seq')
	FROM (VALUES ('municipality', t.municipality), ('sector', t.sector),
		('category', t.category)) AS x(field, value)
	WHERE x.value IS NOT NULL
	ON CONFLICT (ticket, field) DO UPDATE
		SET value = EXCLUDED.value, keys = EXCLUDED.keys, words = EXCLUDED.words,
			source = EXCLUDED.source, at = now(), seq = EXCLUDED.seq
		WHERE src = 'reclassified'
			AND (e.value, e.source) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.source);
END
$$;

CREATE FUNCTION seutudesk_learn_on_classify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM seutudesk_learn_label(NEW.ticket, 'reclassified');
	RETURN NULL;
END
$$;

CREATE TRIGGER events_learn AFTER INSERT ON events
	FOR EACH ROW WHEN (NEW.kind = 'classify' AND NEW.ticket IS NOT NULL)
	EXECUTE FUNCTION seutudesk_learn_on_classify();

CREATE FUNCTION seutudesk_learn_on_resolve() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM seutudesk_learn_label(NEW.number, 'resolved');
	RETURN NULL;
END
$$;

CREATE TRIGGER tickets_learn AFTER UPDATE OF status ON tickets
	FOR EACH ROW WHEN (NEW.status = 'resolved' AND OLD.status IS DISTINCT FROM 'resolved')
	EXECUTE FUNCTION seutudesk_learn_on_resolve();
