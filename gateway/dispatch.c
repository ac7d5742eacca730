/* dispatch.c — claim ready deliveries per destination, send them, commit
 * each outcome.
 *
 * Per peer: at most `concurrency` attempts in flight, at most `rate` new
 * attempts per second, one claim op outstanding at a time. A delivery's
 * message id (X-Message-Id and Idempotency-Key) is its event id: the same on
 * every attempt and after a restart. Encoding and signing run on the worker
 * pool; HTTP goes through xfer.c on the loop; the answer is checked
 * (answer.h: its signature verified when the peer signs its answers) and read
 * by the adapter on the pool too. A peer whose adapter has a session (the
 * portal) is logged in before its first delivery and again when the adapter
 * says the session expired. */
#include "dispatch.h"
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

#include <event2/event.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_RETRY_MS 5000
#define REWRITE_MS 1000         /* an outcome the store refused is written again after this */

enum login_state { LOGIN_NONE, LOGIN_RUNNING, LOGIN_OK };

struct peer_q {
	struct lt_gateway *gw;
	const struct lt_peer *peer;     /* in cfg: the newest generation that has it */
	struct lt_config *cfg;          /* a reference */
	char dest[64];                  /* its name, for store ops that outlive a reload */
	int removed;                    /* a reload removed the peer: its queue waits in the store */
	int inflight;           /* attempts started and not yet handed back to the store */
	int claiming;
	int kicked;             /* a kick arrived while claiming */
	int maybe_more;         /* the store may hold ready deliveries we have not claimed */
	struct lt_claimed *ready;   /* claimed, not yet started: at most one batch ahead */
	int nready, ready_cap;
	struct event *timer;
	int64_t timer_at;
	double tokens;          /* rate limit bucket */
	int64_t refill_ms;
	enum login_state login;
	char session[512];
	struct attempt *unrecorded; /* outcomes the store failed to write, to be written again */
	struct lt_breaker breaker;
	int resync;             /* a claim's commit failed: its rows may be in flight in the store */
	int resyncing;          /* the resync op is in the store */
};

struct lt_dispatch {
	struct peer_q **q;      /* one per peer with a url, kept across reloads (attempts point at it) */
	size_t nq;
	int draining;
	int aborted;            /* stopping now: answers still being read are left in flight */
	int busy;               /* attempts, claims and logins not yet finished */
};

struct attempt {
	struct lt_finish fin;   /* first: the store op */
	struct lt_job job;      /* on a worker: encode (and sign), later check and read the answer */
	struct lt_xfer x;
	int encode_rc;
	struct lt_err encode_err;
	struct peer_q *pq;
	const struct lt_peer *peer;     /* as configured when it started: in cfg */
	struct lt_config *cfg;          /* a reference: the attempt ends with its generation */
	struct lt_claimed row;
	struct attempt *next;   /* in pq->unrecorded */
	int probe;              /* the one attempt an open breaker lets through */
	/* the answer as read on a worker */
	enum lt_verdict verdict;
	struct lt_err answer_err;
	int flags;              /* the adapter's flags after outcome() */
	int refused;            /* the answer failed its check: nothing in it was read */
	int refilled;           /* encode failed once: the dossier view was asked for what it lacked */
	struct lt_deliverable dv;
};

#define ATTEMPT_OF_JOB(j) ((struct attempt *)((char *)(j) - offsetof(struct attempt, job)))
#define ATTEMPT_OF_XFER(t) ((struct attempt *)((char *)(t) - offsetof(struct attempt, x)))

static void claim(struct peer_q *pq);
static void arm_timer(struct peer_q *pq, int64_t at_ms);

static struct peer_q *find_q(struct lt_dispatch *d, const char *dest)
{
	for (size_t i = 0; i < d->nq; i++)
		if (strcmp(d->q[i]->dest, dest) == 0)
			return d->q[i];
	return NULL;
}

static void attempt_free(struct attempt *a)
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
static json_t *delivery_fields(const struct attempt *a)
{
	return json_pack("{s:s,s:s,s:s,s:I}", "dossier_code", a->row.dossier_code, "message_id", a->row.event_id,
			 "peer", a->pq->peer->name, "delivery_id", (json_int_t)a->row.id);
}

