/* store_sqlite.c — the embedded default store's ops: one SQLite file in WAL
 * mode, used only by the store thread (its connection, transactions and
 * durable commits: store_sqlite_conn.c). */
#include "store_int.h"
#include "sla.h"
#include "log.h"
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* A dossier's state, and (last_seq not NULL) the dossier_seq of its last event: 0 when
 * not known (no row, or a row written before the column) — the caller reads it from events. */
static int dossier_get(struct sq *q, const char *code, struct lt_dossier *d, int64_t *last_seq, struct lt_err *err)
{
	memset(d, 0, sizeof *d);
	if (last_seq)
		*last_seq = 0;
	snprintf(d->code, sizeof d->code, "%s", code);
	sqlite3_stmt *s = stmt(q, Q_DOSSIER_GET);
	bind_text(s, 1, code);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		d->status = sqlite3_column_int(s, 1);
		copy_col(d->channel, sizeof d->channel, s, 2);
		copy_col(d->procedure, sizeof d->procedure, s, 3);
		copy_col(d->receiving_agency, sizeof d->receiving_agency, s, 4);
		copy_col(d->handling_agency, sizeof d->handling_agency, s, 5);
		d->received_at = sqlite3_column_int64(s, 6);
		d->due_at = sqlite3_column_int64(s, 7);
		d->resolved_at = sqlite3_column_int64(s, 8);
		d->returned_at = sqlite3_column_int64(s, 9);
		d->paused_at = sqlite3_column_int64(s, 10);
		d->apologies = sqlite3_column_int(s, 11);
		d->overdue_notified_for = sqlite3_column_int64(s, 12);
		copy_col(d->last_event, sizeof d->last_event, s, 13);
		d->last_at = sqlite3_column_int64(s, 14);
		if (last_seq)
			*last_seq = sqlite3_column_int64(s, 15);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? LT_OK : sq_fail(q, err, "reading dossier");
}

static int dossier_get_cb(void *db, const char *code, struct lt_dossier *d, struct lt_err *err)
{
	return dossier_get(db, code, d, NULL, err);
}

/* A dossier's events, the last 1000 as stored, appended in order to out. */
static int sq_dossier_events(void *db, const char *code, json_t *out, struct lt_err *err)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_DOSSIER_EVENTS);
	json_t *newest_first = json_array();
	int rc;
	bind_text(s, 1, code);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *body = (const char *)sqlite3_column_text(s, 0);
		json_t *ev = body ? json_loads(body, 0, NULL) : NULL;
		if (ev)
			json_array_append_new(newest_first, ev);
	}
	sqlite3_reset(s);
	for (size_t i = json_array_size(newest_first); i-- > 0;)
		json_array_append(out, json_array_get(newest_first, i));
	json_decref(newest_first);
	return rc == SQLITE_DONE ? LT_OK : sq_fail(q, err, "reading the dossier's events");
}

static int dossier_put(struct sq *q, const struct lt_dossier *d, int64_t last_seq, int64_t now_ms, struct lt_err *err)
{
	sqlite3_stmt *s = stmt(q, Q_DOSSIER_PUT);
	bind_text(s, 1, d->code);
	sqlite3_bind_int(s, 2, d->status);
	bind_text(s, 3, d->channel[0] ? d->channel : NULL);
	bind_text(s, 4, d->procedure[0] ? d->procedure : NULL);
	bind_text(s, 5, d->receiving_agency[0] ? d->receiving_agency : NULL);
	bind_text(s, 6, d->handling_agency[0] ? d->handling_agency : NULL);
	sqlite3_bind_int64(s, 7, d->received_at);
	sqlite3_bind_int64(s, 8, d->due_at);
	sqlite3_bind_int64(s, 9, d->resolved_at);
	sqlite3_bind_int64(s, 10, d->returned_at);
	sqlite3_bind_int64(s, 11, d->paused_at);
	sqlite3_bind_int(s, 12, d->apologies);
	sqlite3_bind_int64(s, 13, d->overdue_notified_for);
	bind_text(s, 14, d->last_event);
	sqlite3_bind_int64(s, 15, now_ms);
	sqlite3_bind_int64(s, 16, d->last_at);
	sqlite3_bind_int64(s, 17, last_seq);
	return sqlite3_step(s) == SQLITE_DONE ? LT_OK : sq_fail(q, err, "writing dossier");
}

