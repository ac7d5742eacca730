/* query_pg.c — the operator's reads (query.h) from the PostgreSQL store: a
 * connection of its own in one read-only, repeatable-read transaction (every
 * read of a view sees the same snapshot, whichever node wrote it), rows
 * streamed one at a time so that a long audit trail is never held whole. */
#include "query.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reads[LT_READ_COUNT] = {
	[LT_READ_DOSSIER] = "SELECT code, status, channel, procedure, receiving_agency, handling_agency, received_at,"
			    " due_at, resolved_at, returned_at, paused_at, apologies, last_event, updated_at"
			    " FROM dossiers WHERE code = $1",
	[LT_READ_EVENTS] = "SELECT e.seq, e.dossier_seq, e.type, e.source, e.message_id, e.received_at, e.event_id, e.body,"
			   " (SELECT a.trust FROM audit a WHERE a.message_id = e.message_id AND a.peer = e.source"
			   " AND a.direction IN ('in', 'answer') ORDER BY a.seq LIMIT 1)"
			   " FROM events e WHERE e.dossier_code = $1 ORDER BY e.seq",
	[LT_READ_DELIVERIES] = "SELECT id, event_seq, dest, state, attempts, created_at, updated_at, last_status,"
			       " last_error FROM deliveries WHERE dossier_code = $1 ORDER BY id",
	[LT_READ_ATTEMPTS_OF] = "SELECT a.delivery_id, a.n, a.at, a.duration_ms, a.status, a.outcome, a.error"
				" FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.dossier_code = $1"
				" ORDER BY a.at, a.delivery_id, a.n",
	[LT_READ_DLQ_LIST] = "SELECT d.id, d.dossier_code, e.type, d.dest, d.attempts, d.last_status, d.last_error,"
			     " e.event_id, d.created_at, d.updated_at FROM deliveries d JOIN events e ON e.seq = d.event_seq"
			     " WHERE d.state = 3 AND ($1::text IS NULL OR d.dest = $1) AND ($2::text IS NULL OR"
			     " d.dossier_code = $2) ORDER BY d.id LIMIT $3::bigint",
	[LT_READ_DLQ_ONE] = "SELECT d.state, d.dest, d.dossier_code, e.type, e.event_id, e.source, d.attempts,"
			    " d.created_at, d.updated_at, d.last_status, d.last_error, d.last_response, e.body"
			    " FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = $1::bigint",
	[LT_READ_ATTEMPTS] = "SELECT n, at, duration_ms, status, outcome, error FROM attempts"
			     " WHERE delivery_id = $1::bigint ORDER BY n",
	[LT_READ_REPORT] = "SELECT code, status, channel, receiving_agency, handling_agency, received_at, due_at,"
			   " resolved_at, returned_at, apologies,"
			   " EXISTS (SELECT 1 FROM events e WHERE e.dossier_code = x.code AND e.body LIKE '%\"previous_codes\"%')::int,"
			   " EXISTS (SELECT 1 FROM events e WHERE e.dossier_code = x.code AND e.type = 'dossier.transferred')::int,"
			   " (SELECT MIN(e.received_at) FROM events e WHERE e.dossier_code = x.code)"
			   " FROM dossiers x WHERE received_at < $2::bigint"
			   " AND NOT (resolved_at > 0 AND resolved_at < $1::bigint)"
			   " AND NOT (returned_at > 0 AND returned_at < $1::bigint) ORDER BY code",
	[LT_READ_APOLOGIES] = "SELECT dossier_code, body FROM events WHERE type = 'dossier.apology' ORDER BY seq",
	[LT_READ_REFUSALS] = "SELECT id, at, peer, message_id, status, reason, body_sha256 FROM refusals"
			     " ORDER BY id DESC LIMIT $1::bigint",
	[LT_READ_AUDIT_PRUNED] = "SELECT seq, hash, first_seq, row_count, at FROM audit_pruned ORDER BY seq",
	[LT_READ_PRUNED] = "SELECT through_seq, events, deliveries, attempts, first_at, last_at, pruned_at"
			   " FROM pruned_dossiers WHERE code = $1",
	[LT_READ_AUDIT] = "SELECT a.seq, a.at, a.direction, a.peer, a.message_id, a.body_sha256, a.sig_sha256, a.prev,"
			  " a.hash, m.digest, (m.peer IS NOT NULL)::int, a.trust FROM audit a LEFT JOIN messages m"
			  " ON a.direction = 'in' AND m.peer = a.peer AND m.message_id = a.message_id ORDER BY a.seq",
};