static void finish_done(struct lt_store_op *op)
{
	struct attempt *a = (struct attempt *)op;
	struct peer_q *pq = a->pq;
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
		arm_timer(pq, lt_now_ms() + REWRITE_MS);
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
	claim(pq);
}

/* The attempt's outcome op, for the delivery as claimed; the caller adds
 * how it went and what follows (next, next_at_ms, flags). */
static struct lt_finish *finish_begin(struct attempt *a)
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
static void submit_finish(struct attempt *a)
{
	struct peer_q *pq = a->pq;
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
	claim(pq);
}

/* Keep carried events, stamped and routed, for the outcome's commit (any
 * thread: the config is read-only). */
static void keep_carried(struct attempt *a, json_t *carried)
{
	if (!json_array_size(carried)) {
		json_decref(carried);
		return;
	}
	a->fin.carried = carried;
	a->fin.carried_routes = lt_events_stamp(a->cfg, a->peer->name, carried);
}

/* Tell the peer's breaker how the attempt went; log when it opens or closes. */
/* Record in the peer's breaker whether an exchange found it down. */
static enum lt_breaker_change breaker_record(struct peer_q *pq, const struct lt_xfer *t)
{
	const struct lt_config *cfg = pq->gw->cfg;
	int down = lt_peer_down(t->cc == CURLE_OK, t->status);
	int64_t max_ms = cfg->retry_max_delay_ms < LT_BREAKER_MAX_MS ? cfg->retry_max_delay_ms : LT_BREAKER_MAX_MS;
	enum lt_breaker_change ch = lt_breaker_record(&pq->breaker, down, lt_mono_ms(), cfg->breaker_failures, max_ms);
	lt_counters(pq->gw, pq->peer)->breaker_open = pq->breaker.open;
	return ch;
}

