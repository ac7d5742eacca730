/* dispatch.c — the delivery queues: one per destination peer, claiming its
 * ready deliveries and starting attempts (dispatch_attempt.c) as the limits allow.
 *
 * Per peer: at most `concurrency` attempts in flight, at most `rate` new
 * attempts per second, one claim op outstanding at a time (keeping up to
 * CLAIM_AHEAD × concurrency deliveries claimed or in flight), and the breaker
 * (retry.c) holding attempts back while the peer looks down (an idle peer is
 * probed on its own). A peer whose adapter has a session (the portal) is
 * logged in before its first delivery and again when the adapter says the
 * session expired. A claim whose commit failed is resynced with the store.
 * Queues are started, follow a reload, are drained and freed here. */
#include "dispatch.h"
#include "dispatch_int.h"
#include "adapter.h"
#include "log.h"
#include "retry.h"
#include "store.h"
#include "xfer.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_RETRY_MS 5000

/* How many deliveries a queue keeps claimed or in flight, in units of its
 * concurrency. A claim takes a store batch and its fsync (~4 ms at 5 000
 * deliveries/s, more under load), and the next claim only goes out when it is
 * back: with 2 × concurrency the slots spent a third of their time with nothing
 * claimed (docs/performance.md, "The delivery slots"). Claimed rows wait in
 * memory with their bodies; a crash returns them to the queue at start, a
 * drain or a removed peer at once. */
#define CLAIM_AHEAD 4

static struct lt_peer_q *find_q(struct lt_dispatch *d, const char *dest)
{
	for (size_t i = 0; i < d->nq; i++)
		if (strcmp(d->q[i]->dest, dest) == 0)
			return d->q[i];
	return NULL;
}

/* ---- session login ---- */

static void login_ended(struct lt_xfer *t)
{
	struct lt_peer_q *pq = t->arg;
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
		pq->login = LT_LOGIN_NONE;
		lt_log(LT_ERROR, "peer.login_failed", json_pack("{s:s,s:i}", "peer", pq->peer->name, "status", (int)t->status),
		       "cannot log in to %s: %s; trying again in %d s", pq->peer->name, err.msg, LOGIN_RETRY_MS / 1000);
		lt_dispatch_arm_timer(pq, lt_now_ms() + LOGIN_RETRY_MS);
	} else {
		pq->login = LT_LOGIN_OK;
		snprintf(pq->session, sizeof pq->session, "%s", session);
		lt_log(LT_INFO, "peer.login", json_pack("{s:s}", "peer", pq->peer->name), "session opened with %s",
		       pq->peer->name);
		lt_dispatch_claim(pq);
	}
	lt_xfer_release(t);
	free(t);
}

static void start_login(struct lt_peer_q *pq)
{
	struct lt_gateway *gw = pq->gw;
	struct lt_xfer *t = calloc(1, sizeof *t);
	struct lt_err err = { 0 };
	if (pq->peer->adapter->login(pq->peer, &t->req, &err)) {
		lt_log(LT_ERROR, "peer.login_failed", json_pack("{s:s}", "peer", pq->peer->name),
		       "cannot build the login request for %s: %s", pq->peer->name, err.msg);
		lt_xfer_release(t);
		free(t);
		lt_dispatch_arm_timer(pq, lt_now_ms() + LOGIN_RETRY_MS);
		return;
	}
	pq->login = LT_LOGIN_RUNNING;
	t->peer = pq->peer;
	t->done = login_ended;
	t->arg = pq;
	gw->dispatch->busy++;
	lt_xfer_start(gw, t);
}

/* ---- the peer's breaker, and an idle peer's probe ---- */

/* Record in the peer's breaker whether an exchange found it down. */
enum lt_breaker_change lt_dispatch_breaker_record(struct lt_peer_q *pq, const struct lt_xfer *t)
{
	const struct lt_config *cfg = pq->gw->cfg;
	int down = lt_peer_down(t->cc == CURLE_OK, t->status);
	int64_t max_ms = cfg->retry_max_delay_ms < LT_BREAKER_MAX_MS ? cfg->retry_max_delay_ms : LT_BREAKER_MAX_MS;
	enum lt_breaker_change ch = lt_breaker_record(&pq->breaker, down, lt_mono_ms(), cfg->breaker_failures, max_ms);
	lt_counters(pq->gw, pq->peer)->breaker_open = pq->breaker.open;
	return ch;
}

/* The probe of an open breaker with nothing queued to send: a GET of the
 * peer's url (no delivery, no side effect). Any answer below 500 shows the
 * peer is up and closes the breaker; a 5xx or no answer keeps it open. */
static void idle_probe_ended(struct lt_xfer *t)
{
	struct lt_peer_q *pq = t->arg;
	struct lt_gateway *gw = pq->gw;
	gw->dispatch->busy--;
	if (!t->aborted) {
		enum lt_breaker_change ch = lt_dispatch_breaker_record(pq, t);
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
		lt_dispatch_claim(pq);
	}
}

/* Nothing to send and nothing coming: an open breaker would never see the
 * peer recover (its probes are deliveries). Probe it on its own when due. */
