/* prune.h — retention on the loop: every hour (and at start) while
 * [gateway] retention is set, and when an operator asks (POST
 * /v1/admin/prune, `lienthong prune`), old finished dossiers are pruned in
 * small batches on the store thread (store.h, struct lt_prune). */
#ifndef LT_PRUNE_H
#define LT_PRUNE_H

#include "gateway.h"
#include "lt.h"

struct evhttp_request;

int lt_prune_start(struct lt_gateway *gw, struct lt_err *err);
int lt_prune_busy(struct lt_gateway *gw);
/* A reload swapped in gw->cfg: retention turned on starts its runs (the next run reads the rest). */
void lt_prune_reconfigure(struct lt_gateway *gw);
void lt_prune_free(struct lt_gateway *gw);
/* POST /v1/admin/prune {"before": RFC 3339 time (default: now - retention), "dry_run": bool}:
 * answered when the run ends, with what went (or would go). */
void lt_prune_http(struct lt_gateway *gw, struct evhttp_request *req);
/* lienthong_pruned_total{what=...} */
void lt_prune_metrics(struct lt_gateway *gw, struct lt_buf *b);

#endif
