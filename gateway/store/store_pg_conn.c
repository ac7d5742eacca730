/* store_pg_conn.c — the PostgreSQL store's connection: connecting and
 * preparing, running statements, transactions and savepoints, the journal
 * lock, and this node's leases (renewed while it lives). The ops that use
 * them are in store_pg.c. */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* advisory lock class of node ids (the journal's is 19540 "LT", in store_pg_sql.c) */
#define NODE_LOCK_CLASS "19541"

/* An error naming what failed and the server's (or libpq's) own words. */
static int pg_fail(struct lt_pg *p, struct lt_err *err, const char *what, const PGresult *r)
{
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg || !*msg)
		msg = p->conn ? PQerrorMessage(p->conn) : "not connected to the database";
	int len = (int)strcspn(msg, "\n");
	return lt_err_set(err, LT_EIO, "store: %s: %.*s", what, len, msg);
}

/* Run prepared statement id: its result (PQclear it), or NULL with err set. */
PGresult *lt_pg_run(struct lt_pg *p, int id, const struct lt_pg_args *a, struct lt_err *err, const char *what)
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
int lt_pg_exec(struct lt_pg *p, int id, const struct lt_pg_args *a, struct lt_err *err, const char *what, int *changed)
{
	PGresult *r = lt_pg_run(p, id, a, err, what);
	if (!r)
		return LT_EIO;
	if (changed)
		*changed = atoi(PQcmdTuples(r));
	PQclear(r);
	return LT_OK;
}

/* A constant command without parameters (BEGIN, SAVEPOINT…). */
static int cmd(struct lt_pg *p, const char *text, struct lt_err *err)
{
	PGresult *r = p->conn ? PQexec(p->conn, text) : NULL;
	int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok && err)
		pg_fail(p, err, text, r);
	PQclear(r);
	return ok ? LT_OK : LT_EIO;
}

int64_t lt_pg_col(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;          /* "relation already exists, skipping" and the like */
}

/* The transaction ended (or its savepoint was undone): the lock is gone, and
 * another node may append to the audit trail. */
static void unlocked(struct lt_pg *p)
{
	p->locked = 0;
	p->audit_last[0] = '\0';
}

void lt_pg_detach(void *db)
{
	struct lt_pg *p = db;
	unlocked(p);
	PQfinish(p->conn);
	p->conn = NULL;
	p->renewed_ms = 0;
}

void lt_pg_close(void *db)
{
	struct lt_pg *p = db;
	if (!p)
		return;
	lt_pg_detach(p);
	free(p->dsn);
	free(p->node);
	free(p);
}

/* Each node_id runs once: a session lock on (NODE_LOCK_CLASS, hashtext(node_id))
 * held while connected. A node that was just killed may still have its
 * session for a moment (the server notices the closed socket), so the lock
 * is tried for a few seconds before the second process is refused. */
static int lock_node(struct lt_pg *p, struct lt_err *err)
{
	const char *v[] = { p->node };
	for (int tries = 0; tries < 20; tries++) {
		PGresult *r = PQexecParams(p->conn, "SELECT pg_try_advisory_lock(" NODE_LOCK_CLASS ", hashtext($1))", 1,
					   NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_fail(p, err, "locking this node_id", r);
			PQclear(r);
			return LT_EIO;
		}
		int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		if (got)
			return LT_OK;
		usleep(250 * 1000);
	}
	char who[160] = "another connection";
	PGresult *r = PQexecParams(p->conn, "SELECT coalesce(host(a.client_addr), 'local socket') || ', backend pid ' "
				   "|| a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = "
				   "'advisory' AND l.classid = " NODE_LOCK_CLASS " AND l.objid::int = hashtext($1) "
				   "AND l.granted LIMIT 1", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(who, sizeof who, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return lt_err_set(err, LT_EBUSY, "node_id %s is already running on this database (%s): give each gateway "
			  "node its own node_id", p->node, who);
}

/* Connect and prepare every statement. The first open creates the tables; a
 * reconnect after a failure creates nothing, so that an empty database put
 * in the place of the real one is refused, not filled. */
static int pg_connect(struct lt_pg *p, int create, struct lt_err *err)
{
	/* connect_timeout first: the DSN may set its own */
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "10", "lienthong", p->dsn, NULL };
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_fail(p, err, "cannot connect to the database", NULL);
		lt_pg_detach(p);
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
		lt_pg_detach(p);
		return LT_EIO;
	}
	int rc = lock_node(p, err);
	if (rc)
		lt_pg_detach(p);
	return rc;
}

