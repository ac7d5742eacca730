/* inuse.h — "the set in use" of data loaded at start and swapped by a reload (the code
 * tables, the mapping files): one atomic pointer read by every lookup on any thread, a
 * lock for the swap and for loading the shipped set when a lookup finds none (a unit
 * test, a tool), and a set that one thread tries before it is shared (a reload checks
 * the new mapping files against the new code tables on a worker while lookups elsewhere
 * go on with the old ones). */
#ifndef LT_INUSE_H
#define LT_INUSE_H

#include <pthread.h>
#include <stdatomic.h>
#include "lt.h"

struct lt_inuse {
	const char *what;                       /* "code tables": said when the shipped set cannot be read */
	void *(*load_shipped)(struct lt_buf *errors);   /* the shipped set, or NULL with errors */
	_Atomic(void *) set;
	pthread_mutex_t lock;
	int lazy_failed;
};

#define LT_INUSE_INIT(what, load) { (what), (load), NULL, PTHREAD_MUTEX_INITIALIZER, 0 }

/* The set lookups on this thread use: the one it tries (lt_inuse_try), else the one in
 * use, else the shipped set (loaded then, once; NULL when it cannot be read). */
void *lt_inuse_get(struct lt_inuse *u);
/* Make set the one in use; returns the set it replaces, which the caller keeps allocated
 * until shutdown (a lookup on another thread may still read it). Any thread. */
void *lt_inuse_swap(struct lt_inuse *u, void *set);
/* Stop using any set; returns the one that was in use (the caller frees it). */
void *lt_inuse_take(struct lt_inuse *u);
/* This thread's lookups use set until lt_inuse_try(u, NULL); no other thread sees it. */
void lt_inuse_try(struct lt_inuse *u, void *set);

#endif
