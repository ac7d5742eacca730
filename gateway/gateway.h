/* gateway.h — the running daemon: its parts and the counters they share.
 * Everything here is touched only on the event-loop thread. */
#ifndef LT_GATEWAY_H
#define LT_GATEWAY_H

#include <stdint.h>
#include <string.h>
#include "config.h"

struct event_base;
struct lt_store;
struct lt_http;
struct lt_dispatch;
struct lt_admin;
struct lt_pool;
struct lt_security;
struct lt_xfers;
struct lt_pull;
struct lt_watchdog;
struct lt_secreload;
struct lt_pruner;

/* Counters for /metrics, one slot per peer by name: the running configuration's peers
 * first, in its order, then those a reload removed (kept for what is still in flight). */
struct lt_peer_counters {
	char peer[64];
	int64_t messages_in[8];     /* by answer: see lt_answer_slot() (http.h) */
	int64_t events_in;
	int64_t delivered, retried, dead, attempts;
	int64_t inflight;
	int breaker_open;           /* the peer's circuit breaker is open */
	int64_t last_done_ms;       /* wall clock of its last accepted delivery, 0 = none since start */
	int64_t last_failed_ms;     /* of its last failed attempt, and what failed */
	char last_error[200];
};

struct lt_gateway {
	struct lt_config *cfg;
	struct event_base *base;
	struct lt_store *store;
	struct lt_pool *pool;            /* decode, verify, encode, sign */
	struct lt_security *sec;         /* TLS context, signers, peer keys */
	struct lt_http *http;
	struct lt_dispatch *dispatch;
	struct lt_xfers *xfers;          /* outbound HTTP on libcurl multi */
	struct lt_pull *pull;            /* pollers of peers that cannot push */
	struct lt_watchdog *watchdog;    /* SLA: dossier.overdue */
	struct lt_calendar *calendar;    /* working days and holidays */
	struct lt_admin *admin;
	struct lt_secreload *secreload;  /* SIGHUP and changed CRLs: a new security generation */
	struct lt_pruner *pruner;        /* retention (prune.c) */
	struct lt_peer_counters *counters;   /* ncounters entries, see lt_counters() */
	size_t ncounters;
	struct lt_peer_counters spare;       /* a peer with no slot (never: every generation's are kept) */
	int64_t reloads_ok, reloads_refused; /* SIGHUP: configurations swapped in or refused */
	int64_t generation;                  /* of cfg: 1 at start, one more per reload swapped in */
	void (*apply_config)(struct lt_gateway *gw); /* a reload swapped in cfg: the parts follow (main.c) */
	int64_t events_unrouted;
	int64_t started_ms;
	int stopping;
};

/* The counters of a peer of any configuration generation (found by its name). Loop thread. */
static inline struct lt_peer_counters *lt_counters(struct lt_gateway *gw, const struct lt_peer *p)
{
	if ((size_t)p->index < gw->ncounters && strcmp(gw->counters[p->index].peer, p->name) == 0)
		return &gw->counters[p->index];
	for (size_t i = 0; i < gw->ncounters; i++)
		if (strcmp(gw->counters[i].peer, p->name) == 0)
			return &gw->counters[i];
	return &gw->spare;
}

#endif
