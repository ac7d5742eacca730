/* pull.c — one poller per pull peer: read the cursor, poll, store the events
 * and the next cursor in one commit, poll again at once while pages come
 * back full of events, otherwise after poll_interval. A page is checked
 * (answer.h: its signature verified when the peer signs its answers) and
 * read by the adapter on the worker pool, and its events are stored with
 * what vouched for them. */
#include "pull.h"
#include "adapter.h"
#include "answer.h"
#include "events.h"
#include "log.h"
#include "pool.h"
#include "security.h"
#include "store.h"
#include "xfer.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct poller {
	struct lt_gateway *gw;
	const struct lt_peer *peer;     /* in cfg: the newest generation that has it */
	struct lt_config *cfg;          /* a reference */
	char dest[64];                  /* its name, for store ops that outlive a reload */
	int removed;                    /* a reload removed it (or made it push): no more polls */
	struct event *timer;
	char cursor[512];
	int busy;
	struct lt_cursor cur;       /* the cursor read at start */
};

struct lt_pull {
	struct poller **p;      /* kept across reloads (polls in flight point at them) */
	size_t n;
	int busy;
};

/* A poll page: checked and read on a worker, then stored. */
struct page {
	struct lt_ingest ing;       /* first: the store op */
	struct lt_job job;          /* check and read the answer */
	struct lt_xfer *t;          /* the poll, until the page is read */
	struct poller *po;
	char cursor[512];           /* the cursor the poll was built from */
	char next[512];
	char message_id[80];
	int rc;                     /* of the check and the read */
	int refused;                /* the answer failed its check: nothing in it was read */
	struct lt_err err;
};

static void poll_now(struct poller *po);

