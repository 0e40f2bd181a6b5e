#ifndef SEUTUDESK_LANG_H
#define SEUTUDESK_LANG_H
#endif
