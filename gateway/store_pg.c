/* store_pg.c — the shared store: one PostgreSQL database for several
 * gateway nodes, used only by each node's store thread.
 *
 * The same tables and the same semantics as store_sqlite.c, plus what
 * several writers need:
 * - claims take ready rows with FOR UPDATE SKIP LOCKED and give each a
 *   lease (`lease_until`, the database's clock) and the claiming `node`;
 *   a node renews its leases while it lives, so a dead node's deliveries
 *   come back to the queue when their lease runs out, and any node takes them;
 * - every op that adds to a dossier's chain or advances it (intake, carried
 *   events, outcomes, the SLA sweep, dead-letter replay) first takes the
 *   dossier's advisory lock, so chains change one transaction at a time as
 *   under SQLite's single writer; a unique index on the chain's head
 *   (state 0 or 1) makes "one delivery of a dossier in flight per
 *   destination" a constraint of the database as well;
 * - a message id stored by another node at the same moment is read back as a
 *   duplicate (or a conflict) instead of failing. */
#include "store.h"
#include "adapter.h"
#include "gateway.h"
#include "sla.h"
#include "store_pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg {
	const struct lt_calendar *cal;
	char *dsn;
	char *node;
	int64_t lease_ms;
	PGconn *conn;           /* NULL while detached after a failure */
	int64_t renewed_ms;     /* monotonic time of the last lease renewal; 0 = due */
	char sqlstate[6];       /* of the last failed statement */
};

/* One statement's parameters, every value as text (NULL = SQL NULL). */
struct args {
	const char *v[16];
	char num[16][24];
	int n;
};

static void a_str(struct args *a, const char *s)
{
	a->v[a->n++] = s;
}

static void a_int(struct args *a, int64_t x)
{
	snprintf(a->num[a->n], sizeof a->num[a->n], "%lld", (long long)x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

/* An error naming what failed and the server's (or libpq's) own words. */
static int pg_fail(struct pg *p, struct lt_err *err, const char *what, const PGresult *r)
{
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg || !*msg)
		msg = p->conn ? PQerrorMessage(p->conn) : "not connected to the database";
	int len = (int)strcspn(msg, "\n");
	return lt_err_set(err, LT_EIO, "store: %s: %.*s", what, len, msg);
}

/* Run prepared statement id: its result (PQclear it), or NULL with err set. */
static PGresult *run(struct pg *p, int id, const struct args *a, struct lt_err *err, const char *what)
{
	char name[16];
	snprintf(name, sizeof name, "lt%d", id);
	PGresult *r = p->conn ? PQexecPrepared(p->conn, name, a ? a->n : 0, a ? a->v : NULL, NULL, NULL, 0) : NULL;
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(p->sqlstate, sizeof p->sqlstate, "%s", code ? code : "");
	pg_fail(p, err, what, r);
	PQclear(r);
	return NULL;
}

/* Run a statement for its effect: 0, or LT_EIO; *changed = rows changed when asked. */
static int exec_q(struct pg *p, int id, const struct args *a, struct lt_err *err, const char *what, int *changed)
{
	PGresult *r = run(p, id, a, err, what);
	if (!r)
		return LT_EIO;
	if (changed)
		*changed = atoi(PQcmdTuples(r));
	PQclear(r);
	return LT_OK;
}

/* A constant command without parameters (BEGIN, SAVEPOINT…). */
static int cmd(struct pg *p, const char *text, struct lt_err *err)
{
	PGresult *r = p->conn ? PQexec(p->conn, text) : NULL;
	int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok && err)
		pg_fail(p, err, text, r);
	PQclear(r);
	return ok ? LT_OK : LT_EIO;
}

static int64_t col_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void copy_col(char *dst, size_t n, const PGresult *r, int row, int col)
{
	snprintf(dst, n, "%s", PQgetvalue(r, row, col));
}

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;          /* "relation already exists, skipping" and the like */
}

static void pg_detach(void *db)
{
	struct pg *p = db;
	PQfinish(p->conn);
	p->conn = NULL;
	p->renewed_ms = 0;
}

