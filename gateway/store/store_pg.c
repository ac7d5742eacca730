/* store_pg.c — the shared store: one PostgreSQL database for several
 * gateway nodes, used only by each node's store thread.
 *
 * The same tables and the same semantics as store_sqlite.c, plus what
 * several writers need:
 * - claims take ready rows with FOR UPDATE SKIP LOCKED and give each a
 *   lease (`lease_until`, the database's clock) and the claiming `node`;
 *   a node renews its leases while it lives, so a dead node's deliveries
 *   come back to the queue when their lease runs out, and any node takes them;
 * - every op that appends to the audit trail (one hash chain for all nodes)
 *   or adds to or advances a dossier's chain (intake, outcomes, carried
 *   events, the SLA sweep, dead-letter replay) first takes one advisory lock,
 *   the journal lock, held until commit: such transactions run one at a time
 *   as under SQLite's single writer (claims, reads and renewals do not wait);
 *   a unique index on a chain's head (state 0 or 1) makes "one delivery of a
 *   dossier in flight per destination" a constraint of the database as well;
 * - a message id stored by another node at the same moment is read back as a
 *   duplicate (or a conflict) instead of failing.
 * Lock order (issue 14: two nodes deadlocked, a claim's row locks against the
 * journal lock): a transaction that will take the journal lock takes it
 * first, at BEGIN (pg_lock_batch: ingest, overdue, dlq, prune, and a finish
 * that is not a plain retry), before any row lock; store.c runs a batch's
 * claims last, because FOR UPDATE SKIP LOCKED may keep a lock on a row that
 * another node claimed meanwhile (locked, rechecked, skipped), so a
 * transaction holding claim locks never waits for anything after them. Other
 * row writes without the journal lock (a retry's update, unclaim, lease
 * renewal, recovery) touch only this node's own claimed rows. So a waiter for
 * the journal lock holds no row, and a row lock is waited for only behind a
 * claim (which waits for nothing) or behind a node that took over a lease ran
 * out; what is left (two nodes each holding the other's run-out lease) ends
 * in PostgreSQL's 40P01, and store.c runs the batch again at once (counted in
 * lienthong_store_retries_total). Reads (dossier events, stats) take no lock.
 * The journal lock stays one, not one per dossier: nearly every op that takes
 * it appends to the audit trail, one hash chain for all nodes, so a lock per
 * dossier would still meet at the trail's end, and would need its own order
 * (an ingest of several dossiers, carried events, a sweep whose dossiers are
 * known only after a query). Two nodes scale writes once the trail is chained
 * otherwise (per node, or after commit by one writer).
 * This file has the ops; the connection, transactions and leases are in
 * store_pg_conn.c, the tables and statements in store_pg_sql.c. */
#include "store_int.h"
#include "sla.h"
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_col(char *dst, size_t n, const PGresult *r, int row, int col)
{
	snprintf(dst, n, "%s", PQgetvalue(r, row, col));
}

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* Append one row to the audit trail, chained to the last one, whichever
 * node wrote it. */
static int audit_put(struct lt_pg *p, struct lt_audit_row *row, struct lt_err *err)
{
	if (lt_pg_lock_journal(p, err))
		return LT_EIO;
	if (!p->audit_last[0]) {
		PGresult *r = lt_pg_run(p, Q_AUDIT_LAST, NULL, err, "reading the audit trail");
		if (!r)
			return LT_EIO;
		if (PQntuples(r))
			snprintf(p->audit_last, sizeof p->audit_last, "%s", PQgetvalue(r, 0, 0));
		else
			memset(p->audit_last, '0', 64);
		p->audit_last[64] = '\0';
		PQclear(r);
	}
	char hash[65];
	row->prev = p->audit_last;
	lt_audit_hash(row, hash);
	struct lt_pg_args a = { 0 };
	a_int(&a, row->at_ms);
	a_str(&a, row->direction);
	a_str(&a, row->peer);
	a_str(&a, row->message_id);
	a_str(&a, row->body_sha256);
	a_str(&a, row->sig_sha256);
	a_str(&a, row->prev);
	a_str(&a, hash);
	a_str(&a, row->trust ? row->trust : "");
	if (lt_pg_exec(p, Q_AUDIT_PUT, &a, err, "writing the audit trail", NULL))
		return LT_EIO;
	memcpy(p->audit_last, hash, sizeof hash);
	return LT_OK;
}

