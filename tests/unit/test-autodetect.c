/* test-autodetect: each header signal, out-of-office wording, and the traps
 * that human mail sets. */
#include "autoconfig.h"

#include "autodetect.h"
#include "mime.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *headers; /* extra header lines, CRLF-terminated */
	const char *from;
	const char *subject;
	const char *body;
	int want; /* 1 auto, 0 human */
	const char *reason_prefix;
} cases[] = {
    {"Auto-Submitted: auto-replied\r\n", NULL, "Re: x", "Hi", 1, "Auto-Submitted: auto-replied"},
    {"Auto-Submitted: auto-generated\r\n", NULL, "Alert", "x", 1, "Auto-Submitted"},
    {"Auto-Submitted: auto-replied (vacation)\r\n", NULL, "x", "x", 1, "Auto-Submitted"},
    {"Auto-Submitted: no\r\n", NULL, "Näyttö vilkkuu", "Olen lomalla ensi viikolla.", 0, ""},
    {"Auto-Submitted: No (human)\r\n", NULL, "Out of office", "x", 0, ""},
    {"Precedence: bulk\r\n", NULL, "Uutiskirje", "x", 1, "Precedence: bulk"},
    {"Precedence: junk\r\n", NULL, "x", "x", 1, "Precedence: junk"},
    {"Precedence: list\r\n", NULL, "x", "x", 1, "Precedence: list"},
    {"Precedence: auto_reply\r\n", NULL, "Poissa", "x", 1, "Precedence: auto_reply"},
    {"Precedence: first-class\r\n", NULL, "Tulostin", "Ei toimi", 0, ""},
    {"X-Autoreply: yes\r\n", NULL, "Re: x", "x", 1, "X-Autoreply"},
    {"X-Autorespond: yes\r\n", NULL, "Re: x", "x", 1, "X-Autorespond"},
    {"List-Id: Kuntien IT <kunta-it.example>\r\n", NULL, "[kunta-it] x", "x", 1,
     "mailing list (List-Id)"},
    {"List-Unsubscribe: <mailto:u@x.example>\r\n", NULL, "Tarjous", "x", 1,
     "mailing list (List-Unsubscribe)"},
    {"Return-Path: <>\r\n", NULL, "Delivery failure", "x", 1, "null Return-Path"},
    {"", "MAILER-DAEMON@mx.example", "Undelivered Mail", "x", 1, "sender MAILER-DAEMON"},
    {"", "postmaster@mx.example", "Undeliverable", "x", 1, "sender postmaster"},
    {"X-Failed-Recipients: a@b.fi\r\n", NULL, "Mail delivery failed", "x", 1,
     "X-Failed-Recipients"},
    /* X-Auto-Response-Suppress alone is not a sign of auto-generated mail. */
    {"X-Auto-Response-Suppress: All\r\n", NULL, "Kokouskutsu", "Tervetuloa kokoukseen.", 0, ""},
    {"X-Auto-Response-Suppress: All\r\nAuto-Submitted: auto-generated\r\n", NULL,
     "Automaattinen vastaus: Kirjaamo", "x", 1, "Auto-Submitted"},
    /* Out-of-office wording. */
    {"", NULL, "Automaattinen vastaus: Tulostin", "Olen poissa.", 1, "out-of-office subject"},
    {"", NULL, "Automaattinen vastaus", "Olen koulutuksessa.", 1, "out-of-office subject"},
    {"", NULL, "Poissa toimistolta: Kalenteri", "x", 1, "out-of-office subject"},
    {"", NULL, "Poissa", "Palaan 7.12.", 1, "out-of-office subject"},
    {"", NULL, "Olen lomalla 9.12.", "Palaan.", 1, "out-of-office subject"},
    {"", NULL, "Frånvaro", "Jag är borta.", 1, "out-of-office subject"},
    {"", NULL, "Frånvarande: Datorn", "x", 1, "out-of-office subject"},
    {"", NULL, "Automatiskt svar: Datorn startar inte", "x", 1, "out-of-office subject"},
    {"", NULL, "Autosvar", "x", 1, "out-of-office subject"},
    {"", NULL, "Out of Office: Laptop", "x", 1, "out-of-office subject"},
    {"", NULL, "Automatic reply: Notice", "x", 1, "out-of-office subject"},
    {"", NULL, "Re: Sosiaalitoimen tulostin", "Tämä on automaattinen vastaus. Olen lomalla.", 1,
     "automatic-reply text"},
    {"", NULL, "Re: Printer", "This is an automatic reply. I am away.", 1, "automatic-reply text"},
    {"", NULL, "Hei", "Olen lomalla 5.10. asti enkä lue sähköpostia.", 1, "absence note"},
    {"", NULL, "Hej", "Jag är borta från kontoret till och med 1.10.", 1, "absence note"},
    {"", NULL, "Hello", "I am on annual leave and will be back on 21 November.", 1, "absence note"},
    /* Traps: human mail with words that look automatic. */
    {"", NULL, "Näyttö vilkkuu",
     "Olen lomalla ensi viikolla, joten olisi hyvä, jos ehtisitte katsoa tämän.", 0, ""},
    {"", NULL, "Toinen näyttö ei toimi",
     "Poissa toimistolta ensi viikon, mutta tänään ja huomenna olen paikalla.", 0, ""},
    {"", NULL, "Automaattinen varmuuskopiointi ei toimi",
     "Automaattinen varmuuskopiointi on epäonnistunut kolme yötä.", 0, ""},
    {"", NULL, "Automaattinen vastaus ei toimi Outlookissa", "Miten lomavastaaja laitetaan päälle?",
     0, ""},
    {"", NULL, "Out of office -viesti", "How do I set my out of office reply?", 0, ""},
    {"", NULL, "Olen lomalla 5.10. asti", "Voisitteko korjata tulostimen ennen sitä?", 1,
     "out-of-office subject"},
    {"", NULL, "Tulostin", "Olen lomalla 5.10. asti, voisitteko korjata tulostimen?", 0, ""},
};