static void pg_close(void *db)
{
	struct pg *p = db;
	if (!p)
		return;
	pg_detach(p);
	free(p->dsn);
	free(p->node);
	free(p);
}

/* Connect and prepare every statement. The first open creates the tables; a
 * reconnect after a failure creates nothing, so that an empty database put
 * in the place of the real one is refused, not filled. */
static int pg_connect(struct pg *p, int create, struct lt_err *err)
{
	/* connect_timeout first: the DSN may set its own */
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "10", "lienthong", p->dsn, NULL };
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_fail(p, err, "cannot connect to the database", NULL);
		pg_detach(p);
		return LT_EIO;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	/* 202 means durable: a server whose default is not to wait for the flush waits for ours */
	PGresult *r = PQexec(p->conn, "SELECT set_config('synchronous_commit', 'on', false)"
				      " WHERE current_setting('synchronous_commit') = 'off'");
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		pg_fail(p, err, "setting synchronous_commit", r);
	PQclear(r);
	if (ok && create) {
		r = PQexec(p->conn, lt_pg_schema_sql);
		if (!(ok = PQresultStatus(r) == PGRES_COMMAND_OK))
			pg_fail(p, err, "creating tables", r);
		PQclear(r);
	}
	for (int i = 0; ok && i < Q_COUNT; i++) {
		char name[16];
		snprintf(name, sizeof name, "lt%d", i);
		r = PQprepare(p->conn, name, lt_pg_sql[i], 0, NULL);
		if (!(ok = PQresultStatus(r) == PGRES_COMMAND_OK))
			pg_fail(p, err, "preparing statements (are the tables there?)", r);
		PQclear(r);
	}
	if (!ok) {
		pg_detach(p);
		return LT_EIO;
	}
	return LT_OK;
}

/* Connected, or connected again when the server dropped us (it restarted). */
static int reconnect_if_dropped(struct pg *p, struct lt_err *err)
{
	if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
		return LT_OK;
	pg_detach(p);
	return pg_connect(p, 0, err);
}

static int pg_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node, void **out,
		   struct lt_err *err)
{
	*out = NULL;
	struct pg *p = calloc(1, sizeof *p);
	p->cal = cal;
	p->dsn = strdup(dsn);
	p->node = strdup(node->id);
	p->lease_ms = node->lease_ms;
	if (pg_connect(p, 1, err)) {
		pg_close(p);
		return LT_EIO;
	}
	*out = p;
	return LT_OK;
}

static int pg_count_backlog(void *db, int64_t *backlog, struct lt_err *err)
{
	struct pg *p = db;
	PGresult *r = run(p, Q_BACKLOG, NULL, err, "counting unfinished deliveries");
	if (!r)
		return LT_EIO;
	*backlog = col_int(r, 0, 0);
	PQclear(r);
	return LT_OK;
}

/* A previous run of this node may have died with deliveries in flight, and
 * another node may have died leaving leases that ran out: back to the queue,
 * to be sent again with the same message id. Another live node's are kept. */
static int pg_recover(void *db, int64_t *backlog, struct lt_err *err)
{
	struct pg *p = db;
	struct args a = { 0 };
	a_str(&a, p->node);
	if (exec_q(p, Q_RECOVER, &a, err, "recovering in-flight deliveries", NULL))
		return LT_EIO;
	return pg_count_backlog(db, backlog, err);
}

/* This node's claims hold while it lives: renewed every quarter lease. */
static int renew_due(const struct pg *p)
{
	return !p->renewed_ms || lt_mono_ms() - p->renewed_ms >= p->lease_ms / 4;
}

static int renew(struct pg *p, struct lt_err *err)
{
	struct args a = { 0 };
	a_str(&a, p->node);
	a_int(&a, p->lease_ms);
	if (exec_q(p, Q_RENEW, &a, err, "renewing this node's leases", NULL))
		return LT_EIO;
	p->renewed_ms = lt_mono_ms();
	return LT_OK;
}

