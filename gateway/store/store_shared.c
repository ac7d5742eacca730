/* store_shared.c — what the store backends share (store_int.h) besides the
 * thread in store.c: a stats op's rows, the overdue sweep's events, and a
 * claim's rows let go of. */
#include "store_int.h"
#include "sla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lt_stats_add(struct lt_stats *op, const char *dest, int state, int64_t n, int64_t oldest_created_ms)
{
	struct lt_peer_stats *p = NULL;
	for (int i = 0; i < op->n && !p; i++)
		if (strcmp(op->peers[i].dest, dest) == 0)
			p = &op->peers[i];
	if (!p) {
		op->peers = realloc(op->peers, (size_t)(op->n + 1) * sizeof *op->peers);
		p = &op->peers[op->n++];
		memset(p, 0, sizeof *p);
		snprintf(p->dest, sizeof p->dest, "%s", dest);
	}
	switch (state) {
	case LT_DS_PENDING: p->pending = n; break;
	case LT_DS_INFLIGHT: p->inflight = n; break;
	case LT_DS_DEAD: p->dead = n; break;
	case LT_DS_BLOCKED: p->blocked = n; break;
	}
	if (state != LT_DS_DEAD && oldest_created_ms && (!p->oldest_created_ms || oldest_created_ms < p->oldest_created_ms))
		p->oldest_created_ms = oldest_created_ms;
}

int lt_store_overdue_build(struct lt_overdue *op, json_t *codes, lt_store_dossier_get *get, void *db,
			   struct lt_err *err)
{
	int64_t now = op->now_ms / 1000;
	op->events = json_array();
	op->routes = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(codes, i, c) {
		struct lt_dossier d;
		int rc = get(db, json_string_value(c), &d, err);
		if (rc)
			return rc;
		if (!lt_dossier_overdue(&d, now))
			continue;
		json_t *ev = lt_dossier_overdue_event(&d, now, op->source);
		json_array_append_new(op->routes, op->stamp(op->stamp_arg, ev));
		json_array_append_new(op->events, ev);
	}
	return LT_OK;
}

void lt_claim_release(struct lt_claim *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->rows[i].body);
	free(c->rows);
	c->rows = NULL;
	c->n = 0;
}
