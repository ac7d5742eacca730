/* gateway.h — the running daemon: its parts and the counters they share.
 * Everything here is touched only on the event-loop thread. */
#ifndef LT_GATEWAY_H
#define LT_GATEWAY_H

#include <stdint.h>
#include <jansson.h>
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

/* Counters for /metrics, one slot per configured peer. */
struct lt_peer_counters {
	int64_t messages_in[8];     /* by answer: see lt_answer_slot() */
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
	struct lt_peer_counters *counters;   /* cfg->npeers entries */
	int64_t events_unrouted;
	int64_t started_ms;
	int stopping;
};

/* Answer classes counted per peer: 202, 200, 400, 401/403, 409, 413/415, 422, 429/503. */
int lt_answer_slot(int status);
extern const char *const lt_answer_names[8];

/* Route one event: append the destination peer names to `dests` (a JSON
 * array), each once, in config order. An event no route matches gets none. */
void lt_route_event(const struct lt_config *cfg, const char *from, const json_t *event, json_t *dests);

/* Events were stored (received, polled, or carried by an answer): count
 * them, log each (event.received, or event.unrouted when no route takes it)
 * and kick their destinations. `how` ends the event.received line. */
void lt_route_stored(struct lt_gateway *gw, const struct lt_peer *from, const char *message_id, json_t *events,
		     json_t *routes, const char *how);

/* A new time-ordered event id (26 characters, Crockford base32, ULID-style). */
void lt_event_id(char out[27]);

/* Delay before attempt `attempt`+1 after `attempt` failures: full jitter
 * between 0 and min(max_delay, initial·2^(attempt-1)), but never less than
 * retry_after_ms (the peer's Retry-After; 0 = none). */
int64_t lt_retry_delay(int attempt, int64_t initial_ms, int64_t max_delay_ms, int64_t retry_after_ms);

/* Parse Retry-After (delta seconds or an HTTP date) into ms from now, at most
 * LT_RETRY_AFTER_MAX_MS: a longer one (however many digits, whatever year)
 * waits a day and asks again; 0 if absent, bad or past. */
#define LT_RETRY_AFTER_MAX_MS 86400000LL
int64_t lt_parse_retry_after(const char *v);

/* A per-peer circuit breaker. After `threshold` attempts in a row find the
 * peer down (no connection, a timeout, a reset, a 5xx), it opens: no attempt
 * starts until a probe is due, then exactly one attempt probes the peer. A
 * probe that finds the peer up closes it; one that fails opens it again for
 * twice as long, from 1 s up to `max_ms`. Loop thread only. */
struct lt_breaker {
	int failures;           /* in a row */
	int open;
	int probing;            /* the probe attempt is in flight */
	int64_t probe_at_ms;    /* monotonic */
	int64_t period_ms;
	int64_t trips;
};

/* May an attempt start at now_ms? 0 = not now: wait *wait_ms (-1 = until the probe ends). */
int lt_breaker_allow(struct lt_breaker *b, int64_t now_ms, int64_t *wait_ms);

enum lt_breaker_change { LT_BREAKER_SAME, LT_BREAKER_OPENED, LT_BREAKER_CLOSED };

/* Record how an attempt went (down: the peer did not answer, or answered
 * 5xx); says whether the breaker opened or closed. threshold 0 = never opens. */
enum lt_breaker_change lt_breaker_record(struct lt_breaker *b, int down, int64_t now_ms, int threshold,
					 int64_t max_ms);

#endif