/* Store events and one delivery per destination; a delivery waits
 * (blocked) behind an unfinished earlier one of the same dossier to the same
 * destination. Shared by inbound messages, carried events and polls. */
static int insert_events(struct sq *q, const char *source, const char *message_id, json_t *events, json_t *routes,
			 int64_t now_ms, struct lt_err *err)
{
	sqlite3_stmt *s;
	int rc;
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		const char *dossier = json_string_value(json_object_get(ev, "dossier_code"));
		json_t *dests = json_array_get(routes, i);
		/* the dossier's row keeps its last sequence number: a MAX over events_dossier read
		 * random pages of an index that grows with history (+23 % per event at 330 000) */
		struct lt_dossier dstate;
		int64_t dseq;
		if ((rc = dossier_get(q, dossier, &dstate, &dseq, err)))
			return rc;
		if (dseq > 0) {
			dseq++;
		} else {        /* a new dossier, or a row written before last_seq */
			s = stmt(q, Q_DOSSIER_SEQ);
			bind_text(s, 1, dossier);
			if (sqlite3_step(s) != SQLITE_ROW)
				return sq_fail(q, err, "reading dossier sequence");
			dseq = sqlite3_column_int64(s, 0);
			sqlite3_reset(s);
		}

		char *body = dump(ev);
		s = stmt(q, Q_EVENT_PUT);
		bind_text(s, 1, json_string_value(json_object_get(ev, "event_id")));
		bind_text(s, 2, dossier);
		sqlite3_bind_int64(s, 3, dseq);
		bind_text(s, 4, json_string_value(json_object_get(ev, "type")));
		bind_text(s, 5, source);
		bind_text(s, 6, message_id);
		sqlite3_bind_int64(s, 7, now_ms);
		sqlite3_bind_int(s, 8, (int)json_array_size(dests));
		bind_text(s, 9, body);
		free(body);
		if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
			if ((rc & 0xff) == SQLITE_CONSTRAINT)
				return lt_err_set(err, LT_ECONFLICT, "event_id %s is already stored; event ids must be unique",
						  json_string_value(json_object_get(ev, "event_id")));
			return sq_fail(q, err, "writing event");
		}
		int64_t seq = sqlite3_last_insert_rowid(q->db);
		lt_dossier_apply(q->cal, &dstate, ev);
		if ((rc = dossier_put(q, &dstate, dseq, now_ms, err)))
			return rc;

		size_t j;
		json_t *d;
		json_array_foreach(dests, j, d) {
			s = stmt(q, Q_CHAIN_BUSY);
			bind_text(s, 1, json_string_value(d));
			bind_text(s, 2, dossier);
			int busy = sqlite3_step(s) == SQLITE_ROW;
			sqlite3_reset(s);
			s = stmt(q, Q_DELIVERY_PUT);
			sqlite3_bind_int64(s, 1, seq);
			bind_text(s, 2, json_string_value(d));
			bind_text(s, 3, dossier);
			sqlite3_bind_int(s, 4, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			sqlite3_bind_int64(s, 5, now_ms);
			if (sqlite3_step(s) != SQLITE_DONE)
				return sq_fail(q, err, "writing delivery");
		}
	}
	return LT_OK;
}