/* A dossier's state, and (last_seq not NULL) the dossier_seq of its last event: 0 when
 * not known (no row, or a row written before the column) — the caller reads it from events. */
static int dossier_get(struct lt_pg *p, const char *code, struct lt_dossier *d, int64_t *last_seq,
		       struct lt_err *err)
{
	memset(d, 0, sizeof *d);
	if (last_seq)
		*last_seq = 0;
	snprintf(d->code, sizeof d->code, "%s", code);
	struct lt_pg_args a = { .v = { code }, .n = 1 };
	PGresult *r = lt_pg_run(p, Q_DOSSIER_GET, &a, err, "reading dossier");
	if (!r)
		return LT_EIO;
	if (PQntuples(r)) {
		d->status = (int)lt_pg_col(r, 0, 1);
		copy_col(d->channel, sizeof d->channel, r, 0, 2);
		copy_col(d->procedure, sizeof d->procedure, r, 0, 3);
		copy_col(d->receiving_agency, sizeof d->receiving_agency, r, 0, 4);
		copy_col(d->handling_agency, sizeof d->handling_agency, r, 0, 5);
		d->received_at = lt_pg_col(r, 0, 6);
		d->due_at = lt_pg_col(r, 0, 7);
		d->resolved_at = lt_pg_col(r, 0, 8);
		d->returned_at = lt_pg_col(r, 0, 9);
		d->paused_at = lt_pg_col(r, 0, 10);
		d->apologies = (int)lt_pg_col(r, 0, 11);
		d->overdue_notified_for = lt_pg_col(r, 0, 12);
		copy_col(d->last_event, sizeof d->last_event, r, 0, 13);
		d->last_at = lt_pg_col(r, 0, 14);
		if (last_seq)
			*last_seq = lt_pg_col(r, 0, 15);
	}
	PQclear(r);
	return LT_OK;
}

static int dossier_get_cb(void *db, const char *code, struct lt_dossier *d, struct lt_err *err)
{
	return dossier_get(db, code, d, NULL, err);
}

/* A dossier's events, the last 1000 as stored, appended in order to out. */
static int pg_dossier_events(void *db, const char *code, json_t *out, struct lt_err *err)
{
	struct lt_pg_args a = { .v = { code }, .n = 1 };
	PGresult *r = lt_pg_run(db, Q_DOSSIER_EVENTS, &a, err, "reading the dossier's events");
	if (!r)
		return LT_EIO;
	for (int i = PQntuples(r) - 1; i >= 0; i--) {
		json_t *ev = json_loads(PQgetvalue(r, i, 0), 0, NULL);
		if (ev)
			json_array_append_new(out, ev);
	}
	PQclear(r);
	return LT_OK;
}

static int dossier_put(struct lt_pg *p, const struct lt_dossier *d, int64_t last_seq, int64_t now_ms,
		       struct lt_err *err)
{
	struct lt_pg_args a = { 0 };
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
	a_int(&a, d->last_at);
	a_int(&a, last_seq);
	return lt_pg_exec(p, Q_DOSSIER_PUT, &a, err, "writing dossier", NULL);
}

/* Whether the dossier's chain to dest has an unfinished delivery. */
static int chain_busy(struct lt_pg *p, const char *dest, const char *dossier, int *busy, struct lt_err *err)
{
	struct lt_pg_args a = { .v = { dest, dossier }, .n = 2 };
	PGresult *r = lt_pg_run(p, Q_CHAIN_BUSY, &a, err, "reading the dossier's deliveries");
	if (!r)
		return LT_EIO;
	*busy = PQntuples(r) > 0;
	PQclear(r);
	return LT_OK;
}

/* Store events and one delivery per destination; a delivery waits
 * (blocked) behind an unfinished earlier one of the same dossier to the same
 * destination. Shared by inbound messages, carried events and the sweep. */
