/* test_store.c — the store after a commit whose result was unknown.
 *
 * A failing disk can report a commit failed although it reached the disk
 * (the fsync failed after the write). The store is wrapped here so that a
 * commit really happens and is then reported failed, on a real SQLite file;
 * the gateway must then neither miscount its backlog (max_backlog, the
 * lienthong_backlog gauge) nor fail for ever on the outcome it writes again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sla.h"
#include "store_int.h"
#include "store_sqlite.h"

enum { COMMIT, LAND_THEN_FAIL, FAIL };
static int next_commit;
static volatile int gate_closed;        /* the store thread waits at its next begin while set */

static int gated_begin(void *db, struct lt_err *err)
{
	while (gate_closed)
		usleep(1000);
	return lt_store_sqlite.begin(db, err);
}

/* Armed once: the real commit then "disk I/O error" (it landed), or the
 * error instead of the commit (the store rolls back: nothing landed). */
static int commit_then_fail(void *db, struct lt_err *err)
{
	int mode = next_commit;
	next_commit = COMMIT;
	if (mode == FAIL)
		return lt_err_set(err, LT_EIO, "disk I/O error (injected, nothing written)");
	int rc = lt_store_sqlite.commit(db, err);
	if (rc || mode == COMMIT)
		return rc;
	return lt_err_set(err, LT_EIO, "disk I/O error (injected after the commit reached the file)");
}

/* The pipelined commit's sync (store.c's sync thread), held while
 * sync_gate is set, failing once when sync_fail is. */
static volatile int sync_gate, sync_entered, sync_fail;

static int gated_sync(void *db, struct lt_err *err)
{
	__atomic_add_fetch(&sync_entered, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&sync_gate, __ATOMIC_SEQ_CST))
		usleep(1000);
	if (__atomic_exchange_n(&sync_fail, 0, __ATOMIC_SEQ_CST))
		return lt_err_set(err, LT_EIO, "fsync failed (injected)");
	return lt_store_sqlite.sync(db, err);
}

struct fixture {
	char dir[64], path[96];
	struct event_base *base;
	struct lt_store *store;
	struct lt_calendar cal;
	struct lt_store_backend be;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/lt-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "sqlite:%s/lt.db", f->dir);
	evthread_use_pthreads();
	f->base = event_base_new();
	f->be = lt_store_sqlite;
	f->be.commit = commit_then_fail;
	f->be.commit_lazy = commit_then_fail;      /* the pipelined store ends its transactions so */
	f->be.begin = gated_begin;
	f->be.sync = gated_sync;
	gate_closed = 0;
	sync_gate = sync_entered = sync_fail = 0;
	struct lt_err err = { 0 };
	assert_int_equal(lt_store_open_backend(&f->be, f->path, &f->cal, NULL, f->base, &f->store, &err), 0);
	next_commit = COMMIT;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	lt_store_close(f->store);
	event_base_free(f->base);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void op_done(struct lt_store_op *op)
{
	*(int *)op->arg = 1;
}

/* Submit one op and run the loop until its callback has run. */
static int run(struct fixture *f, struct lt_store_op *op)
{
	int done = 0;
	op->done = op_done;
	op->arg = &done;
	assert_int_equal(lt_store_submit(f->store, op), 0);
	for (int i = 0; i < 5000 && !done; i++) {     /* at most 5 s */
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (!done)
			usleep(1000);
	}
	assert_true(done);
	return op->rc;
}

static int64_t count(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path + strlen("sqlite:"), &db), SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static const char *const unfinished = "SELECT COUNT(*) FROM deliveries WHERE state IN (0, 1, 4)";

static int ingest(struct fixture *f, const char *message_id, const char *event_id, const char *dossier,
		  int *duplicate)
{
	struct lt_ingest in = { .op.kind = LT_OP_INGEST, .peer = "office", .message_id = message_id,
				.now_ms = 1700000000000 };
	snprintf(in.digest, sizeof in.digest, "%064d", 0);
	memcpy(in.digest, message_id, strlen(message_id));
	in.events = json_pack("[{s:s,s:s,s:s,s:s}]", "event_id", event_id, "dossier_code", dossier, "type",
			      "dossier.received", "occurred_at", "2026-11-24T08:00:00+07:00");
	in.routes = json_pack("[[s,s]]", "portal", "postal");
	in.receipt = json_pack("{s:s}", "message_id", message_id);
	int rc = run(f, &in.op);
	*duplicate = in.duplicate;
	json_decref(in.events);
	json_decref(in.routes);
	json_decref(in.receipt);
	json_decref(in.original);
	return rc;
}

