/* store.h — the durable journal: messages, events, deliveries, attempts;
 * the callers' side (the backends' contract is store_int.h).
 *
 * All database work runs on one store thread. Callers on the event loop
 * submit operations; the thread takes every operation waiting, runs them in
 * ONE transaction (group commit, fsync'd), then hands each back to the loop,
 * where its `done` callback runs. A caller must not touch an op between
 * submit and done. */
#ifndef LT_STORE_H
#define LT_STORE_H

#include <jansson.h>
#include <stdint.h>
#include "lt.h"

struct event_base;

enum lt_delivery_state {
	LT_DS_PENDING = 0,   /* ready to send at next_at */
	LT_DS_INFLIGHT = 1,  /* claimed by the dispatcher */
	LT_DS_DONE = 2,
	LT_DS_DEAD = 3,
	LT_DS_BLOCKED = 4,   /* waits for an earlier delivery of the same dossier to the same peer */
};

enum lt_op_kind {
	LT_OP_INGEST, LT_OP_CLAIM, LT_OP_FINISH, LT_OP_STATS, LT_OP_REFUSAL, LT_OP_CURSOR, LT_OP_OVERDUE, LT_OP_RELEASE,
	LT_OP_DLQ, LT_OP_PRUNE, LT_OP_DOSSIERS
};

struct lt_store_op {
	enum lt_op_kind kind;
	int rc;                         /* result: 0 or LT_E* */
	struct lt_err err;
	void (*done)(struct lt_store_op *op);  /* runs on the loop thread */
	void *arg;
	struct lt_store_op *next;       /* queue link, store-owned */
};

/* One inbound message and the events it carries. */
struct lt_ingest {
	struct lt_store_op op;
	const char *peer;
	const char *message_id;
	char digest[65];                /* sha256 of the body */
	json_t *events;                 /* array of event objects, each with event_id set */
	json_t *routes;                 /* array (parallel to events) of arrays of destination names */
	json_t *receipt;                /* the answer to keep for duplicates */
	char *receipt_text;             /* it serialised (compact, in order), or NULL: the store
					 * serialises `receipt` (the caller owns and frees it) */
	const char *cursor;             /* pull: the peer's new cursor, written in the same commit; NULL = none */
	/* a signed XML document (both "" otherwise): what its signature covers (lt_xml_info
	 * content_sha256) and its signed identity (replay.h). Either one already stored
	 * under another message id is a replay: refused, `replay` set. The same message id
	 * with the same signed content is a duplicate, whatever the bytes around it. */
	char signed_digest[65];
	char signed_id[320];            /* LT_SIGNED_ID_MAX */
	char sig_sha256[65];            /* of its detached signature (X-Signature), "" = none: for the audit trail */
	char trust[LT_TRUST_MAX];       /* what vouched for it (answer.h), kept in its audit row; "" = not recorded */
	int64_t now_ms;
	/* out */
	int duplicate;                  /* 1: same id, same body — `original` holds the receipt */
	int replay;                     /* 1: refused (LT_ECONFLICT) as a replay of a signed document */
	json_t *original;               /* owned by the op; decref in done */
};

struct lt_claimed {
	int64_t id;
	char event_id[40];
	char dossier_code[72];
	char type[40];
	int attempts;                   /* attempts before this one */
	int flags;                      /* the adapter's delivery flags */
	int64_t created_at;
	char *body;                     /* the event JSON; free() it */
};

/* Claim up to `max` ready deliveries of one destination, marking them in flight. */
struct lt_claim {
	struct lt_store_op op;
	const char *dest;
	int max;
	int64_t now_ms;
	/* out */
	struct lt_claimed *rows;        /* free with lt_claim_release */
	int n;
	int64_t next_due_ms;            /* earliest next_at of a pending delivery; 0 = none */
};

