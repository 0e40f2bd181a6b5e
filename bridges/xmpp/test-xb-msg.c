/* test-xb-msg: what a chat stanza becomes for the bridge API (xb_msg). */
#include "autoconfig.h"

#include "tap.h"
#include "xb_msg.h"

#include <stdlib.h>
#include <string.h>

static void check(char *got, const char *want, const char *what)
{
	tap_str(got, want, "%s", what);
	free(got);
}

static void test_ids(void)
{
	char *a, *b, *long_id;

	check(xb_msg_id("maija@kinnula.fi", "o-1", "s-1", "x", 0, 1), "xmpp:maija@kinnula.fi:o-1",
	      "id: the origin-id first");
	check(xb_msg_id("maija@kinnula.fi", NULL, "s-1", "x", 0, 1), "xmpp:maija@kinnula.fi:s-1",
	      "id: else the stanza id");
	check(xb_msg_id("maija@kinnula.fi", "", "s-1", "x", 0, 1), "xmpp:maija@kinnula.fi:s-1",
	      "id: an empty origin-id counts as none");
	long_id = malloc(300);
	memset(long_id, 'q', 299);
	long_id[299] = '\0';
	a = xb_msg_id("maija@kinnula.fi", long_id, NULL, "x", 0, 1);
	b = xb_msg_id("maija@kinnula.fi", long_id, NULL, "y", 5, 2);
	tap_ok(strncmp(a, "xmpp-s:", 7) == 0 && strlen(a) == 7 + 64 && strcmp(a, b) == 0,
	       "id: an id over 200 bytes is hashed, the same each time (%s)", a);
	free(a);
	free(b);
	free(long_id);
	a = xb_msg_id("maija@kinnula.fi", NULL, NULL, "hei", 100, 1);
	b = xb_msg_id("maija@kinnula.fi", NULL, NULL, "hei", 100, 2);
	tap_ok(strncmp(a, "xmpp-h:", 7) == 0 && strcmp(a, b) != 0,
	       "id: without any id, a hash that the counter keeps apart");
	free(a);
	free(b);
}

static void test_names(void)
{
	char nick[260];

	check(xb_msg_sender_name("maija@kinnula.fi", NULL), "maija", "name: the local part");
	check(xb_msg_sender_name("maija@kinnula.fi", "Maija M."), "Maija M.", "name: the nick");
	check(xb_msg_sender_name("kinnula.fi", NULL), "kinnula.fi", "name: a domain JID whole");
	memset(nick, 'a', sizeof(nick));
	strcpy(nick + 199, "ä and more");
	char *n = xb_msg_sender_name("x@y", nick);
	tap_ok(strlen(n) == 199, "name: cut to 200 bytes without splitting a character (%zu)",
	       strlen(n));
	free(n);
}

static void test_text(void)
{
	check(xb_msg_clean_text("\r\n  Hei\r\nrivi\rkaksi\x01\tsarake \n\n"),
	      "Hei\nrivi\nkaksi\tsarake", "text: CR LF to LF, controls out, blank ends trimmed");
	tap_ok(xb_msg_clean_text(" \n\t\r\n") == NULL, "text: nothing but blanks is nothing");
	check(xb_msg_clean_text("Hyvää päivää"), "Hyvää päivää", "text: UTF-8 kept");
}

static void test_stamps(void)
{
	check(xb_msg_stamp("2026-12-07T09:15:00Z"), "2026-12-07T09:15:00Z", "stamp: UTC");
	check(xb_msg_stamp("2026-12-07T09:15:00.123456Z"), "2026-12-07T09:15:00Z",
	      "stamp: fractions dropped");
	check(xb_msg_stamp("2026-12-07T11:15:00+02:00"), "2026-12-07T09:15:00Z",
	      "stamp: an offset applied");
	check(xb_msg_stamp("2026-12-07T00:30:00-01:00"), "2026-12-07T01:30:00Z",
	      "stamp: a negative offset");
	tap_ok(xb_msg_stamp("2026-12-07 09:15") == NULL && xb_msg_stamp("yesterday") == NULL &&
	           xb_msg_stamp(NULL) == NULL && xb_msg_stamp("2026-13-01T00:00:00Z") == NULL,
	       "stamp: unreadable ones are NULL");
}

int main(void)
{
	test_ids();
	test_names();
	test_text();
	test_stamps();
	return tap_done();
}
