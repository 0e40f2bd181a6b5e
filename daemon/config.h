#ifndef SEUTUDESK_CONFIG_H
#define SEUTUDESK_CONFIG_H
const char *config_default_path(void);
#endif
