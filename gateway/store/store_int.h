/* store_int.h — the store backends' contract, apart from the callers' API
 * (store.h): what a database must provide to store.c's thread and group
 * commit, and the helpers they share. Included by store.c, the backends
 * (store_sqlite.c, store_pg*.c) and tests that wrap a backend; nothing
 * else. A backend knows ops and rows only: no routing, no adapters. */
#ifndef LT_STORE_INT_H
#define LT_STORE_INT_H

#include "store.h"

struct lt_dossier;

/* A backend: one constant table per database (store_sqlite.c, store_pg.c). */
struct lt_store_backend {
	const char *scheme;             /* "sqlite:"; a DSN starting with it is this backend's */
	const char *scheme2;            /* another prefix it takes, or NULL */
	int (*open)(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node, void **db,
		    struct lt_err *err);
	void (*close)(void *db);
	void (*detach)(void *db);       /* let go of the files after a failure; begin reattaches */
	int (*recover)(void *db, int64_t *backlog, struct lt_err *err);
	int (*count_backlog)(void *db, int64_t *backlog, struct lt_err *err);
	int (*begin)(void *db, struct lt_err *err);
	/* Optional: right after begin, take the locks the batch's ops will
	 * take (PostgreSQL's journal lock), so that no transaction waits for
	 * one while it holds rows. */
	int (*lock_batch)(void *db, const struct lt_store_op *batch, struct lt_err *err);
	/* Optional: whether the last failure was the database ending this
	 * transaction to resolve a conflict with another writer: "deadlock",
	 * "serialization", or NULL. The batch is then run again at once. */
	const char *(*conflict)(void *db);
	int (*commit)(void *db, struct lt_err *err);
	/* Optional, all three or none (a pipelined group commit): commit_lazy
	 * ends the transaction without making it durable, sync makes every
	 * commit ended before it durable, checkpoint(db, 1, err) does between
	 * batches what the backend must (SQLite: copy the log into the
	 * database) when checkpoint(db, 0, NULL) says it is due (1). store.c
	 * runs sync on its sync thread while the store thread runs the next
	 * batch, and answers a batch's ops only once a sync covered it; sync
	 * never runs at the same time as detach, checkpoint or close. */
	int (*commit_lazy)(void *db, struct lt_err *err);
	int (*sync)(void *db, struct lt_err *err);
	int (*checkpoint)(void *db, int run, struct lt_err *err);
	void (*rollback)(void *db);
	int (*savepoint)(void *db);
	void (*release)(void *db, int ok);
	int (*ingest)(void *db, struct lt_ingest *op);
	int (*claim)(void *db, struct lt_claim *op);
	int (*finish)(void *db, struct lt_finish *op);
	int (*stats)(void *db, struct lt_stats *op);
	int (*refusal)(void *db, struct lt_refusal *op);
	int (*cursor)(void *db, struct lt_cursor *op);
	int (*overdue)(void *db, struct lt_overdue *op);
	int (*unclaim)(void *db, struct lt_release *op);
	int (*dlq)(void *db, struct lt_dlq *op);
	/* A dossier's events as stored (their bodies, oldest first; at most
	 * the last 1000), appended to out: for deliverable.h, rarely. */
	int (*dossier_events)(void *db, const char *code, json_t *out, struct lt_err *err);
	/* Optional: run by the store thread after a second without ops (renew
	 * this node's leases, notice a database that went away or came back);
	 * nonzero means the store is unavailable. */
	int (*tick)(void *db, struct lt_err *err);
	int (*prune)(void *db, struct lt_prune *op);
	int shared;                     /* other processes write the same database: the backlog
					 * is counted again at least once a second */
};

extern const struct lt_store_backend lt_store_sqlite;
extern const struct lt_store_backend lt_store_pg;

/* For a backend's stats op: one (destination, state) row of the counts. */
void lt_stats_add(struct lt_stats *op, const char *dest, int state, int64_t n, int64_t oldest_created_ms);

/* For a backend's overdue sweep: the dossier.overdue events of those of
 * `codes` overdue now, each dossier read with get(db, ...), stamped and
 * routed by op->stamp, into op->events/routes. */
struct lt_dossier;
typedef int lt_store_dossier_get(void *db, const char *code, struct lt_dossier *d, struct lt_err *err);
int lt_store_overdue_build(struct lt_overdue *op, json_t *codes, lt_store_dossier_get *get, void *db,
			   struct lt_err *err);

/* lt_store_open with a given backend (tests wrap one to inject faults). */
int lt_store_open_backend(const struct lt_store_backend *be, const char *dsn, const struct lt_calendar *cal,
			  const struct lt_store_node *node, struct event_base *base, struct lt_store **out,
			  struct lt_err *err);

/* For a backend's prune op (store_prune.c): run `sql` (written once for
 * both databases: parameters $1.., values as text, casts spelled CAST) with
 * its arguments, each result row to `row` (nonzero stops), the rows changed
 * to *changed when asked. 0, or LT_EIO with err saying what failed. */
typedef int lt_store_row_fn(void *arg, int ncols, const char *const *v);
typedef int lt_store_sql_fn(void *db, const char *sql, int nargs, const char *const *args, lt_store_row_fn *row,
			    void *arg, int64_t *changed, struct lt_err *err);
/* The retention batch on a backend's connection, inside the op's savepoint. */
int lt_store_prune_run(struct lt_prune *op, lt_store_sql_fn *sql, void *db);

/* The outcome of an attempt as the attempts table writes it. */
static inline const char *lt_finish_outcome(const struct lt_finish *f)
{
	return f->next == LT_DS_DONE ? "done" : f->next == LT_DS_PENDING ? "retry" : "dead";
}

#endif