static void schedule(struct poller *po, int64_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(po->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	poll_now(arg);
}

static void page_done(struct lt_store_op *op)
{
	struct page *pg = (struct page *)op;
	struct poller *po = pg->po;
	struct lt_gateway *gw = po->gw;
	po->busy = 0;
	gw->pull->busy--;
	if (op->rc && !(op->rc == LT_ECONFLICT && pg->ing.replay)) {
		lt_log(LT_ERROR, "pull.store_failed", json_pack("{s:s}", "peer", po->peer->name),
		       "cannot store what %s returned (%s); the cursor stays, polling again later", po->peer->name,
		       op->err.msg);
		schedule(po, po->peer->poll_interval_ms);
	} else if (op->rc || pg->ing.duplicate) {
		/* the same page again (or its signed content under the other cursor mark):
		 * its events are stored already */
		lt_log(LT_INFO, "pull.duplicate", json_pack("{s:s}", "peer", po->peer->name),
		       "%s served a page already stored; nothing new%s%s", po->peer->name, op->rc ? ": " : "",
		       op->rc ? op->err.msg : "");
		snprintf(po->cursor, sizeof po->cursor, "%s", pg->next);
		schedule(po, po->peer->poll_interval_ms);
	} else {
		snprintf(po->cursor, sizeof po->cursor, "%s", pg->next);
		char how[400], trust[300];
		lt_trust_phrase(pg->ing.trust, trust, sizeof trust);
		snprintf(how, sizeof how, "event polled from %s, %s", po->peer->name, trust);
		lt_events_stored(gw, po->peer, pg->message_id, pg->ing.events, pg->ing.routes, how);
		lt_log(LT_INFO, "pull.page", json_pack("{s:s,s:i,s:s}", "peer", po->peer->name, "events",
						       (int)json_array_size(pg->ing.events), "cursor", po->cursor),
		       "polled %s", po->peer->name);
		if (gw->stopping)
			;
		else if (json_array_size(pg->ing.events))
			poll_now(po);          /* there may be more pages */
		else
			schedule(po, po->peer->poll_interval_ms);
	}
	json_decref(pg->ing.events);
	json_decref(pg->ing.routes);
	json_decref(pg->ing.receipt);
	json_decref(pg->ing.original);
	free(pg);
}

/* Worker thread: check the answer before anything reads it (a polled answer
 * is trusted no more than a pushed message), then the adapter reads the page;
 * its events get ids and destinations. */
static void page_run(struct lt_job *job)
{
	struct page *pg = (struct page *)((char *)job - offsetof(struct page, job));
	struct lt_xfer *t = pg->t;
	const struct lt_peer *peer = t->peer;         /* the generation the poll began with (t->sec) */
	const struct lt_config *cfg = t->sec->cfg;
	struct lt_response rsp;
	lt_xfer_response(t, &rsp);
	struct lt_answer ans = { .rsp = &rsp, .signature = t->signature, .signatures = t->signatures,
				 .request_id = t->message_id, .server_cn = t->server_cn,
				 .server_sha256 = t->server_sha256, .signed_digest = pg->ing.signed_digest,
				 .sec = t->sec };
	json_t *events = json_array();
	if (t->cc != CURLE_OK)
		pg->rc = lt_err_set(&pg->err, LT_EIO, "%s", t->error);
	else if (rsp.status < 200 || rsp.status >= 300)
		pg->rc = lt_err_set(&pg->err, LT_EIO, "%s answered %ld", peer->name, rsp.status);
	else if ((pg->rc = lt_answer_check(pg->po->gw, peer, &ans, pg->ing.trust, &pg->err)))
		pg->refused = 1;
	else
		pg->rc = peer->adapter->poll_result(peer, &rsp, events, pg->next, &pg->err);
	lt_sha256_hex(rsp.body, rsp.len, pg->ing.digest);
	if (pg->rc) {
		json_decref(events);
		return;
	}
	pg->ing.events = events;
	pg->ing.routes = lt_events_stamp(cfg, peer->name, events);
}

/* Loop thread: a page that failed is logged (a refused one also as
 * security.refused) and polled again later; one with events or a new cursor
 * is stored in one commit. */
static void page_read(struct lt_job *job)
{
	struct page *pg = (struct page *)((char *)job - offsetof(struct page, job));
	struct poller *po = pg->po;
	struct lt_gateway *gw = po->gw;
	struct lt_xfer *t = pg->t;
	if (pg->refused) {
		struct lt_response rsp;
		lt_xfer_response(t, &rsp);
		lt_answer_refused(gw, po->peer, "answer to poll", t->message_id, &rsp, &pg->err);
	}
	lt_xfer_release(t);
	free(t);
	pg->t = NULL;
	if (pg->rc || (!json_array_size(pg->ing.events) && strcmp(pg->next, pg->cursor) == 0)) {
		po->busy = 0;
		gw->pull->busy--;
		if (pg->rc)
			lt_log(LT_WARN, "pull.failed", json_pack("{s:s,s:s}", "peer", po->peer->name, "error", pg->err.msg),
			       "poll of %s failed: %s; trying again in %lld s", po->peer->name, pg->err.msg,
			       (long long)po->peer->poll_interval_ms / 1000);
		json_decref(pg->ing.events);
		json_decref(pg->ing.routes);
		free(pg);
		schedule(po, po->peer->poll_interval_ms);
		return;
	}
	/* events and the cursor after them: one commit */
	/* A page is the answer to our own poll, on a connection we opened to the peer's
	 * verified server: no replay window or signed identity applies (its results carry
	 * their own, older, times). A signed page is known by what its signature covers,
	 * not by its bytes: served again, however serialized, it is stored once. */
	const char *key = pg->ing.signed_digest[0] ? pg->ing.signed_digest : pg->ing.digest;
	snprintf(pg->message_id, sizeof pg->message_id, "poll:%.16s:%.16s", key, pg->cursor[0] ? "c" : "0");
	pg->ing.op.kind = LT_OP_INGEST;
	pg->ing.op.done = page_done;
	pg->ing.peer = po->dest;
	pg->ing.message_id = pg->message_id;
	pg->ing.receipt = json_pack("{s:s,s:s}", "status", "polled", "cursor", pg->next);
	pg->ing.cursor = pg->next;
	pg->ing.now_ms = lt_now_ms();
	if (lt_store_submit(gw->store, &pg->ing.op)) {
		pg->ing.op.rc = LT_EBUSY;
		snprintf(pg->ing.op.err.msg, sizeof pg->ing.op.err.msg, "store busy");
		page_done(&pg->ing.op);
	}
}

static void poll_ended(struct lt_xfer *t)
{
	struct poller *po = t->arg;
	struct lt_gateway *gw = po->gw;
	if (t->aborted) {
		po->busy = 0;
		gw->pull->busy--;
		lt_xfer_release(t);
		free(t);
		return;
	}
	struct page *pg = calloc(1, sizeof *pg);
	pg->po = po;
	pg->t = t;
	snprintf(pg->cursor, sizeof pg->cursor, "%s", po->cursor);
	snprintf(pg->next, sizeof pg->next, "%s", po->cursor);    /* an empty page keeps it */
	pg->job.run = page_run;
	pg->job.done = page_read;
	if (lt_pool_submit(gw->pool, &pg->job)) {
		pg->rc = lt_err_set(&pg->err, LT_EBUSY, "worker pool full: the answer was not read");
		page_read(&pg->job);
	}
}

/* A poll built and signed on a worker (a signature may be slow, or on a token): the
 * loop only starts its transfer. It keeps the generation it was built with. */
struct poll_build {
	struct lt_job job;
	struct poller *po;
	const struct lt_peer *peer;     /* of the generation t->sec holds */
	struct lt_xfer *t;
	char cursor[512];
	char mid[64];
	int rc;
	struct lt_err err;
};

static void poll_build_run(struct lt_job *job)
{
	struct poll_build *b = (struct poll_build *)job;
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = b->mid };
	b->rc = b->peer->adapter->poll(b->peer, &ctx, b->cursor, &b->t->req, &b->err);
	if (!b->rc)
		b->rc = lt_xfer_sign(b->t->sec, b->peer, b->mid, &b->t->req, &b->err);
}

