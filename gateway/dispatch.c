/* dispatch.c — claim ready deliveries per destination, send them with
 * libcurl multi on the libevent loop, commit each outcome.
 *
 * Per peer: at most `concurrency` attempts in flight, at most `rate` new
 * attempts per second, one claim op outstanding at a time. A delivery's
 * message id (X-Message-Id and Idempotency-Key) is its event id: the same on
 * every attempt and after a restart. */
#include "dispatch.h"
#include "adapter.h"
#include "log.h"
#include "pool.h"
#include "security.h"
#include "sign_jws.h"
#include "sign_xml.h"
#include "store.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_KEEP 4096

struct peer_q {
	struct lt_gateway *gw;
	const struct lt_peer *peer;
	int inflight;           /* claimed and not yet finished in the store */
	int claiming;
	int kicked;             /* a kick arrived while claiming */
	struct event *timer;
	int64_t timer_at;
	double tokens;          /* rate limit bucket */
	int64_t refill_ms;
};

struct lt_dispatch {
	CURLM *multi;
	struct event *timeout;
	struct peer_q *q;       /* one per peer, cfg order; peer NULL when it has no url */
	size_t nq;
	int draining;
	int busy;
	struct attempt *live;   /* attempts with a curl handle, for abort */
};

struct attempt {
	struct lt_finish fin;   /* first: the store op */
	struct lt_job job;      /* encode (and sign) on a worker */
	int encode_rc;
	struct lt_err encode_err;
	struct peer_q *pq;
	CURL *easy;
	struct curl_slist *headers;
	struct lt_request req;
	struct lt_buf rsp;
	char retry_after[64];
	char curl_err[CURL_ERROR_SIZE];
	struct lt_claimed row;
	int64_t t0;
	struct attempt *next_live, **prev_live;
};

struct sock_ctx {
	struct event *ev;
	struct lt_dispatch *d;
};

static void claim(struct peer_q *pq);
static void check_done(struct lt_dispatch *d);

static struct peer_q *find_q(struct lt_dispatch *d, const char *dest)
{
	for (size_t i = 0; i < d->nq; i++)
		if (d->q[i].peer && strcmp(d->q[i].peer->name, dest) == 0)
			return &d->q[i];
	return NULL;
}

/* ---- libcurl ↔ libevent glue ---- */

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct lt_dispatch *d = arg;
	int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(d->multi, fd, flags, &running);
	check_done(d);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_dispatch *d = arg;
	int running;
	curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(d);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	(void)easy;
	struct lt_gateway *gw = userp;
	struct lt_dispatch *d = gw->dispatch;
	struct sock_ctx *ctx = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (ctx) {
			event_free(ctx->ev);
			free(ctx);
			curl_multi_assign(d->multi, s, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!ctx) {
		ctx = calloc(1, sizeof *ctx);
		ctx->d = d;
		curl_multi_assign(d->multi, s, ctx);
	} else {
		event_free(ctx->ev);
	}
	ctx->ev = event_new(gw->base, s, kind, on_socket_event, d);
	event_add(ctx->ev, NULL);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct lt_gateway *gw = userp;
	if (timeout_ms < 0) {
		evtimer_del(gw->dispatch->timeout);
	} else {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		evtimer_add(gw->dispatch->timeout, &tv);
	}
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct attempt *a = arg;
	size_t len = size * n;
	if (a->rsp.len < RESPONSE_KEEP)
		lt_buf_append(&a->rsp, p, len < RESPONSE_KEEP - a->rsp.len ? len : RESPONSE_KEEP - a->rsp.len);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct attempt *a = arg;
	size_t len = size * n;
	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t v = 12;
		while (v < len && (p[v] == ' ' || p[v] == '\t'))
			v++;
		size_t e = len;
		while (e > v && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
			e--;
		snprintf(a->retry_after, sizeof a->retry_after, "%.*s", (int)(e - v), p + v);
	}
	return len;
}

/* ---- attempts ---- */

static void unlink_live(struct attempt *a)
{
	if (!a->prev_live)
		return;
	*a->prev_live = a->next_live;
	if (a->next_live)
		a->next_live->prev_live = a->prev_live;
	a->prev_live = NULL;
	a->next_live = NULL;
}

