/* inuse.c — the set in use of the code tables and the mapping files (see inuse.h). */
#include "inuse.h"

#include <stdio.h>

/* Sets this thread tries first: one per lt_inuse (there are two). */
static _Thread_local struct {
	const struct lt_inuse *u;
	void *set;
} trying[4];

void lt_inuse_try(struct lt_inuse *u, void *set)
{
	size_t free_slot = sizeof trying / sizeof *trying;
	for (size_t i = 0; i < sizeof trying / sizeof *trying; i++) {
		if (trying[i].u == u) {
			trying[i].set = set;
			if (!set)
				trying[i].u = NULL;
			return;
		}
		if (!trying[i].u && free_slot == sizeof trying / sizeof *trying)
			free_slot = i;
	}
	if (set && free_slot < sizeof trying / sizeof *trying) {
		trying[free_slot].u = u;
		trying[free_slot].set = set;
	}
}

void *lt_inuse_get(struct lt_inuse *u)
{
	for (size_t i = 0; i < sizeof trying / sizeof *trying; i++)
		if (trying[i].u == u)
			return trying[i].set;
	void *set = atomic_load(&u->set);
	if (set)
		return set;
	pthread_mutex_lock(&u->lock);
	if (!(set = atomic_load(&u->set)) && !u->lazy_failed) {
		struct lt_buf errors = { 0 };
		if ((set = u->load_shipped(&errors))) {
			atomic_store(&u->set, set);
		} else {
			u->lazy_failed = 1;
			fprintf(stderr, "lienthong: the %s cannot be read:\n%s", u->what, errors.data ? errors.data : "");
		}
		lt_buf_free(&errors);
	}
	pthread_mutex_unlock(&u->lock);
	return set;
}

void *lt_inuse_swap(struct lt_inuse *u, void *set)
{
	pthread_mutex_lock(&u->lock);
	void *old = atomic_exchange(&u->set, set);
	pthread_mutex_unlock(&u->lock);
	return old;
}

void *lt_inuse_take(struct lt_inuse *u)
{
	pthread_mutex_lock(&u->lock);
	void *set = atomic_exchange(&u->set, NULL);
	u->lazy_failed = 0;
	pthread_mutex_unlock(&u->lock);
	return set;
}
