/* dispatch_int.h — what the delivery queues (dispatch.c) and their attempts
 * (dispatch_attempt.c) share, apart from dispatch.h: a peer's queue, the
 * dispatcher, and the calls each side makes into the other. Loop thread
 * only. Included by gateway/dispatch*.c only. */
#ifndef LT_DISPATCH_INT_H
#define LT_DISPATCH_INT_H

#include <stdint.h>
#include "config.h"
#include "gateway.h"
#include "retry.h"
#include "store.h"
#include "xfer.h"

struct event;
struct lt_attempt;      /* one attempt of one delivery (dispatch_attempt.c) */

enum lt_login_state { LT_LOGIN_NONE, LT_LOGIN_RUNNING, LT_LOGIN_OK };

struct lt_peer_q {
	struct lt_gateway *gw;
	const struct lt_peer *peer;     /* in cfg: the newest generation that has it */
	struct lt_config *cfg;          /* a reference */
	char dest[64];                  /* its name, for store ops that outlive a reload */
	int removed;                    /* a reload removed the peer: its queue waits in the store */
	int inflight;           /* attempts started and not yet handed back to the store */
	int claiming;
	int kicked;             /* a kick arrived while claiming */
	int maybe_more;         /* the store may hold ready deliveries we have not claimed */
	struct lt_claimed *ready;   /* claimed, not yet started: with inflight, at most CLAIM_AHEAD × concurrency */
	int nready, ready_cap;
	struct event *timer;
	int64_t timer_at;
	double tokens;          /* rate limit bucket */
	int64_t refill_ms;
	enum lt_login_state login;
	char session[512];
	struct lt_attempt *unrecorded; /* outcomes the store failed to write, to be written again */
	struct lt_breaker breaker;
	int resync;             /* a claim's commit failed: its rows may be in flight in the store */
	int resyncing;          /* the resync op is in the store */
};

struct lt_dispatch {
	struct lt_peer_q **q;   /* one per peer with a url, kept across reloads (attempts point at it) */
	size_t nq;
	int draining;
	int aborted;            /* stopping now: answers still being read are left in flight */
	int busy;               /* attempts, claims and logins not yet finished */
};

/* ---- the queue (dispatch.c) ---- */

/* Start what the limits allow from the claimed batch, and claim the next
 * batch while the store may hold more. Called on every change. */
void lt_dispatch_claim(struct lt_peer_q *pq);
/* Wake the queue at at_ms (an earlier wake-up already armed stands). */
void lt_dispatch_arm_timer(struct lt_peer_q *pq, int64_t at_ms);
/* Record in the peer's breaker whether an exchange found it down. */
enum lt_breaker_change lt_dispatch_breaker_record(struct lt_peer_q *pq, const struct lt_xfer *t);

/* ---- attempts (dispatch_attempt.c) ---- */

/* Start an attempt of the claimed row (its body is taken); probe: the one
 * attempt an open breaker lets through. */
void lt_dispatch_start_attempt(struct lt_peer_q *pq, struct lt_claimed *row, int probe);
/* Write again the outcomes the store refused. */
void lt_dispatch_rewrite_unrecorded(struct lt_peer_q *pq);
/* Free the outcomes still waiting to be written again (lt_dispatch_free). */
void lt_dispatch_free_unrecorded(struct lt_peer_q *pq);

#endif