static void note_breaker(struct attempt *a, const struct lt_xfer *t)
{
	struct peer_q *pq = a->pq;
	enum lt_breaker_change ch = breaker_record(pq, t);
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
	struct attempt *a = ATTEMPT_OF_JOB(job);
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
	struct attempt *a = ATTEMPT_OF_JOB(job);
	struct lt_xfer *t = &a->x;
	struct peer_q *pq = a->pq;
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
		pq->login = LOGIN_NONE;     /* the next claim logs in first */
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
	struct attempt *a = ATTEMPT_OF_XFER(t);
	struct peer_q *pq = a->pq;
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
	struct attempt *a = ATTEMPT_OF_JOB(job);
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
	struct attempt *a = dv->arg;
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
	struct attempt *a = ATTEMPT_OF_JOB(job);
	struct peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	const struct lt_peer *peer = a->peer;
	if (a->encode_rc == LT_EAUTH && peer->adapter->login) {
		/* no usable session: log in again, then this delivery goes out */
		pq->login = LOGIN_NONE;
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

static void start_attempt(struct peer_q *pq, struct lt_claimed *row, int probe)
{
	struct lt_gateway *gw = pq->gw;
	struct attempt *a = calloc(1, sizeof *a);
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

/* ---- session login ---- */

static void login_ended(struct lt_xfer *t)
{
	struct peer_q *pq = t->arg;
	struct lt_gateway *gw = pq->gw;
	gw->dispatch->busy--;
	if (t->aborted) {
		lt_xfer_release(t);
		free(t);
		return;
	}
	struct lt_response rsp;
	lt_xfer_response(t, &rsp);
	struct lt_err err = { 0 };
	char session[512] = "";
	int rc = t->cc == CURLE_OK ? pq->peer->adapter->login_result(pq->peer, &rsp, session, &err)
				   : lt_err_set(&err, LT_EIO, "%s", t->error);
	if (rc) {
		pq->login = LOGIN_NONE;
		lt_log(LT_ERROR, "peer.login_failed", json_pack("{s:s,s:i}", "peer", pq->peer->name, "status", (int)t->status),
		       "cannot log in to %s: %s; trying again in %d s", pq->peer->name, err.msg, LOGIN_RETRY_MS / 1000);
		arm_timer(pq, lt_now_ms() + LOGIN_RETRY_MS);
	} else {
		pq->login = LOGIN_OK;
		snprintf(pq->session, sizeof pq->session, "%s", session);
		lt_log(LT_INFO, "peer.login", json_pack("{s:s}", "peer", pq->peer->name), "session opened with %s",
		       pq->peer->name);
		claim(pq);
	}
	lt_xfer_release(t);
	free(t);
}

static void start_login(struct peer_q *pq)
{
	struct lt_gateway *gw = pq->gw;
	struct lt_xfer *t = calloc(1, sizeof *t);
	struct lt_err err = { 0 };
	if (pq->peer->adapter->login(pq->peer, &t->req, &err)) {
		lt_log(LT_ERROR, "peer.login_failed", json_pack("{s:s}", "peer", pq->peer->name),
		       "cannot build the login request for %s: %s", pq->peer->name, err.msg);
		lt_xfer_release(t);
		free(t);
		arm_timer(pq, lt_now_ms() + LOGIN_RETRY_MS);
		return;
	}
	pq->login = LOGIN_RUNNING;
	t->peer = pq->peer;
	t->done = login_ended;
	t->arg = pq;
	gw->dispatch->busy++;
	lt_xfer_start(gw, t);
}

/* ---- an idle peer's breaker ---- */

/* The probe of an open breaker with nothing queued to send: a GET of the
 * peer's url (no delivery, no side effect). Any answer below 500 shows the
 * peer is up and closes the breaker; a 5xx or no answer keeps it open. */
static void idle_probe_ended(struct lt_xfer *t)
{
	struct peer_q *pq = t->arg;
	struct lt_gateway *gw = pq->gw;
	gw->dispatch->busy--;
	if (!t->aborted) {
		enum lt_breaker_change ch = breaker_record(pq, t);
		if (ch == LT_BREAKER_CLOSED)
			lt_log(LT_INFO, "peer.breaker_closed", json_pack("{s:s,s:b,s:i}", "peer", pq->peer->name, "idle", 1,
									 "status", (int)t->status),
			       "%s answers again (probed with nothing queued, answer %ld): deliveries resume",
			       pq->peer->name, t->status);
		else
			lt_log(LT_INFO, "peer.breaker_probe", json_pack("{s:s,s:b,s:I}", "peer", pq->peer->name, "idle", 1,
									"probe_in_ms", (json_int_t)pq->breaker.period_ms),
			       "%s is still down (%s); next probe in %lld ms", pq->peer->name,
			       t->cc != CURLE_OK ? t->error : "a 5xx answer", (long long)pq->breaker.period_ms);
	}
	lt_xfer_release(t);
	free(t);
	if (!gw->dispatch->draining) {
		pq->maybe_more = 1;
		claim(pq);
	}
}

/* Nothing to send and nothing coming: an open breaker would never see the
 * peer recover (its probes are deliveries). Probe it on its own when due. */
static void idle_probe(struct peer_q *pq)
{
	int64_t wait = 0;
	if (!lt_breaker_allow(&pq->breaker, lt_mono_ms(), &wait)) {
		if (wait >= 0)
			arm_timer(pq, lt_now_ms() + wait + 1);
		return;
	}
	struct lt_xfer *t = calloc(1, sizeof *t);
	snprintf(t->req.method, sizeof t->req.method, "GET");
	t->peer = pq->peer;
	t->done = idle_probe_ended;
	t->arg = pq;
	pq->gw->dispatch->busy++;
	lt_xfer_start(pq->gw, t);
}

/* ---- claiming ---- */

/* Write again the outcomes the store refused (finish_done keeps them). */
static void rewrite_unrecorded(struct peer_q *pq)
{
	struct attempt *a = pq->unrecorded;
	pq->unrecorded = NULL;
	while (a) {
		struct attempt *next = a->next;
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

static void on_peer_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct peer_q *pq = arg;
	pq->timer_at = 0;
	rewrite_unrecorded(pq);
	pq->maybe_more = 1;
	claim(pq);
}

static void arm_timer(struct peer_q *pq, int64_t at_ms)
{
	if (pq->timer_at && pq->timer_at <= at_ms)
		return;
	int64_t d = at_ms - lt_now_ms();
	if (d < 1)
		d = 1;
	struct timeval tv = { d / 1000, (d % 1000) * 1000 };
	pq->timer_at = at_ms;
	evtimer_add(pq->timer, &tv);
}

static void claim_done(struct lt_store_op *op)
{
	struct lt_claim *c = (struct lt_claim *)op;
	struct peer_q *pq = op->arg;
	struct lt_dispatch *d = pq->gw->dispatch;
	pq->claiming = 0;
	d->busy--;
	if (op->rc) {
		lt_log(LT_ERROR, "dispatch.claim_failed", json_pack("{s:s}", "peer", pq->peer->name),
		       "cannot read the queue: %s; trying again in 1 s", op->err.msg);
		/* the commit failed, but a failing disk may still have written it: those
		 * deliveries would stay in flight with no attempt. Resync once the store is back. */
		pq->resync = 1;
		pq->maybe_more = 0;
		arm_timer(pq, lt_now_ms() + 1000);
	} else if (d->draining) {
		/* claimed while shutting down: left in flight, sent after restart */
	} else {
		if (pq->nready + c->n > pq->ready_cap) {
			pq->ready_cap = pq->nready + c->n + 16;
			pq->ready = realloc(pq->ready, (size_t)pq->ready_cap * sizeof *pq->ready);
		}
		for (int i = 0; i < c->n; i++) {
			pq->ready[pq->nready++] = c->rows[i];
			c->rows[i].body = NULL;
		}
		pq->maybe_more = pq->kicked || c->n == c->max;
		int64_t now = lt_now_ms();
		if (c->next_due_ms && c->next_due_ms > now)
			arm_timer(pq, c->next_due_ms);
		else if (c->next_due_ms)
			/* came due while the claim ran: never leave a pending delivery without a way out */
			pq->maybe_more = 1;
	}
	pq->kicked = 0;
	lt_claim_release(c);
	free(c);
	claim(pq);
}

static void resync_done(struct lt_store_op *op)
{
	struct lt_release *r = (struct lt_release *)op;
	struct peer_q *pq = op->arg;
	pq->gw->dispatch->busy--;
	pq->resyncing = 0;
	if (op->rc) {
		free(r);
		arm_timer(pq, lt_now_ms() + 1000);     /* the store is still down: not again at once */
		return;
	} else {
		pq->resync = 0;
		lt_log(r->n ? LT_WARN : LT_INFO, "dispatch.resynced", json_pack("{s:s,s:i}", "peer", pq->peer->name, "returned", r->n),
		       "store answers again: %d deliveries to %s left in flight by a failed commit go back to the queue",
		       r->n, pq->peer->name);
	}
	free(r);
	/* claim again a second after the failed claim, not at once: a full disk
	 * still takes this update (it changes nothing) but fails every claim */
	arm_timer(pq, lt_now_ms() + 1000);
}

/* After a failed claim: once nothing of this peer is in flight or waiting to
 * be written, every delivery the store shows in flight to it is an orphan of
 * a commit that failed yet reached the disk; they go back to the queue. */
static void resync(struct peer_q *pq)
{
	struct lt_gateway *gw = pq->gw;
	if (pq->resyncing || pq->claiming || pq->inflight || pq->unrecorded)
		return;
	for (int k = 0; k < pq->nready; k++)
		free(pq->ready[k].body);
	pq->nready = 0;                 /* claimed, never started: the same update returns them */
	struct lt_release *r = calloc(1, sizeof *r);
	r->op.kind = LT_OP_RELEASE;
	r->op.done = resync_done;
	r->op.arg = pq;
	r->dest = pq->dest;
	if (lt_store_submit(gw->store, &r->op)) {
		free(r);
		return;
	}
	pq->resyncing = 1;
	gw->dispatch->busy++;
}

/* Start what the limits allow from the claimed batch, and claim the next
 * batch (up to one batch ahead of what is in flight) while the store may
 * hold more. Called on every change: a kick, a timer, a slot freed. */
static void claim(struct peer_q *pq)
{
	struct lt_gateway *gw = pq->gw;
	struct lt_dispatch *d = gw->dispatch;
	if (d->draining || pq->removed)
		return;
	if (pq->resync) {
		resync(pq);
		return;
	}
	if (pq->peer->adapter->login && pq->login != LOGIN_OK) {
		if (pq->login == LOGIN_NONE)
			start_login(pq);
		return;
	}
	int started = 0;
	while (pq->inflight < pq->peer->concurrency && pq->nready > started) {
		if (pq->peer->rate > 0) {
			int64_t now = lt_mono_ms();
			pq->tokens += (double)(now - pq->refill_ms) * pq->peer->rate / 1000.0;
			double burst = pq->peer->rate < 1 ? 1 : pq->peer->rate;
			if (pq->tokens > burst)
				pq->tokens = burst;
			pq->refill_ms = now;
			if (pq->tokens < 1) {
				arm_timer(pq, lt_now_ms() + (int64_t)((1 - pq->tokens) * 1000 / pq->peer->rate) + 1);
				break;
			}
			pq->tokens -= 1;
		}
		int64_t wait = 0;
		if (!lt_breaker_allow(&pq->breaker, lt_mono_ms(), &wait)) {
			if (pq->peer->rate > 0)
				pq->tokens += 1;
			if (wait >= 0)
				arm_timer(pq, lt_now_ms() + wait + 1);
			break;
		}
		start_attempt(pq, &pq->ready[started++], pq->breaker.probing);
	}
	if (started) {
		memmove(pq->ready, pq->ready + started, (size_t)(pq->nready - started) * sizeof *pq->ready);
		pq->nready -= started;
	}
	if (pq->claiming) {
		pq->kicked = 1;
		return;
	}
	int want = 2 * pq->peer->concurrency - pq->nready - pq->inflight;
	if (!pq->maybe_more && pq->breaker.open && !pq->breaker.probing && !pq->inflight && !pq->nready)
		idle_probe(pq);
	if (want <= 0 || !pq->maybe_more)
		return;
	struct lt_claim *c = calloc(1, sizeof *c);
	c->op.kind = LT_OP_CLAIM;
	c->op.done = claim_done;
	c->op.arg = pq;
	c->dest = pq->dest;
	c->max = want;
	c->now_ms = lt_now_ms();
	if (lt_store_submit(gw->store, &c->op)) {
		free(c);
		return;
	}
	pq->claiming = 1;
	d->busy++;
}

void lt_dispatch_kick(struct lt_gateway *gw, const char *dest)
{
	struct peer_q *pq = find_q(gw->dispatch, dest);
	if (pq) {
		pq->maybe_more = 1;
		claim(pq);
	}
}

/* A queue for peer p of cfg (the running configuration), kicked once. */
static struct peer_q *queue_new(struct lt_gateway *gw, const struct lt_config *cfg, const struct lt_peer *p)
{
	struct lt_dispatch *d = gw->dispatch;
	struct peer_q **v = realloc(d->q, (d->nq + 1) * sizeof *v);
	struct peer_q *pq = calloc(1, sizeof *pq);
	if (v)
		d->q = v;
	if (!v || !pq) {
		free(pq);
		return NULL;
	}
	d->q[d->nq++] = pq;
	pq->gw = gw;
	pq->peer = p;
	pq->cfg = lt_config_ref(cfg);
	snprintf(pq->dest, sizeof pq->dest, "%s", p->name);
	pq->timer = evtimer_new(gw->base, on_peer_timer, pq);
	pq->tokens = p->rate;
	pq->refill_ms = lt_mono_ms();
	pq->maybe_more = 1;
	claim(pq);
	return pq;
}

int lt_dispatch_start(struct lt_gateway *gw, struct lt_err *err)
{
	if (!gw->xfers && lt_xfer_init(gw, err))
		return err->code;
	struct lt_dispatch *d = calloc(1, sizeof *d);
	gw->dispatch = d;
	for (size_t i = 0; i < gw->cfg->npeers; i++)
		if (gw->cfg->peers[i].url && !queue_new(gw, gw->cfg, &gw->cfg->peers[i]))
			return lt_err_set(err, LT_ENOMEM, "out of memory for the queue of %s", gw->cfg->peers[i].name);
	return LT_OK;
}

static void release_done(struct lt_store_op *op)
{
	struct lt_release *r = (struct lt_release *)op;
	struct lt_dispatch *d = op->arg;
	d->busy--;
	free(r->ids);
	free(r);
}

/* Deliveries claimed but never started go back to the queue. */
static void release_ready(struct lt_gateway *gw, struct peer_q *pq)
{
	struct lt_dispatch *d = gw->dispatch;
	if (!pq->nready)
		return;
	struct lt_release *r = calloc(1, sizeof *r);
	r->op.kind = LT_OP_RELEASE;
	r->op.done = release_done;
	r->op.arg = d;
	r->ids = calloc((size_t)pq->nready, sizeof *r->ids);
	for (int k = 0; k < pq->nready; k++) {
		r->ids[r->n++] = pq->ready[k].id;
		free(pq->ready[k].body);
	}
	pq->nready = 0;
	if (lt_store_submit(gw->store, &r->op)) {
		free(r->ids);
		free(r);
		return;         /* left in flight: sent after restart */
	}
	d->busy++;
}

/* Stop: deliveries claimed but never started go back to the queue. */
void lt_dispatch_drain(struct lt_gateway *gw)
{
	struct lt_dispatch *d = gw->dispatch;
	if (!d)
		return;
	d->draining = 1;
	for (size_t i = 0; i < d->nq; i++)
		release_ready(gw, d->q[i]);
}

/* A peer that reload removed or changed: its queue follows the new generation. */
static void queue_update(struct lt_gateway *gw, struct peer_q *pq, const struct lt_peer *p)
{
	const struct lt_peer *was = pq->peer;
	if (pq->removed || strcmp(was->url, p->url) || was->adapter != p->adapter) {
		pq->login = LOGIN_NONE;         /* a session belongs to the url it was opened with */
		pq->session[0] = '\0';
	}
	if (pq->removed || strcmp(was->url, p->url))
		memset(&pq->breaker, 0, sizeof pq->breaker);    /* a new address has not failed yet */
	if (pq->tokens > (p->rate < 1 ? 1 : p->rate))
		pq->tokens = p->rate < 1 ? 1 : p->rate;
	pq->removed = 0;
	pq->peer = p;
	struct lt_config *old = pq->cfg;
	pq->cfg = lt_config_ref(gw->cfg);
	lt_config_free(old);
	lt_counters(gw, p)->breaker_open = pq->breaker.open;
	lt_counters(gw, p)->inflight = pq->inflight;
	pq->maybe_more = 1;
	claim(pq);
}

void lt_dispatch_reconfigure(struct lt_gateway *gw)
{
	struct lt_dispatch *d = gw->dispatch;
	const struct lt_config *cfg = gw->cfg;
	if (!d || d->draining)
		return;
	lt_xfer_reconfigure(gw);
	for (size_t i = 0; i < d->nq; i++) {
		struct peer_q *pq = d->q[i];
		const struct lt_peer *p = lt_config_peer(cfg, pq->dest);
		if (p && p->url)
			continue;
		pq->removed = 1;        /* what is in flight ends; the rest waits in the store */
		release_ready(gw, pq);
	}
	for (size_t i = 0; i < cfg->npeers; i++) {
		const struct lt_peer *p = &cfg->peers[i];
		if (!p->url)
			continue;
		struct peer_q *pq = find_q(d, p->name);
		if (pq)
			queue_update(gw, pq, p);
		else if (!queue_new(gw, cfg, p))
			lt_log(LT_ERROR, "config.reload_failed", json_pack("{s:s}", "peer", p->name),
			       "out of memory for the queue of %s: its deliveries wait until a restart", p->name);
	}
}

int lt_dispatch_busy(struct lt_gateway *gw)
{
	return gw->dispatch ? gw->dispatch->busy : 0;
}

void lt_dispatch_abort(struct lt_gateway *gw)
{
	if (gw->dispatch)
		gw->dispatch->draining = gw->dispatch->aborted = 1;
	lt_xfer_abort_all(gw);
}

void lt_dispatch_free(struct lt_gateway *gw)
{
	struct lt_dispatch *d = gw->dispatch;
	if (!d)
		return;
	for (size_t i = 0; i < d->nq; i++) {
		struct peer_q *pq = d->q[i];
		if (pq->timer)
			event_free(pq->timer);
		for (int k = 0; k < pq->nready; k++)
			free(pq->ready[k].body);
		free(pq->ready);
		while (pq->unrecorded) {    /* still in flight in the store: sent again after restart */
			struct attempt *a = pq->unrecorded;
			pq->unrecorded = a->next;
			attempt_free(a);
		}
		lt_config_free(pq->cfg);
		free(pq);
	}
	free(d->q);
	free(d);
	gw->dispatch = NULL;
	lt_xfer_free(gw);
}