static void poll_build_done(struct lt_job *job)
{
	struct poll_build *b = (struct poll_build *)job;
	struct poller *po = b->po;
	struct lt_gateway *gw = po->gw;
	struct lt_xfer *t = b->t;
	if (b->rc || gw->stopping || po->removed) {
		if (b->rc)
			lt_log(LT_ERROR, "pull.failed", json_pack("{s:s}", "peer", b->peer->name),
			       "cannot build the poll of %s: %s", b->peer->name, b->err.msg);
		lt_xfer_release(t);
		free(t);
		po->busy = 0;
		gw->pull->busy--;
		if (b->rc && !gw->stopping && !po->removed)
			schedule(po, po->peer->poll_interval_ms);
		free(b);
		return;
	}
	t->peer = b->peer;
	t->done = poll_ended;
	t->arg = po;
	snprintf(t->message_id, sizeof t->message_id, "%s", b->mid);
	free(b);
	lt_xfer_start(gw, t);
}

static void poll_now(struct poller *po)
{
	struct lt_gateway *gw = po->gw;
	if (po->busy || gw->stopping || po->removed)
		return;
	struct poll_build *b = calloc(1, sizeof *b);
	b->po = po;
	b->peer = po->peer;
	b->t = calloc(1, sizeof *b->t);
	b->t->sec = lt_security_ref(gw->sec);
	snprintf(b->cursor, sizeof b->cursor, "%s", po->cursor);
	snprintf(b->mid, sizeof b->mid, "poll-%lld", (long long)lt_now_ms());
	b->job.run = poll_build_run;
	b->job.done = poll_build_done;
	po->busy = 1;
	gw->pull->busy++;
	if (lt_pool_submit(gw->pool, &b->job)) {
		b->rc = lt_err_set(&b->err, LT_EBUSY, "worker pool full: the poll was not built");
		poll_build_done(&b->job);
	}
}

