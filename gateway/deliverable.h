/* deliverable.h — accept only what can be delivered.
 *
 * Each adapter says what its encode() needs of an event beyond the canonical
 * schema (adapter.h `requires`, a mapping file's `!` rules of [encode]).
 * Before an event is acknowledged, each destination it is routed to is
 * asked: a field the event lacks is filled from what the dossier view holds
 * of that dossier (sla.h lt_dossier facts: procedure, field, agencies,
 * applicant, channel, received_at, due_at), read on the store thread; the
 * fields filled are listed in the event's detail.filled_from_dossier, so the
 * trail says so. What is still missing refuses the message (422), naming the
 * destination and the field, and nothing is stored.
 *
 * Cost: an event that carries what its destinations need costs a few JSON
 * lookups per destination on the worker, and no query; only one that lacks
 * something waits for one read of the view (one indexed row per dossier). */
#ifndef LT_DELIVERABLE_H
#define LT_DELIVERABLE_H

#include <jansson.h>
#include "lt.h"
#include "store.h"

struct lt_config;
struct lt_peer;

/* What dest's adapter needs of event and the event lacks: each field (or
 * "a|b" alternatives) appended to missing (a JSON array). Returns how many.
 * Pure; any thread. */
size_t lt_deliverable_missing(const struct lt_peer *dest, const json_t *event, json_t *missing);

/* After stamping (worker): the dossier codes whose stored state an event
 * needs for one of its destinations, a new array; NULL when every event has
 * what each destination needs (the usual case: nothing more to do). */
json_t *lt_deliverable_wants(const struct lt_config *cfg, const json_t *events, const json_t *routes);

/* Fill what each event lacks for each of its destinations from facts
 * ({dossier code: facts}, lt_dossier_read) and from the message's earlier
 * events of the same dossier, naming what was filled in the event's
 * detail.filled_from_dossier. 0, or LT_ESCHEMA with err naming the
 * event, the destination and the field still missing. Any thread. */
int lt_deliverable_fill(const struct lt_config *cfg, json_t *events, const json_t *routes, const json_t *facts,
			struct lt_err *err);

/* The same for one event and one destination (a delivery that could not be
 * encoded, e.g. a dead letter replayed after its dossier was completed):
 * returns how many fields were filled. */
int lt_deliverable_fill_one(const struct lt_peer *dest, json_t *event, const json_t *facts);

/* The read of the dossier view for some events, on the store thread, then
 * done(d) on the loop with d->read.op.rc and d->read.facts set. */
struct lt_deliverable {
	struct lt_dossier_read read;    /* first: the store op */
	void (*done)(struct lt_deliverable *d);
	void *arg;
};
/* Submit the read of `codes` (taken); LT_EBUSY when the store takes no op. */
int lt_deliverable_read(struct lt_store *s, struct lt_deliverable *d, json_t *codes);
/* What the read holds (the facts, the codes); d itself is the caller's. */
void lt_deliverable_release(struct lt_deliverable *d);

#endif
