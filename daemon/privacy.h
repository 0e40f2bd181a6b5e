/* privacy: the data subject's rights of access and erasure (GDPR articles
 * 15 and 17), by e-mail address.
 *
 * A person's data: the tickets they are the requester of or wrote through
 * a chat conversation naming them, with every message (theirs and the
 * replies), attachment, mail source, event and outbox row of those
 * tickets; their messages on other tickets; their chat conversations; the
 * mail sent to them; intake log sources and events that name the address.
 *
 * Both write an audit event (ticket NULL): privacy_export and
 * privacy_erase, with counts and ticket numbers, never the address.
 */
#ifndef SEUTUDESK_PRIVACY_H
#define SEUTUDESK_PRIVACY_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

/* Writes DIR/export.json (one object: see doc/seutudeskctl.8) and each
 * attachment and mail source as a file under DIR/files/, named in the
 * JSON; DIR is created (mode 0700) when missing.  by is the actor of the
 * audit event.  *summary_r: {"tickets", "messages", "attachments", ...}
 * counts.  False with *error_r on failure. */
bool privacy_export(PGconn *conn, const char *address, const char *dir, const char *by,
                    json_t **summary_r, char **error_r) __attribute__((warn_unused_result));

/* Removes or anonymises all of it in one transaction, unless a ticket
 * concerned is under a legal hold: then nothing changes, *held_r lists
 * the held tickets' numbers ("12, 15") and the result is false with
 * *error_r saying so.  *summary_r: the counts erased ({"tickets": [N...],
 * "messages", "attachments", "chat_conversations", "outbox",
 * "intake_log"}).  dry_run: only the counts, with "held" (the list or
 * null), nothing changed and nothing recorded. */
bool privacy_erase(PGconn *conn, const char *address, const char *by, bool dry_run,
                   json_t **summary_r, char **held_r, char **error_r)
    __attribute__((warn_unused_result));

/* Sets or clears a ticket's legal hold, with an audit event on the ticket.
 * False with *error_r when there is no such ticket. */
bool privacy_hold(PGconn *conn, long long ticket, bool on, const char *by, char **error_r)
    __attribute__((warn_unused_result));

#endif
