/* query_sqlite.c — the operator's reads (query.h) from a SQLite store: a
 * read-only connection of its own. In WAL mode it reads beside the running
 * gateway's writer without blocking it, each read seeing one commit. */
#include "query.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What vouched for an event: the audit row of the message, page or answer it came in
 * (TRUST is "a.trust", or "''" for a store written before audit rows had it). */
#define EVENTS_SQL(TRUST) \
	"SELECT e.seq, e.dossier_seq, e.type, e.source, e.message_id, e.received_at, e.event_id, e.body," \
	" (SELECT " TRUST " FROM audit a WHERE a.message_id = e.message_id AND a.peer = e.source" \
	" AND a.direction IN ('in', 'answer') ORDER BY a.seq LIMIT 1)" \
	" FROM events e WHERE e.dossier_code = ?1 ORDER BY e.seq"
#define AUDIT_SQL(TRUST) \
	"SELECT a.seq, a.at, a.direction, a.peer, a.message_id, a.body_sha256, a.sig_sha256, a.prev, a.hash," \
	" m.digest, m.peer IS NOT NULL, " TRUST " FROM audit a LEFT JOIN messages m ON a.direction = 'in'" \
	" AND m.peer = a.peer AND m.message_id = a.message_id ORDER BY a.seq"

static const char *const reads[LT_READ_COUNT] = {
	[LT_READ_DOSSIER] = "SELECT code, status, channel, procedure, receiving_agency, handling_agency, received_at,"
			    " due_at, resolved_at, returned_at, paused_at, apologies, last_event, updated_at"
			    " FROM dossiers WHERE code = ?1",
	[LT_READ_EVENTS] = EVENTS_SQL("a.trust"),
	[LT_READ_DELIVERIES] = "SELECT id, event_seq, dest, state, attempts, created_at, updated_at, last_status,"
			       " last_error FROM deliveries WHERE dossier_code = ?1 ORDER BY id",
	[LT_READ_ATTEMPTS_OF] = "SELECT a.delivery_id, a.n, a.at, a.duration_ms, a.status, a.outcome, a.error"
				" FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.dossier_code = ?1"
				" ORDER BY a.at, a.delivery_id, a.n",
	[LT_READ_DLQ_LIST] = "SELECT d.id, d.dossier_code, e.type, d.dest, d.attempts, d.last_status, d.last_error,"
			     " e.event_id, d.created_at, d.updated_at FROM deliveries d JOIN events e ON e.seq = d.event_seq"
			     " WHERE d.state = 3 AND (?1 IS NULL OR d.dest = ?1) AND (?2 IS NULL OR d.dossier_code = ?2)"
			     " ORDER BY d.id LIMIT CAST(?3 AS INTEGER)",
	[LT_READ_DLQ_ONE] = "SELECT d.state, d.dest, d.dossier_code, e.type, e.event_id, e.source, d.attempts,"
			    " d.created_at, d.updated_at, d.last_status, d.last_error, d.last_response, e.body"
			    " FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = CAST(?1 AS INTEGER)",
	[LT_READ_ATTEMPTS] = "SELECT n, at, duration_ms, status, outcome, error FROM attempts"
			     " WHERE delivery_id = CAST(?1 AS INTEGER) ORDER BY n",
	/* every dossier that may count in [?1, ?2): not closed before it, not received after it */
	[LT_READ_REPORT] = "SELECT code, status, channel, receiving_agency, handling_agency, received_at, due_at,"
			   " resolved_at, returned_at, apologies,"
			   " EXISTS (SELECT 1 FROM events e WHERE e.dossier_code = x.code AND e.body LIKE '%\"previous_codes\"%'),"
			   " EXISTS (SELECT 1 FROM events e WHERE e.dossier_code = x.code AND e.type = 'dossier.transferred'),"
			   " (SELECT MIN(e.received_at) FROM events e WHERE e.dossier_code = x.code)"
			   " FROM dossiers x WHERE received_at < CAST(?2 AS INTEGER)"
			   " AND NOT (resolved_at > 0 AND resolved_at < CAST(?1 AS INTEGER))"
			   " AND NOT (returned_at > 0 AND returned_at < CAST(?1 AS INTEGER)) ORDER BY code",
	[LT_READ_APOLOGIES] = "SELECT dossier_code, body FROM events WHERE type = 'dossier.apology' ORDER BY seq",
	[LT_READ_REFUSALS] = "SELECT id, at, peer, message_id, status, reason, body_sha256 FROM refusals"
			     " ORDER BY id DESC LIMIT CAST(?1 AS INTEGER)",
	[LT_READ_AUDIT_PRUNED] = "SELECT seq, hash, first_seq, row_count, at FROM audit_pruned ORDER BY seq",
	[LT_READ_PRUNED] = "SELECT through_seq, events, deliveries, attempts, first_at, last_at, pruned_at"
			   " FROM pruned_dossiers WHERE code = ?1",
	[LT_READ_AUDIT] = AUDIT_SQL("a.trust"),
};

