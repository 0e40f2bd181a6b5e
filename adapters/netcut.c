/* netcut: see netcut.h. */
#include "netcut.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct netcut {
	pthread_mutex_t lock;
	int fd;      /* our duplicate of the owner's socket; -1: none */
	bool cut;    /* netcut_cut() was called */
	bool fd_cut; /* fd was shut down */
	atomic_bool requested;
};

struct netcut *netcut_new(void)
{
	struct netcut *nc = calloc(1, sizeof(*nc));

	if (nc == NULL)
		return NULL;
	pthread_mutex_init(&nc->lock, NULL);
	nc->fd = -1;
	atomic_init(&nc->requested, false);
	return nc;
}

static void drop_fd(struct netcut *nc)
{
	if (nc->fd >= 0)
		close(nc->fd);
	nc->fd = -1;
	nc->fd_cut = false;
}

void netcut_free(struct netcut **ncp)
{
	struct netcut *nc = *ncp;

	if (nc == NULL)
		return;
	drop_fd(nc);
	pthread_mutex_destroy(&nc->lock);
	free(nc);
	*ncp = NULL;
}

/* Under lock. */
static void cut_fd(struct netcut *nc)
{
	if (nc->fd >= 0 && !nc->fd_cut) {
		(void)shutdown(nc->fd, SHUT_RDWR);
		nc->fd_cut = true;
	}
}

bool netcut_attach(struct netcut *nc, int fd)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	pthread_mutex_lock(&nc->lock);
	drop_fd(nc);
	nc->fd = dup_fd;
	if (nc->cut)
		cut_fd(nc);
	pthread_mutex_unlock(&nc->lock);
	return dup_fd >= 0;
}

void netcut_detach(struct netcut *nc)
{
	pthread_mutex_lock(&nc->lock);
	drop_fd(nc);
	pthread_mutex_unlock(&nc->lock);
}

void netcut_request(struct netcut *nc) { atomic_store(&nc->requested, true); }

void netcut_cut(struct netcut *nc)
{
	pthread_mutex_lock(&nc->lock);
	atomic_store(&nc->requested, true);
	nc->cut = true;
	cut_fd(nc);
	pthread_mutex_unlock(&nc->lock);
}

bool netcut_requested(const struct netcut *nc) { return atomic_load(&nc->requested); }

/* ---- capture --------------------------------------------------------- */

static _Thread_local struct netcut *capturing;

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
static connect_fn real_connect;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real_connect(void)
{
	void *sym = dlsym(RTLD_NEXT, "connect");

	/* POSIX guarantees a function pointer survives this conversion. */
	memcpy(&real_connect, &sym, sizeof(real_connect));
}

void netcut_capture(struct netcut *nc) { capturing = nc; }

/* Declared in <sys/socket.h>; this definition comes before the C
 * library's, for every caller in the process. */
int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	pthread_once(&real_once, find_real_connect);
	if (capturing != NULL)
		(void)netcut_attach(capturing, fd);
	if (real_connect == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real_connect(fd, addr, len);
}