static void attempt_free(struct attempt *a)
{
	unlink_live(a);
	if (a->easy)
		curl_easy_cleanup(a->easy);
	curl_slist_free_all(a->headers);
	lt_buf_free(&a->req.body);
	free(a->req.signature);
	lt_buf_free(&a->rsp);
	free(a->row.body);
	free(a->fin.response);
	free(a);
}

static void finish_done(struct lt_store_op *op)
{
	struct attempt *a = (struct attempt *)op;
	struct peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	gw->dispatch->busy--;
	if (op->rc)
		lt_log(LT_ERROR, "delivery.unrecorded",
		       json_pack("{s:s,s:s,s:s,s:I}", "dossier_code", a->row.dossier_code, "message_id", a->row.event_id,
				 "peer", pq->peer->name, "delivery_id", (json_int_t)a->row.id),
		       "could not record the attempt (%s); the delivery stays in flight and is sent again after restart",
		       op->err.msg);
	attempt_free(a);
	claim(pq);
}

/* Hand the outcome to the store and free the peer's slot at once: the next
 * claim, queued behind this outcome, shares its commit and cannot see this
 * delivery again (it is in flight until the outcome is written). */
static void submit_finish(struct attempt *a)
{
	struct peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	pq->inflight--;
	gw->counters[pq->peer->index].inflight = pq->inflight;
	if (lt_store_submit(gw->store, &a->fin.op)) {
		/* store closing: the delivery stays in flight and is retried after restart */
		a->fin.op.rc = LT_EBUSY;
		snprintf(a->fin.op.err.msg, sizeof a->fin.op.err.msg, "store closing");
		finish_done(&a->fin.op);
		return;
	}
	claim(pq);
}

/* An attempt ended (answer, error or timeout): decide, log, commit. */
static void attempt_ended(struct attempt *a, CURLcode cc)
{
	struct peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	const struct lt_config *cfg = gw->cfg;
	struct lt_peer_counters *pc = &gw->counters[pq->peer->index];
	long status = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
	char *ctype = NULL;
	curl_easy_getinfo(a->easy, CURLINFO_CONTENT_TYPE, &ctype);
	struct lt_response rsp = { .status = status, .body = a->rsp.data ? a->rsp.data : "", .len = a->rsp.len,
				   .content_type = ctype };
	struct lt_err err = { 0 };
	json_t *carried = json_array();
	struct lt_delivery_ctx ctx = { .attempt = a->row.attempts + 1, .message_id = a->row.event_id };
	json_t *event = json_loads(a->row.body, 0, NULL);
	enum lt_verdict v = pq->peer->adapter->outcome(pq->peer, &ctx, event, &rsp, carried, &err);
	json_decref(event);
	if (v == LT_RESEND || v == LT_RELOGIN)
		v = LT_RETRY;   /* TODO(issue 4): resend at once with ctx.flags, log in again */
	json_decref(carried);   /* events carried by answers: adapters of issue 4 */
	if (cc != CURLE_OK)
		lt_err_set(&err, LT_EIO, "%s", a->curl_err[0] ? a->curl_err : curl_easy_strerror(cc));

	int64_t now = lt_now_ms();
	struct lt_finish *f = &a->fin;
	f->op.kind = LT_OP_FINISH;
	f->op.done = finish_done;
	f->delivery_id = a->row.id;
	f->dest = pq->peer->name;
	f->dossier_code = a->row.dossier_code;
	f->attempt = a->row.attempts + 1;
	f->status = status;
	f->at_ms = now - (lt_mono_ms() - a->t0);
	f->duration_ms = lt_mono_ms() - a->t0;
	if (v != LT_DONE)
		snprintf(f->error, sizeof f->error, "%s", err.msg);
	if (a->rsp.len)
		f->response = strdup(a->rsp.data);

	int64_t delay = 0;
	if (v == LT_RETRY) {
		int64_t ra = lt_parse_retry_after(a->retry_after);
		delay = lt_retry_delay(f->attempt, cfg->retry_initial_ms, cfg->retry_max_delay_ms, ra);
		if (now + delay > a->row.created_at + cfg->retry_max_age_ms) {
			v = LT_DEAD;
			snprintf(f->error, sizeof f->error, "gave up after %d attempts over retry.max_age; last: %.180s",
				 f->attempt, err.msg);
		}
		f->next_at_ms = now + delay;
	}
	f->verdict = v;
	pc->attempts++;
	if (v == LT_DONE)
		pc->delivered++;
	else if (v == LT_RETRY)
		pc->retried++;
	else
		pc->dead++;
	static const char *const names[] = { "delivery.done", "delivery.retry", "delivery.dead" };
	json_t *fields = json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:I}", "dossier_code", a->row.dossier_code, "message_id",
				   a->row.event_id, "peer", pq->peer->name, "delivery_id", (json_int_t)a->row.id,
				   "attempt", f->attempt, "status", (int)status, "duration_ms", (json_int_t)f->duration_ms);
	if (v == LT_RETRY)
		json_object_set_new(fields, "retry_in_ms", json_integer(delay));
	if (v != LT_DONE)
		json_object_set_new(fields, "error", json_string(f->error));
	lt_log(v == LT_DONE ? LT_INFO : v == LT_RETRY ? LT_WARN : LT_ERROR, names[v], fields, "%s %s to %s: %s",
	       a->row.type, v == LT_DONE ? "delivered" : v == LT_RETRY ? "will be retried" : "dead-lettered",
	       pq->peer->name, v == LT_DONE ? "accepted" : f->error);

	unlink_live(a);
	curl_easy_cleanup(a->easy);
	a->easy = NULL;
	submit_finish(a);
}

