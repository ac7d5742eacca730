/* watchdog.c — the SLA timer: every check_interval, ask the store for the
 * dossiers past their due date that have no overdue notice for it; the
 * dossier.overdue events it makes are stamped and routed, then announced,
 * by events.c like any other. */
#include "watchdog.h"
#include "events.h"
#include "log.h"
#include "store.h"

#include <event2/event.h>
#include <stdlib.h>

struct lt_watchdog {
	struct lt_gateway *gw;
	struct event *timer;
	struct lt_overdue op;
	int running;
};

static void arm(struct lt_watchdog *w)
{
	int64_t ms = w->gw->cfg->sla_interval_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(w->timer, &tv);
}

static void sweep_done(struct lt_store_op *op)
{
	struct lt_watchdog *w = op->arg;
	struct lt_gateway *gw = w->gw;
	w->running = 0;
	lt_config_free(w->op.stamp_arg);        /* the generation the sweep stamped with */
	w->op.stamp_arg = NULL;
	if (op->rc) {
		lt_log(LT_ERROR, "sla.failed", NULL, "overdue sweep failed: %s", op->err.msg);
	} else {
		lt_events_stored(gw, NULL, NULL, w->op.events, w->op.routes, "with no result and no apology");
	}
	json_decref(w->op.events);
	json_decref(w->op.routes);
	w->op.events = w->op.routes = NULL;
	if (!gw->stopping)
		arm(w);
}

/* Store thread: the sweep's events are the gateway's own. */
static json_t *stamp(void *cfg, json_t *event)
{
	return lt_event_stamp(cfg, LT_GATEWAY_SOURCE, event);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_watchdog *w = arg;
	if (w->running || w->gw->stopping)
		return;
	w->op.op.kind = LT_OP_OVERDUE;
	w->op.op.done = sweep_done;
	w->op.op.arg = w;
	w->op.source = LT_GATEWAY_SOURCE;
	w->op.stamp = stamp;
	w->op.stamp_arg = lt_config_ref(w->gw->cfg);   /* the store thread reads it: a reload may swap gw->cfg */
	w->op.now_ms = lt_now_ms();
	if (lt_store_submit(w->gw->store, &w->op.op) == 0)
		w->running = 1;
	else
		arm(w);
}

int lt_watchdog_start(struct lt_gateway *gw)
{
	struct lt_watchdog *w = calloc(1, sizeof *w);
	w->gw = gw;
	w->timer = evtimer_new(gw->base, on_timer, w);
	gw->watchdog = w;
	struct timeval now = { 0, 1000 };
	evtimer_add(w->timer, &now);   /* a first sweep right after start */
	return LT_OK;
}

int lt_watchdog_busy(struct lt_gateway *gw)
{
	return gw->watchdog && gw->watchdog->running;
}

void lt_watchdog_free(struct lt_gateway *gw)
{
	if (!gw->watchdog)
		return;
	event_free(gw->watchdog->timer);
	lt_config_free(gw->watchdog->op.stamp_arg);     /* a sweep the store never answered */
	free(gw->watchdog);
	gw->watchdog = NULL;
}
