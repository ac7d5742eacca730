/* store.c — the store thread and its group commit.
 *
 * The loop thread submits ops into `queue`. The store thread takes the whole
 * queue at once, runs each op inside one transaction (one failing op does not
 * spoil the others: see run_batch), commits with fsync,
 * and moves the batch to `done`; the loop is woken by an activated event and
 * runs each op's callback. No op's callback runs before its commit returned.
 *
 * Pipelined (a backend with commit_lazy, SQLite): the store thread ends the
 * transaction without fsync and hands the batch to the sync thread, which
 * fsyncs once for every batch waiting and only then moves them to `done`;
 * meanwhile the store thread runs the next batch, so the CPU does not idle
 * while a disk flush is under way. A failed sync fails every batch written
 * since the last good one (their writes follow the lost ones in the log):
 * the store thread then lets go of the files as after a failed commit. */
#include "store_int.h"
#include "log.h"
#include "sla.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STORE_QUEUE_LIMIT 20000

static const struct lt_store_backend *const backends[] = {
	&lt_store_sqlite,
	&lt_store_pg,
};

static const double commit_bounds_ms[LT_HIST_BUCKETS] = { 1, 2, 5, 10, 25, 50, 100, 1000 };

struct lt_store {
	const struct lt_store_backend *be;
	void *db;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct lt_store_op *queue, **queue_tail;
	int queue_len;
	struct lt_store_op *done, **done_tail;
	struct event *wake;
	int closing;
	int healthy;
	int64_t backlog;        /* deliveries not yet done or dead, kept up to date after each commit */
	int recount;            /* a commit failed: what reached the disk is unknown, count again */
	int64_t counted_ms;     /* when the backlog was last counted (shared backends count often) */
	/* commit latency, written by the store or sync thread under lock; and the sync thread's fsyncs */
	struct lt_hist commits, fsyncs;
	int64_t retries[2];     /* batches run again after a deadlock [0] or a serialization failure [1] */
	/* the pipelined group commit (be->commit_lazy): batches committed but not yet durable */
	int pipelined;
	pthread_t sync_thread;
	pthread_cond_t sync_cond;       /* the sync thread: batches wait in `syncing`, or stop */
	pthread_cond_t idle_cond;       /* the store thread: the sync thread has nothing left */
	pthread_mutex_t sync_lock;      /* held during a sync; detach and checkpoint take it too */
	struct lt_batch *syncing, **syncing_tail;
	int sync_busy, sync_stop;
	int64_t epoch;                  /* +1 each time the files are let go (store thread; read under lock) */
	int64_t broken_epoch;           /* a sync of this epoch failed: its batches are not durable; -1 none */
	int64_t checkpoints;            /* the backend's checkpoints run between batches, */
	double checkpoint_ms;           /* and the store thread's time in them (the wait for the syncs included) */
	struct lt_err sync_err;
};

/* A batch committed (lazily) and waiting for the sync that makes it durable. */
struct lt_batch {
	struct lt_store_op *ops;
	struct lt_batch *next;
	int64_t epoch;
	int lazy;                       /* its commit ended without fsync: a sync must cover it */
	struct timespec t0;             /* when it started: its commit latency ends at the sync */
};

/* Times a batch is run again at once after the database ended it in a
 * conflict (a deadlock, a serialization failure) before its ops fail. */
#define STORE_CONFLICT_TRIES 5

/* What a dossier's stored events tell of it (sla.h lt_dossier_facts), for
 * each code: read only when an event lacks something (deliverable.h). */
static int dossiers_read(struct lt_store *s, struct lt_dossier_read *op)
{
	size_t i;
	json_t *c;
	op->facts = json_object();
	json_array_foreach(op->codes, i, c) {
		json_t *events = json_array();
		int rc = json_is_string(c) ? s->be->dossier_events(s->db, json_string_value(c), events, &op->op.err) : LT_OK;
		if (!rc && json_array_size(events))
			json_object_set_new(op->facts, json_string_value(c), lt_dossier_facts(events));
		json_decref(events);
		if (rc)
			return rc;
	}
	return LT_OK;
}

