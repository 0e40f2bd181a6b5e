/* test-lang: Finnish, Swedish and English from short support texts. */
#include "autoconfig.h"

#include "lang.h"
#include "tap.h"

#include <string.h>

static const struct {
	const char *subject, *body, *want;
} cases[] = {
    {"Tulostin ei toimi", "Hei, tulostin ei tulosta ja jono on jumissa. Kiitos!", "fi"},
    {"Vaihdoin puhelimen", "Moi, en pääse sähköpostiin enkä Teamsiin. Voisitteko auttaa?", "fi"},
    {"", "Valitan taman viestin tarkistettavaksi, eika se ole kunnan osoite. Terveisin", "fi"},
    {"Datorn startar inte", "Hej, min dator startar inte efter uppdateringen. Tack på förhand!",
     "sv"},
    {"Skrivaren", "Hej! Skrivaren på mottagningen skriver ut tomma sidor. Med vänliga hälsningar",
     "sv"},
    {"Laptop keeps restarting", "Hi, my laptop keeps restarting since the last update.", "en"},
    {"Help please", "Dear support, I got a letter from you but I don't understand it.", "en"},
    /* Swedish writer, Finnish signature. */
    {"Nytt konto", "Hej, vi behöver ett konto till en ny anställd. Tack!\nKarstulan kunta", "sv"},
    /* Own text Swedish, quoted Finnish below. */
    {"SV: Tulostin",
     "Tack, det fungerar nu.\n\n> Hei, tulostin on nyt korjattu ja toimii taas.\n> Terveisin tuki",
     "sv"},
    {"RE: Kone",
     "Thanks, it works now.\n\nLähettäjä: Tuki\nHei, kone on korjattu ja se toimii taas. Kiitos ja "
     "terveisin",
     "en"},
    /* A word counts at most three times. */
    {"", "Hej, telefonen synkar inte och appen fastnar.\n at at at at at at at at", "sv"},
    /* No function words: the letters decide. */
    {"Varmuuskopio epäonnistui", "Virhe: levy täynnä.", "fi"},
    {"", "", "unknown"},
    {NULL, NULL, "unknown"},
    {"12345", "--- 42 ---", "unknown"},
};

int main(void)
{
	struct lang_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lang_detect(cases[i].subject, cases[i].body, &r);
		tap_str(r.lang, cases[i].want, "case %zu: %s", i, r.reason);
	}
	{
		/* A pasted stack trace on one long line is not prose. */
		char body[4000] = "Hej, telefonen synkar inte.\n";
		while (strlen(body) < sizeof(body) - 40)
			strcat(body, "at Module.Function(line 7) ");
		lang_detect("Telefonen", body, &r);
		tap_str(r.lang, "sv", "a long pasted line is skipped: %s", r.reason);
	}
	lang_detect("Hei", "Kiitos ja terveisin", &r);
	tap_ok(strncmp(r.reason, "fi: fi ", 7) == 0, "reason explains the counts: %s", r.reason);
	{
		struct lang_result a, b;
		lang_detect_text("Jag bor i Karstula och Wilma fungerar inte", 42, &a);
		lang_detect_text("Jag bor i Karstula och Wilma fungerar inte", 42, &b);
		tap_ok(strcmp(a.lang, "sv") == 0 && strcmp(a.reason, b.reason) == 0,
		       "deterministic");
	}
	return tap_done();
}
