# The web chat bridge (bridges/webchat/): seutudesk-webchat, its widget
# (www/, installed under $(pkgdatadir)/webchat) and its tests.
bin_PROGRAMS += seutudesk-webchat
seutudesk_webchat_SOURCES = bridges/webchat/seutudesk-webchat.c \
	bridges/webchat/wc_config.c bridges/webchat/wc_config.h \
	bridges/webchat/wc_upstream.c bridges/webchat/wc_upstream.h \
	bridges/webchat/wc_ratelimit.c bridges/webchat/wc_ratelimit.h \
	bridges/webchat/wc_static.c bridges/webchat/wc_static.h \
	bridges/webchat/wc_hub.c bridges/webchat/wc_hub.h \
	bridges/webchat/wc_http.c bridges/webchat/wc_http.h \
	daemon/log.c daemon/log.h
seutudesk_webchat_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS)
# Only the log module of the core: the bridge shares nothing else with the daemon.
seutudesk_webchat_LDADD = $(LIBEVENT_LIBS) $(LIBCURL_LIBS) $(JANSSON_LIBS) \
	$(OPENSSL_LIBS) $(LIBS) -lm

webchatdir = $(pkgdatadir)/webchat
dist_webchat_DATA = bridges/webchat/www/widget.js bridges/webchat/www/widget.css
webchattextsdir = $(pkgdatadir)/webchat/texts
dist_webchattexts_DATA = bridges/webchat/www/texts/fi.json bridges/webchat/www/texts/sv.json \
	bridges/webchat/www/texts/en.json

dist_man_MANS += bridges/webchat/seutudesk-webchat.8
EXTRA_DIST += bridges/webchat/accessibility-statement.fi.md \
	bridges/webchat/accessibility-statement.en.md \
	tests/browser/package.json tests/browser/package-lock.json tests/browser/install.sh \
	tests/browser/webchat-e2e.js tests/browser/webchat-page.html tests/browser/webchat-page.css \
	tests/bench/bench-webchat.sh tests/bench/webchat-load.js

INTEGRATION_TESTS += tests/integration/webchat.sh tests/integration/webchat-input.sh