static int pg_tick(void *db, struct lt_err *err)
{
	struct pg *p = db;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (reconnect_if_dropped(p, err))
			return LT_EIO;
		if ((renew_due(p) ? renew(p, err) : exec_q(p, Q_PING, NULL, err, "asking the database", NULL)) == LT_OK)
			return LT_OK;
	}
	return LT_EIO;
}

static int pg_begin(void *db, struct lt_err *err)
{
	struct pg *p = db;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* a connection the server dropped is found dead here, before any op ran on it */
		if (reconnect_if_dropped(p, err))
			return LT_EIO;
		if ((!renew_due(p) || renew(p, err) == LT_OK) && cmd(p, "BEGIN", err) == LT_OK)
			return LT_OK;
	}
	return LT_EIO;
}

static int pg_commit(void *db, struct lt_err *err)
{
	struct pg *p = db;
	PGresult *r = p->conn ? PQexec(p->conn, "COMMIT") : NULL;
	/* COMMIT of a transaction in error answers ROLLBACK, not an error */
	int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
	if (!ok && r && PQresultStatus(r) == PGRES_COMMAND_OK)
		lt_err_set(err, LT_EIO, "store: commit: the database rolled the transaction back");
	else if (!ok)
		pg_fail(p, err, "commit", r);
	PQclear(r);
	return ok ? LT_OK : LT_EIO;
}