static int run_op(struct lt_store *s, struct lt_store_op *op)
{
	switch (op->kind) {
	case LT_OP_INGEST: return s->be->ingest(s->db, (struct lt_ingest *)op);
	case LT_OP_CLAIM: return s->be->claim(s->db, (struct lt_claim *)op);
	case LT_OP_FINISH: return s->be->finish(s->db, (struct lt_finish *)op);
	case LT_OP_STATS: return s->be->stats(s->db, (struct lt_stats *)op);
	case LT_OP_REFUSAL: return s->be->refusal(s->db, (struct lt_refusal *)op);
	case LT_OP_CURSOR: return s->be->cursor(s->db, (struct lt_cursor *)op);
	case LT_OP_OVERDUE: return s->be->overdue(s->db, (struct lt_overdue *)op);
	case LT_OP_RELEASE: return s->be->unclaim(s->db, (struct lt_release *)op);
	case LT_OP_DLQ: return s->be->dlq(s->db, (struct lt_dlq *)op);
	case LT_OP_DOSSIERS: return dossiers_read(s, (struct lt_dossier_read *)op);
	case LT_OP_PRUNE:
		return s->be->prune ? s->be->prune(s->db, (struct lt_prune *)op)
				    : lt_err_set(&op->err, LT_EINVAL, "store: this backend cannot prune");
	}
	return LT_EINVAL;
}

static int64_t routes_size(const json_t *routes)
{
	int64_t n = 0;
	size_t i;
	json_t *d;
	json_array_foreach(routes, i, d)
		n += (int64_t)json_array_size(d);
	return n;
}

/* How a committed batch changed the number of unfinished deliveries. */
static int64_t backlog_delta(struct lt_store_op *batch)
{
	int64_t d = 0;
	for (struct lt_store_op *op = batch; op; op = op->next) {
		if (op->rc)
			continue;
		if (op->kind == LT_OP_INGEST && !((struct lt_ingest *)op)->duplicate)
			d += routes_size(((struct lt_ingest *)op)->routes);
		else if (op->kind == LT_OP_DLQ && ((struct lt_dlq *)op)->action == LT_DLQ_REPLAY)
			d += (int64_t)json_array_size(((struct lt_dlq *)op)->deliveries);
		else if (op->kind == LT_OP_OVERDUE)
			d += routes_size(((struct lt_overdue *)op)->routes);
		else if (op->kind == LT_OP_FINISH && !((struct lt_finish *)op)->recorded_before) {
			struct lt_finish *f = (struct lt_finish *)op;
			d += routes_size(f->carried_routes) - (f->next != LT_DS_PENDING);
		}
	}
	return d;
}



/* The ops of the delivery path, whose outputs op_reset clears: a batch of
 * only these runs without a savepoint per op (a savepoint copies every page
 * the op changes, about a fifth of the store's CPU per event). */
static int bare_kind(const struct lt_store_op *op)
{
	return op->kind == LT_OP_INGEST || op->kind == LT_OP_CLAIM || op->kind == LT_OP_FINISH ||
	       op->kind == LT_OP_DOSSIERS;      /* a read: nothing to undo */
}

/* Forget what a bare_kind op's run reported: its batch is taken again. */
static void op_reset(struct lt_store_op *op)
{
	if (op->kind == LT_OP_INGEST) {
		struct lt_ingest *in = (struct lt_ingest *)op;
		json_decref(in->original);
		in->original = NULL;
		in->duplicate = in->replay = 0;
	} else if (op->kind == LT_OP_CLAIM) {
		struct lt_claim *c = (struct lt_claim *)op;
		lt_claim_release(c);
		c->next_due_ms = 0;
	} else if (op->kind == LT_OP_FINISH) {
		((struct lt_finish *)op)->recorded_before = 0;
	} else if (op->kind == LT_OP_DOSSIERS) {
		json_decref(((struct lt_dossier_read *)op)->facts);
		((struct lt_dossier_read *)op)->facts = NULL;
	} else if (op->kind == LT_OP_OVERDUE) {
		struct lt_overdue *o = (struct lt_overdue *)op;
		json_decref(o->events);
		json_decref(o->routes);
		o->events = o->routes = NULL;
	} else if (op->kind == LT_OP_DLQ) {
		json_decref(((struct lt_dlq *)op)->deliveries);
		((struct lt_dlq *)op)->deliveries = NULL;
	} else if (op->kind == LT_OP_STATS) {
		struct lt_stats *st = (struct lt_stats *)op;
		free(st->peers);
		st->peers = NULL;
		st->n = 0;
		st->events = st->messages = 0;
	} else if (op->kind == LT_OP_RELEASE && ((struct lt_release *)op)->dest) {
		((struct lt_release *)op)->n = 0;
	}
	op->rc = 0;
	op->err.code = 0;
	op->err.msg[0] = '\0';
}

