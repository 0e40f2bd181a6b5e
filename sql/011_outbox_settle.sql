-- 011_outbox_settle: the rows a sender settles before each claim (its own
-- ended attempts that reached the end of data, outbox.h) found by an index
-- of the few rows in flight, not by reading the whole outbox every round.
CREATE INDEX outbox_settle ON outbox (claimed_by)
	WHERE status = 'sending' AND data_end_at IS NOT NULL;
