#ifndef SEUTUDESK_HTML_H
#define SEUTUDESK_HTML_H
#endif