/* Append one row to the audit trail, chained to the last one. */
static int audit_put(struct sq *q, struct lt_audit_row *r, struct lt_err *err)
{
	sqlite3_stmt *s;
	if (!q->audit_last[0]) {
		s = stmt(q, Q_AUDIT_LAST);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			snprintf(q->audit_last, sizeof q->audit_last, "%s", (const char *)sqlite3_column_text(s, 0));
		else if (rc == SQLITE_DONE)
			memset(q->audit_last, '0', 64);
		else
			return sq_fail(q, err, "reading the audit trail");
		q->audit_last[64] = '\0';
		sqlite3_reset(s);
	}
	char hash[65];
	r->prev = q->audit_last;
	lt_audit_hash(r, hash);
	s = stmt(q, Q_AUDIT_PUT);
	sqlite3_bind_int64(s, 1, r->at_ms);
	bind_text(s, 2, r->direction);
	bind_text(s, 3, r->peer);
	bind_text(s, 4, r->message_id);
	bind_text(s, 5, r->body_sha256);
	bind_text(s, 6, r->sig_sha256);
	bind_text(s, 7, r->prev);
	bind_text(s, 8, hash);
	bind_text(s, 9, r->trust ? r->trust : "");
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "writing the audit trail");
	memcpy(q->audit_last, hash, sizeof hash);
	return LT_OK;
}

/* A signed document already stored under another message id is a replay:
 * the same signed content from any peer, or the same signed identity from
 * this one. */
static int sq_replay(struct sq *q, struct lt_ingest *op)
{
	struct lt_err *err = &op->op.err;
	sqlite3_stmt *s;
	int rc = LT_OK, found;
	if (op->signed_digest[0]) {
		s = stmt(q, Q_MSG_BY_SIGNED_DIGEST);
		bind_text(s, 1, op->signed_digest);
		if ((found = sqlite3_step(s)) == SQLITE_ROW)
			rc = lt_err_set(err, LT_ECONFLICT, "replay: this signed document (the same signed content, "
					"SHA-256 %.16s…) was already received as message %.128s from peer %.64s",
					op->signed_digest, (const char *)sqlite3_column_text(s, 1),
					(const char *)sqlite3_column_text(s, 0));
		else if (found != SQLITE_DONE)
			return sq_fail(q, err, "reading messages");
		sqlite3_reset(s);
	}
	if (!rc && op->signed_id[0]) {
		s = stmt(q, Q_MSG_BY_SIGNED_ID);
		bind_text(s, 1, op->peer);
		bind_text(s, 2, op->signed_id);
		if ((found = sqlite3_step(s)) == SQLITE_ROW)
			rc = lt_err_set(err, LT_ECONFLICT, "replay: the signed message (%.320s) was already received as "
					"message %.128s", op->signed_id, (const char *)sqlite3_column_text(s, 0));
		else if (found != SQLITE_DONE)
			return sq_fail(q, err, "reading messages");
		sqlite3_reset(s);
	}
	op->replay = rc != LT_OK;
	return rc;
}

/* Bind text, or NULL for "". */
static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v && *v)
		bind_text(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static int sq_ingest(void *db, struct lt_ingest *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	sqlite3_stmt *s = stmt(q, Q_MSG_GET);
	bind_text(s, 1, op->peer);
	bind_text(s, 2, op->message_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		/* a signed document is the same when its signed content is */
		const char *was = (const char *)sqlite3_column_text(s, 2);
		int same = op->signed_digest[0] && was ? strcmp(was, op->signed_digest) == 0
						       : strcmp((const char *)sqlite3_column_text(s, 0), op->digest) == 0;
		if (!same) {
			sqlite3_reset(s);
			return lt_err_set(err, LT_ECONFLICT,
					  "message id %s was already used by peer %s for a different body",
					  op->message_id, op->peer);
		}
		op->duplicate = 1;
		op->original = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
		sqlite3_reset(s);
		return LT_OK;
	}
	if (rc != SQLITE_DONE)
		return sq_fail(q, err, "reading messages");
	if ((rc = sq_replay(q, op)))
		return rc;

	char *receipt = op->receipt_text ? NULL : dump(op->receipt);
	s = stmt(q, Q_MSG_PUT);
	bind_text(s, 1, op->peer);
	bind_text(s, 2, op->message_id);
	bind_text(s, 3, op->digest);
	sqlite3_bind_int64(s, 4, op->now_ms);
	bind_text(s, 5, receipt ? receipt : op->receipt_text);
	bind_opt(s, 6, op->signed_digest);
	bind_opt(s, 7, op->signed_id);
	free(receipt);
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "writing message");
	struct lt_audit_row in = { .at_ms = op->now_ms, .direction = "in", .peer = op->peer,
				   .message_id = op->message_id, .body_sha256 = op->digest, .sig_sha256 = op->sig_sha256,
				   .trust = op->trust };
	if ((rc = audit_put(q, &in, err)))
		return rc;

	if ((rc = insert_events(q, op->peer, op->message_id, op->events, op->routes, op->now_ms, err)))
		return rc;
	if (op->cursor) {
		s = stmt(q, Q_CURSOR_PUT);
		bind_text(s, 1, op->peer);
		bind_text(s, 2, op->cursor);
		sqlite3_bind_int64(s, 3, op->now_ms);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, err, "writing cursor");
	}
	return LT_OK;
}