/* Record one attempt and move the delivery to done, dead or pending again. */
struct lt_finish {
	struct lt_store_op op;
	int64_t delivery_id;
	const char *dest;
	const char *dossier_code;
	enum lt_delivery_state next;    /* what the delivery becomes: LT_DS_DONE, LT_DS_DEAD, or
					 * LT_DS_PENDING again at next_at_ms (retry.h decides) */
	int attempt;                    /* 1-based number of this attempt */
	long status;
	char error[256];
	char *response;                 /* kept for dead letters; owned by the op */
	int64_t at_ms, duration_ms, next_at_ms;
	int flags;                      /* delivery flags for the next attempt */
	json_t *carried;                /* events the answer carried (each with event_id), or NULL; owned */
	json_t *carried_routes;         /* their destinations, parallel; owned */
	char answer_sha256[65];         /* with carried events: the answer's body and X-Signature */
	char answer_sig_sha256[65];     /* digests ("" = none) and what vouched for it (answer.h), */
	char trust[LT_TRUST_MAX];       /* written as an "answer" row of the audit trail */
	char sent_sha256[65];           /* what went out (body, detached signature) for the audit */
	char sent_sig_sha256[65];       /* trail; sent_sha256 "" = nothing reached the wire */
	int recorded_before;            /* set by the store: this outcome was already written (a
					 * commit reported failed had reached the disk); nothing changed */
};

/* Give claimed deliveries that were never sent back to the queue. */
struct lt_release {
	struct lt_store_op op;
	int64_t *ids;                   /* owned by the caller */
	int n;
	const char *dest;               /* instead of ids: every delivery to dest in flight (the
					 * dispatcher holds none); n is then set to how many */
};

/* An operator's action on dead letters (state dead) matching every filter
 * given: replay (back to the queue, behind the dossier's chain if it has
 * one; retry.max_age counts again from now) or purge (the delivery and its
 * attempts deleted; the event stays). */
enum lt_dlq_action { LT_DLQ_REPLAY, LT_DLQ_PURGE };
#define LT_DLQ_BATCH 5000               /* dead letters acted on per op at most: ask again for more */
struct lt_dlq {
	struct lt_store_op op;
	enum lt_dlq_action action;
	json_t *ids;                    /* array of delivery ids, or NULL; borrowed */
	const char *dest, *dossier_code; /* or NULL */
	int64_t before_ms;              /* dead before this time (updated_at); 0 = any */
	int64_t now_ms;
	const char *who;                /* who asked ("token:NAME", "cert:SUBJECT", "loopback", "cli:USER"):
					 * an audit row per delivery acted on, in the same commit; borrowed */
	/* out: one {delivery_id, dossier_code, message_id, peer} per delivery acted on; owned */
	json_t *deliveries;
};

/* Read what the stored events of some dossiers tell of them (deliverable.h,
 * sla.h lt_dossier_facts): for an event that lacks a field a destination
 * needs, before it is acknowledged, and for a delivery that could not be
 * encoded. Read only. */
struct lt_dossier_read {
	struct lt_store_op op;
	json_t *codes;                  /* array of dossier codes; borrowed */
	/* out: {code: facts} of each dossier the store holds events of; owned */
	json_t *facts;
};

/* Read a pull peer's stored cursor ("" when none). */
struct lt_cursor {
	struct lt_store_op op;
	const char *peer;
	char cursor[512];
};

struct lt_peer_stats {
	char dest[64];
	int64_t pending, inflight, blocked, dead, done;
	int64_t oldest_created_ms;      /* 0 = none waiting */
};

struct lt_stats {
	struct lt_store_op op;
	struct lt_peer_stats *peers;    /* free() */
	int n;
	int64_t events, messages;
};

/* A refused signed message (or a peer's answer that failed its check): who,
 * why, and the digest of what was sent. */
struct lt_refusal {
	struct lt_store_op op;
	char peer[64];
	char message_id[129];
	char reason[512];
	char digest[65];
	int status;                     /* what the gateway answered (401, 403); 0 for a refused answer */
	int64_t at_ms;
};

/* Retention (store_prune.c): what may go of what is finished with. A
 * dossier whose every event arrived before `before_ms` and whose every
 * delivery was done before it (none queued, in flight, waiting for order
 * or dead) loses its events, deliveries and attempts; a row of
 * pruned_dossiers keeps what went and its last dossier_seq (its chain goes
 * on from there). The audit trail loses its oldest rows up to the first
 * one still needed (after before_ms, or recording a message or answer whose
 * events are kept, or a message received at or after keep_messages_ms:
 * the replay window), never its last row; each message whose audit row
 * goes goes with it; a checkpoint row (audit_pruned) keeps the last pruned
 * row's seq and hash, so the chain verifies from there. One op does a
 * bounded batch (LT_PRUNE_DOSSIERS dossiers, LT_PRUNE_AUDIT audit rows) and
 * says `more`: submit it again, as it is, for the next. */