/* Whether every op of the batch can be run again from the start (op_reset
 * forgets what it did); a prune's archive file is written as it goes. */
static int resettable(const struct lt_store_op *batch)
{
	for (const struct lt_store_op *op = batch; op; op = op->next)
		if (op->kind == LT_OP_PRUNE)
			return 0;
	return 1;
}

/* A transaction for the batch, with the locks its ops will take. */
static int begin_batch(struct lt_store *s, struct lt_store_op *batch, struct lt_err *err)
{
	int rc = s->be->begin(s->db, err);
	if (!rc && s->be->lock_batch)
		rc = s->be->lock_batch(s->db, batch, err);
	return rc;
}

/* The database ended the transaction to resolve a conflict with another
 * writer (another node): roll back, count it, and say whether to run the
 * batch again at once (a few times; then the ops fail as usual). */
static int conflict_again(struct lt_store *s, struct lt_store_op *batch, int *tries)
{
	const char *why = s->be->conflict ? s->be->conflict(s->db) : NULL;
	if (!why || *tries >= STORE_CONFLICT_TRIES || !resettable(batch))
		return 0;
	(*tries)++;
	s->be->rollback(s->db);
	for (struct lt_store_op *op = batch; op; op = op->next)
		op_reset(op);
	pthread_mutex_lock(&s->lock);
	s->retries[strcmp(why, "deadlock") == 0 ? 0 : 1]++;
	pthread_mutex_unlock(&s->lock);
	lt_log(LT_WARN, "store.conflict_retry", json_pack("{s:s,s:i}", "reason", why, "try", *tries),
	       "the database ended the batch's transaction (%s with another node's): run again at once", why);
	return 1;
}

/* A claim's row locks are taken last in the transaction: a claim may lock a
 * row it then skips (another node claimed it meanwhile), and a transaction
 * that holds such a row must not go on to wait for anything (see store_pg.c). */
static struct lt_store_op *claims_last(struct lt_store_op *batch)
{
	struct lt_store_op *head = NULL, **tail = &head, *claims = NULL, **ctail = &claims;
	for (struct lt_store_op *op = batch, *next; op; op = next) {
		next = op->next;
		op->next = NULL;
		if (op->kind == LT_OP_CLAIM) {
			*ctail = op;
			ctail = &op->next;
		} else {
			*tail = op;
			tail = &op->next;
		}
	}
	*tail = claims;
	return head;
}