static void test_a_commit_reported_failed_that_landed_is_counted_in_the_backlog(void **state)
{
	struct fixture *f = *state;
	int dup;
	assert_int_equal(ingest(f, "m1", "E1", "D1", &dup), 0);
	assert_int_equal(lt_store_backlog(f->store), 2);

	next_commit = LAND_THEN_FAIL;
	assert_int_equal(ingest(f, "m2", "E2", "D2", &dup), LT_EIO);   /* the sender got 503 */
	assert_false(lt_store_healthy(f->store));
	assert_int_equal(count(f, unfinished), 4);                     /* yet it is on disk */

	/* the sender sends it again: the original receipt, and the gauge now
	 * counts what is on disk (it stayed at 2 before the recount) */
	assert_int_equal(ingest(f, "m2", "E2", "D2", &dup), 0);
	assert_true(dup);
	assert_true(lt_store_healthy(f->store));
	assert_int_equal(lt_store_backlog(f->store), 4);
	assert_int_equal(count(f, unfinished), 4);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit WHERE message_id = 'm2'"), 1);
}

static int claim_one(struct fixture *f, const char *dest, struct lt_claimed *row)
{
	struct lt_claim c = { .op.kind = LT_OP_CLAIM, .dest = dest, .max = 1, .now_ms = 1700000001000 };
	assert_int_equal(run(f, &c.op), 0);
	assert_int_equal(c.n, 1);
	*row = c.rows[0];
	row->body = NULL;
	lt_claim_release(&c);
	return 0;
}

/* One message routed to portal and postal, its portal delivery claimed. */
static void claimed(struct fixture *f, struct lt_claimed *row)
{
	int dup;
	assert_int_equal(ingest(f, "m1", "E1", "D1", &dup), 0);
	claim_one(f, "portal", row);
}

/* The registry's answer carries an event; the outcome's commit is reported
 * failed although it landed; the dispatcher writes the outcome again. */
static int finish(struct fixture *f, const struct lt_claimed *row, struct lt_finish *fin)
{
	memset(fin, 0, sizeof *fin);
	fin->op.kind = LT_OP_FINISH;
	fin->delivery_id = row->id;
	fin->dest = "portal";
	fin->dossier_code = row->dossier_code;
	fin->next = LT_DS_DONE;
	fin->attempt = row->attempts + 1;
	fin->status = 200;
	fin->at_ms = 1700000002000;
	snprintf(fin->sent_sha256, sizeof fin->sent_sha256, "%064d", 7);      /* it reached the wire */
	fin->carried = json_pack("[{s:s,s:s,s:s,s:s}]", "event_id", "CARRIED1", "dossier_code", row->dossier_code,
				 "type", "dossier.accepted", "occurred_at", "2026-11-24T08:05:00+07:00");
	fin->carried_routes = json_pack("[[s]]", "office");
	int rc = run(f, &fin->op);
	json_decref(fin->carried);
	json_decref(fin->carried_routes);
	return rc;
}

static void test_an_outcome_written_again_after_it_landed_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct lt_claimed row;
	claimed(f, &row);
	struct lt_finish fin;

	next_commit = LAND_THEN_FAIL;
	assert_int_equal(finish(f, &row, &fin), LT_EIO);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM events WHERE event_id = 'CARRIED1'"), 1);

	/* written again: no "event_id is already stored" for ever, no second
	 * carried event, no second attempt row, and the backlog is right */
	assert_int_equal(finish(f, &row, &fin), 0);
	assert_true(fin.recorded_before);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM events"), 2);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM attempts"), 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit WHERE direction = 'out'"), 1);
	assert_int_equal(count(f, "SELECT state FROM deliveries WHERE dest = 'portal'"), LT_DS_DONE);
	assert_int_equal(count(f, unfinished), 2);                     /* postal, and the carried one to office */
	assert_int_equal(lt_store_backlog(f->store), 2);
}

