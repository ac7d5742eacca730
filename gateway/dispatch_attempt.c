/* dispatch_attempt.c — one delivery attempt, from a claimed row to its
 * committed outcome: encoded (and signed) on a worker, sent through xfer.c on
 * the loop, the answer checked (answer.h: its signature verified when the peer
 * signs its answers) and read by the adapter on a worker, what follows decided
 * by retry.c, the outcome handed to the store and, when the store refuses it,
 * kept and written again. A delivery's message id (X-Message-Id and
 * Idempotency-Key) is its event id: the same on every attempt and after a
 * restart. The queues that start attempts are dispatch.c's. */
#include "dispatch_int.h"
#include "adapter.h"
#include "answer.h"
#include "deliverable.h"
#include "events.h"
#include "log.h"
#include "pool.h"
#include "retry.h"
#include "security.h"
#include "store.h"
#include "xfer.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define REWRITE_MS 1000         /* an outcome the store refused is written again after this */

struct lt_attempt {
	struct lt_finish fin;   /* first: the store op */
	struct lt_job job;      /* on a worker: encode (and sign), later check and read the answer */
	struct lt_xfer x;
	int encode_rc;
	struct lt_err encode_err;
	struct lt_peer_q *pq;
	const struct lt_peer *peer;     /* as configured when it started: in cfg */
	struct lt_config *cfg;          /* a reference: the attempt ends with its generation */
	struct lt_claimed row;
	struct lt_attempt *next;   /* in pq->unrecorded */
	int probe;              /* the one attempt an open breaker lets through */
	/* the answer as read on a worker */
	enum lt_verdict verdict;
	struct lt_err answer_err;
	int flags;              /* the adapter's flags after outcome() */
	int refused;            /* the answer failed its check: nothing in it was read */
	int refilled;           /* encode failed once: the dossier view was asked for what it lacked */
	struct lt_deliverable dv;
};

#define ATTEMPT_OF_JOB(j) ((struct lt_attempt *)((char *)(j) - offsetof(struct lt_attempt, job)))
#define ATTEMPT_OF_XFER(t) ((struct lt_attempt *)((char *)(t) - offsetof(struct lt_attempt, x)))

static void attempt_free(struct lt_attempt *a)
{
	lt_deliverable_release(&a->dv);
	lt_xfer_release(&a->x);
	free(a->row.body);
	free(a->fin.response);
	json_decref(a->fin.carried);
	json_decref(a->fin.carried_routes);
	lt_config_free(a->cfg);
	free(a);
}

/* ---- outcomes ---- */

/* The fields of a log line about one delivery. */
static json_t *delivery_fields(const struct lt_attempt *a)
{
	return json_pack("{s:s,s:s,s:s,s:I}", "dossier_code", a->row.dossier_code, "message_id", a->row.event_id,
			 "peer", a->pq->peer->name, "delivery_id", (json_int_t)a->row.id);
}

static void finish_done(struct lt_store_op *op)
{
	struct lt_attempt *a = (struct lt_attempt *)op;
	struct lt_peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	gw->dispatch->busy--;
	if (op->rc && op->rc != LT_EBUSY && !gw->dispatch->draining) {
		/* The store failed (disk full, read-only, locked): the outcome is
		 * known, so keep it and write it again until the store takes it.
		 * Until then the delivery stays in flight and its dossier's next
		 * delivery waits, so nothing is sent twice or out of order. */
		lt_log(LT_ERROR, "delivery.unrecorded",
		       delivery_fields(a),
		       "could not record the attempt (%s); writing it again in %d ms", op->err.msg, REWRITE_MS);
		a->next = pq->unrecorded;
		pq->unrecorded = a;
		lt_dispatch_arm_timer(pq, lt_now_ms() + REWRITE_MS);
		return;
	}
	if (op->rc) {
		lt_log(LT_ERROR, "delivery.unrecorded",
		       delivery_fields(a),
		       "could not record the attempt (%s); the delivery stays in flight and is sent again after restart",
		       op->err.msg);
	} else {
		if (a->fin.recorded_before)
			lt_log(LT_WARN, "delivery.recorded_before",
			       delivery_fields(a),
			       "the attempt's outcome was on disk already: the commit reported failed had landed");
		if (a->fin.carried) {
			char how[400], trust[300];
			lt_trust_phrase(a->fin.trust, trust, sizeof trust);
			snprintf(how, sizeof how, "event carried by the answer of %s, %s", pq->peer->name, trust);
			lt_events_stored(gw, pq->peer, a->row.event_id, a->fin.carried, a->fin.carried_routes, how);
		}
	}
	attempt_free(a);
	pq->maybe_more = 1;     /* the next delivery of the dossier, or a retry, may be ready now */
	lt_dispatch_claim(pq);
}

