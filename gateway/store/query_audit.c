/* query_audit.c — the audit trail verified (query_audit.h): its hash chain
 * recomputed from retention's last checkpoint, each accepted message's stored
 * digest checked against its row, and the operators' latest actions. */
#include "query.h"
#include "query_int.h"
#include "query_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BROKEN_SHOWN 10
#define MAX_ACTIONS_SHOWN 100

struct audit_walk {
	char prev[65];
	int64_t rows, in, answers, broken, actions;
	json_t *shown;
	json_t *last_actions;           /* the operators' latest replays and purges, oldest first */
	int64_t checkpoint;     /* the last pruned row's seq (0 = none): kept rows come after it */
};

static int audit_row(void *arg, int ncols, const char *const *v)
{
	struct audit_walk *w = arg;
	if (ncols < 12)
		return LT_EIO;
#define T(i) (v[i] ? v[i] : "")
	struct lt_audit_row r = { .at_ms = v[1] ? strtoll(v[1], NULL, 10) : 0, .direction = T(2), .peer = T(3),
				  .message_id = T(4), .body_sha256 = T(5), .sig_sha256 = T(6), .trust = T(11),
				  .prev = T(7) };
	char hash[65];
	lt_audit_hash(&r, hash);
	const char *why = NULL;
	int in = strcmp(r.direction, "in") == 0;
	if (w->checkpoint && strtoll(T(0), NULL, 10) <= w->checkpoint)
		why = "it is at or before the checkpoint of the pruned rows (a row was put back, or the checkpoint changed)";
	else if (strcmp(r.prev, w->prev) && w->checkpoint && !w->rows)
		why = "it does not follow the checkpoint of the pruned rows (the checkpoint or this row was changed)";
	else if (strcmp(r.prev, w->prev))
		why = "it does not follow the row before it (a row was removed, inserted or changed)";
	else if (strcmp(hash, T(8)))
		why = "its content does not match its hash (the row was changed)";
	else if (in && strcmp(T(10), "1"))
		why = "the message it records is not in the store";
	else if (in && strcmp(T(9), r.body_sha256))
		why = "the stored message's digest differs from the one recorded (the message was changed)";
	if (why && w->broken++ < MAX_BROKEN_SHOWN)
		json_array_append_new(w->shown, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s}", "row",
							  (json_int_t)strtoll(T(0), NULL, 10), "at",
							  lt_query_when(r.at_ms / 1000), "direction", r.direction,
							  "peer", r.peer, "message_id", r.message_id, "reason", why));
	snprintf(w->prev, sizeof w->prev, "%s", T(8));
#undef T
	w->rows++;
	w->in += in;
	w->answers += strcmp(r.direction, "answer") == 0;
	if (strcmp(r.direction, "replay") == 0 || strcmp(r.direction, "purge") == 0) {
		w->actions++;
		if (json_array_size(w->last_actions) == MAX_ACTIONS_SHOWN)
			json_array_remove(w->last_actions, 0);
		json_array_append_new(w->last_actions, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s}", "row",
								 (json_int_t)strtoll(v[0] ? v[0] : "0", NULL, 10), "at",
								 lt_query_when(r.at_ms / 1000), "action", r.direction,
								 "peer", r.peer, "message_id", r.message_id, "by",
								 r.trust));
	}
	return 0;
}

/* Retention's checkpoints: the chain goes on from the last one's hash. Each
 * run's pruned rows come after the run before. */
static json_t *audit_checkpoints(struct lt_query *q, struct audit_walk *w, struct lt_err *err)
{
	json_t *cps = NULL;
	if (lt_query_rows(q, LT_READ_AUDIT_PRUNED, &cps, err, 0))
		return NULL;
	int64_t n = 0, last_seq = 0, last_at = 0;
	size_t i;
	json_t *r;
	json_array_foreach(cps, i, r) {
		if (lt_col_int(r, 2) <= last_seq && w->broken++ < MAX_BROKEN_SHOWN)
			json_array_append_new(w->shown, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s}", "row",
								  (json_int_t)lt_col_int(r, 0), "at",
								  lt_query_when(lt_col_int(r, 4) / 1000), "direction",
								  "checkpoint", "peer", "", "message_id", "", "reason",
								  "a checkpoint overlaps the one before it (it was changed)"));
		n += lt_col_int(r, 3);
		last_seq = lt_col_int(r, 0);
		last_at = lt_col_int(r, 4);
		snprintf(w->prev, sizeof w->prev, "%s", lt_col_str(r, 1) ? lt_col_str(r, 1) : "");
	}
	w->checkpoint = last_seq;
	json_t *o = json_array_size(cps) ?
		json_pack("{s:I,s:I,s:s,s:o,s:I}", "rows", (json_int_t)n, "before_seq", (json_int_t)(last_seq + 1),
			  "checkpoint_hash", w->prev, "last_at", lt_query_when(last_at / 1000), "runs",
			  (json_int_t)json_array_size(cps)) : json_null();
	json_decref(cps);
	return o;
}

int lt_query_audit_verify(struct lt_query *q, json_t **out, struct lt_err *err)
{
	struct audit_walk w = { .shown = json_array(), .last_actions = json_array() };
	memset(w.prev, '0', 64);
	w.prev[64] = '\0';
	*out = NULL;
	json_t *pruned = audit_checkpoints(q, &w, err);
	if (!pruned) {
		json_decref(w.shown);
		json_decref(w.last_actions);
		return LT_EIO;
	}
	int rc = q->be->run(q->db, LT_READ_AUDIT, 0, NULL, audit_row, &w, err);
	if (rc) {
		json_decref(w.shown);
		json_decref(w.last_actions);
		json_decref(pruned);
		return rc == LT_EIO && !err->msg[0] ? lt_err_set(err, LT_EIO, "the audit trail has the wrong columns") : rc;
	}
	*out = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:o,s:o,s:o}", "intact", w.broken == 0, "rows",
			 (json_int_t)w.rows, "in", (json_int_t)w.in, "out", (json_int_t)(w.rows - w.in - w.answers - w.actions),
			 "answers", (json_int_t)w.answers, "operator_actions", (json_int_t)w.actions, "last_hash", w.prev,
			 "broken_count", (json_int_t)w.broken, "broken", w.shown, "actions", w.last_actions, "pruned", pruned);
	return lt_query_built(*out, err);
}