static void test_an_outcome_whose_commit_did_not_land_is_written_by_the_second_try(void **state)
{
	struct fixture *f = *state;
	struct lt_claimed row;
	claimed(f, &row);
	struct lt_finish fin;
	next_commit = FAIL;
	int rc = finish(f, &row, &fin);
	assert_int_equal(rc, LT_EIO);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM events WHERE event_id = 'CARRIED1'"), 0);

	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit WHERE direction = 'out'"), 0);
	assert_int_equal(finish(f, &row, &fin), 0);
	assert_false(fin.recorded_before);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit WHERE direction = 'out'"), 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM events WHERE event_id = 'CARRIED1'"), 1);
	assert_int_equal(count(f, unfinished), 2);
	assert_int_equal(lt_store_backlog(f->store), 2);
}


/* Ingests B, C (an event id already stored: refused after its message and
 * audit rows were written) and D in one batch: C is undone alone. */
static void test_an_op_refused_in_a_batch_is_undone_alone(void **state)
{
	struct fixture *f = *state;
	int dup;
	assert_int_equal(ingest(f, "m1", "E1", "D1", &dup), 0);
	struct lt_ingest in[4];
	int done[4] = { 0 };
	const char *ids[4][2] = { { "mA", "EA" }, { "mB", "EB" }, { "mC", "E1" }, { "mD", "ED" } };
	gate_closed = 1;
	for (int i = 0; i < 4; i++) {
		memset(&in[i], 0, sizeof in[i]);
		in[i].op.kind = LT_OP_INGEST;
		in[i].op.done = op_done;
		in[i].op.arg = &done[i];
		in[i].peer = "office";
		in[i].message_id = ids[i][0];
		in[i].now_ms = 1700000000000;
		snprintf(in[i].digest, sizeof in[i].digest, "%064d", i + 1);
		in[i].events = json_pack("[{s:s,s:s,s:s,s:s}]", "event_id", ids[i][1], "dossier_code", "D9", "type",
					 "dossier.received", "occurred_at", "2026-11-24T08:00:00+07:00");
		in[i].routes = json_pack("[[s]]", "portal");
		in[i].receipt = json_pack("{s:s}", "message_id", ids[i][0]);
		assert_int_equal(lt_store_submit(f->store, &in[i].op), 0);
		if (i == 0)
			usleep(100 * 1000);     /* the store thread takes A alone and waits at the gate */
	}
	gate_closed = 0;
	for (int i = 0; i < 5000 && !(done[0] && done[1] && done[2] && done[3]); i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(in[0].op.rc, 0);
	assert_int_equal(in[1].op.rc, 0);
	assert_int_equal(in[2].op.rc, LT_ECONFLICT);
	assert_non_null(strstr(in[2].op.err.msg, "already stored"));
	assert_int_equal(in[3].op.rc, 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM messages WHERE message_id IN ('mA', 'mB', 'mD')"), 3);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM messages WHERE message_id = 'mC'"), 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit WHERE message_id = 'mC'"), 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM events"), 4);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM deliveries WHERE dossier_code = 'D9'"), 3);
	/* the chain: A's delivery pending, B's and D's blocked behind it */
	assert_int_equal(count(f, "SELECT COUNT(*) FROM deliveries WHERE dossier_code = 'D9' AND state = 4"), 2);
	assert_int_equal(lt_store_backlog(f->store), 2 + 3);
	for (int i = 0; i < 4; i++) {
		json_decref(in[i].events);
		json_decref(in[i].routes);
		json_decref(in[i].receipt);
		json_decref(in[i].original);
	}
}

/* A dossier's row keeps the sequence number of its last event, so that numbering the next
 * one reads no index of all events (whose pages grow with history); a store made before the
 * column gains it when it opens and goes on numbering where its events stopped. */
