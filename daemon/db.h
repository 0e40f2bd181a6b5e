#ifndef SEUTUDESK_DB_H
#define SEUTUDESK_DB_H
#endif