static int insert_events(struct lt_pg *p, const char *source, const char *message_id, json_t *events, json_t *routes,
			 int64_t now_ms, struct lt_err *err)
{
	int rc;
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		const char *dossier = json_string_value(json_object_get(ev, "dossier_code"));
		const char *event_id = json_string_value(json_object_get(ev, "event_id"));
		json_t *dests = json_array_get(routes, i);
		if ((rc = lt_pg_lock_journal(p, err)))
			return rc;
		/* the dossier's row keeps its last sequence number (no MAX over events_dossier,
		 * whose pages grow with history); the journal lock makes it one writer at a time */
		struct lt_dossier dstate;
		int64_t dseq;
		if ((rc = dossier_get(p, dossier, &dstate, &dseq, err)))
			return rc;
		struct lt_pg_args a = { 0 };
		PGresult *r;
		if (dseq > 0) {
			dseq++;
		} else {        /* a new dossier, or a row written before last_seq */
			a_str(&a, dossier);
			r = lt_pg_run(p, Q_DOSSIER_SEQ, &a, err, "reading dossier sequence");
			if (!r)
				return LT_EIO;
			dseq = lt_pg_col(r, 0, 0);
			PQclear(r);
		}

		char *body = dump(ev);
		a = (struct lt_pg_args){ 0 };
		a_str(&a, event_id);
		a_str(&a, dossier);
		a_int(&a, dseq);
		a_str(&a, json_string_value(json_object_get(ev, "type")));
		a_str(&a, source);
		a_str(&a, message_id);
		a_int(&a, now_ms);
		a_int(&a, (int64_t)json_array_size(dests));
		a_str(&a, body);
		r = lt_pg_run(p, Q_EVENT_PUT, &a, err, "writing event");
		free(body);
		if (!r)
			return strcmp(p->sqlstate, "23505") ? LT_EIO
			       : lt_err_set(err, LT_ECONFLICT, "event_id %s is already stored; event ids must be unique",
					    event_id);
		int64_t seq = lt_pg_col(r, 0, 0);
		PQclear(r);
		lt_dossier_apply(p->cal, &dstate, ev);
		if ((rc = dossier_put(p, &dstate, dseq, now_ms, err)))
			return rc;

		size_t j;
		json_t *d;
		json_array_foreach(dests, j, d) {
			int busy;
			if ((rc = chain_busy(p, json_string_value(d), dossier, &busy, err)))
				return rc;
			a = (struct lt_pg_args){ 0 };
			a_int(&a, seq);
			a_str(&a, json_string_value(d));
			a_str(&a, dossier);
			a_int(&a, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			a_int(&a, now_ms);
			if (lt_pg_exec(p, Q_DELIVERY_PUT, &a, err, "writing delivery", NULL))
				return LT_EIO;
		}
	}
	return LT_OK;
}

/* A message id seen before: the original receipt if the body is the same. */
static int seen_before(struct lt_pg *p, struct lt_ingest *op, int *seen)
{
	struct lt_err *err = &op->op.err;
	struct lt_pg_args a = { .v = { op->peer, op->message_id }, .n = 2 };
	PGresult *r = lt_pg_run(p, Q_MSG_GET, &a, err, "reading messages");
	if (!r)
		return LT_EIO;
	*seen = PQntuples(r) > 0;
	int rc = LT_OK;
	/* a signed document is the same when its signed content is */
	int same = !*seen || (op->signed_digest[0] && !PQgetisnull(r, 0, 2)
			      ? strcmp(PQgetvalue(r, 0, 2), op->signed_digest) == 0
			      : strcmp(PQgetvalue(r, 0, 0), op->digest) == 0);
	if (!same)
		rc = lt_err_set(err, LT_ECONFLICT, "message id %s was already used by peer %s for a different body",
				op->message_id, op->peer);
	else if (*seen) {
		op->duplicate = 1;
		op->original = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
	}
	PQclear(r);
	return rc;
}

/* Whether a stored row is op's own message, stored by another node since
 * seen_before looked: then it is a duplicate (Q_MSG_PUT finds it), not a replay. */