static int sq_claim(void *db, struct lt_claim *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	op->rows = calloc((size_t)op->max, sizeof *op->rows);
	op->n = 0;
	sqlite3_stmt *s = stmt(q, Q_READY);
	bind_text(s, 1, op->dest);
	sqlite3_bind_int64(s, 2, op->now_ms);
	sqlite3_bind_int(s, 3, op->max);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct lt_claimed *c = &op->rows[op->n++];
		c->id = sqlite3_column_int64(s, 0);
		copy_col(c->event_id, sizeof c->event_id, s, 1);
		copy_col(c->dossier_code, sizeof c->dossier_code, s, 2);
		copy_col(c->type, sizeof c->type, s, 3);
		c->attempts = sqlite3_column_int(s, 4);
		c->created_at = sqlite3_column_int64(s, 5);
		c->body = strdup((const char *)sqlite3_column_text(s, 6));
		c->flags = sqlite3_column_int(s, 7);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		lt_claim_release(op);
		return sq_fail(q, err, "reading ready deliveries");
	}
	for (int i = 0; i < op->n; i++) {
		s = stmt(q, Q_MARK_INFLIGHT);
		sqlite3_bind_int64(s, 1, op->rows[i].id);
		sqlite3_bind_int64(s, 2, op->now_ms);
		if (sqlite3_step(s) != SQLITE_DONE) {
			lt_claim_release(op);
			return sq_fail(q, err, "claiming delivery");
		}
	}
	s = stmt(q, Q_NEXT_DUE);
	bind_text(s, 1, op->dest);
	op->next_due_ms = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return LT_OK;
}