/* The attempt's outcome op, for the delivery as claimed; the caller adds
 * how it went and what follows (next, next_at_ms, flags). */
static struct lt_finish *finish_begin(struct lt_attempt *a)
{
	struct lt_finish *f = &a->fin;
	f->op.kind = LT_OP_FINISH;
	f->op.done = finish_done;
	f->delivery_id = a->row.id;
	f->dest = a->peer->name;
	f->dossier_code = a->row.dossier_code;
	f->attempt = a->row.attempts + 1;
	f->flags = a->row.flags;
	return f;
}

/* Hand the outcome to the store and free the peer's slot at once: the next
 * claim, queued behind this outcome, shares its commit and cannot see this
 * delivery again (it is in flight until the outcome is written). */
static void submit_finish(struct lt_attempt *a)
{
	struct lt_peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	pq->inflight--;
	lt_counters(gw, pq->peer)->inflight = pq->inflight;
	if (lt_store_submit(gw->store, &a->fin.op)) {
		/* store closing: the delivery stays in flight and is retried after restart */
		a->fin.op.rc = LT_EBUSY;
		snprintf(a->fin.op.err.msg, sizeof a->fin.op.err.msg, "store closing");
		finish_done(&a->fin.op);
		return;
	}
	lt_dispatch_claim(pq);
}

/* Keep carried events, stamped and routed, for the outcome's commit (any
 * thread: the config is read-only). */
static void keep_carried(struct lt_attempt *a, json_t *carried)
{
	if (!json_array_size(carried)) {
		json_decref(carried);
		return;
	}
	a->fin.carried = carried;
	a->fin.carried_routes = lt_events_stamp(a->cfg, a->peer->name, carried);
}

/* Tell the peer's breaker how the attempt went; log when it opens or closes. */
static void note_breaker(struct lt_attempt *a, const struct lt_xfer *t)
{
	struct lt_peer_q *pq = a->pq;
	enum lt_breaker_change ch = lt_dispatch_breaker_record(pq, t);
	if (ch == LT_BREAKER_OPENED)
		lt_log(LT_WARN, "peer.breaker_open",
		       json_pack("{s:s,s:i,s:I,s:s,s:s}", "peer", pq->peer->name, "failures", pq->breaker.failures,
				 "probe_in_ms", (json_int_t)pq->breaker.period_ms, "dossier_code", a->row.dossier_code,
				 "message_id", a->row.event_id),
		       "%s looks down (%d attempts in a row failed, last: %s): no more attempts until a probe in %lld ms",
		       pq->peer->name, pq->breaker.failures, t->cc != CURLE_OK ? t->error : "a 5xx answer",
		       (long long)pq->breaker.period_ms);
	else if (ch == LT_BREAKER_CLOSED)
		lt_log(LT_INFO, "peer.breaker_closed",
		       json_pack("{s:s,s:s,s:s}", "peer", pq->peer->name, "dossier_code", a->row.dossier_code,
				 "message_id", a->row.event_id),
		       "%s answers again: deliveries resume", pq->peer->name);
	else if (a->probe)
		lt_log(LT_INFO, "peer.breaker_probe",
		       json_pack("{s:s,s:I,s:s,s:s}", "peer", pq->peer->name, "probe_in_ms", (json_int_t)pq->breaker.period_ms,
				 "dossier_code", a->row.dossier_code, "message_id", a->row.event_id),
		       "%s is still down; next probe in %lld ms", pq->peer->name, (long long)pq->breaker.period_ms);
}

