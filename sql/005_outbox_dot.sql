-- outbox: the end of data (see daemon/outbox.h, the attempt protocol).
--
-- Set, in its own committed statement, just before the sender writes the
-- final "." of the current attempt (claims reset it).  A 'sending' row whose
-- claim is dead and that has it may have been delivered: it is settled as
-- sent, never sent again.
ALTER TABLE outbox ADD COLUMN data_end_at timestamptz;