/* Store thread: wait until every batch handed to the sync thread is done. */
static void drain(struct lt_store *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->syncing || s->sync_busy)
		pthread_cond_wait(&s->idle_cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/* Store thread: let go of the files after a failure, with no sync under way
 * (a sync uses the backend's open log). */
static void store_detach(struct lt_store *s)
{
	if (!s->pipelined) {
		s->be->detach(s->db);
		return;
	}
	drain(s);
	pthread_mutex_lock(&s->sync_lock);
	s->be->detach(s->db);
	pthread_mutex_unlock(&s->sync_lock);
	pthread_mutex_lock(&s->lock);
	s->epoch++;
	pthread_mutex_unlock(&s->lock);
}

/* One group commit over a batch of ops. A batch of delivery-path ops runs
 * first without savepoints; if one of them fails, the whole transaction is
 * rolled back and the batch runs again with a savepoint per op, so that only
 * the failing op is undone, as in a batch of other ops. A batch the database
 * ended in a conflict with another node (deadlock) runs again at once. */
static int run_batch(struct lt_store *s, struct lt_store_op *batch)
{
	struct lt_err err = { 0 };
	struct timespec ts0, ts1;
	clock_gettime(CLOCK_MONOTONIC, &ts0);
	struct lt_err fault;
	int rc, bare, tries = 0;
again:
	fault = (struct lt_err){ 0 };
	bare = 1;
	rc = begin_batch(s, batch, &err);
	if (rc && conflict_again(s, batch, &tries))
		goto again;
	for (struct lt_store_op *op = batch; op && bare; op = op->next)
		bare = bare_kind(op);
	if (!rc && bare) {
		struct lt_store_op *failed = batch;
		while (failed && !(failed->rc = run_op(s, failed)))
			failed = failed->next;
		if (failed) {
			if (conflict_again(s, batch, &tries))
				goto again;
			s->be->rollback(s->db);
			for (struct lt_store_op *op = batch; op; op = op->next)
				op_reset(op);
			rc = begin_batch(s, batch, &err);
			bare = 0;
		}
	}
	for (struct lt_store_op *op = batch; op && !rc && !bare; op = op->next) {
		if (s->be->savepoint(s->db)) {
			op->rc = lt_err_set(&op->err, LT_EIO, "store: cannot open savepoint");
			continue;
		}
		op->rc = run_op(s, op);
		if (op->rc && conflict_again(s, batch, &tries))
			goto again;
		s->be->release(s->db, op->rc == 0);
		if (op->rc == LT_EIO && !fault.code)
			fault = op->err;        /* the store failed, not the op's input */
	}
	if (!rc)
		rc = s->pipelined ? s->be->commit_lazy(s->db, &err) : s->be->commit(s->db, &err);
	if (rc) {
		/* let go of the files so the disk can be repaired; the next
		 * batch opens them again, and succeeds once the store is back */
		s->be->rollback(s->db);
		store_detach(s);
		for (struct lt_store_op *op = batch; op; op = op->next) {
			op->rc = LT_EIO;
			op->err = err;
			op->err.code = LT_EIO;
		}
		lt_log(LT_ERROR, "store.commit_failed", json_pack("{s:s}", "error", err.msg),
		       "group commit failed: %s", err.msg);
	} else if (fault.code) {
		/* the batch committed but the store refused a write in it (a
		 * read-only or full disk fails each write, not the commit) */
		store_detach(s);
		lt_log(LT_ERROR, "store.write_failed", json_pack("{s:s}", "error", fault.msg),
		       "the store refused a write: %s", fault.msg);
	}
	int64_t delta = rc ? 0 : backlog_delta(batch), counted = -1;
	/* A commit reported failed may still have reached the disk (a failing
	 * fsync), and a message refused then may come back as a duplicate: the
	 * running count no longer knows, so the first good commit counts again. */
	if (rc || fault.code)
		s->recount = 1;
	else if ((s->recount || (s->be->shared && lt_mono_ms() - s->counted_ms >= 1000)) &&
		 s->be->count_backlog(s->db, &counted, &err) == 0) {
		s->recount = 0;
		s->counted_ms = lt_mono_ms();
	}
	clock_gettime(CLOCK_MONOTONIC, &ts1);
	double ms = (ts1.tv_sec - ts0.tv_sec) * 1e3 + (ts1.tv_nsec - ts0.tv_nsec) / 1e6;
	pthread_mutex_lock(&s->lock);
	s->backlog = counted >= 0 ? counted : s->backlog + delta;
	if (!s->pipelined || rc || fault.code)  /* else the sync says whether the store works */
		s->healthy = rc == 0 && !fault.code;
	if (!s->pipelined)
		lt_hist_add(&s->commits, ms);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* A second without ops: let a backend that has a tick renew what it holds
 * and say whether the store answers (readiness follows it). Called unlocked. */
static void run_tick(struct lt_store *s)
{
	struct lt_err err = { 0 };
	int64_t counted = -1;
	int rc = s->be->tick(s->db, &err);
	if (!rc && s->be->shared && s->be->count_backlog(s->db, &counted, &err) == 0)
		s->counted_ms = lt_mono_ms();
	if (rc)
		s->be->detach(s->db);
	pthread_mutex_lock(&s->lock);
	int was = s->healthy;
	s->healthy = rc == 0;
	if (counted >= 0 && !s->recount)
		s->backlog = counted;
	pthread_mutex_unlock(&s->lock);
	if (was && rc)
		lt_log(LT_ERROR, "store.unavailable", json_pack("{s:s}", "error", err.msg), "the store does not answer: %s",
		       err.msg);
	else if (!was && !rc)
		lt_log(LT_INFO, "store.available", NULL, "the store answers again");
}

/* Store thread: a committed batch to the loop, through the sync thread
 * when its commit is not yet durable. */
static void batch_done(struct lt_store *s, struct lt_store_op *batch, int rc, const struct timespec *t0)
{
	struct lt_store_op *last = batch;
	while (last->next)
		last = last->next;
	pthread_mutex_lock(&s->lock);
	if (s->pipelined) {
		struct lt_batch *b = calloc(1, sizeof *b);
		b->ops = batch;
		b->epoch = s->epoch;
		b->lazy = rc == 0;
		b->t0 = *t0;
		*s->syncing_tail = b;
		s->syncing_tail = &b->next;
		pthread_cond_signal(&s->sync_cond);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	*s->done_tail = batch;
	s->done_tail = &last->next;
	pthread_mutex_unlock(&s->lock);
	event_active(s->wake, EV_READ, 0);
}

/* Store thread, between batches (pipelined): a sync failed, so the files
 * are let go of (as after a failed commit) and the running count of the
 * backlog is known no more; or the backend's checkpoint is due. */
static int sync_broken(struct lt_store *s)
{
	pthread_mutex_lock(&s->lock);
	int broken = s->broken_epoch == s->epoch;
	pthread_mutex_unlock(&s->lock);
	return broken;
}

static void between_batches(struct lt_store *s)
{
	int due = !sync_broken(s) && s->be->checkpoint(s->db, 0, NULL) > 0;
	/* a checkpoint waits until every commit is synced and answered: its own
	 * fsync of the log (Linux reports a failed writeback once) then concerns
	 * no commit still waiting, and its failure (a full disk while it copies)
	 * none that was made durable before it */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (due)
		drain(s);
	if (sync_broken(s)) {
		store_detach(s);
		s->recount = 1;
		return;
	}
	if (!due)
		return;                 /* the sync under way goes on undisturbed */
	struct lt_err err = { 0 };
	pthread_mutex_lock(&s->sync_lock);
	int rc = s->be->checkpoint(s->db, 1, &err);
	pthread_mutex_unlock(&s->sync_lock);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_lock(&s->lock);
	s->checkpoints++;
	s->checkpoint_ms += (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		lt_log(LT_ERROR, "store.write_failed", json_pack("{s:s}", "error", err.msg), "%s", err.msg);
		store_detach(s);
		s->recount = 1;
	}
}

/* The sync thread finishes what waits for it, then ends. */
static void stop_sync(struct lt_store *s)
{
	if (!s->pipelined)
		return;
	pthread_mutex_lock(&s->lock);
	s->sync_stop = 1;
	pthread_cond_signal(&s->sync_cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->sync_thread, NULL);
}

static void *store_main(void *arg)
{
	struct lt_store *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->queue && !s->closing) {
			if (!s->be->tick) {
				pthread_cond_wait(&s->cond, &s->lock);
				continue;
			}
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT && !s->queue && !s->closing) {
				pthread_mutex_unlock(&s->lock);
				run_tick(s);
				pthread_mutex_lock(&s->lock);
			}
		}
		struct lt_store_op *batch = s->queue;
		s->queue = NULL;
		s->queue_tail = &s->queue;
		s->queue_len = 0;
		int closing = s->closing;
		pthread_mutex_unlock(&s->lock);
		if (!batch && closing)
			break;
		if (s->pipelined)
			between_batches(s);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		batch = claims_last(batch);
		batch_done(s, batch, run_batch(s, batch), &t0);
	}
	stop_sync(s);
	return NULL;
}