/* Worker thread: check the answer (answer.h) before anything reads it, then
 * let the adapter turn it into a verdict and carried events. An answer that
 * fails its check is read no further: the attempt is retried (the request is
 * idempotent by its message id, so the peer answers again; a forgery that
 * persists ends as a dead letter at retry.max_age, its reason kept) and it
 * carries nothing. */
static void answer_run(struct lt_job *job)
{
	struct lt_attempt *a = ATTEMPT_OF_JOB(job);
	const struct lt_peer *peer = a->peer;
	struct lt_xfer *t = &a->x;
	struct lt_response rsp;
	lt_xfer_response(t, &rsp);
	a->flags = a->row.flags & LT_FLAGS_ADAPTER;
	int ok = rsp.status >= 200 && rsp.status < 300;
	if (t->cc == CURLE_OK && (ok || !lt_answer_signed(peer))) {
		struct lt_answer ans = { .rsp = &rsp, .signature = t->signature, .signatures = t->signatures,
					 .request_id = a->row.event_id, .server_cn = t->server_cn,
					 .server_sha256 = t->server_sha256, .sec = t->sec };
		if (lt_answer_check(a->pq->gw, peer, &ans, a->fin.trust, &a->answer_err)) {
			a->refused = 1;
			a->verdict = LT_RETRY;
			return;
		}
	}
	json_t *carried = json_array();
	struct lt_delivery_ctx ctx = { .attempt = a->row.attempts + 1, .flags = a->flags,
				       .message_id = a->row.event_id, .session = t->session };
	json_t *event = json_loads(a->row.body, 0, NULL);
	a->verdict = peer->adapter->outcome(peer, &ctx, event, &rsp, carried, &a->answer_err);
	json_decref(event);
	a->flags = ctx.flags & LT_FLAGS_ADAPTER;
	if (t->cc != CURLE_OK)
		lt_err_set(&a->answer_err, LT_EIO, "%s", t->error);
	if (json_array_size(carried) && !a->fin.trust[0])
		json_array_clear(carried);      /* nothing vouched for this answer: it carries nothing */
	if (json_array_size(carried)) {
		lt_sha256_hex(rsp.body, rsp.len, a->fin.answer_sha256);
		if (t->signature)
			lt_sha256_hex(t->signature, strlen(t->signature), a->fin.answer_sig_sha256);
	}
	keep_carried(a, carried);
}