static void pg_rollback(void *db)
{
	struct pg *p = db;
	if (p->conn && PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		cmd(p, "ROLLBACK", NULL);
}

static int pg_savepoint(void *db)
{
	return cmd(db, "SAVEPOINT op", NULL);
}

static void pg_release(void *db, int ok)
{
	if (!ok)
		cmd(db, "ROLLBACK TO SAVEPOINT op", NULL);
	cmd(db, "RELEASE SAVEPOINT op", NULL);
}

/* Take the dossier's lock for the rest of the transaction. */
static int lock_dossier(struct pg *p, const char *code, struct lt_err *err)
{
	struct args a = { 0 };
	a_str(&a, code);
	return exec_q(p, Q_LOCK, &a, err, "locking the dossier", NULL);
}

static int dossier_get(struct pg *p, const char *code, struct lt_dossier *d, struct lt_err *err)
{
	memset(d, 0, sizeof *d);
	snprintf(d->code, sizeof d->code, "%s", code);
	struct args a = { 0 };
	a_str(&a, code);
	PGresult *r = run(p, Q_DOSSIER_GET, &a, err, "reading dossier");
	if (!r)
		return LT_EIO;
	if (PQntuples(r)) {
		d->status = (int)col_int(r, 0, 1);
		copy_col(d->channel, sizeof d->channel, r, 0, 2);
		copy_col(d->procedure, sizeof d->procedure, r, 0, 3);
		copy_col(d->receiving_agency, sizeof d->receiving_agency, r, 0, 4);
		copy_col(d->handling_agency, sizeof d->handling_agency, r, 0, 5);
		d->received_at = col_int(r, 0, 6);
		d->due_at = col_int(r, 0, 7);
		d->resolved_at = col_int(r, 0, 8);
		d->returned_at = col_int(r, 0, 9);
		d->paused_at = col_int(r, 0, 10);
		d->apologies = (int)col_int(r, 0, 11);
		d->overdue_notified_for = col_int(r, 0, 12);
		copy_col(d->last_event, sizeof d->last_event, r, 0, 13);
	}
	PQclear(r);
	return LT_OK;
}

static int dossier_put(struct pg *p, const struct lt_dossier *d, int64_t now_ms, struct lt_err *err)
{
	struct args a = { 0 };
	a_str(&a, d->code);
	a_int(&a, d->status);
	a_str(&a, d->channel[0] ? d->channel : NULL);
	a_str(&a, d->procedure[0] ? d->procedure : NULL);
	a_str(&a, d->receiving_agency[0] ? d->receiving_agency : NULL);
	a_str(&a, d->handling_agency[0] ? d->handling_agency : NULL);
	a_int(&a, d->received_at);
	a_int(&a, d->due_at);
	a_int(&a, d->resolved_at);
	a_int(&a, d->returned_at);
	a_int(&a, d->paused_at);
	a_int(&a, d->apologies);
	a_int(&a, d->overdue_notified_for);
	a_str(&a, d->last_event);
	a_int(&a, now_ms);
	return exec_q(p, Q_DOSSIER_PUT, &a, err, "writing dossier", NULL);
}

/* Whether the dossier's chain to dest has an unfinished delivery. */
static int chain_busy(struct pg *p, const char *dest, const char *dossier, int *busy, struct lt_err *err)
{
	struct args a = { 0 };
	a_str(&a, dest);
	a_str(&a, dossier);
	PGresult *r = run(p, Q_CHAIN_BUSY, &a, err, "reading the dossier's deliveries");
	if (!r)
		return LT_EIO;
	*busy = PQntuples(r) > 0;
	PQclear(r);
	return LT_OK;
}

/* Store events and one delivery per destination; a delivery waits
 * (blocked) behind an unfinished earlier one of the same dossier to the same
 * destination. Shared by inbound messages, carried events and the sweep. */
static int insert_events(struct pg *p, const char *source, const char *message_id, json_t *events, json_t *routes,
			 int64_t now_ms, struct lt_err *err)
{
	int rc;
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		const char *dossier = json_string_value(json_object_get(ev, "dossier_code"));
		const char *event_id = json_string_value(json_object_get(ev, "event_id"));
		json_t *dests = json_array_get(routes, i);
		if ((rc = lock_dossier(p, dossier, err)))
			return rc;
		struct args a = { 0 };
		a_str(&a, dossier);
		PGresult *r = run(p, Q_DOSSIER_SEQ, &a, err, "reading dossier sequence");
		if (!r)
			return LT_EIO;
		int64_t dseq = col_int(r, 0, 0);
		PQclear(r);

		char *body = dump(ev);
		a = (struct args){ 0 };
		a_str(&a, event_id);
		a_str(&a, dossier);
		a_int(&a, dseq);
		a_str(&a, json_string_value(json_object_get(ev, "type")));
		a_str(&a, source);
		a_str(&a, message_id);
		a_int(&a, now_ms);
		a_int(&a, (int64_t)json_array_size(dests));
		a_str(&a, body);
		r = run(p, Q_EVENT_PUT, &a, err, "writing event");
		free(body);
		if (!r)
			return strcmp(p->sqlstate, "23505") ? LT_EIO
			       : lt_err_set(err, LT_ECONFLICT, "event_id %s is already stored; event ids must be unique",
					    event_id);
		int64_t seq = col_int(r, 0, 0);
		PQclear(r);
		struct lt_dossier dstate;
		if ((rc = dossier_get(p, dossier, &dstate, err)))
			return rc;
		lt_dossier_apply(p->cal, &dstate, ev);
		if ((rc = dossier_put(p, &dstate, now_ms, err)))
			return rc;

		size_t j;
		json_t *d;
		json_array_foreach(dests, j, d) {
			int busy;
			if ((rc = chain_busy(p, json_string_value(d), dossier, &busy, err)))
				return rc;
			a = (struct args){ 0 };
			a_int(&a, seq);
			a_str(&a, json_string_value(d));
			a_str(&a, dossier);
			a_int(&a, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			a_int(&a, now_ms);
			if (exec_q(p, Q_DELIVERY_PUT, &a, err, "writing delivery", NULL))
				return LT_EIO;
		}
	}
	return LT_OK;
}

/* A message id seen before: the original receipt if the body is the same. */
static int seen_before(struct pg *p, struct lt_ingest *op, int *seen)
{
	struct lt_err *err = &op->op.err;
	struct args a = { 0 };
	a_str(&a, op->peer);
	a_str(&a, op->message_id);
	PGresult *r = run(p, Q_MSG_GET, &a, err, "reading messages");
	if (!r)
		return LT_EIO;
	*seen = PQntuples(r) > 0;
	int rc = LT_OK;
	if (*seen && strcmp(PQgetvalue(r, 0, 0), op->digest))
		rc = lt_err_set(err, LT_ECONFLICT, "message id %s was already used by peer %s for a different body",
				op->message_id, op->peer);
	else if (*seen) {
		op->duplicate = 1;
		op->original = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
	}
	PQclear(r);
	return rc;
}

static int pg_ingest(void *db, struct lt_ingest *op)
{
	struct pg *p = db;
	struct lt_err *err = &op->op.err;
	int seen, rc;
	if ((rc = seen_before(p, op, &seen)) || seen)
		return rc;
	struct args a = { 0 };
	if (op->unique_body) {
		/* a signed document that carries no message id of its own, seen
		 * before under another id: a replay */
		a_str(&a, op->peer);
		a_str(&a, op->digest);
		PGresult *r = run(p, Q_MSG_BY_DIGEST, &a, err, "reading messages");
		if (!r)
			return LT_EIO;
		if (PQntuples(r))
			rc = lt_err_set(err, LT_ECONFLICT,
					"replay: this signed document was already received as message %.128s",
					PQgetvalue(r, 0, 0));
		PQclear(r);
		if (rc)
			return rc;
	}

	char *receipt = dump(op->receipt);
	a = (struct args){ 0 };
	a_str(&a, op->peer);
	a_str(&a, op->message_id);
	a_str(&a, op->digest);
	a_int(&a, op->now_ms);
	a_str(&a, receipt);
	int stored = 0;
	rc = exec_q(p, Q_MSG_PUT, &a, err, "writing message", &stored);
	free(receipt);
	if (rc)
		return rc;
	if (!stored) {
		/* another node stored this id after we looked, and has committed it */
		if ((rc = seen_before(p, op, &seen)))
			return rc;
		return seen ? LT_OK : lt_err_set(err, LT_EIO, "store: message %s: stored and gone at once", op->message_id);
	}
	if ((rc = insert_events(p, op->peer, op->message_id, op->events, op->routes, op->now_ms, err)))
		return rc;
	if (op->cursor) {
		a = (struct args){ 0 };
		a_str(&a, op->peer);
		a_str(&a, op->cursor);
		a_int(&a, op->now_ms);
		return exec_q(p, Q_CURSOR_PUT, &a, err, "writing cursor", NULL);
	}
	return LT_OK;
}

/* When the dispatcher should look again: the earliest pending delivery, the
 * earliest of another node's leases to run out, and at least every second,
 * for deliveries other nodes stored meanwhile. */
static int64_t next_look(const struct pg *p, const struct lt_claim *op, const PGresult *r)
{
	int64_t poll = op->now_ms + (p->lease_ms / 4 < 1000 ? p->lease_ms / 4 : 1000);
	int64_t next = PQgetisnull(r, 0, 0) ? poll : col_int(r, 0, 0);
	if (!PQgetisnull(r, 0, 1)) {
		int64_t wait = col_int(r, 0, 1);
		int64_t at = op->now_ms + (wait > 0 ? wait : 0) + 1;
		if (at < next)
			next = at;
	}
	if (next > poll)
		next = poll;
	/* due now but not claimed: another node is claiming it; look again shortly, not at once */
	if (next <= op->now_ms && op->n < op->max)
		next = op->now_ms + 20;
	return next;
}

static int pg_claim(void *db, struct lt_claim *op)
{
	struct pg *p = db;
	struct lt_err *err = &op->op.err;
	op->rows = calloc((size_t)op->max, sizeof *op->rows);
	op->n = 0;
	struct args a = { 0 };
	a_str(&a, op->dest);
	a_int(&a, op->now_ms);
	a_int(&a, op->max);
	a_str(&a, p->node);
	PGresult *r = run(p, Q_READY, &a, err, "reading ready deliveries");
	if (!r) {
		lt_claim_release(op);
		return LT_EIO;
	}
	struct lt_buf ids = { 0 };
	lt_buf_append(&ids, "{", 1);
	for (int i = 0; i < PQntuples(r) && op->n < op->max; i++) {
		struct lt_claimed *c = &op->rows[op->n++];
		c->id = col_int(r, i, 0);
		copy_col(c->event_id, sizeof c->event_id, r, i, 1);
		copy_col(c->dossier_code, sizeof c->dossier_code, r, i, 2);
		copy_col(c->type, sizeof c->type, r, i, 3);
		c->attempts = (int)col_int(r, i, 4);
		c->created_at = col_int(r, i, 5);
		c->body = strdup(PQgetvalue(r, i, 6));
		c->flags = (int)col_int(r, i, 7);
		lt_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)c->id);
	}
	PQclear(r);
	lt_buf_append(&ids, "}", 1);
	int rc = LT_OK;
	if (op->n) {
		a = (struct args){ 0 };
		a_str(&a, ids.data);
		a_int(&a, op->now_ms);
		a_str(&a, p->node);
		a_int(&a, p->lease_ms);
		rc = exec_q(p, Q_MARK_INFLIGHT, &a, err, "claiming deliveries", NULL);
	}
	lt_buf_free(&ids);
	if (!rc) {
		a = (struct args){ 0 };
		a_str(&a, op->dest);
		a_str(&a, p->node);
		if (!(r = run(p, Q_NEXT_DUE, &a, err, "reading when the next delivery is due")))
			rc = LT_EIO;
	}
	if (rc) {
		lt_claim_release(op);
		return rc;
	}
	op->next_due_ms = next_look(p, op, r);
	PQclear(r);
	return LT_OK;
}