/* The sync thread (pipelined): one sync for every batch waiting, then their
 * ops go to the loop. A batch of a connection whose sync failed fails too,
 * synced or not: its writes come after the lost ones. */
static void *sync_main(void *arg)
{
	struct lt_store *s = arg;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->syncing && !s->sync_stop)
			pthread_cond_wait(&s->sync_cond, &s->lock);
		if (!s->syncing)
			break;
		struct lt_batch *group = s->syncing;
		s->syncing = NULL;
		s->syncing_tail = &s->syncing;
		s->sync_busy = 1;
		int64_t broken = s->broken_epoch, epoch = -1;
		pthread_mutex_unlock(&s->lock);

		for (struct lt_batch *b = group; b; b = b->next)
			if (b->lazy && b->epoch != broken)
				epoch = b->epoch;
		struct lt_err err = { 0 };
		int rc = 0;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (epoch >= 0) {
			pthread_mutex_lock(&s->sync_lock);
			rc = s->be->sync(s->db, &err);
			pthread_mutex_unlock(&s->sync_lock);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);

		pthread_mutex_lock(&s->lock);
		if (epoch >= 0)
			lt_hist_add(&s->fsyncs, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
		if (rc) {
			s->broken_epoch = epoch;
			s->sync_err = err;
			s->sync_err.code = LT_EIO;
		}
		if (epoch >= 0)         /* a checkpoint may have failed the epoch meanwhile */
			s->healthy = epoch != s->broken_epoch;
		while (group) {
			struct lt_batch *b = group;
			group = b->next;
			struct lt_store_op *last = b->ops;
			for (struct lt_store_op *op = b->ops; op; op = op->next) {
				if (b->lazy && b->epoch == s->broken_epoch && !op->rc) {
					op->rc = LT_EIO;
					op->err = s->sync_err;
				}
				last = op;
			}
			if (b->lazy && b->epoch != s->broken_epoch)
				lt_hist_add(&s->commits, (t1.tv_sec - b->t0.tv_sec) * 1e3 + (t1.tv_nsec - b->t0.tv_nsec) / 1e6);
			*s->done_tail = b->ops;
			s->done_tail = &last->next;
			free(b);
		}
		s->sync_busy = 0;
		pthread_cond_broadcast(&s->idle_cond);
		pthread_mutex_unlock(&s->lock);
		event_active(s->wake, EV_READ, 0);
		if (rc)
			lt_log(LT_ERROR, "store.commit_failed", json_pack("{s:s}", "error", err.msg),
			       "group commit failed: %s", err.msg);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* On the loop thread: run the callbacks of every committed op. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_store *s = arg;
	pthread_mutex_lock(&s->lock);
	struct lt_store_op *list = s->done;
	s->done = NULL;
	s->done_tail = &s->done;
	pthread_mutex_unlock(&s->lock);
	while (list) {
		struct lt_store_op *next = list->next;
		list->next = NULL;
		list->done(list);
		list = next;
	}
}