/* Connected, or connected again when the server dropped us (it restarted). */
static int reconnect_if_dropped(struct lt_pg *p, struct lt_err *err)
{
	if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
		return LT_OK;
	lt_pg_detach(p);
	return pg_connect(p, 0, err);
}

int lt_pg_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node, void **out,
		   struct lt_err *err)
{
	*out = NULL;
	struct lt_pg *p = calloc(1, sizeof *p);
	p->cal = cal;
	p->dsn = strdup(dsn);
	p->node = strdup(node->id);
	p->lease_ms = node->lease_ms;
	int rc = pg_connect(p, 1, err);
	if (rc) {
		lt_pg_close(p);
		return rc;
	}
	*out = p;
	return LT_OK;
}

int lt_pg_count_backlog(void *db, int64_t *backlog, struct lt_err *err)
{
	struct lt_pg *p = db;
	PGresult *r = lt_pg_run(p, Q_BACKLOG, NULL, err, "counting unfinished deliveries");
	if (!r)
		return LT_EIO;
	*backlog = lt_pg_col(r, 0, 0);
	PQclear(r);
	return LT_OK;
}

/* A previous run of this node may have died with deliveries in flight, and
 * another node may have died leaving leases that ran out: back to the queue,
 * to be sent again with the same message id. Another live node's are kept. */
int lt_pg_recover(void *db, int64_t *backlog, struct lt_err *err)
{
	struct lt_pg *p = db;
	struct lt_pg_args a = { .v = { p->node }, .n = 1 };
	if (lt_pg_exec(p, Q_RECOVER, &a, err, "recovering in-flight deliveries", NULL))
		return LT_EIO;
	return lt_pg_count_backlog(db, backlog, err);
}

/* This node's claims hold while it lives: renewed every quarter lease. */
static int renew_due(const struct lt_pg *p)
{
	return !p->renewed_ms || lt_mono_ms() - p->renewed_ms >= p->lease_ms / 4;
}

static int renew(struct lt_pg *p, struct lt_err *err)
{
	struct lt_pg_args a = { 0 };
	a_str(&a, p->node);
	a_int(&a, p->lease_ms);
	if (lt_pg_exec(p, Q_RENEW, &a, err, "renewing this node's leases", NULL))
		return LT_EIO;
	p->renewed_ms = lt_mono_ms();
	return LT_OK;
}

int lt_pg_tick(void *db, struct lt_err *err)
{
	struct lt_pg *p = db;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (reconnect_if_dropped(p, err))
			return LT_EIO;
		if ((renew_due(p) ? renew(p, err) : lt_pg_exec(p, Q_PING, NULL, err, "asking the database", NULL)) == LT_OK)
			return LT_OK;
	}
	return LT_EIO;
}

int lt_pg_begin(void *db, struct lt_err *err)
{
	struct lt_pg *p = db;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* a connection the server dropped is found dead here, before any op ran on it */
		if (reconnect_if_dropped(p, err))
			return LT_EIO;
		unlocked(p);
		p->sqlstate[0] = '\0';
		if ((!renew_due(p) || renew(p, err) == LT_OK) && cmd(p, "BEGIN", err) == LT_OK)
			return LT_OK;
	}
	return LT_EIO;
}

int lt_pg_commit(void *db, struct lt_err *err)
{
	struct lt_pg *p = db;
	unlocked(p);
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

void lt_pg_rollback(void *db)
{
	struct lt_pg *p = db;
	unlocked(p);
	if (p->conn && PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		cmd(p, "ROLLBACK", NULL);
}

int lt_pg_savepoint(void *db)
{
	return cmd(db, "SAVEPOINT op", NULL);
}

void lt_pg_release(void *db, int ok)
{
	if (!ok) {
		cmd(db, "ROLLBACK TO SAVEPOINT op", NULL);
		unlocked(db);   /* taking it again is harmless; the trail's end may be undone */
	}
	cmd(db, "RELEASE SAVEPOINT op", NULL);
}

/* Take the journal lock for the rest of the transaction (see the top). */
int lt_pg_lock_journal(struct lt_pg *p, struct lt_err *err)
{
	if (p->locked)
		return LT_OK;
	if (lt_pg_exec(p, Q_JOURNAL_LOCK, NULL, err, "waiting for the other nodes' writes", NULL))
		return LT_EIO;
	p->locked = 1;
	return LT_OK;
}