static void test_a_dossier_numbers_its_events_from_its_row_also_in_a_store_made_before(void **state)
{
	struct fixture *f = *state;
	int dup;
	assert_int_equal(ingest(f, "m1", "e1", "D-1", &dup), 0);
	assert_int_equal(ingest(f, "m2", "e2", "D-1", &dup), 0);
	assert_int_equal(count(f, "SELECT last_seq FROM dossiers WHERE code = 'D-1'"), 2);
	assert_int_equal(count(f, "SELECT dossier_seq FROM events WHERE event_id = 'e2'"), 2);

	/* the same store as an earlier version left it: no last_seq column */
	lt_store_close(f->store);
	f->store = NULL;
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path + strlen("sqlite:"), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE dossiers DROP COLUMN last_seq", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct lt_err err = { 0 };
	assert_int_equal(lt_store_open_backend(&f->be, f->path, &f->cal, NULL, f->base, &f->store, &err), 0);
	assert_int_equal(ingest(f, "m3", "e3", "D-1", &dup), 0);
	assert_int_equal(ingest(f, "m4", "e4", "D-2", &dup), 0);
	assert_int_equal(ingest(f, "m5", "e5", "D-1", &dup), 0);
	assert_int_equal(count(f, "SELECT dossier_seq FROM events WHERE event_id = 'e3'"), 3);
	assert_int_equal(count(f, "SELECT dossier_seq FROM events WHERE event_id = 'e4'"), 1);
	assert_int_equal(count(f, "SELECT dossier_seq FROM events WHERE event_id = 'e5'"), 4);
	assert_int_equal(count(f, "SELECT last_seq FROM dossiers WHERE code = 'D-1'"), 4);
	assert_int_equal(count(f, "SELECT last_seq FROM dossiers WHERE code = 'D-2'"), 1);
}

/* What the delivery path runs for every event and every delivery must cost
 * the same with a million events stored: no scan of a table or of a whole
 * index, no sort, and no temporary table (SQLite builds one for an IN list of
 * more than two values, also in a partial index's condition, which every
 * write of a delivery evaluates). A store made by an earlier version loses
 * the index that had such a condition. */
static void test_the_delivery_path_walks_no_history(void **state)
{
	(void)state;
	static const int hot[] = { Q_MSG_GET, Q_MSG_PUT, Q_DOSSIER_SEQ, Q_EVENT_PUT, Q_CHAIN_BUSY, Q_DELIVERY_PUT,
				   Q_READY, Q_MARK_INFLIGHT, Q_NEXT_DUE, Q_ATTEMPT_PUT, Q_DONE, Q_RETRY, Q_PROMOTE,
				   Q_DOSSIER_GET, Q_DOSSIER_PUT, Q_AUDIT_PUT, Q_DELIVERY_EVENT };
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, lt_sq_schema, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE INDEX IF NOT EXISTS deliveries_chain ON deliveries(dest, dossier_code, id)"
				      " WHERE state IN (0, 1, 4)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, lt_sq_indexes, NULL, NULL, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof hot / sizeof *hot; i++) {
		char sql[2048];
		sqlite3_stmt *s;
		snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", lt_sq_sql[hot[i]]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *plan = (const char *)sqlite3_column_text(s, 3);
			/* "SCAN CONSTANT ROW": a SELECT without FROM (MAX of two subqueries), one row */
			if ((strncmp(plan, "SCAN ", 5) == 0 && strcmp(plan, "SCAN CONSTANT ROW")) || strstr(plan, "TEMP B-TREE") ||
			    strstr(plan, "deliveries_state"))
				fail_msg("statement %d walks history: %s (%s)", hot[i], plan, lt_sq_sql[hot[i]]);
		}
		sqlite3_finalize(s);
		snprintf(sql, sizeof sql, "EXPLAIN %s", lt_sq_sql[hot[i]]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW)
			if (strcmp((const char *)sqlite3_column_text(s, 1), "OpenEphemeral") == 0)
				fail_msg("statement %d builds a temporary table on every run: %s", hot[i], lt_sq_sql[hot[i]]);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
}

/* An ingest submitted without waiting for its answer (ingest_wait). */
struct pending {
	struct lt_ingest in;
	int done;
};

static void ingest_start(struct fixture *f, struct pending *p, const char *message_id, const char *event_id)
{
	memset(p, 0, sizeof *p);
	p->in = (struct lt_ingest){ .op.kind = LT_OP_INGEST, .peer = "office", .message_id = message_id,
				    .now_ms = 1700000000000 };
	snprintf(p->in.digest, sizeof p->in.digest, "%064d", 0);
	memcpy(p->in.digest, message_id, strlen(message_id));
	p->in.events = json_pack("[{s:s,s:s,s:s,s:s}]", "event_id", event_id, "dossier_code", event_id, "type",
				 "dossier.received", "occurred_at", "2026-11-24T08:00:00+07:00");
	p->in.routes = json_pack("[[s]]", "portal");
	p->in.receipt = json_pack("{s:s}", "message_id", message_id);
	p->in.op.done = op_done;
	p->in.op.arg = &p->done;
	assert_int_equal(lt_store_submit(f->store, &p->in.op), 0);
}

