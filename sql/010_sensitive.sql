-- 010_sensitive: whether a ticket is sensitive (its sector is, sectors.sensitive:
-- sote), kept on the ticket itself, so that the listing of an agent without
-- clearance reads an index of the tickets it may see in the order it shows
-- them.  Without it, that agent's view of a queue of sensitive tickets read
-- every active ticket of the queue to find none it may see.
--
-- Every read path passes it to seutudesk_may_see() (007_pool.sql) and writes
-- the audit event of a sensitive read by it; the triggers below keep it equal
-- to the sector's sensitivity on every insert, every change of the sector
-- and every change of a sector's sensitivity.
ALTER TABLE tickets ADD COLUMN sensitive boolean NOT NULL DEFAULT false;
UPDATE tickets t SET sensitive = true
	WHERE t.sector IN (SELECT s.id FROM sectors s WHERE s.sensitive);

CREATE FUNCTION seutudesk_ticket_sensitive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.sensitive := coalesce((SELECT s.sensitive FROM sectors s WHERE s.id = NEW.sector), false);
	RETURN NEW;
END
$$;
CREATE TRIGGER tickets_sensitive BEFORE INSERT OR UPDATE OF sector, sensitive ON tickets
	FOR EACH ROW EXECUTE FUNCTION seutudesk_ticket_sensitive();

-- A sector that becomes sensitive (or stops being) carries its tickets along.
CREATE FUNCTION seutudesk_sector_sensitive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE tickets SET sensitive = NEW.sensitive
		WHERE sector = NEW.id AND sensitive IS DISTINCT FROM NEW.sensitive;
	RETURN NULL;
END
$$;
CREATE TRIGGER sectors_sensitive AFTER UPDATE OF sensitive ON sectors
	FOR EACH ROW EXECUTE FUNCTION seutudesk_sector_sensitive();

-- The active listing's orders (008_search.sql) over the tickets an agent
-- without clearance may see.
CREATE INDEX tickets_open_sla_order ON tickets ((coalesce(due_resolution, 'infinity')), number)
	WHERE status IN ('new', 'open', 'pending') AND NOT sensitive;
CREATE INDEX tickets_queue_open_sla_order
	ON tickets (queue, (coalesce(due_resolution, 'infinity')), number)
	WHERE status IN ('new', 'open', 'pending') AND NOT sensitive;
