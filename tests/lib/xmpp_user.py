#!/usr/bin/python3
"""A scripted XMPP user for the bridge's test (tests/integration/xmpp.sh).

    xmpp_user.py JID PASSWORD HOST PORT LOG [BRIDGE_JID]

Connects without TLS (loopback only), reconnects one second after any
disconnection, subscribes to BRIDGE_JID's presence, and reads commands
from standard input, one a line:

    send ID TEXT    a chat message to BRIDGE_JID with stanza id ID ('-': none);
                    TEXT's \\n become newlines.  Waits until online.
    sendlong ID N   a message of N letters 'a'
    display ID      a chat marker 'displayed' for the message ID
    typing          a chat state 'composing'
    quit

and appends what happens to LOG, one line each, flushed at once:

    online | offline
    recv ID TEXT            TEXT with newlines as \\n
    presence JID TYPE       available or unavailable
"""
import asyncio
import sys

import slixmpp


class User(slixmpp.ClientXMPP):
    def __init__(self, jid, password, host, port, log, bridge):
        super().__init__(jid, password)
        self.address = (host, int(port))
        self.log = open(log, 'a', buffering=1)
        self.bridge = bridge
        self.online = False
        self.waiting = []
        self.quitting = False
        self['feature_mechanisms'].unencrypted_plain = True
        self.add_event_handler('session_start', self.on_start)
        self.add_event_handler('disconnected', self.on_gone)
        self.add_event_handler('connection_failed', self.on_gone)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('presence_available', self.on_presence)
        self.add_event_handler('presence_unavailable', self.on_presence)

    def note(self, line):
        self.log.write(line + '\n')

    def go(self):
        self.connect(address=self.address, disable_starttls=True)

    async def on_start(self, _event):
        self.send_presence()
        if self.bridge:
            self.send_presence_subscription(pto=self.bridge)
        self.online = True
        self.note('online')
        waiting, self.waiting = self.waiting, []
        for cmd in waiting:
            self.run(cmd)

    def on_gone(self, _event):
        if self.online:
            self.note('offline')
        self.online = False
        if not self.quitting:
            self.loop.call_later(1, self.go)

    def on_message(self, msg):
        if msg['type'] not in ('chat', 'normal'):
            return
        body = msg['body']
        if not body:
            return
        self.note('recv %s %s' % (msg['id'] or '-', body.replace('\n', '\\n')))

    def on_presence(self, pres):
        if pres['from'].bare == self.bridge:
            kind = 'unavailable' if pres['type'] == 'unavailable' else 'available'
            self.note('presence %s %s' % (pres['from'].bare, kind))

    def chat(self, mid, text):
        msg = self.make_message(mto=self.bridge, mbody=text, mtype='chat')
        if mid != '-':
            msg['id'] = mid
        else:
            del msg['id']
        msg.send()

    def run(self, line):
        words = line.split(' ', 2)
        if words[0] == 'quit':
            self.quitting = True
            self.disconnect()
            self.loop.call_later(0.5, self.loop.stop)
            return
        if not self.online:
            self.waiting.append(line)
            return
        if words[0] == 'send' and len(words) == 3:
            self.chat(words[1], words[2].replace('\\n', '\n'))
        elif words[0] == 'sendlong' and len(words) == 3:
            self.chat(words[1], 'a' * int(words[2]))
        elif words[0] == 'display' and len(words) == 2:
            msg = self.make_message(mto=self.bridge, mtype='chat')
            marker = slixmpp.xmlstream.ET.Element('{urn:xmpp:chat-markers:0}displayed')
            marker.set('id', words[1])
            msg.append(marker)
            msg.send()
        elif words[0] == 'typing':
            msg = self.make_message(mto=self.bridge, mtype='chat')
            msg.append(slixmpp.xmlstream.ET.Element(
                '{http://jabber.org/protocol/chatstates}composing'))
            msg.send()
        else:
            self.note('bad command %s' % line)

    def on_stdin(self):
        line = sys.stdin.readline()
        if not line:
            self.loop.remove_reader(sys.stdin.fileno())
            self.run('quit')
            return
        line = line.rstrip('\n')
        if line:
            self.run(line)


def main():
    jid, password, host, port, log = sys.argv[1:6]
    bridge = sys.argv[6] if len(sys.argv) > 6 else None
    user = User(jid, password, host, port, log, bridge)
    user.loop.add_reader(sys.stdin.fileno(), user.on_stdin)
    user.go()
    user.loop.run_forever()


if __name__ == '__main__':
    main()