static void idle_probe(struct lt_peer_q *pq)
{
	int64_t wait = 0;
	if (!lt_breaker_allow(&pq->breaker, lt_mono_ms(), &wait)) {
		if (wait >= 0)
			lt_dispatch_arm_timer(pq, lt_now_ms() + wait + 1);
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

static void on_peer_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_peer_q *pq = arg;
	pq->timer_at = 0;
	lt_dispatch_rewrite_unrecorded(pq);
	pq->maybe_more = 1;
	lt_dispatch_claim(pq);
}

void lt_dispatch_arm_timer(struct lt_peer_q *pq, int64_t at_ms)
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
	struct lt_peer_q *pq = op->arg;
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
		lt_dispatch_arm_timer(pq, lt_now_ms() + 1000);
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
			lt_dispatch_arm_timer(pq, c->next_due_ms);
		else if (c->next_due_ms)
			/* came due while the claim ran: never leave a pending delivery without a way out */
			pq->maybe_more = 1;
	}
	pq->kicked = 0;
	lt_claim_release(c);
	free(c);
	lt_dispatch_claim(pq);
}

static void resync_done(struct lt_store_op *op)
{
	struct lt_release *r = (struct lt_release *)op;
	struct lt_peer_q *pq = op->arg;
	pq->gw->dispatch->busy--;
	pq->resyncing = 0;
	if (op->rc) {
		free(r);
		lt_dispatch_arm_timer(pq, lt_now_ms() + 1000);     /* the store is still down: not again at once */
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
	lt_dispatch_arm_timer(pq, lt_now_ms() + 1000);
}

/* After a failed claim: once nothing of this peer is in flight or waiting to
 * be written, every delivery the store shows in flight to it is an orphan of
 * a commit that failed yet reached the disk; they go back to the queue. */
static void resync(struct lt_peer_q *pq)
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
 * batch (up to CLAIM_AHEAD × concurrency claimed or in flight) while the
 * store may hold more. Called on every change: a kick, a timer, a slot freed. */
void lt_dispatch_claim(struct lt_peer_q *pq)
{
	struct lt_gateway *gw = pq->gw;
	struct lt_dispatch *d = gw->dispatch;
	if (d->draining || pq->removed)
		return;
	if (pq->resync) {
		resync(pq);
		return;
	}
	if (pq->peer->adapter->login && pq->login != LT_LOGIN_OK) {
		if (pq->login == LT_LOGIN_NONE)
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
				lt_dispatch_arm_timer(pq, lt_now_ms() + (int64_t)((1 - pq->tokens) * 1000 / pq->peer->rate) + 1);
				break;
			}
			pq->tokens -= 1;
		}
		int64_t wait = 0;
		if (!lt_breaker_allow(&pq->breaker, lt_mono_ms(), &wait)) {
			if (pq->peer->rate > 0)
				pq->tokens += 1;
			if (wait >= 0)
				lt_dispatch_arm_timer(pq, lt_now_ms() + wait + 1);
			break;
		}
		lt_dispatch_start_attempt(pq, &pq->ready[started++], pq->breaker.probing);
	}
	if (started) {
		memmove(pq->ready, pq->ready + started, (size_t)(pq->nready - started) * sizeof *pq->ready);
		pq->nready -= started;
	}
	if (pq->claiming) {
		pq->kicked = 1;
		return;
	}
	int want = CLAIM_AHEAD * pq->peer->concurrency - pq->nready - pq->inflight;
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
	struct lt_peer_q *pq = find_q(gw->dispatch, dest);
	if (pq) {
		pq->maybe_more = 1;
		lt_dispatch_claim(pq);
	}
}

/* A queue for peer p of cfg (the running configuration), kicked once. */
static struct lt_peer_q *queue_new(struct lt_gateway *gw, const struct lt_config *cfg, const struct lt_peer *p)
{
	struct lt_dispatch *d = gw->dispatch;
	struct lt_peer_q **v = realloc(d->q, (d->nq + 1) * sizeof *v);
	struct lt_peer_q *pq = calloc(1, sizeof *pq);
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
	lt_dispatch_claim(pq);
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
static void release_ready(struct lt_gateway *gw, struct lt_peer_q *pq)
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
static void queue_update(struct lt_gateway *gw, struct lt_peer_q *pq, const struct lt_peer *p)
{
	const struct lt_peer *was = pq->peer;
	if (pq->removed || strcmp(was->url, p->url) || was->adapter != p->adapter) {
		pq->login = LT_LOGIN_NONE;         /* a session belongs to the url it was opened with */
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
	lt_dispatch_claim(pq);
}

void lt_dispatch_reconfigure(struct lt_gateway *gw)
{
	struct lt_dispatch *d = gw->dispatch;
	const struct lt_config *cfg = gw->cfg;
	if (!d || d->draining)
		return;
	lt_xfer_reconfigure(gw);
	for (size_t i = 0; i < d->nq; i++) {
		struct lt_peer_q *pq = d->q[i];
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
		struct lt_peer_q *pq = find_q(d, p->name);
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
		struct lt_peer_q *pq = d->q[i];
		if (pq->timer)
			event_free(pq->timer);
		for (int k = 0; k < pq->nready; k++)
			free(pq->ready[k].body);
		free(pq->ready);
		lt_dispatch_free_unrecorded(pq);
		lt_config_free(pq->cfg);
		free(pq);
	}
	free(d->q);
	free(d);
	gw->dispatch = NULL;
	lt_xfer_free(gw);
}
