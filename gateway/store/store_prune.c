/* store_prune.c — retention: old, finished dossiers' events, deliveries and
 * attempts pruned, and the audit trail's oldest rows replaced by a
 * checkpoint (store.h, struct lt_prune). Written once for both backends: each
 * gives a function that runs a statement (store_int.h, lt_store_sql_fn).
 *
 * What stays, whatever its age: anything queued, in flight, waiting for
 * order or dead-lettered, with every other event of its dossier; the
 * dossier view (dossiers) and the refusals; a pruned dossier's last
 * dossier_seq (pruned_dossiers), so that its chain goes on in order; a
 * message received within the replay window (its signed digest and id
 * refuse a replay); the audit rows from the first one still needed on,
 * and always the last one (the chain goes on from its hash). */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVENTS_SCANNED 2000     /* events looked at per op */
#define BUDGET_MS 10            /* and the time a batch may hold the commit it is in, about */

/* a message's events are found by its id: made by the first prune, so a store that never prunes never pays for it */
static const char SQL_INDEX[] = "CREATE INDEX IF NOT EXISTS events_message ON events(message_id)";
static const char SQL_SCAN[] =
	"SELECT seq, dossier_code, received_at FROM events WHERE seq > CAST($1 AS BIGINT) ORDER BY seq"
	" LIMIT CAST($2 AS INTEGER)";
/* a dossier is held by an event that arrived since, or a delivery not done before */
static const char SQL_HELD[] =
	"SELECT 1 FROM events e WHERE e.dossier_code = $1 AND (e.received_at >= CAST($2 AS BIGINT) OR EXISTS"
	" (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND (d.state <> 2 OR d.updated_at >= CAST($2 AS BIGINT))))"
	" LIMIT 1";
static const char SQL_DOSSIER[] =
	"SELECT COUNT(*), MAX(dossier_seq), MIN(received_at), MAX(received_at) FROM events WHERE dossier_code = $1";
static const char SQL_DEL_ATTEMPTS[] =
	"DELETE FROM attempts WHERE delivery_id IN (SELECT d.id FROM deliveries d JOIN events e ON e.seq = d.event_seq"
	" WHERE e.dossier_code = $1)";
static const char SQL_DEL_DELIVERIES[] =
	"DELETE FROM deliveries WHERE event_seq IN (SELECT seq FROM events WHERE dossier_code = $1)";
static const char SQL_DEL_EVENTS[] = "DELETE FROM events WHERE dossier_code = $1";
static const char SQL_PRUNED_PUT[] =
	"INSERT INTO pruned_dossiers(code, through_seq, events, deliveries, attempts, first_at, last_at, pruned_at)"
	" VALUES ($1, CAST($2 AS BIGINT), CAST($3 AS BIGINT), CAST($4 AS BIGINT), CAST($5 AS BIGINT),"
	" CAST($6 AS BIGINT), CAST($7 AS BIGINT), CAST($8 AS BIGINT))"
	" ON CONFLICT(code) DO UPDATE SET through_seq = excluded.through_seq,"
	" events = pruned_dossiers.events + excluded.events, deliveries = pruned_dossiers.deliveries + excluded.deliveries,"
	" attempts = pruned_dossiers.attempts + excluded.attempts, last_at = excluded.last_at,"
	" pruned_at = excluded.pruned_at";
/* the oldest audit rows but the last, each with its message (an "in" row) and
 * whether events it brought are still stored */
static const char SQL_AUDIT_WALK[] =
	"SELECT a.seq, a.at, a.direction, a.peer, a.message_id, a.hash, m.received_at,"
	" (SELECT 1 FROM events e WHERE e.message_id = a.message_id LIMIT 1), a.body_sha256, a.sig_sha256, a.prev,"
	" a.trust FROM audit a"
	" LEFT JOIN messages m ON a.direction = 'in' AND m.peer = a.peer AND m.message_id = a.message_id"
	" WHERE a.seq < (SELECT MAX(seq) FROM audit) ORDER BY a.seq LIMIT CAST($1 AS INTEGER)";
static const char SQL_MSG_DEL[] = "DELETE FROM messages WHERE peer = $1 AND message_id = $2";
static const char SQL_AUDIT_DEL[] = "DELETE FROM audit WHERE seq <= CAST($1 AS BIGINT)";
static const char SQL_CHECKPOINT[] =
	"INSERT INTO audit_pruned(seq, hash, first_seq, row_count, at)"
	" VALUES (CAST($1 AS BIGINT), $2, CAST($3 AS BIGINT), CAST($4 AS BIGINT), CAST($5 AS BIGINT))";

struct ctx {
	struct lt_prune *op;
	lt_store_sql_fn *sql;
	void *db;
	int64_t until_ms;       /* a real batch stops here (monotonic); 0 = never (a dry run) */
};

static int spent(const struct ctx *c)
{
	return c->until_ms && lt_mono_ms() >= c->until_ms;
}

static int collect(void *arg, int ncols, const char *const *v)
{
	json_t *row = json_array();
	for (int i = 0; i < ncols; i++)
		json_array_append_new(row, v[i] ? json_stringn_nocheck(v[i], strlen(v[i])) : json_null());
	json_array_append_new(arg, row);
	return 0;
}

