/* pull.c — one poller per pull peer: read the cursor, poll, store the events
 * and the next cursor in one commit, poll again at once while pages come
 * back full of events, otherwise after poll_interval. */
#include "pull.h"
#include "adapter.h"
#include "dispatch.h"
#include "log.h"
#include "security.h"
#include "sign_xml.h"
#include "store.h"
#include "xfer.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct poller {
	struct lt_gateway *gw;
	const struct lt_peer *peer;
	struct event *timer;
	char cursor[512];
	int busy;
	struct lt_cursor cur;       /* the cursor read at start */
};

struct lt_pull {
	struct poller *p;
	size_t n;
	int busy;
};

/* A poll page being stored. */
struct page {
	struct lt_ingest ing;       /* first: the store op */
	struct poller *po;
	char next[512];
	char message_id[80];
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
		char how[160];
		snprintf(how, sizeof how, "event polled from %s", po->peer->name);
		lt_route_stored(gw, po->peer, pg->message_id, pg->ing.events, pg->ing.routes, how);
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
	struct lt_response rsp;
	lt_xfer_response(t, &rsp);
	struct lt_err err = { 0 };
	struct lt_xml_info info = { 0 };
	json_t *events = json_array();
	struct page *pg = calloc(1, sizeof *pg);
	int rc = LT_OK;
	if (t->cc != CURLE_OK)
		rc = lt_err_set(&err, LT_EIO, "%s", t->error);
	else if (rsp.status < 200 || rsp.status >= 300)
		rc = lt_err_set(&err, LT_EIO, "%s answered %ld", po->peer->name, rsp.status);
	else if (strcmp(po->peer->verify, "xmldsig") == 0 &&
		 lt_xml_verify(gw->sec->peers[po->peer->index].xml_trust, rsp.body, rsp.len, lt_now_ms() / 1000, &info,
			       NULL, &err))
		rc = LT_EAUTH;          /* a polled answer is trusted no more than a pushed one */
	else {
		snprintf(pg->next, sizeof pg->next, "%s", po->cursor);   /* an empty page keeps it */
		rc = po->peer->adapter->poll_result(po->peer, &rsp, events, pg->next, &err);
	}
	/* A page is the answer to our own poll, on a connection we opened to the peer's
	 * verified server: no replay window or signed identity applies (its results carry
	 * their own, older, times). A signed page is known by what its signature covers,
	 * not by its bytes: served again, however serialized, it is stored once. */
	char digest[65];
	lt_sha256_hex(rsp.body, rsp.len, digest);
	const char *key = info.content_sha256[0] ? info.content_sha256 : digest;
	lt_xfer_release(t);
	free(t);
	if (rc) {
		po->busy = 0;
		gw->pull->busy--;
		lt_log(LT_WARN, "pull.failed", json_pack("{s:s,s:s}", "peer", po->peer->name, "error", err.msg),
		       "poll of %s failed: %s; trying again in %lld s", po->peer->name, err.msg,
		       (long long)po->peer->poll_interval_ms / 1000);
		json_decref(events);
		free(pg);
		schedule(po, po->peer->poll_interval_ms);
		return;
	}
	if (!json_array_size(events) && strcmp(pg->next, po->cursor) == 0) {
		po->busy = 0;
		gw->pull->busy--;
		json_decref(events);
		free(pg);
		schedule(po, po->peer->poll_interval_ms);
		return;
	}
	/* events and the cursor after them: one commit */
	pg->po = po;
	snprintf(pg->message_id, sizeof pg->message_id, "poll:%.16s:%.16s", key, po->cursor[0] ? "c" : "0");
	json_t *routes = json_array();
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		char id[27];
		lt_event_id(id);
		json_object_set_new(ev, "event_id", json_string(id));
		json_object_set_new(ev, "source", json_string(po->peer->name));
		lt_units_apply(gw->cfg, ev);
		json_t *dests = json_array();
		lt_route_event(gw->cfg, po->peer->name, ev, dests);
		json_array_append_new(routes, dests);
	}
	pg->ing.op.kind = LT_OP_INGEST;
	pg->ing.op.done = page_done;
	pg->ing.peer = po->peer->name;
	pg->ing.message_id = pg->message_id;
	snprintf(pg->ing.digest, sizeof pg->ing.digest, "%s", digest);
	snprintf(pg->ing.signed_digest, sizeof pg->ing.signed_digest, "%s", info.content_sha256);
	pg->ing.events = events;
	pg->ing.routes = routes;
	pg->ing.receipt = json_pack("{s:s,s:s}", "status", "polled", "cursor", pg->next);
	pg->ing.cursor = pg->next;
	pg->ing.now_ms = lt_now_ms();
	if (lt_store_submit(gw->store, &pg->ing.op)) {
		pg->ing.op.rc = LT_EBUSY;
		snprintf(pg->ing.op.err.msg, sizeof pg->ing.op.err.msg, "store busy");
		page_done(&pg->ing.op);
	}
}

static void poll_now(struct poller *po)
{
	struct lt_gateway *gw = po->gw;
	if (po->busy || gw->stopping)
		return;
	struct lt_xfer *t = calloc(1, sizeof *t);
	struct lt_err err = { 0 };
	struct lt_delivery_ctx ctx = { .attempt = 1 };
	char mid[64];
	snprintf(mid, sizeof mid, "poll-%lld", (long long)lt_now_ms());
	ctx.message_id = mid;
	if (po->peer->adapter->poll(po->peer, &ctx, po->cursor, &t->req, &err) ||
	    lt_dispatch_sign(gw, po->peer, mid, &t->req, &err)) {
		lt_log(LT_ERROR, "pull.failed", json_pack("{s:s}", "peer", po->peer->name),
		       "cannot build the poll of %s: %s", po->peer->name, err.msg);
		lt_xfer_release(t);
		free(t);
		schedule(po, po->peer->poll_interval_ms);
		return;
	}
	po->busy = 1;
	gw->pull->busy++;
	t->peer = po->peer;
	t->done = poll_ended;
	t->arg = po;
	snprintf(t->message_id, sizeof t->message_id, "%s", mid);
	lt_xfer_start(gw, t);
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

int lt_pull_start(struct lt_gateway *gw, struct lt_err *err)
{
	struct lt_pull *pl = calloc(1, sizeof *pl);
	gw->pull = pl;
	pl->p = calloc(gw->cfg->npeers ? gw->cfg->npeers : 1, sizeof *pl->p);
	for (size_t i = 0; i < gw->cfg->npeers; i++) {
		const struct lt_peer *peer = &gw->cfg->peers[i];
		if (strcmp(peer->inbound, "pull"))
			continue;
		if (!peer->adapter->poll || !peer->url)
			return lt_err_set(err, LT_ECONFIG, "peer %s: inbound = pull needs a url and an adapter that polls "
					  "(%s does not)", peer->name, peer->adapter->name);
		struct poller *po = &pl->p[pl->n++];
		po->gw = gw;
		po->peer = peer;
		po->timer = evtimer_new(gw->base, on_timer, po);
		po->cur.op.kind = LT_OP_CURSOR;
		po->cur.op.done = cursor_done;
		po->cur.op.arg = po;
		po->cur.peer = peer->name;
		if (lt_store_submit(gw->store, &po->cur.op) == 0)
			pl->busy++;
	}
	return LT_OK;
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
	for (size_t i = 0; i < pl->n; i++)
		event_free(pl->p[i].timer);
	free(pl->p);
	free(pl);
	gw->pull = NULL;
}
