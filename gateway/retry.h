/* retry.h — what follows a delivery attempt, and each destination's circuit
 * breaker: the dispatcher's rules, apart from its plumbing (dispatch.c).
 * Pure functions of their arguments (the jitter's random draw is one of
 * them); loop thread for a breaker, any thread otherwise. */
#ifndef LT_RETRY_H
#define LT_RETRY_H

#include <stdint.h>
#include "adapter.h"
#include "store.h"

/* [retry] */
struct lt_retry_policy {
	int64_t initial_ms;     /* the first backoff's cap; doubles each attempt */
	int64_t max_delay_ms;   /* the cap's cap */
	int64_t max_age_ms;     /* from the delivery's creation (or replay): then dead */
};

/* Immediate resends (LT_RESEND) in a row before the next one backs off. */
#define LT_RETRY_MAX_RESENDS 3

/* A delivery's flags as stored: the adapter's in the low 16 bits (adapter.h,
 * LT_FLAG_*), and above them the resends in a row, kept by the dispatcher so
 * the cap holds across claims and restarts. */
#define LT_FLAGS_ADAPTER 0xffff
#define LT_FLAGS_RESENDS(flags) (((flags) >> 16) & 0xff)
#define LT_FLAGS_WITH_RESENDS(flags, n) (((flags) & LT_FLAGS_ADAPTER) | ((n) << 16))

/* How an attempt went. */
struct lt_attempt_end {
	enum lt_verdict verdict;        /* the adapter's reading; LT_RETRY for an answer refused or unread */
	int attempt;                    /* 1-based number of this attempt */
	int resends;                    /* LT_RESEND answers in a row before this one */
	int64_t created_ms;             /* the delivery's creation (or last replay) */
	int64_t now_ms;
	int64_t retry_after_ms;         /* the peer's Retry-After, 0 = none */
	uint64_t jitter;                /* a random draw (lt_retry_jitter) */
};

/* What follows it. */
struct lt_retry_decision {
	enum lt_delivery_state next;    /* LT_DS_DONE, LT_DS_DEAD, or LT_DS_PENDING again */
	int64_t delay_ms;               /* pending: from now */
	int relogin;                    /* log in again (the session expired) before the next attempt */
	int resends;                    /* to keep with the delivery (LT_FLAGS_WITH_RESENDS) */
	int expired;                    /* dead because retrying would pass retry.max_age */
	const char *why;                /* why again so soon, for the log; NULL = the answer's error says it */
};

/* Done when the adapter says so; dead when it refuses for good. Otherwise
 * again: at once for a re-login (after it) and for the first
 * LT_RETRY_MAX_RESENDS resends in a row, else after a backoff with full
 * jitter (lt_retry_delay) — and dead instead when the next attempt would
 * start after created + max_age. */
void lt_retry_decide(const struct lt_retry_policy *p, const struct lt_attempt_end *e, struct lt_retry_decision *out);

/* Delay before attempt `attempt`+1 after `attempt` failures: full jitter,
 * jitter mod min(max_delay, initial·2^(attempt-1)) + 1, but never less than
 * retry_after_ms (the peer's Retry-After; 0 = none). */
int64_t lt_retry_delay(int attempt, int64_t initial_ms, int64_t max_delay_ms, int64_t retry_after_ms,
		       uint64_t jitter);
/* A random draw for the jitter (any thread). */
uint64_t lt_retry_jitter(void);

/* Parse Retry-After (delta seconds or an HTTP date) into ms from now_ms, at
 * most LT_RETRY_AFTER_MAX_MS: a longer one (however many digits, whatever
 * year) waits a day and asks again; 0 if absent, bad or past. */
#define LT_RETRY_AFTER_MAX_MS 86400000LL
int64_t lt_parse_retry_after(const char *v, int64_t now_ms);

/* A per-peer circuit breaker. After `threshold` attempts in a row find the
 * peer down (no connection, a timeout, a reset, a 5xx: lt_peer_down), it
 * opens: no attempt starts until a probe is due, then exactly one attempt
 * probes the peer. A probe that finds the peer up closes it; one that fails
 * opens it again for twice as long, from 1 s up to `max_ms`. Loop thread. */
struct lt_breaker {
	int failures;           /* in a row */
	int open;
	int probing;            /* the probe attempt is in flight */
	int64_t probe_at_ms;    /* monotonic */
	int64_t period_ms;
	int64_t trips;
};

/* An open breaker probes at least this often (or retry.max_delay, if shorter). */
#define LT_BREAKER_MAX_MS 60000

/* Whether an attempt found its peer down: it did not answer (answered 0) or answered 5xx. */
int lt_peer_down(int answered, long status);

/* May an attempt start at now_ms? 0 = not now: wait *wait_ms (-1 = until the probe ends). */
int lt_breaker_allow(struct lt_breaker *b, int64_t now_ms, int64_t *wait_ms);

enum lt_breaker_change { LT_BREAKER_SAME, LT_BREAKER_OPENED, LT_BREAKER_CLOSED };

/* Record how an attempt went (down: lt_peer_down); says whether the breaker
 * opened or closed. threshold 0 = never opens. */
enum lt_breaker_change lt_breaker_record(struct lt_breaker *b, int down, int64_t now_ms, int threshold,
					 int64_t max_ms);

#endif
