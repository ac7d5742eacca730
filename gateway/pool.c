/* pool.c — worker threads with completions handed back to the loop. */
#include "pool.h"
#include "lt.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define POOL_QUEUE_LIMIT 20000

static const double wait_bounds_ms[LT_HIST_BUCKETS] = { 0.1, 0.25, 0.5, 1, 2, 5, 10, 100 };

struct lt_pool {
	pthread_t *threads;
	int nthreads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct lt_job *queue, **queue_tail;
	int queued;
	struct lt_job *done, **done_tail;
	struct event *wake;
	int closing;
	struct lt_hist waits;   /* how long jobs waited for a worker (under lock) */
};

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg)
{
	struct lt_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->queue && !p->closing)
			pthread_cond_wait(&p->cond, &p->lock);
		struct lt_job *job = p->queue;
		if (!job) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->queue = job->next;
		if (!p->queue)
			p->queue_tail = &p->queue;
		p->queued--;
		lt_hist_add(&p->waits, (double)(now_ns() - job->queued_ns) / 1e6);  /* it leaves the queue */
		pthread_mutex_unlock(&p->lock);

		job->next = NULL;
		job->run(job);

		pthread_mutex_lock(&p->lock);
		int was_empty = p->done == NULL;
		*p->done_tail = job;
		p->done_tail = &job->next;
		pthread_mutex_unlock(&p->lock);
		if (was_empty)
			event_active(p->wake, EV_READ, 0);
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_pool *p = arg;
	pthread_mutex_lock(&p->lock);
	struct lt_job *list = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	pthread_mutex_unlock(&p->lock);
	while (list) {
		struct lt_job *next = list->next;
		list->next = NULL;
		list->done(list);
		list = next;
	}
}

struct lt_pool *lt_pool_new(struct event_base *base, int threads)
{
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n < 2 ? 2 : (int)n;
	}
	struct lt_pool *p = calloc(1, sizeof *p);
	p->waits.bounds_ms = wait_bounds_ms;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->queue_tail = &p->queue;
	p->done_tail = &p->done;
	p->wake = event_new(base, -1, 0, on_wake, p);
	p->threads = calloc((size_t)threads, sizeof *p->threads);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) == 0)
			pthread_setname_np(p->threads[p->nthreads++], "lt-worker");     /* for top -H and perf */
	if (!p->nthreads) {
		lt_pool_free(p);
		return NULL;
	}
	return p;
}

int lt_pool_submit(struct lt_pool *p, struct lt_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->closing || p->queued >= POOL_QUEUE_LIMIT) {
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	job->queued_ns = now_ns();
	*p->queue_tail = job;
	p->queue_tail = &job->next;
	p->queued++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int lt_pool_queued(struct lt_pool *p)
{
	pthread_mutex_lock(&p->lock);
	int n = p->queued;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void lt_pool_wait_stats(struct lt_pool *p, struct lt_hist *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->waits;
	pthread_mutex_unlock(&p->lock);
}

void lt_pool_free(struct lt_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	on_wake(-1, 0, p);
	event_free(p->wake);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}