struct qsq {
	sqlite3 *db;
	int old_audit;          /* the audit table has no trust column (a store from before it) */
	int no_pruned;          /* no retention tables (a store from before them): nothing pruned */
};

static int sq_open(const char *dsn, void **out, struct lt_err *err)
{
	const char *path = dsn + strlen("sqlite:");
	struct qsq *q = calloc(1, sizeof *q);
	if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY, NULL)) {
		lt_err_set(err, LT_EIO, "cannot open the store %s: %s", path, sqlite3_errmsg(q->db));
		sqlite3_close(q->db);
		free(q);
		return LT_EIO;
	}
	sqlite3_busy_timeout(q->db, 5000);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(q->db, "SELECT 1 FROM events, deliveries, dossiers, audit LIMIT 0", -1, &s, NULL)) {
		lt_err_set(err, LT_EIO, "the store %s has no lienthong tables (%s): has the gateway ever run on it?", path,
			   sqlite3_errmsg(q->db));
		sqlite3_close(q->db);
		free(q);
		return LT_EIO;
	}
	sqlite3_finalize(s);
	q->old_audit = sqlite3_prepare_v2(q->db, "SELECT trust FROM audit LIMIT 0", -1, &s, NULL) != SQLITE_OK;
	sqlite3_finalize(s);
	q->no_pruned = sqlite3_prepare_v2(q->db, "SELECT 1 FROM audit_pruned, pruned_dossiers LIMIT 0", -1, &s, NULL) !=
		       SQLITE_OK;
	sqlite3_finalize(s);
	/* every read of this view sees the same commit (the first read's); close ends it */
	sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL);
	*out = q;
	return LT_OK;
}

static void sq_close(void *db)
{
	struct qsq *q = db;
	if (!q)
		return;
	sqlite3_close(q->db);
	free(q);
}

static int sq_run(void *db, enum lt_read read, int nargs, const char *const *args, lt_read_row *row, void *arg,
		  struct lt_err *err)
{
	struct qsq *q = db;
	const char *sql = reads[read];
	if (q->old_audit && read == LT_READ_EVENTS)
		sql = EVENTS_SQL("''");
	else if (q->old_audit && read == LT_READ_AUDIT)
		sql = AUDIT_SQL("''");
	if (q->no_pruned && (read == LT_READ_AUDIT_PRUNED || read == LT_READ_PRUNED))
		return LT_OK;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(q->db, sql, -1, &s, NULL))
		return lt_err_set(err, LT_EIO, "reading the store: %s", sqlite3_errmsg(q->db));
	for (int i = 0; i < nargs; i++)
		if (args[i])
			sqlite3_bind_text(s, i + 1, args[i], -1, SQLITE_STATIC);
	int ncols = sqlite3_column_count(s), rc, stop = 0;
	const char *vals[16];
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < ncols && i < 16; i++)
			vals[i] = (const char *)sqlite3_column_text(s, i);
		stop = row(arg, ncols, vals);
	}
	if (!stop && rc != SQLITE_DONE)
		lt_err_set(err, LT_EIO, "reading the store: %s", sqlite3_errmsg(q->db));
	sqlite3_finalize(s);
	return stop ? stop : rc == SQLITE_DONE ? LT_OK : LT_EIO;
}

const struct lt_query_backend lt_query_sqlite = {
	.scheme = "sqlite:",
	.open = sq_open,
	.close = sq_close,
	.run = sq_run,
};