static int sq_finish(void *db, struct lt_finish *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	sqlite3_stmt *s = stmt(q, Q_ATTEMPT_PUT);
	sqlite3_bind_int64(s, 1, op->delivery_id);
	sqlite3_bind_int(s, 2, op->attempt);
	sqlite3_bind_int64(s, 3, op->at_ms);
	sqlite3_bind_int64(s, 4, op->duration_ms);
	if (op->status)
		sqlite3_bind_int64(s, 5, op->status);
	bind_text(s, 6, op->error[0] ? op->error : NULL);
	bind_text(s, 7, lt_finish_outcome(op));
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "writing attempt");

	int again = op->next == LT_DS_PENDING;
	if (again) {
		s = stmt(q, Q_RETRY);
		sqlite3_bind_int64(s, 4, op->next_at_ms);
		sqlite3_bind_int(s, 8, op->flags);
	} else {
		s = stmt(q, Q_DONE);
		sqlite3_bind_int(s, 2, op->next);
	}
	sqlite3_bind_int64(s, 1, op->delivery_id);
	sqlite3_bind_int(s, again ? 2 : 3, op->attempt);
	sqlite3_bind_int64(s, again ? 3 : 4, op->at_ms + op->duration_ms);
	if (op->status)
		sqlite3_bind_int64(s, 5, op->status);
	bind_text(s, 6, op->error[0] ? op->error : NULL);
	bind_text(s, 7, op->response);
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "updating delivery");
	if (sqlite3_changes(q->db) == 0) {
		/* written again after a commit whose result was unknown, and that
		 * commit had reached the disk: its carried events and the chain's
		 * next delivery are there already */
		op->recorded_before = 1;
		return LT_OK;
	}
	if (op->sent_sha256[0]) {
		char mid[40];
		sqlite3_stmt *e = stmt(q, Q_DELIVERY_EVENT);
		sqlite3_bind_int64(e, 1, op->delivery_id);
		snprintf(mid, sizeof mid, "%s", sqlite3_step(e) == SQLITE_ROW ? (const char *)sqlite3_column_text(e, 0) : "");
		sqlite3_reset(e);
		struct lt_audit_row out = { .at_ms = op->at_ms, .direction = "out", .peer = op->dest, .message_id = mid,
					    .body_sha256 = op->sent_sha256, .sig_sha256 = op->sent_sig_sha256 };
		int rc = audit_put(q, &out, err);
		if (rc)
			return rc;
	}

	if (op->carried && json_array_size(op->carried)) {
		char mid[160];
		snprintf(mid, sizeof mid, "answer:%lld:%d", (long long)op->delivery_id, op->attempt);
		/* the answer they came in, and what vouched for it */
		struct lt_audit_row ans = { .at_ms = op->at_ms, .direction = "answer", .peer = op->dest, .message_id = mid,
					    .body_sha256 = op->answer_sha256, .sig_sha256 = op->answer_sig_sha256,
					    .trust = op->trust };
		int rc = audit_put(q, &ans, err);
		if (!rc)
			rc = insert_events(q, op->dest, mid, op->carried, op->carried_routes, op->at_ms, err);
		if (rc)
			return rc;
	}
	if (!again) {
		s = stmt(q, Q_PROMOTE);
		bind_text(s, 1, op->dest);
		bind_text(s, 2, op->dossier_code);
		sqlite3_bind_int64(s, 3, op->at_ms);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, err, "releasing the next delivery of the dossier");
	}
	return LT_OK;
}

static int sq_stats(void *db, struct lt_stats *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_STATS);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		lt_stats_add(op, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
			     sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_fail(q, &op->op.err, "reading queue figures");
	s = stmt(q, Q_COUNTS);
	if (sqlite3_step(s) == SQLITE_ROW) {
		op->events = sqlite3_column_int64(s, 0);
		op->messages = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return LT_OK;
}

static int sq_refusal(void *db, struct lt_refusal *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_REFUSAL);
	sqlite3_bind_int64(s, 1, op->at_ms);
	bind_text(s, 2, op->peer);
	bind_text(s, 3, op->message_id[0] ? op->message_id : NULL);
	sqlite3_bind_int(s, 4, op->status);
	bind_text(s, 5, op->reason);
	bind_text(s, 6, op->digest);
	return sqlite3_step(s) == SQLITE_DONE ? LT_OK : sq_fail(q, &op->op.err, "writing refusal");
}

static int sq_cursor(void *db, struct lt_cursor *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_CURSOR_GET);
	bind_text(s, 1, op->peer);
	int rc = sqlite3_step(s);
	const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
	snprintf(op->cursor, sizeof op->cursor, "%s", t ? (const char *)t : "");
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? LT_OK : sq_fail(q, &op->op.err, "reading cursor");
}

/* The watchdog: a dossier.overdue event for each dossier past its due date
 * that has none for that date yet, stored and routed like any event. */