static int scheme_is(const char *dsn, const char *scheme)
{
	return scheme && strncmp(dsn, scheme, strlen(scheme)) == 0;
}

int lt_store_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node,
		  struct event_base *base, struct lt_store **out, struct lt_err *err)
{
	const struct lt_store_backend *be = NULL;
	for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
		if (scheme_is(dsn, backends[i]->scheme) || scheme_is(dsn, backends[i]->scheme2))
			be = backends[i];
	if (!be)
		return lt_err_set(err, LT_ECONFIG, "store \"%s\": no backend for this scheme", dsn);
	return lt_store_open_backend(be, dsn, cal, node, base, out, err);
}

int lt_store_open_backend(const struct lt_store_backend *be, const char *dsn, const struct lt_calendar *cal,
			  const struct lt_store_node *node, struct event_base *base, struct lt_store **out,
			  struct lt_err *err)
{
	static const struct lt_store_node default_node = { "gw-1", LT_STORE_LEASE_MS };
	struct lt_store *s = calloc(1, sizeof *s);
	s->be = be;
	s->commits.bounds_ms = s->fsyncs.bounds_ms = commit_bounds_ms;
	int rc = be->open(dsn, cal, node ? node : &default_node, &s->db, err);
	if (!rc)
		rc = be->recover(s->db, &s->backlog, err);
	if (rc) {
		if (s->db)
			be->close(s->db);
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->queue_tail = &s->queue;
	s->done_tail = &s->done;
	s->healthy = 1;
	s->wake = event_new(base, -1, 0, on_wake, s);
	s->pipelined = be->commit_lazy && be->sync && be->checkpoint;
	s->broken_epoch = -1;
	s->syncing_tail = &s->syncing;
	pthread_cond_init(&s->sync_cond, NULL);
	pthread_cond_init(&s->idle_cond, NULL);
	pthread_mutex_init(&s->sync_lock, NULL);
	if (s->pipelined) {
		if (pthread_create(&s->sync_thread, NULL, sync_main, s)) {
			event_free(s->wake);
			be->close(s->db);
			free(s);
			return lt_err_set(err, LT_EIO, "cannot start the store's sync thread");
		}
		pthread_setname_np(s->sync_thread, "lt-sync");
	}
	if (pthread_create(&s->thread, NULL, store_main, s)) {
		stop_sync(s);
		event_free(s->wake);
		be->close(s->db);
		free(s);
		return lt_err_set(err, LT_EIO, "cannot start the store thread");
	}
	pthread_setname_np(s->thread, "lt-store");      /* for top -H and perf */
	*out = s;
	return LT_OK;
}

int lt_store_submit(struct lt_store *s, struct lt_store_op *op)
{
	op->next = NULL;
	op->rc = 0;
	op->err.code = 0;
	op->err.msg[0] = '\0';
	pthread_mutex_lock(&s->lock);
	if (s->closing || (op->kind == LT_OP_INGEST && s->queue_len >= STORE_QUEUE_LIMIT)) {
		pthread_mutex_unlock(&s->lock);
		return LT_EBUSY;
	}
	*s->queue_tail = op;
	s->queue_tail = &op->next;
	s->queue_len++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return LT_OK;
}

int lt_store_queue_len(struct lt_store *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->queue_len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int64_t lt_store_backlog(struct lt_store *s)
{
	pthread_mutex_lock(&s->lock);
	int64_t n = s->backlog;
	pthread_mutex_unlock(&s->lock);
	return n < 0 ? 0 : n;   /* a shared store's running figure dips below 0 between counts */
}

int lt_store_healthy(struct lt_store *s)
{
	pthread_mutex_lock(&s->lock);
	int h = s->healthy;
	pthread_mutex_unlock(&s->lock);
	return h;
}

void lt_store_commit_stats(struct lt_store *s, struct lt_hist *commits, struct lt_hist *fsyncs)
{
	pthread_mutex_lock(&s->lock);
	*commits = s->commits;
	*fsyncs = s->fsyncs;
	pthread_mutex_unlock(&s->lock);
}

void lt_store_checkpoints(struct lt_store *s, int64_t *count, double *seconds)
{
	pthread_mutex_lock(&s->lock);
	*count = s->checkpoints;
	*seconds = s->checkpoint_ms / 1000;
	pthread_mutex_unlock(&s->lock);
}

void lt_store_retries(struct lt_store *s, int64_t out[2])
{
	pthread_mutex_lock(&s->lock);
	memcpy(out, s->retries, sizeof s->retries);
	pthread_mutex_unlock(&s->lock);
}

void lt_store_close(struct lt_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->closing = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	/* run callbacks of the last batches so nothing waits forever */
	on_wake(-1, 0, s);
	s->be->close(s->db);
	event_free(s->wake);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->sync_lock);
	pthread_cond_destroy(&s->sync_cond);
	pthread_cond_destroy(&s->idle_cond);
	free(s);
}