/* Loop thread: the answer was read (or refused): decide, log, commit. */
static void answer_done(struct lt_job *job)
{
	struct lt_attempt *a = ATTEMPT_OF_JOB(job);
	struct lt_xfer *t = &a->x;
	struct lt_peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	const struct lt_config *cfg = a->cfg;
	struct lt_peer_counters *pc = lt_counters(gw, pq->peer);
	if (gw->dispatch->aborted) {
		/* stopping: the delivery stays in flight and is sent again after restart */
		pq->inflight--;
		gw->dispatch->busy--;
		attempt_free(a);
		return;
	}
	struct lt_err err = a->answer_err;
	enum lt_verdict v = a->verdict;
	if (a->refused) {
		struct lt_response rsp;
		lt_xfer_response(t, &rsp);
		lt_answer_refused(gw, pq->peer, "answer to delivery", a->row.event_id, &rsp, &err);
	}
	note_breaker(a, t);

	int64_t now = lt_now_ms();
	struct lt_finish *f = finish_begin(a);
	f->status = t->status;
	f->at_ms = t->started_ms;
	f->duration_ms = t->duration_ms;
	if (v != LT_DONE)
		snprintf(f->error, sizeof f->error, "%s", err.msg);
	if (t->rsp.len)
		f->response = strndup(t->rsp.data, 4096);

	const struct lt_retry_policy policy = { cfg->retry_initial_ms, cfg->retry_max_delay_ms, cfg->retry_max_age_ms };
	const struct lt_attempt_end end = { .verdict = v, .attempt = f->attempt, .resends = LT_FLAGS_RESENDS(a->row.flags),
					    .created_ms = a->row.created_at, .now_ms = now,
					    .retry_after_ms = lt_parse_retry_after(t->retry_after, now),
					    .jitter = lt_retry_jitter() };
	struct lt_retry_decision d;
	lt_retry_decide(&policy, &end, &d);
	if (d.relogin) {
		pq->login = LT_LOGIN_NONE;     /* the next claim logs in first */
		pq->session[0] = '\0';
	}
	if (d.expired)
		snprintf(f->error, sizeof f->error, "gave up after %d attempts over retry.max_age; last: %.180s",
			 f->attempt, err.msg);
	f->next = d.next;
	f->next_at_ms = now + d.delay_ms;
	f->flags = LT_FLAGS_WITH_RESENDS(a->flags, d.resends);
	pc->attempts++;
	if (d.next == LT_DS_DONE) {
		pc->last_done_ms = now;
	} else {
		pc->last_failed_ms = now;
		snprintf(pc->last_error, sizeof pc->last_error, "%s", f->error);
	}
	if (d.next == LT_DS_DONE)
		pc->delivered++;
	else if (d.next == LT_DS_PENDING)
		pc->retried++;
	else
		pc->dead++;
	int again = d.next == LT_DS_PENDING, done = d.next == LT_DS_DONE;
	json_t *fields = json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:I}", "dossier_code", a->row.dossier_code, "message_id",
				   a->row.event_id, "peer", pq->peer->name, "delivery_id", (json_int_t)a->row.id,
				   "attempt", f->attempt, "status", (int)t->status, "duration_ms",
				   (json_int_t)f->duration_ms);
	if (again)
		json_object_set_new(fields, "retry_in_ms", json_integer(d.delay_ms));
	if (!done)
		json_object_set_new(fields, "error", json_string(f->error));
	lt_log(done ? LT_INFO : again ? LT_WARN : LT_ERROR,
	       done ? "delivery.done" : again ? "delivery.retry" : "delivery.dead", fields, "%s %s to %s: %s",
	       a->row.type, done ? "delivered" : again ? "will be retried" : "dead-lettered", pq->peer->name,
	       done ? "accepted" : d.why ? d.why : f->error);
	lt_xfer_release(t);
	submit_finish(a);
}

/* An attempt ended (answer, error or timeout): the answer is checked and read
 * on a worker, then answer_done decides, logs and commits. */
static void attempt_ended(struct lt_xfer *t)
{
	struct lt_attempt *a = ATTEMPT_OF_XFER(t);
	struct lt_peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	if (t->aborted) {
		/* stopping: the delivery stays in flight and is sent again after restart */
		pq->inflight--;
		gw->dispatch->busy--;
		attempt_free(a);
		return;
	}
	a->job.run = answer_run;
	a->job.done = answer_done;
	if (lt_pool_submit(gw->pool, &a->job)) {
		/* nothing was read: the peer is asked again later */
		lt_err_set(&a->answer_err, LT_EBUSY, "worker pool full: the answer of %s was not read", pq->peer->name);
		a->verdict = LT_RETRY;
		answer_done(&a->job);
	}
}

/* ---- attempts ---- */