static int sq_overdue(void *db, struct lt_overdue *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	int64_t now = op->now_ms / 1000;
	json_t *codes = json_array();
	sqlite3_stmt *s = stmt(q, Q_OVERDUE);
	sqlite3_bind_int64(s, 1, now);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(codes, json_string((const char *)sqlite3_column_text(s, 0)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(codes);
		return sq_fail(q, err, "looking for overdue dossiers");
	}
	rc = lt_store_overdue_build(op, codes, dossier_get_cb, q, err);
	json_decref(codes);
	if (rc)
		return rc;
	char mid[64];
	snprintf(mid, sizeof mid, "sla:%lld", (long long)op->now_ms);
	return insert_events(q, op->source, mid, op->events, op->routes, op->now_ms, err);
}

static int sq_unclaim(void *db, struct lt_release *op)
{
	struct sq *q = db;
	if (op->dest) {
		sqlite3_stmt *s = stmt(q, Q_UNCLAIM_DEST);
		bind_text(s, 1, op->dest);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, &op->op.err, "returning deliveries to the queue");
		op->n = sqlite3_changes(q->db);
		return LT_OK;
	}
	for (int i = 0; i < op->n; i++) {
		sqlite3_stmt *s = stmt(q, Q_UNCLAIM);
		sqlite3_bind_int64(s, 1, op->ids[i]);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, &op->op.err, "returning deliveries to the queue");
	}
	return LT_OK;
}

