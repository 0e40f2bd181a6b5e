# The XMPP bridge (bridges/xmpp/).