/* Worker thread: the adapter builds the peer's request, then it is signed. */
static void encode_run(struct lt_job *job)
{
	struct lt_attempt *a = ATTEMPT_OF_JOB(job);
	const struct lt_peer *peer = a->peer;
	json_t *ev = json_loads(a->row.body, 0, NULL);
	struct lt_delivery_ctx ctx = { .attempt = a->row.attempts + 1, .flags = a->row.flags & LT_FLAGS_ADAPTER,
				       .message_id = a->row.event_id, .session = a->x.session };
	a->encode_rc = ev ? peer->adapter->encode(peer, &ctx, ev, &a->x.req, &a->encode_err)
			  : lt_err_set(&a->encode_err, LT_EINVAL, "stored event is not valid JSON");
	json_decref(ev);
	if (!a->encode_rc)
		a->encode_rc = lt_xfer_sign(a->x.sec, peer, a->row.event_id, &a->x.req, &a->encode_err);
	if (!a->encode_rc) {    /* for the audit trail: what goes out */
		lt_sha256_hex(a->x.req.body.data ? a->x.req.body.data : "", a->x.req.body.len, a->fin.sent_sha256);
		if (a->x.req.signature)
			lt_sha256_hex(a->x.req.signature, strlen(a->x.req.signature), a->fin.sent_sig_sha256);
	}
}

static void encode_done(struct lt_job *job);

/* Loop thread: the dossier view's facts came back; what the event lacks for
 * this peer is filled in the delivery's copy (the stored event stays as it
 * was received) and it is encoded again, or dead as before. */
static void refill_done(struct lt_deliverable *dv)
{
	struct lt_attempt *a = dv->arg;
	const json_t *facts = dv->read.op.rc ? NULL : json_object_get(dv->read.facts, a->row.dossier_code);
	json_t *ev = facts ? json_loads(a->row.body, 0, NULL) : NULL;
	char *body = ev && lt_deliverable_fill_one(a->peer, ev, facts) ?
		     json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (body) {
		lt_log(LT_INFO, "delivery.filled",
		       json_pack("{s:s,s:s,s:s,s:O}", "dossier_code", a->row.dossier_code, "message_id", a->row.event_id,
				 "peer", a->pq->peer->name, "filled", json_object_get(json_object_get(ev, "detail"),
										 "filled_from_dossier")),
		       "filled from the dossier's stored state, encoded again for %s", a->pq->peer->name);
		free(a->row.body);
		a->row.body = body;
		a->x.req.body.len = 0;
		a->x.req.method[0] = a->x.req.path[0] = a->x.req.content_type[0] = a->x.req.headers[0] = '\0';
		a->encode_err = (struct lt_err){ 0 };
		a->encode_rc = 0;
	}
	json_decref(ev);
	lt_deliverable_release(dv);
	if (body && !lt_pool_submit(a->pq->gw->pool, &a->job))
		return;
	if (body)
		a->encode_rc = lt_err_set(&a->encode_err, LT_EBUSY, "worker pool full");
	encode_done(&a->job);
}

/* Loop thread: send what was encoded; an event that cannot be encoded for
 * this peer is dead at once — no retry would help. */