/* The server's first line about what failed (libpq's when there is no result). */
static int pg_err(PGconn *c, const PGresult *r, struct lt_err *err, const char *what)
{
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg || !*msg)
		msg = PQerrorMessage(c);
	return lt_err_set(err, LT_EIO, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A connection, and whether the database lacks retention's tables (made by
 * a gateway of before them, not opened by a newer one since): then nothing
 * was pruned, and the reads of them answer no rows. */
struct qpg {
	PGconn *c;
	int no_pruned;
};

static int pg_open(const char *dsn, void **out, struct lt_err *err)
{
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "10", "lienthong-query", dsn, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		pg_err(c, NULL, err, "cannot connect to the store's database");
		PQfinish(c);
		return LT_EIO;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	PGresult *r = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		pg_err(c, r, err, "starting a read");
	PQclear(r);
	if (ok) {
		r = PQexec(c, "SELECT 1 FROM events, deliveries, dossiers, audit LIMIT 0");
		if (!(ok = PQresultStatus(r) == PGRES_TUPLES_OK))
			pg_err(c, r, err, "the database has no lienthong tables (has the gateway ever run on it?)");
		PQclear(r);
	}
	int no_pruned = 0;
	if (ok) {
		r = PQexec(c, "SELECT to_regclass('audit_pruned') IS NULL OR to_regclass('pruned_dossiers') IS NULL");
		if (!(ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1))
			pg_err(c, r, err, "reading which tables the database has");
		else
			no_pruned = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
	}
	if (!ok) {
		PQfinish(c);
		return LT_EIO;
	}
	struct qpg *q = calloc(1, sizeof *q);
	q->c = c;
	q->no_pruned = no_pruned;
	*out = q;
	return LT_OK;
}

static void pg_close(void *db)
{
	struct qpg *q = db;
	PQfinish(q->c);
	free(q);
}

static int pg_run(void *db, enum lt_read read, int nargs, const char *const *args, lt_read_row *row, void *arg,
		  struct lt_err *err)
{
	struct qpg *q = db;
	PGconn *c = q->c;
	if (q->no_pruned && (read == LT_READ_AUDIT_PRUNED || read == LT_READ_PRUNED))
		return LT_OK;
	if (!PQsendQueryParams(c, reads[read], nargs, NULL, args, NULL, NULL, 0) || !PQsetSingleRowMode(c))
		return pg_err(c, NULL, err, "reading the store");
	int rc = LT_OK, stop = 0;
	PGresult *r;
	const char *vals[16];
	while ((r = PQgetResult(c))) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE && !stop && !rc) {
			int n = PQnfields(r);
			for (int i = 0; i < n && i < 16; i++)
				vals[i] = PQgetisnull(r, 0, i) ? NULL : PQgetvalue(r, 0, i);
			stop = row(arg, n, vals);
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !rc) {
			rc = pg_err(c, r, err, "reading the store");
		}
		PQclear(r);     /* a stopped read is drained to its end: the connection is reused */
	}
	return stop ? stop : rc;
}

const struct lt_query_backend lt_query_pg = {
	.scheme = "postgresql://",
	.scheme2 = "postgres://",
	.open = pg_open,
	.close = pg_close,
	.run = pg_run,
};
