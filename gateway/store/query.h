/* query.h — what an operator reads from the store: a dossier's trail, the
 * dead letters, the refused messages; the office's report and the audit
 * trail verified are query_report.h and query_audit.h. The same code answers
 * the admin API (on its query thread, beside the running gateway) and the CLI
 * (with the gateway stopped too), on SQLite and PostgreSQL alike: each answer
 * is one JSON document, which the API sends as it is and the CLI prints for
 * people.
 *
 * A view opens its own read-only connection (query_sqlite.c, query_pg.c):
 * it never writes, never waits for the store thread's group commit, and
 * reads what was committed when each query began. */
#ifndef LT_QUERY_H
#define LT_QUERY_H

#include <jansson.h>
#include <stdint.h>
#include "lt.h"

struct lt_config;
struct lt_query;

/* Open a read-only view of the store named by a config DSN ("sqlite:PATH",
 * "postgresql://…"). A SQLite file that does not exist is refused (never
 * created); so is a database without lienthong's tables. */
int lt_query_open(const char *dsn, struct lt_query **out, struct lt_err *err);
void lt_query_close(struct lt_query *q);

/* Agency names (the config's [agencies] table, else the names events
 * carried) and the gateway's routes, for the documents below. NULL cfg =
 * codes only. Borrowed: it must outlive the view. */
void lt_query_set_config(struct lt_query *q, const struct lt_config *cfg);

/* A dossier's journey: its state, every event (when it happened, when it
 * reached the gateway, who sent it, what vouched for it, the unit codes it
 * came under) with each delivery (to whom, its state, when it was delivered
 * and the hop's delay), every event and attempt in time order, the agencies
 * that held it and for how long, the one holding it now, and — when it went
 * past a due date — which agency held it then. LT_ENOTFOUND when the store
 * has no such dossier. */
int lt_query_trail(struct lt_query *q, const char *code, int64_t now_ms, json_t **out, struct lt_err *err);

/* Dead letters, oldest first: {dead_letters: [...], count, more}. dest and
 * dossier_code filter (NULL = any); at most `limit`. */
int lt_query_dlq_list(struct lt_query *q, const char *dest, const char *dossier_code, int limit, json_t **out,
		      struct lt_err *err);
/* One dead letter whole: the event, every attempt, the peer's last answer.
 * LT_ENOTFOUND: no such delivery; LT_ECONFLICT: it is not dead (err says
 * what it is). */
int lt_query_dlq_show(struct lt_query *q, int64_t id, json_t **out, struct lt_err *err);

/* Signed messages (and peers' answers) the gateway refused, newest first. */
int lt_query_refusals(struct lt_query *q, int limit, json_t **out, struct lt_err *err);

/* ---- the backends' contract (query_sqlite.c, query_pg.c) ----
 * A backend runs the numbered reads below with text parameters and hands
 * each row to a callback as text (NULL for SQL NULL); query.c (query_int.h)
 * does the rest. */
enum lt_read {
	LT_READ_DOSSIER,        /* code */
	LT_READ_EVENTS,         /* dossier code */
	LT_READ_DELIVERIES,     /* dossier code */
	LT_READ_ATTEMPTS_OF,    /* dossier code */
	LT_READ_DLQ_LIST,       /* dest or NULL, dossier or NULL, limit */
	LT_READ_DLQ_ONE,        /* delivery id */
	LT_READ_ATTEMPTS,       /* delivery id */
	LT_READ_REPORT,         /* from, to */
	LT_READ_APOLOGIES,      /* to */
	LT_READ_REFUSALS,       /* limit */
	LT_READ_AUDIT,
	LT_READ_AUDIT_PRUNED,   /* the audit trail's checkpoints (retention) */
	LT_READ_PRUNED,         /* dossier code: what retention pruned of it */
	LT_READ_COUNT
};

/* 0 to go on; nonzero stops the read and is returned by run(). */
typedef int lt_read_row(void *arg, int ncols, const char *const *vals);

struct lt_query_backend {
	const char *scheme, *scheme2;   /* a DSN starting with either is this backend's */
	int (*open)(const char *dsn, void **db, struct lt_err *err);
	void (*close)(void *db);
	int (*run)(void *db, enum lt_read read, int nargs, const char *const *args, lt_read_row *row, void *arg,
		   struct lt_err *err);
};

extern const struct lt_query_backend lt_query_sqlite;
extern const struct lt_query_backend lt_query_pg;

#endif