static void check_done(struct lt_dispatch *d)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(d->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct attempt *a;
		CURL *easy = m->easy_handle;
		CURLcode cc = m->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&a);
		curl_multi_remove_handle(d->multi, easy);
		attempt_ended(a, cc);
	}
}

/* Worker thread: sign the encoded body as the peer wants it — a detached
 * JWS in X-Signature (jti = the delivery's message id, iat = now), or an
 * enveloped XML-DSig in the body. Signed again on every attempt. */
static int sign_request(struct attempt *a)
{
	const struct lt_peer *peer = a->pq->peer;
	const struct lt_security *sec = a->pq->gw->sec;
	if (strcmp(peer->sign, "jws") == 0)
		return lt_jws_sign(sec->jws, a->req.body.data ? a->req.body.data : "", a->req.body.len, a->row.event_id,
				   lt_now_ms() / 1000, &a->req.signature, &a->encode_err);
	if (strcmp(peer->sign, "xmldsig") == 0) {
		char *out = NULL;
		size_t outlen = 0;
		int rc = lt_xml_sign(sec->xml, a->req.body.data ? a->req.body.data : "", a->req.body.len, &out, &outlen,
				     &a->encode_err);
		if (rc)
			return rc;
		lt_buf_reset(&a->req.body);
		lt_buf_append(&a->req.body, out, outlen);
		free(out);
	}
	return LT_OK;
}

#define ATTEMPT_OF(j) ((struct attempt *)((char *)(j) - offsetof(struct attempt, job)))

/* Worker thread: the adapter builds the peer's request from the event. */
static void encode_run(struct lt_job *job)
{
	struct attempt *a = ATTEMPT_OF(job);
	const struct lt_peer *peer = a->pq->peer;
	json_t *ev = json_loads(a->row.body, 0, NULL);
	struct lt_delivery_ctx ctx = { .attempt = a->row.attempts + 1, .message_id = a->row.event_id };
	a->encode_rc = ev ? peer->adapter->encode(peer, &ctx, ev, &a->req, &a->encode_err)
			  : lt_err_set(&a->encode_err, LT_EINVAL, "stored event is not valid JSON");
	json_decref(ev);
	if (!a->encode_rc)
		a->encode_rc = sign_request(a);
}

static void encode_done(struct lt_job *job);

static void start_attempt(struct peer_q *pq, struct lt_claimed *row)
{
	struct lt_gateway *gw = pq->gw;
	struct attempt *a = calloc(1, sizeof *a);
	a->pq = pq;
	a->row = *row;
	row->body = NULL;
	a->t0 = lt_mono_ms();
	pq->inflight++;
	gw->counters[pq->peer->index].inflight = pq->inflight;
	gw->dispatch->busy++;
	a->job.run = encode_run;
	a->job.done = encode_done;
	if (lt_pool_submit(gw->pool, &a->job)) {
		lt_err_set(&a->encode_err, LT_EBUSY, "worker pool full");
		a->encode_rc = LT_EBUSY;
		encode_done(&a->job);
	}
}

