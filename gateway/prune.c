/* prune.c — retention runs: one at start and every hour while [gateway]
 * retention is set, or one an operator asks for. A run is a chain of store
 * ops, each a bounded batch in a group commit of its own (the ingest beside
 * it waits for one batch at most), ended by one log line with its counts. */
#include "prune.h"
#include "dates.h"
#include "http.h"
#include "log.h"
#include "mapping.h"
#include "store.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#define RUN_EVERY_MS (3600 * 1000)
#define PAUSE_MS 30             /* between batches: commits without pruning in between */

enum { W_DOSSIERS, W_EVENTS, W_DELIVERIES, W_ATTEMPTS, W_MESSAGES, W_AUDIT, W_N };
static const char *const what_names[W_N] = { "dossiers", "events", "deliveries", "attempts", "messages", "audit" };

struct lt_pruner {
	struct lt_gateway *gw;
	struct event *timer;
	struct event *next;             /* the run's next batch, after a pause */
	struct lt_prune op;
	struct lt_config *cfg;          /* a reference: the run's archive file is named there (a reload may swap gw->cfg) */
	int running;
	/* the run in progress */
	const char *why;                /* "retention" or "operator" */
	int64_t started_ms, batches, run[W_N];
	int64_t audit_through;
	char audit_hash[65], held_by[200];
	struct evhttp_request *req;     /* the operator's request, answered at the run's end */
	int64_t total[W_N];             /* pruned since start, for the metric */
};

static void arm(struct lt_pruner *p, int64_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(p->timer, &tv);
}

static json_t *run_json(const struct lt_pruner *p)
{
	char before[40];
	lt_date_format_rfc3339(p->op.before_ms / 1000, before);
	json_t *o = json_pack("{s:s,s:b,s:s,s:I,s:I}", "trigger", p->why, "dry_run", p->op.dry_run, "before", before,
			      "batches", (json_int_t)p->batches, "ms", (json_int_t)(lt_mono_ms() - p->started_ms));
	for (int w = 0; w < W_N; w++)
		json_object_set_new(o, what_names[w], json_integer(p->run[w]));
	if (p->audit_through)
		json_object_set_new(o, "checkpoint", json_pack("{s:I,s:s}", "seq", (json_int_t)p->audit_through, "hash",
								p->audit_hash));
	json_object_set_new(o, "audit_held_by", p->held_by[0] ? json_string(p->held_by) : json_null());
	return o;
}

static void run_end(struct lt_pruner *p, int rc, const char *error)
{
	p->running = 0;
	if (rc) {
		lt_log(LT_ERROR, "prune.failed", json_pack("{s:s,s:s}", "trigger", p->why, "error", error),
		       "pruning failed: %s", error);
		if (p->req)
			lt_http_reply_error(p->req, 503, "store_unavailable", error, 5);
	} else {
		json_t *o = run_json(p);
		lt_log(LT_INFO, p->op.dry_run ? "prune.dry_run" : "prune.done", json_incref(o),
		       "%s %lld dossiers (%lld events, %lld deliveries, %lld attempts), %lld messages, %lld audit rows",
		       p->op.dry_run ? "would prune" : "pruned", (long long)p->run[W_DOSSIERS], (long long)p->run[W_EVENTS],
		       (long long)p->run[W_DELIVERIES], (long long)p->run[W_ATTEMPTS], (long long)p->run[W_MESSAGES],
		       (long long)p->run[W_AUDIT]);
		if (p->req)
			lt_http_reply_json(p->req, 200, o, 0);
		else
			json_decref(o);
	}
	p->req = NULL;
	if (p->gw->cfg->retention_ms > 0 && !p->gw->stopping && !evtimer_pending(p->timer, NULL))
		arm(p, RUN_EVERY_MS);
}

static void batch_done(struct lt_store_op *op)
{
	struct lt_pruner *p = op->arg;
	if (op->rc) {
		run_end(p, op->rc, op->err.msg);
		return;
	}
	int64_t got[W_N] = { p->op.dossiers, p->op.events, p->op.deliveries, p->op.attempts, p->op.messages,
			     p->op.audit };
	for (int w = 0; w < W_N; w++) {
		p->run[w] += got[w];
		if (!p->op.dry_run)
			p->total[w] += got[w];
	}
	p->batches++;
	if (p->op.audit_through) {
		p->audit_through = p->op.audit_through;
		memcpy(p->audit_hash, p->op.audit_hash, sizeof p->audit_hash);
	}
	if (p->op.held_by[0])
		memcpy(p->held_by, p->op.held_by, sizeof p->held_by);
	if (p->op.more && !p->gw->stopping) {
		struct timeval tv = { 0, PAUSE_MS * 1000 };
		evtimer_add(p->next, &tv);
		return;
	}
	run_end(p, 0, NULL);
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_pruner *p = arg;
	if (p->gw->stopping)
		run_end(p, 0, NULL);    /* what was done is said; the rest waits for the next start */
	else if (lt_store_submit(p->gw->store, &p->op.op))
		run_end(p, LT_EBUSY, "the store is not taking requests");
}