static int ingest_wait(struct fixture *f, struct pending *p)
{
	for (int i = 0; i < 5000 && !p->done; i++) {   /* at most 5 s */
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (!p->done)
			usleep(1000);
	}
	assert_true(p->done);
	json_decref(p->in.events);
	json_decref(p->in.routes);
	json_decref(p->in.receipt);
	json_decref(p->in.original);
	return p->in.op.rc;
}

/* Until `sql` counts n (another connection reads what was committed), at most 5 s. */
static void until_count(struct fixture *f, const char *sql, int64_t n)
{
	for (int i = 0; i < 5000 && count(f, sql) != n; i++)
		usleep(1000);
	assert_int_equal(count(f, sql), n);
}

static void until_sync_entered(int n)
{
	for (int i = 0; i < 5000 && __atomic_load_n(&sync_entered, __ATOMIC_SEQ_CST) < n; i++)
		usleep(1000);
	assert_true(__atomic_load_n(&sync_entered, __ATOMIC_SEQ_CST) >= n);
}

/* Pipelined: while one batch's fsync is under way, the store thread commits
 * the next one; neither is answered before a sync covered it. */
static void test_the_next_batch_is_written_while_a_sync_is_under_way(void **state)
{
	struct fixture *f = *state;
	struct pending a, b;
	sync_gate = 1;
	ingest_start(f, &a, "ma", "EA");
	until_sync_entered(1);
	ingest_start(f, &b, "mb", "EB");
	until_count(f, "SELECT COUNT(*) FROM messages WHERE message_id = 'mb'", 1);
	for (int i = 0; i < 50; i++) {                 /* 50 ms of the loop: nothing is answered */
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_false(a.done);
	assert_false(b.done);
	sync_gate = 0;
	assert_int_equal(ingest_wait(f, &a), 0);
	assert_int_equal(ingest_wait(f, &b), 0);
	assert_true(lt_store_healthy(f->store));
	assert_int_equal(lt_store_backlog(f->store), 2);
}

/* A failed fsync fails its batch and the batch written after it (its
 * writes follow the lost ones in the log), even when the next fsync would
 * succeed; the store then opens its files again and works. */
static void test_a_failed_sync_fails_every_batch_written_since_the_last_good_one(void **state)
{
	struct fixture *f = *state;
	struct pending a, b, c;
	sync_gate = 1;
	ingest_start(f, &a, "ma", "EA");
	until_sync_entered(1);
	ingest_start(f, &b, "mb", "EB");
	until_count(f, "SELECT COUNT(*) FROM messages WHERE message_id = 'mb'", 1);
	sync_fail = 1;
	sync_gate = 0;
	assert_int_equal(ingest_wait(f, &a), LT_EIO);
	assert_int_equal(ingest_wait(f, &b), LT_EIO);
	assert_false(lt_store_healthy(f->store));

	ingest_start(f, &c, "mc", "EC");
	assert_int_equal(ingest_wait(f, &c), 0);
	assert_true(lt_store_healthy(f->store));
	/* the senders send a and b again: stored, or the original answer if their
	 * writes had landed; the gauge counts what is on disk */
	ingest_start(f, &a, "ma", "EA");
	assert_int_equal(ingest_wait(f, &a), 0);
	ingest_start(f, &b, "mb", "EB");
	assert_int_equal(ingest_wait(f, &b), 0);
	assert_int_equal(count(f, unfinished), 3);
	assert_int_equal(lt_store_backlog(f->store), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_commit_reported_failed_that_landed_is_counted_in_the_backlog,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_outcome_written_again_after_it_landed_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_an_outcome_whose_commit_did_not_land_is_written_by_the_second_try,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_op_refused_in_a_batch_is_undone_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_dossier_numbers_its_events_from_its_row_also_in_a_store_made_before,
						setup, teardown),
		cmocka_unit_test(test_the_delivery_path_walks_no_history),
		cmocka_unit_test_setup_teardown(test_the_next_batch_is_written_while_a_sync_is_under_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_sync_fails_every_batch_written_since_the_last_good_one, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