/* Loop thread: send what was encoded; an event that cannot be encoded for
 * this peer is dead at once — no retry would help. */
static void encode_done(struct lt_job *job)
{
	struct attempt *a = ATTEMPT_OF(job);
	struct peer_q *pq = a->pq;
	struct lt_gateway *gw = pq->gw;
	const struct lt_peer *peer = pq->peer;
	if (a->encode_rc) {
		snprintf(a->curl_err, sizeof a->curl_err, "cannot encode for %s: %s", peer->name, a->encode_err.msg);
		a->fin.op.kind = LT_OP_FINISH;
		a->fin.op.done = finish_done;
		a->fin.delivery_id = a->row.id;
		a->fin.dest = peer->name;
		a->fin.dossier_code = a->row.dossier_code;
		a->fin.attempt = a->row.attempts + 1;
		a->fin.verdict = a->encode_rc == LT_EBUSY ? LT_RETRY : LT_DEAD;
		a->fin.at_ms = lt_now_ms();
		a->fin.next_at_ms = a->fin.at_ms + 1000;
		snprintf(a->fin.error, sizeof a->fin.error, "%s", a->curl_err);
		lt_log(LT_ERROR, a->fin.verdict == LT_DEAD ? "delivery.dead" : "delivery.retry",
		       json_pack("{s:s,s:s,s:s}", "dossier_code", a->row.dossier_code, "message_id", a->row.event_id,
				 "peer", peer->name),
		       "%s", a->curl_err);
		if (a->fin.verdict == LT_DEAD)
			gw->counters[peer->index].dead++;
		submit_finish(a);
		return;
	}
	if (gw->dispatch->draining) {
		/* shutting down: left in flight, sent after restart */
		pq->inflight--;
		gw->dispatch->busy--;
		attempt_free(a);
		return;
	}

	char url[2048], h[256];
	snprintf(url, sizeof url, "%s%s", peer->url, a->req.path);
	a->easy = curl_easy_init();
	CURL *e = a->easy;
	snprintf(h, sizeof h, "Content-Type: %s", a->req.content_type);
	a->headers = curl_slist_append(a->headers, h);
	snprintf(h, sizeof h, "X-Message-Id: %s", a->row.event_id);
	a->headers = curl_slist_append(a->headers, h);
	snprintf(h, sizeof h, "Idempotency-Key: %s", a->row.event_id);
	a->headers = curl_slist_append(a->headers, h);
	snprintf(h, sizeof h, "X-Dossier-Code: %s", a->row.dossier_code);
	a->headers = curl_slist_append(a->headers, h);
	a->headers = curl_slist_append(a->headers, "Expect:");
	if (a->req.signature) {
		struct lt_buf sh = { 0 };
		lt_buf_printf(&sh, "X-Signature: %s", a->req.signature);
		a->headers = curl_slist_append(a->headers, sh.data);
		lt_buf_free(&sh);
	}
	if (strncmp(url, "https://", 8) == 0) {
		const struct lt_peer_security *ps = &gw->sec->peers[peer->index];
		if (ps->ca_file)
			curl_easy_setopt(e, CURLOPT_CAINFO, ps->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, lt_tls_curl_ctx);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, gw->sec);
		if (peer->pin)
			curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, peer->pin);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(a->req.method, "POST") ? a->req.method : NULL);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->req.body.data ? a->req.body.data : "");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->req.body.len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)peer->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(peer->timeout_ms < 10000 ? peer->timeout_ms : 10000));
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, a);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->curl_err);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "lienthong/" LT_VERSION);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	struct lt_dispatch *d = gw->dispatch;
	a->next_live = d->live;
	if (d->live)
		d->live->prev_live = &a->next_live;
	a->prev_live = &d->live;
	d->live = a;
	curl_multi_add_handle(d->multi, e);
}

/* ---- claiming ---- */

