# The web chat bridge (bridges/webchat/).
