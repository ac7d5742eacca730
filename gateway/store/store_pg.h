/* store_pg.h — what the PostgreSQL store's three files share: the
 * statements by number (store_pg_sql.c), the connection and its helpers
 * (store_pg_conn.c), for the ops (store_pg.c). Internal to that backend. */
#ifndef LT_STORE_PG_H
#define LT_STORE_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include "store_int.h"

enum {
	Q_MSG_GET, Q_MSG_PUT, Q_MSG_BY_SIGNED_DIGEST, Q_MSG_BY_SIGNED_ID, Q_JOURNAL_LOCK, Q_DOSSIER_SEQ, Q_EVENT_PUT, Q_CHAIN_BUSY, Q_DELIVERY_PUT,
	Q_READY, Q_MARK_INFLIGHT, Q_NEXT_DUE, Q_ATTEMPT_PUT, Q_DONE, Q_RETRY, Q_PROMOTE, Q_STATS, Q_COUNTS,
	Q_REFUSAL, Q_CURSOR_GET, Q_CURSOR_PUT, Q_DOSSIER_GET, Q_DOSSIER_PUT, Q_DOSSIER_EVENTS, Q_OVERDUE, Q_UNCLAIM, Q_UNCLAIM_DEST,
	Q_DLQ_FIND, Q_DLQ_REPLAY, Q_DLQ_PURGE_ATTEMPTS, Q_DLQ_PURGE, Q_AUDIT_LAST, Q_AUDIT_PUT, Q_DELIVERY_EVENT,
	Q_RECOVER, Q_RENEW, Q_BACKLOG, Q_PING,
	Q_COUNT
};

/* The tables and indexes, created on a node's first open (one transaction,
 * under an advisory lock, so that nodes starting together do not collide). */
extern const char *const lt_pg_schema_sql;
/* Each statement's text, prepared once per connection under the name "ltN". */
extern const char *const lt_pg_sql[Q_COUNT];

/* One node's connection; used by its store thread only. */
struct lt_pg {
	const struct lt_calendar *cal;
	char *dsn;
	char *node;
	int64_t lease_ms;
	PGconn *conn;           /* NULL while detached after a failure */
	int64_t renewed_ms;     /* monotonic time of the last lease renewal; 0 = due */
	int locked;             /* this transaction holds the journal lock */
	char audit_last[65];    /* the audit trail's last hash while locked, "" = read it */
	char sqlstate[6];       /* of the last failed statement */
};

/* One statement's parameters, every value as text (NULL = SQL NULL). At most
 * LT_PG_ARGS_MAX (the widest: Q_DOSSIER_PUT, 17). */
#define LT_PG_ARGS_MAX 24
struct lt_pg_args {
	const char *v[LT_PG_ARGS_MAX];
	char num[LT_PG_ARGS_MAX][24];
	int n;
};

static inline void a_str(struct lt_pg_args *a, const char *s)
{
	a->v[a->n++] = s;
}

static inline void a_int(struct lt_pg_args *a, int64_t x)
{
	snprintf(a->num[a->n], sizeof a->num[a->n], "%lld", (long long)x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

/* An HTTP status, NULL when there was none (0). */
static inline void a_status(struct lt_pg_args *a, long status)
{
	if (status)
		a_int(a, status);
	else
		a_str(a, NULL);
}

/* Run prepared statement id: its result (PQclear it), or NULL with err set
 * to what failed in the server's words, and p->sqlstate to its code. */
PGresult *lt_pg_run(struct lt_pg *p, int id, const struct lt_pg_args *a, struct lt_err *err, const char *what);
/* Run a statement for its effect: 0, or LT_EIO; *changed = rows changed when asked. */
int lt_pg_exec(struct lt_pg *p, int id, const struct lt_pg_args *a, struct lt_err *err, const char *what,
	       int *changed);
/* An integer column; 0 for NULL. */
int64_t lt_pg_col(const PGresult *r, int row, int col);
/* Take the journal lock, held until the transaction ends: an op that appends
 * to the audit trail or adds to or advances a dossier's chain calls it first. */
int lt_pg_lock_journal(struct lt_pg *p, struct lt_err *err);

/* The backend's life cycle and transactions (struct lt_store_backend). */
int lt_pg_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node, void **out,
	       struct lt_err *err);
void lt_pg_close(void *db);
void lt_pg_detach(void *db);
int lt_pg_recover(void *db, int64_t *backlog, struct lt_err *err);
int lt_pg_count_backlog(void *db, int64_t *backlog, struct lt_err *err);
int lt_pg_begin(void *db, struct lt_err *err);
int lt_pg_commit(void *db, struct lt_err *err);
void lt_pg_rollback(void *db);
int lt_pg_savepoint(void *db);
void lt_pg_release(void *db, int ok);
int lt_pg_tick(void *db, struct lt_err *err);

#endif