static void on_peer_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct peer_q *pq = arg;
	pq->timer_at = 0;
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
		arm_timer(pq, lt_now_ms() + 1000);
	} else if (d->draining) {
		/* claimed while shutting down: left in flight, sent after restart */
	} else {
		for (int i = 0; i < c->n; i++)
			start_attempt(pq, &c->rows[i]);
		int64_t now = lt_now_ms();
		if (c->next_due_ms && c->next_due_ms <= now && c->n == c->max)
			pq->kicked = 1;   /* more are ready than the limit let through */
		else if (c->next_due_ms > now)
			arm_timer(pq, c->next_due_ms);
	}
	lt_claim_release(c);
	free(c);
	if (pq->kicked) {
		pq->kicked = 0;
		claim(pq);
	}
}

/* Ask the store for as many ready deliveries as the limits allow. */
static void claim(struct peer_q *pq)
{
	struct lt_gateway *gw = pq->gw;
	struct lt_dispatch *d = gw->dispatch;
	if (d->draining)
		return;
	if (pq->claiming) {
		pq->kicked = 1;
		return;
	}
	int room = pq->peer->concurrency - pq->inflight;
	if (room <= 0)
		return;
	if (pq->peer->rate > 0) {
		int64_t now = lt_mono_ms();
		pq->tokens += (double)(now - pq->refill_ms) * pq->peer->rate / 1000.0;
		double burst = pq->peer->rate < 1 ? 1 : pq->peer->rate;
		if (pq->tokens > burst)
			pq->tokens = burst;
		pq->refill_ms = now;
		if (pq->tokens < 1) {
			arm_timer(pq, lt_now_ms() + (int64_t)((1 - pq->tokens) * 1000 / pq->peer->rate) + 1);
			return;
		}
		if (room > (int)pq->tokens)
			room = (int)pq->tokens;
		pq->tokens -= room;
	}
	struct lt_claim *c = calloc(1, sizeof *c);
	c->op.kind = LT_OP_CLAIM;
	c->op.done = claim_done;
	c->op.arg = pq;
	c->dest = pq->peer->name;
	c->max = room;
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
	if (pq)
		claim(pq);
}

int lt_dispatch_start(struct lt_gateway *gw, struct lt_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return lt_err_set(err, LT_EIO, "cannot initialise libcurl");
	struct lt_dispatch *d = calloc(1, sizeof *d);
	gw->dispatch = d;
	d->multi = curl_multi_init();
	d->timeout = evtimer_new(gw->base, on_timeout, d);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, gw);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, gw);
	d->nq = gw->cfg->npeers;
	d->q = calloc(d->nq, sizeof *d->q);
	for (size_t i = 0; i < d->nq; i++) {
		struct peer_q *pq = &d->q[i];
		pq->gw = gw;
		if (!gw->cfg->peers[i].url)
			continue;
		pq->peer = &gw->cfg->peers[i];
		pq->timer = evtimer_new(gw->base, on_peer_timer, pq);
		pq->tokens = pq->peer->rate;
		pq->refill_ms = lt_mono_ms();
		claim(pq);
	}
	return LT_OK;
}

void lt_dispatch_drain(struct lt_gateway *gw)
{
	if (gw->dispatch)
		gw->dispatch->draining = 1;
}

int lt_dispatch_busy(struct lt_gateway *gw)
{
	return gw->dispatch ? gw->dispatch->busy : 0;
}

void lt_dispatch_abort(struct lt_gateway *gw)
{
	struct lt_dispatch *d = gw->dispatch;
	if (!d)
		return;
	d->draining = 1;
	while (d->live) {
		struct attempt *a = d->live;
		curl_multi_remove_handle(d->multi, a->easy);
		attempt_free(a);
	}
}

void lt_dispatch_free(struct lt_gateway *gw)
{
	struct lt_dispatch *d = gw->dispatch;
	if (!d)
		return;
	for (size_t i = 0; i < d->nq; i++)
		if (d->q[i].timer)
			event_free(d->q[i].timer);
	curl_multi_cleanup(d->multi);
	event_free(d->timeout);
	free(d->q);
	free(d);
	gw->dispatch = NULL;
	curl_global_cleanup();
}