/* Start a run: 0, or LT_EBUSY (one is running, or the store refused). */
static int run_start(struct lt_pruner *p, int64_t before_ms, int dry_run, const char *why)
{
	if (p->running)
		return LT_EBUSY;
	int64_t now = lt_now_ms(), window = p->gw->cfg->replay_window_ms;
	memset(&p->op, 0, sizeof p->op);
	p->op.op.kind = LT_OP_PRUNE;
	p->op.op.done = batch_done;
	p->op.op.arg = p;
	p->op.before_ms = before_ms;
	/* a signed message's digest and id refuse its replay for as long as its time can pass */
	p->op.keep_messages_ms = before_ms < now - window ? before_ms : now - window;
	p->op.now_ms = now;
	p->op.dry_run = dry_run;
	lt_config_free(p->cfg);         /* no run uses it any more */
	p->cfg = lt_config_ref(p->gw->cfg);
	p->op.archive = p->cfg->retention_archive;
	p->why = why;
	p->started_ms = lt_mono_ms();
	p->batches = p->audit_through = 0;
	p->held_by[0] = p->audit_hash[0] = '\0';
	memset(p->run, 0, sizeof p->run);
	if (lt_store_submit(p->gw->store, &p->op.op))
		return LT_EBUSY;
	p->running = 1;
	return LT_OK;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_pruner *p = arg;
	if (p->gw->stopping)
		return;
	if (run_start(p, lt_now_ms() - p->gw->cfg->retention_ms, 0, "retention"))
		arm(p, p->running ? RUN_EVERY_MS : 60 * 1000);
}

int lt_prune_start(struct lt_gateway *gw, struct lt_err *err)
{
	(void)err;
	struct lt_pruner *p = calloc(1, sizeof *p);
	p->gw = gw;
	p->timer = evtimer_new(gw->base, on_timer, p);
	p->next = evtimer_new(gw->base, on_next, p);
	gw->pruner = p;
	if (gw->cfg->retention_ms > 0)
		arm(p, 1);      /* a first run right after start */
	return LT_OK;
}

int lt_prune_busy(struct lt_gateway *gw)
{
	return gw->pruner && gw->pruner->running;
}

void lt_prune_reconfigure(struct lt_gateway *gw)
{
	struct lt_pruner *p = gw->pruner;
	if (p && gw->cfg->retention_ms > 0 && !p->running && !gw->stopping && !evtimer_pending(p->timer, NULL))
		arm(p, 1);      /* retention turned on by a reload: a first run now */
}

void lt_prune_free(struct lt_gateway *gw)
{
	if (!gw->pruner)
		return;
	event_free(gw->pruner->timer);
	event_free(gw->pruner->next);
	lt_config_free(gw->pruner->cfg);
	free(gw->pruner);
	gw->pruner = NULL;
}

void lt_prune_http(struct lt_gateway *gw, struct evhttp_request *req)
{
	struct lt_pruner *p = gw->pruner;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		lt_http_reply_error(req, 405, "method_not_allowed", "POST {\"before\": TIME, \"dry_run\": BOOL}", 0);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct lt_err err = { 0 };
	json_t *body = len > 4096 ? NULL : lt_json_parse("the request", (const char *)evbuffer_pullup(in, -1), len, 0, &err);
	if (len > 4096)
		lt_err_set(&err, LT_EINVAL, "the request is over 4 KiB");
	else if (body && !json_is_object(body))
		lt_err_set(&err, LT_EINVAL, "the request must be a JSON object");
	const char *key;
	json_t *v;
	if (json_is_object(body))
		json_object_foreach(body, key, v)
			if (strcmp(key, "before") && strcmp(key, "dry_run") && !err.code)
				lt_err_set(&err, LT_EINVAL, "unknown member \"%s\" (before, dry_run)", key);
	int64_t now = lt_now_ms(), before = gw->cfg->retention_ms > 0 ? now - gw->cfg->retention_ms : 0;
	v = json_object_get(body, "before");
	if (!err.code && v) {
		int64_t t;
		struct lt_err e = { 0 };
		if (!json_is_string(v) || lt_date_parse_rfc3339(json_string_value(v), &t, &e))
			lt_err_set(&err, LT_EINVAL, "before must be an RFC 3339 time with offset (%s)",
				   e.msg[0] ? e.msg : "not a string");
		else if (t * 1000 > now)
			lt_err_set(&err, LT_EINVAL, "before is in the future: nothing can have finished before it");
		else
			before = t * 1000;
	}
	v = json_object_get(body, "dry_run");
	if (!err.code && v && !json_is_boolean(v))
		lt_err_set(&err, LT_EINVAL, "dry_run must be true or false");
	if (!err.code && !before)
		lt_err_set(&err, LT_EINVAL, "before is needed: [gateway] retention is off");
	int dry = json_is_true(v);
	json_decref(body);
	if (err.code || !body) {
		lt_http_reply_error(req, 400, "bad_request", err.msg, 0);
		return;
	}
	if (run_start(p, before, dry, "operator")) {
		lt_http_reply_error(req, 409, "busy", p->running ? "a prune is running: ask again when it ends"
								 : "the store is not taking requests", 5);
		return;
	}
	p->req = req;
}

void lt_prune_metrics(struct lt_gateway *gw, struct lt_buf *b)
{
	lt_buf_printf(b, "# HELP lienthong_pruned_total Rows pruned by retention (lienthong prune), by what.\n"
			 "# TYPE lienthong_pruned_total counter\n");
	for (int w = 0; w < W_N; w++)
		lt_buf_printf(b, "lienthong_pruned_total{what=\"%s\"} %lld\n", what_names[w],
			      gw->pruner ? (long long)gw->pruner->total[w] : 0LL);
}