static int pg_finish(void *db, struct lt_finish *op)
{
	struct pg *p = db;
	struct lt_err *err = &op->op.err;
	static const char *const outcome[] = { "done", "retry", "dead" };
	int rc;
	/* done or dead releases the chain's next delivery: under the dossier's lock */
	if (op->verdict != LT_RETRY && (rc = lock_dossier(p, op->dossier_code, err)))
		return rc;
	struct args a = { 0 };
	a_int(&a, op->delivery_id);
	a_int(&a, op->attempt);
	a_int(&a, op->at_ms);
	a_int(&a, op->duration_ms);
	if (op->status)
		a_int(&a, op->status);
	else
		a_str(&a, NULL);
	a_str(&a, op->error[0] ? op->error : NULL);
	a_str(&a, outcome[op->verdict]);
	if (exec_q(p, Q_ATTEMPT_PUT, &a, err, "writing attempt", NULL))
		return LT_EIO;

	a = (struct args){ 0 };
	a_int(&a, op->delivery_id);
	if (op->verdict != LT_RETRY)
		a_int(&a, op->verdict == LT_DONE ? LT_DS_DONE : LT_DS_DEAD);
	a_int(&a, op->attempt);
	a_int(&a, op->at_ms + op->duration_ms);
	if (op->verdict == LT_RETRY)
		a_int(&a, op->next_at_ms);
	if (op->status)
		a_int(&a, op->status);
	else
		a_str(&a, NULL);
	a_str(&a, op->error[0] ? op->error : NULL);
	a_str(&a, op->response);
	if (op->verdict == LT_RETRY)
		a_int(&a, op->flags);
	int changed = 0;
	if (exec_q(p, op->verdict == LT_RETRY ? Q_RETRY : Q_DONE, &a, err, "updating delivery", &changed))
		return LT_EIO;
	if (changed == 0) {
		/* written again after a commit whose result was unknown, and that
		 * commit had reached the database: its carried events and the
		 * chain's next delivery are there already */
		op->recorded_before = 1;
		return LT_OK;
	}

	if (op->carried && json_array_size(op->carried)) {
		char mid[160];
		snprintf(mid, sizeof mid, "answer:%lld:%d", (long long)op->delivery_id, op->attempt);
		if ((rc = insert_events(p, op->dest, mid, op->carried, op->carried_routes, op->at_ms, err)))
			return rc;
	}
	if (op->verdict != LT_RETRY) {
		a = (struct args){ 0 };
		a_str(&a, op->dest);
		a_str(&a, op->dossier_code);
		a_int(&a, op->at_ms);
		return exec_q(p, Q_PROMOTE, &a, err, "releasing the next delivery of the dossier", NULL);
	}
	return LT_OK;
}

