/* fileio: reading a whole file into memory, bounded. */
#ifndef SEUTUDESK_FILEIO_H
#define SEUTUDESK_FILEIO_H

#include <stddef.h>

/* Reads the regular file at path, at most max bytes, into *data_r (malloc'd,
 * with a NUL after the *len_r bytes read).  Returns 0, or an errno value:
 * the open's or read's, EINVAL for something that is not a regular file,
 * EFBIG for a file over max. */
int fileio_read(const char *path, size_t max, char **data_r, size_t *len_r)
    __attribute__((warn_unused_result));

#endif