#define LT_PRUNE_DOSSIERS 100
#define LT_PRUNE_AUDIT 1000
struct lt_prune {
	struct lt_store_op op;
	int64_t before_ms;
	int64_t keep_messages_ms;       /* messages received at or after it stay (<= before_ms) */
	int64_t now_ms;
	int dry_run;                    /* count what would go, in one op, and change nothing */
	const char *archive;            /* or NULL: the audit rows pruned are appended to this file
					 * (JSON lines, 0600, fsync'd before the commit) */
	int64_t after_seq;              /* in/out: the events scanned so far (0 = from the start) */
	/* out: what went in this op */
	int64_t dossiers, events, deliveries, attempts, messages, audit;
	int more;                       /* a batch limit was reached: submit again */
	int64_t audit_through;          /* the last audit row pruned (0 = none) */
	char audit_hash[65];            /* and its hash: the checkpoint */
	char held_by[200];              /* "" or the message whose audit row stops the pruning */
};

struct lt_calendar;

/* Stamps an event the store made and returns its destinations (a new JSON
 * array): the caller's routing, for a store that knows nothing of it. Runs
 * on the store thread. */
typedef json_t *lt_store_stamp_fn(void *arg, json_t *event);

/* The SLA watchdog's sweep: dossier.overdue events for dossiers past due,
 * stored with their deliveries in the sweep's commit. */
struct lt_overdue {
	struct lt_store_op op;
	const char *source;             /* the events' source name */
	lt_store_stamp_fn *stamp;       /* gives each its id and destinations */
	void *stamp_arg;
	int64_t now_ms;
	/* out: the events emitted (with ids) and their destinations; owned */
	json_t *events, *routes;
};

struct lt_store;

/* The gateway process opening the store, for a database that several share
 * (PostgreSQL): whose claims are whose, and for how long a claim holds
 * without being renewed. NULL means "gw-1" and LT_STORE_LEASE_MS. */
struct lt_store_node {
	const char *id;                 /* [gateway] node_id; distinct per process */
	int64_t lease_ms;               /* [gateway] lease */
};
#define LT_STORE_LEASE_MS (5 * 60 * 1000)

/* Open the store named by a config DSN ("sqlite:PATH", "postgresql://…"),
 * create tables, keep `cal` (working days, for due dates) for the dossier
 * view, return in-flight deliveries of a previous run of this node to the
 * queue, and start the store thread. Completions are delivered on `base`. */
int lt_store_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node,
		  struct event_base *base, struct lt_store **out, struct lt_err *err);
/* Queue an op for the next group commit. Returns LT_EBUSY (op not taken)
 * when the queue is over its limit or the store is closing. */
int lt_store_submit(struct lt_store *s, struct lt_store_op *op);
/* Stop taking ops, finish the ones queued, join the thread, close the db. */
void lt_store_close(struct lt_store *s);
/* Ops waiting for the store thread, and whether the last commit failed. */
int lt_store_queue_len(struct lt_store *s);
int lt_store_healthy(struct lt_store *s);
/* Deliveries not yet done or dead (as of the last commit). */
int64_t lt_store_backlog(struct lt_store *s);
/* Latency histograms for /metrics (1 ms to 1 s): the group commits (a batch's
 * start to its ops answered, fsync included), and the sync thread's fsyncs of
 * the log alone (SQLite's pipelined commit; none for PostgreSQL), which show a
 * slow disk apart from a busy store. */
void lt_store_commit_stats(struct lt_store *s, struct lt_hist *commits, struct lt_hist *fsyncs);
/* Batches run again at once because the database ended their transaction
 * in a conflict with another node's: [0] deadlock, [1] serialization. */
void lt_store_retries(struct lt_store *s, int64_t out[2]);
/* The checkpoints the store thread ran between batches (SQLite's pipelined commit: every
 * 1 000 log frames, once every commit is synced; none for PostgreSQL) and its seconds in them,
 * when no batch is written. */
void lt_store_checkpoints(struct lt_store *s, int64_t *count, double *seconds);

void lt_claim_release(struct lt_claim *c);

#endif