static struct mime_msg *make(const char *headers, const char *from, const char *subject,
                             const char *body)
{
	char raw[4096], *err = NULL;
	struct mime_limits lim;
	struct mime_msg *m;
	int n = snprintf(raw, sizeof(raw),
	                 "From: %s\r\nTo: tuki@seutu-it.fi\r\nSubject: %s\r\nMessage-ID: <t@x>\r\n"
	                 "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                 "Content-Transfer-Encoding: 8bit\r\n%s\r\n%s\r\n",
	                 from ? from : "Matti Meikäläinen <matti.m@kinnula.fi>", subject, headers,
	                 body);
	mime_limits_default(&lim);
	m = mime_parse(raw, (size_t)n, &lim, &err);
	free(err);
	return m;
}

static void test_report(void)
{
	static const char raw[] =
	    "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"
	    "To: tuki@seutu-it.fi\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
	    "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
	    "Final-Recipient: rfc822; a@b.fi\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "--b--\r\n";
	struct mime_limits lim;
	char *err = NULL, reason[128];
	struct mime_msg *m;

	mime_limits_default(&lim);
	m = mime_parse(raw, sizeof(raw) - 1, &lim, &err);
	free(err);
	tap_ok(m != NULL && autodetect_check(m, reason, sizeof(reason)), "delivery report is auto");
	tap_str(m ? reason : NULL, "multipart/report; report-type=delivery-status",
	        "reason names the report");
	mime_msg_free(&m);
}

int main(void)
{
	char reason[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mime_msg *m =
		    make(cases[i].headers, cases[i].from, cases[i].subject, cases[i].body);
		if (m == NULL) {
			tap_ok(0, "case %zu: parse", i);
			continue;
		}
		bool got = autodetect_check(m, reason, sizeof(reason));
		tap_ok(got == (cases[i].want == 1) && strncmp(reason, cases[i].reason_prefix,
		                                              strlen(cases[i].reason_prefix)) == 0,
		       "case %zu (%s / %s): %s '%s'", i, cases[i].subject,
		       cases[i].headers[0] ? "header" : "text", got ? "auto" : "human", reason);
		mime_msg_free(&m);
	}
	test_report();
	{
		struct mime_msg *m = make("X-Auto-Response-Suppress: OOF, AutoReply\r\n", NULL,
		                          "Kokous", "Tervetuloa.");
		tap_ok(m != NULL && !autodetect_check(m, reason, sizeof(reason)) &&
		           autodetect_suppress_reply(m),
		       "X-Auto-Response-Suppress: human mail, but no automatic reply");
		mime_msg_free(&m);
		m = make("", NULL, "Tulostin", "Ei toimi.");
		tap_ok(m != NULL && !autodetect_suppress_reply(m), "ordinary mail may be answered");
		mime_msg_free(&m);
	}
	tap_ok(!autodetect_ooo_text(NULL, NULL, reason, sizeof(reason)), "NULL texts");
	tap_ok(autodetect_ooo_text("Out of office", NULL, NULL, 0), "no reason buffer");
	return tap_done();
}
