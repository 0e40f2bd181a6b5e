-- 012_chat: chat bridges, their conversations and the agents' replies that
-- wait for a bridge to deliver them (doc/bridge-api.md).
--
-- A chat message enters through the same intake as mail: it becomes an
-- intake_log row keyed by (mailbox 'chat:BRIDGE', external_id = the
-- bridge's message id) and a message of channel 'chat' on a ticket of
-- channel 'chat'.

-- The programs that carry chat to the daemon (bridges/webchat, bridges/xmpp, ...).
CREATE TABLE bridges (
	name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
	kind text NOT NULL DEFAULT 'other' CHECK (kind IN ('webchat', 'xmpp', 'other')),
	active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	-- The bridge's last call: whether it is there to deliver.
	last_seen_at timestamptz
);

-- A token belongs to an agent or to a bridge, never both.
ALTER TABLE api_tokens
	ALTER COLUMN agent DROP NOT NULL,
	ADD COLUMN bridge text REFERENCES bridges (name),
	ADD CONSTRAINT api_tokens_owner CHECK ((agent IS NULL) <> (bridge IS NULL));
CREATE INDEX api_tokens_bridge ON api_tokens (bridge) WHERE bridge IS NOT NULL;

-- How a ticket came: 'email' or 'chat'.  SLA policies may be keyed by it.
ALTER TABLE tickets ADD COLUMN channel text NOT NULL DEFAULT 'email'
	CHECK (channel IN ('email', 'chat'));

-- A conversation as the bridge names it, and what the person told of
-- themselves.  Its messages carry (bridge, conversation).
CREATE TABLE chat_conversations (
	bridge text NOT NULL REFERENCES bridges (name),
	id text NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
	name text NOT NULL DEFAULT '',
	handle text NOT NULL DEFAULT '',
	email text,
	site text,
	lang text,
	resume_url text,
	created_at timestamptz NOT NULL DEFAULT now(),
	-- The person's last message: are they still in the conversation?
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (bridge, id)
);

ALTER TABLE messages
	ADD COLUMN bridge text,
	ADD COLUMN conversation text,
	ADD CONSTRAINT messages_conversation FOREIGN KEY (bridge, conversation)
		REFERENCES chat_conversations (bridge, id);
CREATE INDEX messages_conversation ON messages (bridge, conversation, id)
	WHERE conversation IS NOT NULL;

-- A ticket's channel is that of the message that opened it.
CREATE FUNCTION seutudesk_ticket_channel() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.direction = 'in' AND NEW.channel = 'chat' THEN
		UPDATE tickets SET channel = 'chat'
		 WHERE number = NEW.ticket AND channel <> 'chat'
		   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket = NEW.ticket
		                    AND m.id <> NEW.id AND m.direction = 'in');
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER messages_ticket_channel AFTER INSERT ON messages
	FOR EACH ROW WHEN (NEW.channel = 'chat') EXECUTE FUNCTION seutudesk_ticket_channel();

-- Agents' replies on their way to a conversation.  A bridge takes those
-- still 'queued' (GET /bridge/v1/replies) and reports what became of each;
-- states only move forward.  A bridge's cursor is tx, the inserting
-- transaction: rows are offered in tx order once every older transaction
-- has ended, so that one committed late never falls behind a cursor
-- (ids are taken at insert, not at commit).
CREATE TABLE chat_replies (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	bridge text NOT NULL,
	conversation text NOT NULL,
	ticket bigint NOT NULL REFERENCES tickets (number),
	message bigint NOT NULL REFERENCES messages (id),
	state text NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'delivered', 'read', 'failed')),
	reason text,
	tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (bridge, conversation) REFERENCES chat_conversations (bridge, id)
);
CREATE INDEX chat_replies_queued ON chat_replies (bridge, tx, id) WHERE state = 'queued';
CREATE INDEX chat_replies_message ON chat_replies (message);

-- Long-polling bridges wake on the change feed: a queued reply is announced
-- on it with kind chat_reply (id 0: it is no row of events).
CREATE FUNCTION seutudesk_chat_reply_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('seutudesk_events',
		json_build_object('id', 0, 'ticket', NEW.ticket, 'kind', 'chat_reply')::text);
	RETURN NULL;
END
$$;
CREATE TRIGGER chat_replies_notify AFTER INSERT ON chat_replies
	FOR EACH ROW EXECUTE FUNCTION seutudesk_chat_reply_notify();