/* Run one statement; its rows into *rows (a new array) when asked. */
static int run(struct ctx *c, const char *sql, int n, const char *const *args, json_t **rows, int64_t *changed)
{
	json_t *a = rows ? json_array() : NULL;
	int rc = c->sql(c->db, sql, n, args, rows ? collect : NULL, a, changed, &c->op->op.err);
	if (rows && rc)
		json_decref(a);
	else if (rows)
		*rows = a;
	return rc;
}

static const char *cell(const json_t *rows, size_t r, size_t col)
{
	return json_string_value(json_array_get(json_array_get(rows, r), col));
}

static int64_t num(const json_t *rows, size_t r, size_t col)
{
	const char *s = cell(rows, r, col);
	return s ? strtoll(s, NULL, 10) : 0;
}

struct nums {
	char v[8][24];
};

static const char *fmt(struct nums *n, int i, int64_t x)
{
	snprintf(n->v[i], sizeof n->v[i], "%lld", (long long)x);
	return n->v[i];
}

/* Prune one dossier if nothing holds it: 1 pruned, 0 held, or LT_E*. */
static int prune_dossier(struct ctx *c, const char *code)
{
	struct lt_prune *op = c->op;
	struct nums n;
	json_t *rows = NULL;
	const char *held_args[] = { code, fmt(&n, 0, op->before_ms) };
	int rc = run(c, SQL_HELD, 2, held_args, &rows, NULL);
	if (rc)
		return rc;
	int held = json_array_size(rows) > 0;
	json_decref(rows);
	if (held)
		return 0;
	if ((rc = run(c, SQL_DOSSIER, 1, &code, &rows, NULL)))
		return rc;
	int64_t events = num(rows, 0, 0), through = num(rows, 0, 1), first = num(rows, 0, 2), last = num(rows, 0, 3);
	json_decref(rows);
	int64_t attempts = 0, deliveries = 0, gone = 0;
	if ((rc = run(c, SQL_DEL_ATTEMPTS, 1, &code, NULL, &attempts)) ||
	    (rc = run(c, SQL_DEL_DELIVERIES, 1, &code, NULL, &deliveries)) ||
	    (rc = run(c, SQL_DEL_EVENTS, 1, &code, NULL, &gone)))
		return rc;
	const char *put[] = { code, fmt(&n, 1, through), fmt(&n, 2, events), fmt(&n, 3, deliveries),
			      fmt(&n, 4, attempts), fmt(&n, 5, first), fmt(&n, 6, last), fmt(&n, 7, op->now_ms) };
	if ((rc = run(c, SQL_PRUNED_PUT, 8, put, NULL, NULL)))
		return rc;
	op->dossiers++;
	op->events += gone;
	op->deliveries += deliveries;
	op->attempts += attempts;
	return 1;
}

/* The events from op->after_seq on, a batch: each finished dossier met pruned. */
static int prune_events(struct ctx *c, int64_t max_dossiers)
{
	struct lt_prune *op = c->op;
	struct nums n;
	json_t *rows = NULL, *seen = json_object();
	const char *args[] = { fmt(&n, 0, op->after_seq), fmt(&n, 1, EVENTS_SCANNED) };
	int rc = run(c, SQL_SCAN, 2, args, &rows, NULL);
	size_t i, nrows = rc ? 0 : json_array_size(rows);
	int done = 0;
	for (i = 0; !rc && i < nrows; i++) {
		const char *code = cell(rows, i, 1);
		if (num(rows, i, 2) >= op->before_ms) {
			done = 1;       /* the rest came later (a clock's step back only keeps some longer) */
			break;
		}
		op->after_seq = num(rows, i, 0);
		if (!code || json_object_get(seen, code))
			continue;
		json_object_set_new(seen, code, json_true());
		int pruned = prune_dossier(c, code);
		if (pruned < 0)
			rc = pruned;
		else if ((pruned && op->dossiers >= max_dossiers) || spent(c))
			break;          /* the next batch goes on after this row */
	}
	if (!rc && (done || (i == nrows && nrows < EVENTS_SCANNED)))
		op->after_seq = -1;     /* the events are done: the audit trail's turn */
	op->more = !rc;                 /* more events, or the audit trail's turn */
	json_decref(rows);
	json_decref(seen);
	return rc;
}

/* The rows [0, n) of the walk as JSON lines at the end of the archive,
 * on the disk before the commit that deletes them. A commit that then
 * fails leaves them in both: the next run appends them again, and the
 * archive's check takes a row repeated whole as one. */