static int this_message(const struct lt_ingest *op, const char *peer, const char *message_id)
{
	return strcmp(peer, op->peer) == 0 && strcmp(message_id, op->message_id) == 0;
}

/* A signed document already stored under another message id is a replay:
 * the same signed content from any peer, or the same signed identity from
 * this one. Runs under the journal lock, so two nodes cannot both take one. */
static int pg_replay(struct lt_pg *p, struct lt_ingest *op)
{
	struct lt_err *err = &op->op.err;
	int rc = LT_OK;
	if (op->signed_digest[0]) {
		struct lt_pg_args a = { .v = { op->signed_digest }, .n = 1 };
		PGresult *r = lt_pg_run(p, Q_MSG_BY_SIGNED_DIGEST, &a, err, "reading messages");
		if (!r)
			return LT_EIO;
		if (PQntuples(r) && !this_message(op, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1)))
			rc = lt_err_set(err, LT_ECONFLICT, "replay: this signed document (the same signed content, "
					"SHA-256 %.16s…) was already received as message %.128s from peer %.64s",
					op->signed_digest, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	if (!rc && op->signed_id[0]) {
		struct lt_pg_args a = { .v = { op->peer, op->signed_id }, .n = 2 };
		PGresult *r = lt_pg_run(p, Q_MSG_BY_SIGNED_ID, &a, err, "reading messages");
		if (!r)
			return LT_EIO;
		if (PQntuples(r) && !this_message(op, op->peer, PQgetvalue(r, 0, 0)))
			rc = lt_err_set(err, LT_ECONFLICT, "replay: the signed message (%.320s) was already received as "
					"message %.128s", op->signed_id, PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	op->replay = rc != LT_OK;
	return rc;
}

static int pg_ingest(void *db, struct lt_ingest *op)
{
	struct lt_pg *p = db;
	struct lt_err *err = &op->op.err;
	int seen, rc;
	if ((rc = seen_before(p, op, &seen)) || seen || (rc = lt_pg_lock_journal(p, err)))
		return rc;
	if ((rc = pg_replay(p, op)))
		return rc;

	char *receipt = op->receipt_text ? NULL : dump(op->receipt);
	struct lt_pg_args a = { 0 };
	a_str(&a, op->peer);
	a_str(&a, op->message_id);
	a_str(&a, op->digest);
	a_int(&a, op->now_ms);
	a_str(&a, receipt ? receipt : op->receipt_text);
	a_str(&a, op->signed_digest[0] ? op->signed_digest : NULL);
	a_str(&a, op->signed_id[0] ? op->signed_id : NULL);
	int stored = 0;
	rc = lt_pg_exec(p, Q_MSG_PUT, &a, err, "writing message", &stored);
	free(receipt);
	if (rc)
		return rc;
	if (!stored) {
		/* another node stored this id after we looked, and has committed it */
		if ((rc = seen_before(p, op, &seen)))
			return rc;
		return seen ? LT_OK : lt_err_set(err, LT_EIO, "store: message %s: stored and gone at once", op->message_id);
	}
	struct lt_audit_row in = { .at_ms = op->now_ms, .direction = "in", .peer = op->peer,
				   .message_id = op->message_id, .body_sha256 = op->digest, .sig_sha256 = op->sig_sha256,
				   .trust = op->trust };
	if ((rc = audit_put(p, &in, err)))
		return rc;
	if ((rc = insert_events(p, op->peer, op->message_id, op->events, op->routes, op->now_ms, err)))
		return rc;
	if (op->cursor) {
		a = (struct lt_pg_args){ 0 };
		a_str(&a, op->peer);
		a_str(&a, op->cursor);
		a_int(&a, op->now_ms);
		return lt_pg_exec(p, Q_CURSOR_PUT, &a, err, "writing cursor", NULL);
	}
	return LT_OK;
}

/* When the dispatcher should look again: the earliest pending delivery, the
 * earliest of another node's leases to run out, and at least every second,
 * for deliveries other nodes stored meanwhile. */
static int64_t next_look(const struct lt_pg *p, const struct lt_claim *op, const PGresult *r)
{
	int64_t poll = op->now_ms + (p->lease_ms / 4 < 1000 ? p->lease_ms / 4 : 1000);
	int64_t next = PQgetisnull(r, 0, 0) ? poll : lt_pg_col(r, 0, 0);
	if (!PQgetisnull(r, 0, 1)) {
		int64_t wait = lt_pg_col(r, 0, 1);
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
	struct lt_pg *p = db;
	struct lt_err *err = &op->op.err;
	op->rows = calloc((size_t)op->max, sizeof *op->rows);
	op->n = 0;
	struct lt_pg_args a = { 0 };
	a_str(&a, op->dest);
	a_int(&a, op->now_ms);
	a_int(&a, op->max);
	a_str(&a, p->node);
	PGresult *r = lt_pg_run(p, Q_READY, &a, err, "reading ready deliveries");
	if (!r) {
		lt_claim_release(op);
		return LT_EIO;
	}
	struct lt_buf ids = { 0 };
	lt_buf_append(&ids, "{", 1);
	for (int i = 0; i < PQntuples(r) && op->n < op->max; i++) {
		struct lt_claimed *c = &op->rows[op->n++];
		c->id = lt_pg_col(r, i, 0);
		copy_col(c->event_id, sizeof c->event_id, r, i, 1);
		copy_col(c->dossier_code, sizeof c->dossier_code, r, i, 2);
		copy_col(c->type, sizeof c->type, r, i, 3);
		c->attempts = (int)lt_pg_col(r, i, 4);
		c->created_at = lt_pg_col(r, i, 5);
		c->body = strdup(PQgetvalue(r, i, 6));
		c->flags = (int)lt_pg_col(r, i, 7);
		lt_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)c->id);
	}
	PQclear(r);
	lt_buf_append(&ids, "}", 1);
	int rc = LT_OK;
	if (op->n) {
		a = (struct lt_pg_args){ 0 };
		a_str(&a, ids.data);
		a_int(&a, op->now_ms);
		a_str(&a, p->node);
		a_int(&a, p->lease_ms);
		rc = lt_pg_exec(p, Q_MARK_INFLIGHT, &a, err, "claiming deliveries", NULL);
	}
	lt_buf_free(&ids);
	if (!rc) {
		a = (struct lt_pg_args){ 0 };
		a_str(&a, op->dest);
		a_str(&a, p->node);
		if (!(r = lt_pg_run(p, Q_NEXT_DUE, &a, err, "reading when the next delivery is due")))
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
	struct lt_pg *p = db;
	struct lt_err *err = &op->op.err;
	int again = op->next == LT_DS_PENDING;
	int rc;
	/* releasing the chain's next delivery, the audit trail, carried events: under the journal lock */
	if ((!again || op->sent_sha256[0] || json_array_size(op->carried)) &&
	    (rc = lt_pg_lock_journal(p, err)))
		return rc;
	struct lt_pg_args a = { 0 };
	a_int(&a, op->delivery_id);
	a_int(&a, op->attempt);
	a_int(&a, op->at_ms);
	a_int(&a, op->duration_ms);
	a_status(&a, op->status);
	a_str(&a, op->error[0] ? op->error : NULL);
	a_str(&a, lt_finish_outcome(op));
	if (lt_pg_exec(p, Q_ATTEMPT_PUT, &a, err, "writing attempt", NULL))
		return LT_EIO;

	a = (struct lt_pg_args){ 0 };
	a_int(&a, op->delivery_id);
	if (!again)
		a_int(&a, op->next);
	a_int(&a, op->attempt);
	a_int(&a, op->at_ms + op->duration_ms);
	if (again)
		a_int(&a, op->next_at_ms);
	a_status(&a, op->status);
	a_str(&a, op->error[0] ? op->error : NULL);
	a_str(&a, op->response);
	if (again)
		a_int(&a, op->flags);
	int changed = 0;
	if (lt_pg_exec(p, again ? Q_RETRY : Q_DONE, &a, err, "updating delivery", &changed))
		return LT_EIO;
	if (changed == 0) {
		/* written again after a commit whose result was unknown, and that
		 * commit had reached the database: its carried events and the
		 * chain's next delivery are there already */
		op->recorded_before = 1;
		return LT_OK;
	}
	if (op->sent_sha256[0]) {
		a = (struct lt_pg_args){ 0 };
		a_int(&a, op->delivery_id);
		PGresult *r = lt_pg_run(p, Q_DELIVERY_EVENT, &a, err, "reading the delivery's event");
		if (!r)
			return LT_EIO;
		char mid[40];
		snprintf(mid, sizeof mid, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
		PQclear(r);
		struct lt_audit_row out = { .at_ms = op->at_ms, .direction = "out", .peer = op->dest, .message_id = mid,
					    .body_sha256 = op->sent_sha256, .sig_sha256 = op->sent_sig_sha256 };
		if ((rc = audit_put(p, &out, err)))
			return rc;
	}

	if (op->carried && json_array_size(op->carried)) {
		char mid[160];
		snprintf(mid, sizeof mid, "answer:%lld:%d", (long long)op->delivery_id, op->attempt);
		/* the answer they came in, and what vouched for it */
		struct lt_audit_row ans = { .at_ms = op->at_ms, .direction = "answer", .peer = op->dest, .message_id = mid,
					    .body_sha256 = op->answer_sha256, .sig_sha256 = op->answer_sig_sha256,
					    .trust = op->trust };
		if ((rc = audit_put(p, &ans, err)) ||
		    (rc = insert_events(p, op->dest, mid, op->carried, op->carried_routes, op->at_ms, err)))
			return rc;
	}
	if (!again) {
		a = (struct lt_pg_args){ 0 };
		a_str(&a, op->dest);
		a_str(&a, op->dossier_code);
		a_int(&a, op->at_ms);
		return lt_pg_exec(p, Q_PROMOTE, &a, err, "releasing the next delivery of the dossier", NULL);
	}
	return LT_OK;
}

static int pg_stats(void *db, struct lt_stats *op)
{
	struct lt_pg *p = db;
	PGresult *r = lt_pg_run(p, Q_STATS, NULL, &op->op.err, "reading queue figures");
	if (!r)
		return LT_EIO;
	for (int i = 0; i < PQntuples(r); i++)
		lt_stats_add(op, PQgetvalue(r, i, 0), (int)lt_pg_col(r, i, 1), lt_pg_col(r, i, 2), lt_pg_col(r, i, 3));
	PQclear(r);
	if (!(r = lt_pg_run(p, Q_COUNTS, NULL, &op->op.err, "counting events")))
		return LT_EIO;
	op->events = lt_pg_col(r, 0, 0);
	op->messages = lt_pg_col(r, 0, 1);
	PQclear(r);
	return LT_OK;
}

static int pg_refusal(void *db, struct lt_refusal *op)
{
	struct lt_pg_args a = { 0 };
	a_int(&a, op->at_ms);
	a_str(&a, op->peer);
	a_str(&a, op->message_id[0] ? op->message_id : NULL);
	a_int(&a, op->status);
	a_str(&a, op->reason);
	a_str(&a, op->digest);
	return lt_pg_exec(db, Q_REFUSAL, &a, &op->op.err, "writing refusal", NULL);
}

static int pg_cursor(void *db, struct lt_cursor *op)
{
	struct lt_pg_args a = { .v = { op->peer }, .n = 1 };
	PGresult *r = lt_pg_run(db, Q_CURSOR_GET, &a, &op->op.err, "reading cursor");
	if (!r)
		return LT_EIO;
	snprintf(op->cursor, sizeof op->cursor, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return LT_OK;
}

/* The watchdog: a dossier.overdue event for each dossier past its due date
 * that has none for that date yet, stored and routed like any event. Under
 * the journal lock, so that two nodes sweeping at once emit one. */
static int pg_overdue(void *db, struct lt_overdue *op)
{
	struct lt_pg *p = db;
	struct lt_err *err = &op->op.err;
	int64_t now = op->now_ms / 1000;
	if (lt_pg_lock_journal(p, err))
		return LT_EIO;
	struct lt_pg_args a = { 0 };
	a_int(&a, now);
	PGresult *r = lt_pg_run(p, Q_OVERDUE, &a, err, "looking for overdue dossiers");
	if (!r)
		return LT_EIO;
	json_t *codes = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(codes, json_string(PQgetvalue(r, i, 0)));
	PQclear(r);
	int rc = lt_store_overdue_build(op, codes, dossier_get_cb, p, err);
	json_decref(codes);
	if (rc)
		return rc;
	char mid[64];
	snprintf(mid, sizeof mid, "sla:%lld", (long long)op->now_ms);
	return insert_events(p, op->source, mid, op->events, op->routes, op->now_ms, err);
}

static int pg_unclaim(void *db, struct lt_release *op)
{
	struct lt_pg *p = db;
	struct lt_pg_args a = { 0 };
	if (op->dest) {
		a_str(&a, op->dest);
		a_str(&a, p->node);
		return lt_pg_exec(p, Q_UNCLAIM_DEST, &a, &op->op.err, "returning deliveries to the queue", &op->n);
	}
	for (int i = 0; i < op->n; i++) {
		a = (struct lt_pg_args){ 0 };
		a_int(&a, op->ids[i]);
		a_str(&a, p->node);
		if (lt_pg_exec(p, Q_UNCLAIM, &a, &op->op.err, "returning deliveries to the queue", NULL))
			return LT_EIO;
	}
	return LT_OK;
}

/* Replay or purge the dead letters matching the op's filters, under the
 * journal lock: two nodes replaying at once act on each once. */
static int pg_dlq(void *db, struct lt_dlq *op)
{
	struct lt_pg *p = db;
	struct lt_err *err = &op->op.err;
	if (lt_pg_lock_journal(p, err))
		return LT_EIO;
	struct lt_buf ids = { 0 };
	if (op->ids) {
		size_t i;
		json_t *v;
		lt_buf_append(&ids, "{", 1);
		json_array_foreach(op->ids, i, v)
			lt_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)json_integer_value(v));
		lt_buf_append(&ids, "}", 1);
	}
	struct lt_pg_args a = { 0 };
	a_str(&a, op->dest);
	a_str(&a, op->dossier_code);
	a_int(&a, op->before_ms);
	a_str(&a, op->ids ? ids.data : NULL);
	a_int(&a, LT_DLQ_BATCH);
	PGresult *r = lt_pg_run(p, Q_DLQ_FIND, &a, err, "finding dead letters");
	lt_buf_free(&ids);
	if (!r)
		return LT_EIO;
	op->deliveries = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(op->deliveries,
				      json_pack("{s:I,s:s,s:s,s:s}", "delivery_id", (json_int_t)lt_pg_col(r, i, 0), "peer",
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
			if (chain_busy(p, json_string_value(json_object_get(d, "peer")), dossier, &busy, err))
				return LT_EIO;
			a = (struct lt_pg_args){ 0 };
			a_int(&a, id);
			a_int(&a, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			a_int(&a, op->now_ms);
			if (lt_pg_exec(p, Q_DLQ_REPLAY, &a, err, "replaying a dead letter", NULL))
				return LT_EIO;
		} else {
			for (int k = Q_DLQ_PURGE_ATTEMPTS; k <= Q_DLQ_PURGE; k++) {
				a = (struct lt_pg_args){ 0 };
				a_int(&a, id);
				if (lt_pg_exec(p, k, &a, err, "purging a dead letter", NULL))
					return LT_EIO;
			}
		}
		/* who asked, in the same commit as the change */
		struct lt_audit_row row = { .at_ms = op->now_ms, .peer = json_string_value(json_object_get(d, "peer")),
					    .message_id = json_string_value(json_object_get(d, "message_id")),
					    .direction = op->action == LT_DLQ_REPLAY ? "replay" : "purge",
					    .body_sha256 = "", .sig_sha256 = "", .trust = op->who ? op->who : "" };
		if (audit_put(p, &row, err))
			return LT_EIO;
	}
	return LT_OK;
}

static int pg_prune(void *db, struct lt_prune *op);

/* Whether op takes the journal lock (the ops above that call lt_pg_lock_journal). */
static int needs_journal(const struct lt_store_op *op)
{
	const struct lt_finish *f = (const struct lt_finish *)op;
	switch (op->kind) {
	case LT_OP_INGEST: case LT_OP_OVERDUE: case LT_OP_DLQ: case LT_OP_PRUNE:
		return 1;
	case LT_OP_FINISH:
		return f->next != LT_DS_PENDING || f->sent_sha256[0] || json_array_size(f->carried);
	default:
		return 0;
	}
}

/* The journal lock first, before any row lock, in a batch that will take it
 * (see the lock order at the top). */
static int pg_lock_batch(void *db, const struct lt_store_op *batch, struct lt_err *err)
{
	for (const struct lt_store_op *op = batch; op; op = op->next)
		if (needs_journal(op))
			return lt_pg_lock_journal(db, err);
	return LT_OK;
}

/* PostgreSQL ended the transaction: 40P01 deadlock, 40001 serialization
 * failure. Told once per failure. */
static const char *pg_conflict(void *db)
{
	struct lt_pg *p = db;
	const char *why = strcmp(p->sqlstate, "40P01") == 0 ? "deadlock"
			  : strcmp(p->sqlstate, "40001") == 0 ? "serialization" : NULL;
	p->sqlstate[0] = '\0';
	return why;
}

/* libpq takes both URI prefixes */
const struct lt_store_backend lt_store_pg = {
	.scheme = "postgresql://",
	.scheme2 = "postgres://",
	.open = lt_pg_open,
	.close = lt_pg_close,
	.detach = lt_pg_detach,
	.recover = lt_pg_recover,
	.count_backlog = lt_pg_count_backlog,
	.begin = lt_pg_begin,
	.lock_batch = pg_lock_batch,
	.conflict = pg_conflict,
	.commit = lt_pg_commit,
	.rollback = lt_pg_rollback,
	.savepoint = lt_pg_savepoint,
	.release = lt_pg_release,
	.ingest = pg_ingest,
	.claim = pg_claim,
	.finish = pg_finish,
	.stats = pg_stats,
	.refusal = pg_refusal,
	.cursor = pg_cursor,
	.overdue = pg_overdue,
	.unclaim = pg_unclaim,
	.dlq = pg_dlq,
	.dossier_events = pg_dossier_events,
	.prune = pg_prune,
	.tick = lt_pg_tick,
	.shared = 1,
};

/* ---- retention (store_prune.c) ---- */

/* A statement of the pruning, unprepared (it runs a few times an hour). */
static int pg_sql(void *db, const char *sql, int nargs, const char *const *args, lt_store_row_fn *row, void *arg,
		  int64_t *changed, struct lt_err *err)
{
	struct lt_pg *p = db;
	PGresult *r = p->conn ? PQexecParams(p->conn, sql, nargs, NULL, args, NULL, NULL, 0) : NULL;
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		if (!msg || !*msg)
			msg = p->conn ? PQerrorMessage(p->conn) : "not connected to the database";
		lt_err_set(err, LT_EIO, "store: pruning: %.*s", (int)strcspn(msg, "\n"), msg);
		PQclear(r);
		return LT_EIO;
	}
	int ncols = PQnfields(r), stop = 0;
	const char *vals[16];
	for (int i = 0; row && !stop && i < PQntuples(r); i++) {
		for (int k = 0; k < ncols && k < 16; k++)
			vals[k] = PQgetisnull(r, i, k) ? NULL : PQgetvalue(r, i, k);
		stop = row(arg, ncols < 16 ? ncols : 16, vals);
	}
	if (changed)
		*changed = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return LT_OK;
}

/* Under the journal lock: it changes dossiers' chains and the audit trail. */
static int pg_prune(void *db, struct lt_prune *op)
{
	struct lt_pg *p = db;
	int rc = lt_pg_lock_journal(p, &op->op.err);
	return rc ? rc : lt_store_prune_run(op, pg_sql, p);
}
