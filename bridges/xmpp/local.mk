# The XMPP bridge (bridges/xmpp/): seutudesk-xmpp, its man page and its test.
bin_PROGRAMS += seutudesk-xmpp
seutudesk_xmpp_SOURCES = bridges/xmpp/seutudesk-xmpp.c \
	bridges/xmpp/xb_api.c bridges/xmpp/xb_api.h \
	bridges/xmpp/xb_courier.c bridges/xmpp/xb_courier.h \
	bridges/xmpp/xb_item.c bridges/xmpp/xb_item.h \
	bridges/xmpp/xb_msg.c bridges/xmpp/xb_msg.h \
	bridges/xmpp/xb_opts.c bridges/xmpp/xb_opts.h \
	bridges/xmpp/xb_poller.c bridges/xmpp/xb_poller.h \
	bridges/xmpp/xb_queue.c bridges/xmpp/xb_queue.h \
	bridges/xmpp/xb_session.c bridges/xmpp/xb_session.h \
	bridges/xmpp/xb_spool.c bridges/xmpp/xb_spool.h \
	bridges/xmpp/xb_wait.c bridges/xmpp/xb_wait.h \
	daemon/log.c daemon/log.h daemon/xalloc.c daemon/xalloc.h \
	daemon/fileio.c daemon/fileio.h
seutudesk_xmpp_CPPFLAGS = -D_GNU_SOURCE -I$(top_srcdir)/bridges/xmpp -I$(top_srcdir)/daemon
seutudesk_xmpp_CFLAGS = $(SD_CFLAGS) $(LIBSTROPHE_CFLAGS) $(LIBCURL_CFLAGS) $(JANSSON_CFLAGS) \
	$(OPENSSL_CFLAGS)
seutudesk_xmpp_LDADD = $(LIBSTROPHE_LIBS) $(LIBCURL_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS)
dist_man_MANS += bridges/xmpp/seutudesk-xmpp.8
INTEGRATION_TESTS += tests/integration/xmpp.sh
# xb_msg's pure functions, checked without a server.
UNIT_TESTS += bridges/xmpp/test-xb-msg
bridges_xmpp_test_xb_msg_SOURCES = bridges/xmpp/test-xb-msg.c bridges/xmpp/xb_msg.c \
	bridges/xmpp/xb_msg.h daemon/xalloc.c daemon/xalloc.h tests/unit/tap.h
bridges_xmpp_test_xb_msg_CPPFLAGS = $(seutudesk_xmpp_CPPFLAGS) -I$(top_srcdir)/tests/unit
bridges_xmpp_test_xb_msg_CFLAGS = $(SD_CFLAGS) $(OPENSSL_CFLAGS)
bridges_xmpp_test_xb_msg_LDADD = $(OPENSSL_LIBS)