static void cursor_done(struct lt_store_op *op)
{
	struct poller *po = op->arg;
	po->gw->pull->busy--;
	if (op->rc) {
		lt_log(LT_ERROR, "pull.failed", json_pack("{s:s}", "peer", po->peer->name),
		       "cannot read the cursor of %s: %s", po->peer->name, op->err.msg);
		schedule(po, po->peer->poll_interval_ms);
		return;
	}
	snprintf(po->cursor, sizeof po->cursor, "%s", po->cur.cursor);
	poll_now(po);
}

/* A poller for peer (inbound = pull) of the running configuration: reads its cursor, then polls. */
static int poller_new(struct lt_gateway *gw, const struct lt_peer *peer, struct lt_err *err)
{
	struct lt_pull *pl = gw->pull;
	if (!peer->adapter->poll || !peer->url)
		return lt_err_set(err, LT_ECONFIG, "peer %s: inbound = pull needs a url and an adapter that polls "
				  "(%s does not)", peer->name, peer->adapter->name);
	struct poller **v = realloc(pl->p, (pl->n + 1) * sizeof *v);
	struct poller *po = calloc(1, sizeof *po);
	if (v)
		pl->p = v;
	if (!v || !po) {
		free(po);
		return lt_err_set(err, LT_ENOMEM, "out of memory for the poller of %s", peer->name);
	}
	pl->p[pl->n++] = po;
	po->gw = gw;
	po->peer = peer;
	po->cfg = lt_config_ref(gw->cfg);
	snprintf(po->dest, sizeof po->dest, "%s", peer->name);
	po->timer = evtimer_new(gw->base, on_timer, po);
	po->cur.op.kind = LT_OP_CURSOR;
	po->cur.op.done = cursor_done;
	po->cur.op.arg = po;
	po->cur.peer = po->dest;
	if (lt_store_submit(gw->store, &po->cur.op) == 0)
		pl->busy++;
	return LT_OK;
}

int lt_pull_start(struct lt_gateway *gw, struct lt_err *err)
{
	gw->pull = calloc(1, sizeof *gw->pull);
	for (size_t i = 0; i < gw->cfg->npeers; i++) {
		const struct lt_peer *peer = &gw->cfg->peers[i];
		if (strcmp(peer->inbound, "pull") == 0 && poller_new(gw, peer, err))
			return err->code;
	}
	return LT_OK;
}

void lt_pull_reconfigure(struct lt_gateway *gw)
{
	struct lt_pull *pl = gw->pull;
	const struct lt_config *cfg = gw->cfg;
	if (!pl || gw->stopping)
		return;
	for (size_t i = 0; i < pl->n; i++) {
		struct poller *po = pl->p[i];
		const struct lt_peer *p = lt_config_peer(cfg, po->dest);
		if (!p || strcmp(p->inbound, "pull")) {
			po->removed = 1;        /* a poll in flight ends and is stored; its cursor stays */
			evtimer_del(po->timer);
			continue;
		}
		int was_removed = po->removed;
		po->removed = 0;
		po->peer = p;
		struct lt_config *old = po->cfg;
		po->cfg = lt_config_ref(cfg);
		lt_config_free(old);
		if (was_removed)
			poll_now(po);
	}
	for (size_t i = 0; i < cfg->npeers; i++) {
		const struct lt_peer *p = &cfg->peers[i];
		struct lt_err err = { 0 };
		int have = 0;
		for (size_t k = 0; k < pl->n && !have; k++)
			have = strcmp(pl->p[k]->dest, p->name) == 0;
		if (!have && strcmp(p->inbound, "pull") == 0 && poller_new(gw, p, &err))
			lt_log(LT_ERROR, "pull.failed", json_pack("{s:s}", "peer", p->name), "%s", err.msg);
	}
}

int lt_pull_busy(struct lt_gateway *gw)
{
	return gw->pull ? gw->pull->busy : 0;
}

void lt_pull_free(struct lt_gateway *gw)
{
	struct lt_pull *pl = gw->pull;
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n; i++) {
		event_free(pl->p[i]->timer);
		lt_config_free(pl->p[i]->cfg);
		free(pl->p[i]);
	}
	free(pl->p);
	free(pl);
	gw->pull = NULL;
}