static void encode_done(struct lt_job *job)
{
	struct lt_attempt *a = ATTEMPT_OF_JOB(job);
	struct lt_peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	const struct lt_peer *peer = a->peer;
	if (a->encode_rc == LT_EAUTH && peer->adapter->login) {
		/* no usable session: log in again, then this delivery goes out */
		pq->login = LT_LOGIN_NONE;
		pq->session[0] = '\0';
		a->encode_rc = LT_EBUSY;
	}
	if (a->encode_rc == LT_ESCHEMA && !a->refilled && a->row.dossier_code[0]) {
		/* it lacks something (a dead letter replayed after its dossier was
		 * completed): the dossier view may hold it; encoded again once */
		a->refilled = 1;
		a->dv.done = refill_done;
		a->dv.arg = a;
		if (!lt_deliverable_read(gw->store, &a->dv, json_pack("[s]", a->row.dossier_code)))
			return;
	}
	if (a->encode_rc) {
		if (a->probe)
			pq->breaker.probing = 0;        /* it never reached the peer */
		struct lt_finish *f = finish_begin(a);
		f->next = a->encode_rc == LT_EBUSY ? LT_DS_PENDING : LT_DS_DEAD;
		f->at_ms = lt_now_ms();
		f->next_at_ms = f->at_ms + 1000;
		snprintf(f->error, sizeof f->error, "cannot encode for %s: %s", peer->name, a->encode_err.msg);
		lt_log(LT_ERROR, f->next == LT_DS_DEAD ? "delivery.dead" : "delivery.retry",
		       json_pack("{s:s,s:s,s:s,s:s}", "dossier_code", a->row.dossier_code, "message_id", a->row.event_id,
				 "peer", peer->name, "error", f->error),
		       "%s", f->error);
		if (f->next == LT_DS_DEAD)
			lt_counters(gw, peer)->dead++;
		submit_finish(a);
		return;
	}
	if (gw->dispatch->draining) {
		/* shutting down: left in flight, sent after restart */
		if (a->probe)
			pq->breaker.probing = 0;
		pq->inflight--;
		gw->dispatch->busy--;
		attempt_free(a);
		return;
	}
	a->x.peer = peer;
	snprintf(a->x.message_id, sizeof a->x.message_id, "%s", a->row.event_id);
	snprintf(a->x.dossier_code, sizeof a->x.dossier_code, "%s", a->row.dossier_code);
	a->x.done = attempt_ended;
	lt_xfer_start(gw, &a->x);
}

void lt_dispatch_start_attempt(struct lt_peer_q *pq, struct lt_claimed *row, int probe)
{
	struct lt_gateway *gw = pq->gw;
	struct lt_attempt *a = calloc(1, sizeof *a);
	a->pq = pq;
	a->peer = pq->peer;
	a->cfg = lt_config_ref(pq->cfg);
	a->probe = probe;
	a->row = *row;
	a->flags = row->flags & LT_FLAGS_ADAPTER;   /* kept as they are unless an answer is read */
	row->body = NULL;
	snprintf(a->x.session, sizeof a->x.session, "%s", pq->session);
	a->x.sec = lt_security_ref(gw->sec);    /* signed and sent with one generation */
	pq->inflight++;
	lt_counters(gw, pq->peer)->inflight = pq->inflight;
	gw->dispatch->busy++;
	a->job.run = encode_run;
	a->job.done = encode_done;
	if (lt_pool_submit(gw->pool, &a->job)) {
		lt_err_set(&a->encode_err, LT_EBUSY, "worker pool full");
		a->encode_rc = LT_EBUSY;
		encode_done(&a->job);
	}
}

/* ---- outcomes the store refused ---- */

/* Write again the outcomes the store refused (finish_done keeps them). */
void lt_dispatch_rewrite_unrecorded(struct lt_peer_q *pq)
{
	struct lt_attempt *a = pq->unrecorded;
	pq->unrecorded = NULL;
	while (a) {
		struct lt_attempt *next = a->next;
		a->next = NULL;
		pq->gw->dispatch->busy++;
		if (lt_store_submit(pq->gw->store, &a->fin.op)) {
			a->fin.op.rc = LT_EBUSY;
			snprintf(a->fin.op.err.msg, sizeof a->fin.op.err.msg, "store closing");
			finish_done(&a->fin.op);
		}
		a = next;
	}
}

/* Free the outcomes still waiting to be written again (stopping: their
 * deliveries stay in flight in the store and are sent again after restart). */
void lt_dispatch_free_unrecorded(struct lt_peer_q *pq)
{
	while (pq->unrecorded) {
		struct lt_attempt *a = pq->unrecorded;
		pq->unrecorded = a->next;
		attempt_free(a);
	}
}
