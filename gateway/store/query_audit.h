/* query_audit.h — the audit trail verified (query_audit.c). */
#ifndef LT_QUERY_AUDIT_H
#define LT_QUERY_AUDIT_H

#include <jansson.h>
#include "lt.h"

struct lt_query;

/* Recompute the audit trail's hash chain and check each accepted message's
 * stored digest against its row: {intact, rows, in, out, answers,
 * operator_actions, last_hash, broken: [{row, at, direction, peer,
 * message_id, reason}] (the first 10), broken_count, actions: [{row, at,
 * action (replay | purge), peer, message_id, by}] (the latest 100, oldest
 * first: who asked, as the admin listener knew them), pruned}. After
 * retention pruned its oldest rows the chain starts from the checkpoint (the
 * last pruned row's seq and hash): pruned is {rows, before_seq,
 * checkpoint_hash, last_at, runs}, or null. */
int lt_query_audit_verify(struct lt_query *q, json_t **out, struct lt_err *err);

#endif