static int archive_rows(struct ctx *c, const json_t *rows, size_t n)
{
	struct lt_prune *op = c->op;
	struct lt_buf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)num(rows, i, 0), "at",
				      (json_int_t)num(rows, i, 1), "direction", cell(rows, i, 2) ?: "", "peer",
				      cell(rows, i, 3) ?: "", "message_id", cell(rows, i, 4) ?: "", "body_sha256",
				      cell(rows, i, 8) ?: "", "sig_sha256", cell(rows, i, 9) ?: "", "trust",
				      cell(rows, i, 11) ?: "", "prev", cell(rows, i, 10) ?: "", "hash", cell(rows, i, 5) ?: "");
		char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (line)
			lt_buf_printf(&b, "%s\n", line);
		free(line);
		json_decref(o);
	}
	int fd = open(op->archive, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600), rc = LT_OK;
	if (fd < 0 || (b.len && write(fd, b.data, b.len) != (ssize_t)b.len) || fsync(fd))
		rc = lt_err_set(&op->op.err, LT_EIO, "retention_archive %s: cannot append the pruned audit rows: %s",
				op->archive, strerror(errno));
	if (fd >= 0)
		close(fd);
	lt_buf_free(&b);
	return rc;
}

/* The audit trail's oldest rows, a batch, up to the first one still needed. */
static int prune_audit(struct ctx *c)
{
	struct lt_prune *op = c->op;
	struct nums n;
	json_t *rows = NULL;
	const char *args[] = { fmt(&n, 0, LT_PRUNE_AUDIT) };
	int rc = run(c, SQL_AUDIT_WALK, 1, args, &rows, NULL);
	size_t nrows = rc ? 0 : json_array_size(rows), i;
	int64_t first = 0, count = 0;
	int out_of_time = 0;
	for (i = 0; !rc && i < nrows; i++) {
		if (count && (out_of_time = spent(c)))
			break;
		const char *dir = cell(rows, i, 2), *peer = cell(rows, i, 3), *mid = cell(rows, i, 4);
		int in = dir && strcmp(dir, "in") == 0, answer = dir && strcmp(dir, "answer") == 0;
		if (num(rows, i, 1) >= op->before_ms)
			break;
		if ((in || answer) && cell(rows, i, 7)) {
			snprintf(op->held_by, sizeof op->held_by, "%s %.80s from %.60s: events it brought are kept",
				 in ? "message" : "answer", mid ? mid : "", peer ? peer : "");
			break;
		}
		if (in && cell(rows, i, 6)) {
			if (num(rows, i, 6) >= op->keep_messages_ms) {
				snprintf(op->held_by, sizeof op->held_by, "message %.80s from %.60s: within replay_window",
					 mid ? mid : "", peer ? peer : "");
				break;
			}
			const char *del[] = { peer, mid };
			int64_t gone = 0;
			if ((rc = run(c, SQL_MSG_DEL, 2, del, NULL, &gone)))
				break;
			op->messages += gone;
		}
		if (!first)
			first = num(rows, i, 0);
		op->audit_through = num(rows, i, 0);
		snprintf(op->audit_hash, sizeof op->audit_hash, "%s", cell(rows, i, 5) ? cell(rows, i, 5) : "");
		count++;
	}
	if (!rc && ((i == nrows && nrows == LT_PRUNE_AUDIT) || out_of_time))
		op->more = 1;
	if (!rc && count && op->archive && !op->dry_run)
		rc = archive_rows(c, rows, (size_t)count);
	if (!rc && count) {
		int64_t gone = 0;
		const char *del[] = { fmt(&n, 1, op->audit_through) };
		const char *cp[] = { n.v[1], op->audit_hash, fmt(&n, 2, first), fmt(&n, 3, count), fmt(&n, 4, op->now_ms) };
		if (!(rc = run(c, SQL_AUDIT_DEL, 1, del, NULL, &gone)))
			rc = run(c, SQL_CHECKPOINT, 5, cp, NULL, NULL);
		op->audit += gone;
	}
	json_decref(rows);
	return rc;
}

int lt_store_prune_run(struct lt_prune *op, lt_store_sql_fn *sql, void *db)
{
	struct ctx c = { op, sql, db, op->dry_run ? 0 : lt_mono_ms() + BUDGET_MS };
	op->more = 0;
	op->dossiers = op->events = op->deliveries = op->attempts = op->messages = op->audit = 0;
	op->audit_through = 0;
	op->audit_hash[0] = op->held_by[0] = '\0';
	int rc = run(&c, SQL_INDEX, 0, NULL, NULL, NULL);
	if (!rc && op->dry_run)
		rc = run(&c, "SAVEPOINT prune_dry", 0, NULL, NULL, NULL);
	if (rc)
		return rc;
	/* a dry run counts everything in one op; a real one does a batch */
	int64_t max_dossiers = op->dry_run ? INT64_MAX : LT_PRUNE_DOSSIERS;
	do {
		op->more = 0;
		if (op->after_seq >= 0)
			rc = prune_events(&c, max_dossiers);
		else
			rc = prune_audit(&c);
	} while (!rc && op->dry_run && op->more);
	if (op->dry_run) {
		struct lt_err keep = op->op.err;
		int undone = run(&c, "ROLLBACK TO SAVEPOINT prune_dry", 0, NULL, NULL, NULL);
		if (!undone)
			undone = run(&c, "RELEASE SAVEPOINT prune_dry", 0, NULL, NULL, NULL);
		if (rc)
			op->op.err = keep;
		rc = rc ? rc : undone;
	}
	return rc;
}