/* Replay or purge the dead letters matching the op's filters. */
static int sq_dlq(void *db, struct lt_dlq *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_DLQ_FIND);
	bind_text(s, 1, op->dest);
	bind_text(s, 2, op->dossier_code);
	sqlite3_bind_int64(s, 3, op->before_ms);
	char *ids = op->ids ? dump(op->ids) : NULL;
	bind_text(s, 4, ids);
	free(ids);
	sqlite3_bind_int(s, 5, LT_DLQ_BATCH);
	op->deliveries = json_array();
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(op->deliveries,
				      json_pack("{s:I,s:s,s:s,s:s}", "delivery_id", (json_int_t)sqlite3_column_int64(s, 0),
						"peer", sqlite3_column_text(s, 1), "dossier_code", sqlite3_column_text(s, 2),
						"message_id", sqlite3_column_text(s, 3)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_fail(q, &op->op.err, "finding dead letters");
	size_t i;
	json_t *d;
	json_array_foreach(op->deliveries, i, d) {
		sqlite3_int64 id = json_integer_value(json_object_get(d, "delivery_id"));
		if (op->action == LT_DLQ_REPLAY) {
			/* behind the dossier's chain to that peer if it has one, as at intake */
			s = stmt(q, Q_CHAIN_BUSY);
			bind_text(s, 1, json_string_value(json_object_get(d, "peer")));
			bind_text(s, 2, json_string_value(json_object_get(d, "dossier_code")));
			int busy = sqlite3_step(s) == SQLITE_ROW;
			sqlite3_reset(s);
			s = stmt(q, Q_DLQ_REPLAY);
			sqlite3_bind_int64(s, 1, id);
			sqlite3_bind_int(s, 2, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			sqlite3_bind_int64(s, 3, op->now_ms);
			if (sqlite3_step(s) != SQLITE_DONE)
				return sq_fail(q, &op->op.err, "replaying a dead letter");
		} else {
			for (int k = Q_DLQ_PURGE_ATTEMPTS; k <= Q_DLQ_PURGE; k++) {
				s = stmt(q, k);
				sqlite3_bind_int64(s, 1, id);
				if (sqlite3_step(s) != SQLITE_DONE)
					return sq_fail(q, &op->op.err, "purging a dead letter");
			}
		}
		/* who asked, in the same commit as the change */
		struct lt_audit_row row = { .at_ms = op->now_ms, .peer = json_string_value(json_object_get(d, "peer")),
					    .message_id = json_string_value(json_object_get(d, "message_id")),
					    .direction = op->action == LT_DLQ_REPLAY ? "replay" : "purge",
					    .body_sha256 = "", .sig_sha256 = "", .trust = op->who ? op->who : "" };
		if ((rc = audit_put(q, &row, &op->op.err)))
			return rc;
	}
	return LT_OK;
}

static int sq_prune(void *db, struct lt_prune *op);

const struct lt_store_backend lt_store_sqlite = {
	.scheme = "sqlite:",
	.open = lt_sq_open,
	.close = lt_sq_close,
	.detach = lt_sq_detach,
	.recover = lt_sq_recover,
	.count_backlog = lt_sq_count_backlog,
	.begin = lt_sq_begin,
	.commit = lt_sq_commit,
	.commit_lazy = lt_sq_commit_lazy,
	.sync = lt_sq_sync,
	.checkpoint = lt_sq_checkpoint,
	.rollback = lt_sq_rollback,
	.savepoint = lt_sq_savepoint,
	.release = lt_sq_release,
	.ingest = sq_ingest,
	.claim = sq_claim,
	.finish = sq_finish,
	.stats = sq_stats,
	.refusal = sq_refusal,
	.cursor = sq_cursor,
	.overdue = sq_overdue,
	.unclaim = sq_unclaim,
	.dlq = sq_dlq,
	.dossier_events = sq_dossier_events,
	.prune = sq_prune,
};

/* ---- retention (store_prune.c) ---- */

/* The pruning's statements (store_prune.c's constant texts), prepared once
 * per connection; finalized when it closes (sq_detach). */
#define PRUNE_STMTS 24
static struct {
	sqlite3 *db;
	const char *sql;
	sqlite3_stmt *st;
} prune_stmts[PRUNE_STMTS];

void lt_sq_prune_forget(sqlite3 *db)
{
	for (int i = 0; i < PRUNE_STMTS; i++)
		if (prune_stmts[i].db == db && db) {
			sqlite3_finalize(prune_stmts[i].st);
			prune_stmts[i].db = NULL;
			prune_stmts[i].sql = NULL;
			prune_stmts[i].st = NULL;
		}
}

static sqlite3_stmt *prune_stmt(struct sq *q, const char *sql)
{
	int free_slot = -1;
	for (int i = 0; i < PRUNE_STMTS; i++) {
		if (prune_stmts[i].db == q->db && prune_stmts[i].sql == sql) {
			sqlite3_reset(prune_stmts[i].st);
			sqlite3_clear_bindings(prune_stmts[i].st);
			return prune_stmts[i].st;
		}
		if (!prune_stmts[i].db && free_slot < 0)
			free_slot = i;
	}
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v3(q->db, sql, -1, free_slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &s, NULL))
		return NULL;
	if (free_slot >= 0) {
		prune_stmts[free_slot].db = q->db;
		prune_stmts[free_slot].sql = sql;
		prune_stmts[free_slot].st = s;
	}
	return s;
}

static int cached(struct sq *q, sqlite3_stmt *s)
{
	for (int i = 0; i < PRUNE_STMTS; i++)
		if (prune_stmts[i].db == q->db && prune_stmts[i].st == s)
			return 1;
	return 0;
}

/* A statement of the pruning, its $N parameters bound as text (a column's
 * affinity compares them as numbers). */
static int sq_sql(void *db, const char *sql, int nargs, const char *const *args, lt_store_row_fn *row, void *arg,
		  int64_t *changed, struct lt_err *err)
{
	struct sq *q = db;
	sqlite3_stmt *s = prune_stmt(q, sql);
	if (!s)
		return sq_fail(q, err, "pruning");
	for (int i = 0; i < nargs; i++) {
		char name[8];
		snprintf(name, sizeof name, "$%d", i + 1);
		int at = sqlite3_bind_parameter_index(s, name);
		if (at)
			sqlite3_bind_text(s, at, args[i], -1, SQLITE_STATIC);
	}
	int rc, ncols = sqlite3_column_count(s), stop = 0;
	const char *vals[16];
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW && row) {
		for (int i = 0; i < ncols && i < 16; i++)
			vals[i] = (const char *)sqlite3_column_text(s, i);
		stop = row(arg, ncols < 16 ? ncols : 16, vals);
	}
	if (!stop && rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_fail(q, err, "pruning");
	else if (changed)
		*changed = sqlite3_changes(q->db);
	int failed = !stop && rc != SQLITE_DONE && rc != SQLITE_ROW;
	if (cached(q, s))
		sqlite3_reset(s);
	else
		sqlite3_finalize(s);
	return failed ? LT_EIO : LT_OK;
}

static int sq_prune(void *db, struct lt_prune *op)
{
	struct sq *q = db;
	q->err = &op->op.err;
	return lt_store_prune_run(op, sq_sql, q);
}