static struct lt_peer_stats *stats_for(struct lt_stats *op, const char *dest)
{
	for (int i = 0; i < op->n; i++)
		if (strcmp(op->peers[i].dest, dest) == 0)
			return &op->peers[i];
	op->peers = realloc(op->peers, (size_t)(op->n + 1) * sizeof *op->peers);
	struct lt_peer_stats *p = &op->peers[op->n++];
	memset(p, 0, sizeof *p);
	snprintf(p->dest, sizeof p->dest, "%s", dest);
	return p;
}

static int pg_stats(void *db, struct lt_stats *op)
{
	struct pg *p = db;
	PGresult *r = run(p, Q_STATS, NULL, &op->op.err, "reading queue figures");
	if (!r)
		return LT_EIO;
	for (int i = 0; i < PQntuples(r); i++) {
		struct lt_peer_stats *ps = stats_for(op, PQgetvalue(r, i, 0));
		int state = (int)col_int(r, i, 1);
		int64_t n = col_int(r, i, 2), oldest = col_int(r, i, 3);
		switch (state) {
		case LT_DS_PENDING: ps->pending = n; break;
		case LT_DS_INFLIGHT: ps->inflight = n; break;
		case LT_DS_DEAD: ps->dead = n; break;
		case LT_DS_BLOCKED: ps->blocked = n; break;
		}
		if (state != LT_DS_DEAD && oldest && (!ps->oldest_created_ms || oldest < ps->oldest_created_ms))
			ps->oldest_created_ms = oldest;
	}
	PQclear(r);
	if (!(r = run(p, Q_COUNTS, NULL, &op->op.err, "counting events")))
		return LT_EIO;
	op->events = col_int(r, 0, 0);
	op->messages = col_int(r, 0, 1);
	PQclear(r);
	return LT_OK;
}

