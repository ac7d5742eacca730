/* pool.h — a small worker pool for CPU-heavy work (verifying, decoding,
 * encoding, signing) so the event loop never blocks on it.
 *
 * A job's `run` executes on a worker thread; its `done` then runs on the
 * loop thread. The caller owns the job and must not touch it in between. */
#ifndef LT_POOL_H
#define LT_POOL_H

struct event_base;
struct lt_hist;

struct lt_job {
	void (*run)(struct lt_job *job);    /* worker thread */
	void (*done)(struct lt_job *job);   /* loop thread */
	struct lt_job *next;                /* pool-owned */
	long long queued_ns;                /* pool-owned: when it was queued */
};

struct lt_pool;

/* Start `threads` workers (0 = one per online CPU, at least 2). */
struct lt_pool *lt_pool_new(struct event_base *base, int threads);
/* Queue a job. Returns -1 (job not taken) when over `limit` queued jobs. */
int lt_pool_submit(struct lt_pool *p, struct lt_job *job);
int lt_pool_queued(struct lt_pool *p);
/* How long jobs waited in the queue for a worker (every kind: ingest's verify
 * and decode, deliveries' encode and answers, polls, reloads), 0.1 to 100 ms,
 * for /metrics. */
void lt_pool_wait_stats(struct lt_pool *p, struct lt_hist *out);
/* Finish queued jobs, join the workers, run remaining `done` callbacks. */
void lt_pool_free(struct lt_pool *p);

#endif
