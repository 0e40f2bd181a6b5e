-- 013_events_order: the agents' event stream can tell when every event
-- below an id is final (daemon/api.c, "The event stream's order").
--
-- An event's id is taken at INSERT but the row shows at COMMIT, so ids
-- commit out of order.  The stream sends events in id order and passes a
-- missing id only once the transaction that may hold it has ended: a
-- snapshot in which event j is visible was taken after every id below j
-- was taken, so once pg_snapshot_xmin() passes an xid assigned after that
-- snapshot, no transaction can still commit an id below j.  That holds
-- only if a transaction has its xid before it takes an id, and PostgreSQL
-- assigns the xid at the row's write, after the id's default is
-- evaluated: this trigger assigns it first (a statement trigger fires
-- before the statement computes any row).
CREATE FUNCTION seutudesk_events_xid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_current_xact_id();
	RETURN NULL;
END
$$;

CREATE TRIGGER events_xid BEFORE INSERT ON events
	FOR EACH STATEMENT EXECUTE FUNCTION seutudesk_events_xid();