static int pg_refusal(void *db, struct lt_refusal *op)
{
	struct args a = { 0 };
	a_int(&a, op->at_ms);
	a_str(&a, op->peer);
	a_str(&a, op->message_id[0] ? op->message_id : NULL);
	a_int(&a, op->status);
	a_str(&a, op->reason);
	a_str(&a, op->digest);
	return exec_q(db, Q_REFUSAL, &a, &op->op.err, "writing refusal", NULL);
}

static int pg_cursor(void *db, struct lt_cursor *op)
{
	struct args a = { 0 };
	a_str(&a, op->peer);
	PGresult *r = run(db, Q_CURSOR_GET, &a, &op->op.err, "reading cursor");
	if (!r)
		return LT_EIO;
	snprintf(op->cursor, sizeof op->cursor, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return LT_OK;
}

/* The watchdog: a dossier.overdue event for each dossier past its due date
 * that has none for that date yet, stored and routed like any event. Each
 * dossier is read under its lock, so two nodes sweeping at once emit one. */
static int pg_overdue(void *db, struct lt_overdue *op)
{
	struct pg *p = db;
	struct lt_err *err = &op->op.err;
	int64_t now = op->now_ms / 1000;
	struct args a = { 0 };
	a_int(&a, now);
	PGresult *r = run(p, Q_OVERDUE, &a, err, "looking for overdue dossiers");
	if (!r)
		return LT_EIO;
	json_t *codes = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(codes, json_string(PQgetvalue(r, i, 0)));
	PQclear(r);
	op->events = json_array();
	op->routes = json_array();
	int rc = 0;
	size_t i;
	json_t *c;
	json_array_foreach(codes, i, c) {
		struct lt_dossier d;
		if ((rc = lock_dossier(p, json_string_value(c), err)) ||
		    (rc = dossier_get(p, json_string_value(c), &d, err)))
			break;
		if (!lt_dossier_overdue(&d, now))
			continue;
		json_t *ev = lt_dossier_overdue_event(&d, now, op->source);
		char id[27];
		lt_event_id(id);
		json_object_set_new(ev, "event_id", json_string(id));
		json_t *dests = json_array();
		lt_route_event(op->cfg, op->source, ev, dests);
		json_array_append_new(op->events, ev);
		json_array_append_new(op->routes, dests);
	}
	json_decref(codes);
	if (rc)
		return rc;
	char mid[64];
	snprintf(mid, sizeof mid, "sla:%lld", (long long)op->now_ms);
	return insert_events(p, op->source, mid, op->events, op->routes, op->now_ms, err);
}

static int pg_unclaim(void *db, struct lt_release *op)
{
	struct pg *p = db;
	struct args a = { 0 };
	if (op->dest) {
		a_str(&a, op->dest);
		a_str(&a, p->node);
		return exec_q(p, Q_UNCLAIM_DEST, &a, &op->op.err, "returning deliveries to the queue", &op->n);
	}
	for (int i = 0; i < op->n; i++) {
		a = (struct args){ 0 };
		a_int(&a, op->ids[i]);
		a_str(&a, p->node);
		if (exec_q(p, Q_UNCLAIM, &a, &op->op.err, "returning deliveries to the queue", NULL))
			return LT_EIO;
	}
	return LT_OK;
}

/* Replay or purge the dead letters matching the op's filters; rows are
 * locked as they are found, so two nodes replaying at once act on each once. */
static int pg_dlq(void *db, struct lt_dlq *op)
{
	struct pg *p = db;
	struct lt_err *err = &op->op.err;
	struct lt_buf ids = { 0 };
	if (op->ids) {
		size_t i;
		json_t *v;
		lt_buf_append(&ids, "{", 1);
		json_array_foreach(op->ids, i, v)
			lt_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)json_integer_value(v));
		lt_buf_append(&ids, "}", 1);
	}
	struct args a = { 0 };
	a_str(&a, op->dest);
	a_str(&a, op->dossier_code);
	a_int(&a, op->before_ms);
	a_str(&a, op->ids ? ids.data : NULL);
	a_int(&a, LT_DLQ_BATCH);
	PGresult *r = run(p, Q_DLQ_FIND, &a, err, "finding dead letters");
	lt_buf_free(&ids);
	if (!r)
		return LT_EIO;
	op->deliveries = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(op->deliveries,
				      json_pack("{s:I,s:s,s:s,s:s}", "delivery_id", (json_int_t)col_int(r, i, 0), "peer",
						PQgetvalue(r, i, 1), "dossier_code", PQgetvalue(r, i, 2), "message_id",
						PQgetvalue(r, i, 3)));
	PQclear(r);
	size_t i;
	json_t *d;
	json_array_foreach(op->deliveries, i, d) {
		int64_t id = json_integer_value(json_object_get(d, "delivery_id"));
		const char *dossier = json_string_value(json_object_get(d, "dossier_code"));
		if (op->action == LT_DLQ_REPLAY) {
			/* behind the dossier's chain to that peer if it has one, as at intake */
			int busy;
			if (lock_dossier(p, dossier, err) ||
			    chain_busy(p, json_string_value(json_object_get(d, "peer")), dossier, &busy, err))
				return LT_EIO;
			a = (struct args){ 0 };
			a_int(&a, id);
			a_int(&a, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			a_int(&a, op->now_ms);
			if (exec_q(p, Q_DLQ_REPLAY, &a, err, "replaying a dead letter", NULL))
				return LT_EIO;
		} else {
			for (int k = Q_DLQ_PURGE_ATTEMPTS; k <= Q_DLQ_PURGE; k++) {
				a = (struct args){ 0 };
				a_int(&a, id);
				if (exec_q(p, k, &a, err, "purging a dead letter", NULL))
					return LT_EIO;
			}
		}
	}
	return LT_OK;
}

/* libpq takes both URI prefixes */
const struct lt_store_backend lt_store_pg = {
	.scheme = "postgresql://",
	.scheme2 = "postgres://",
	.open = pg_open,
	.close = pg_close,
	.detach = pg_detach,
	.recover = pg_recover,
	.count_backlog = pg_count_backlog,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.savepoint = pg_savepoint,
	.release = pg_release,
	.ingest = pg_ingest,
	.claim = pg_claim,
	.finish = pg_finish,
	.stats = pg_stats,
	.refusal = pg_refusal,
	.cursor = pg_cursor,
	.overdue = pg_overdue,
	.unclaim = pg_unclaim,
	.dlq = pg_dlq,
	.tick = pg_tick,
	.shared = 1,
};
