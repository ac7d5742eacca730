/* admin.h — the admin listener (loopback by default): /healthz, /readyz,
 * /metrics (Prometheus text), /v1/admin/status, /v1/admin/dlq/..., the
 * store's reads (trail, report, refusals, audit), /ui. */
#ifndef LT_ADMIN_H
#define LT_ADMIN_H

#include "gateway.h"

int lt_admin_start(struct lt_gateway *gw, struct lt_err *err);
void lt_admin_free(struct lt_gateway *gw);

struct evhttp_request;
/* GET /ui: the operator's page (admin_ui.c). */
void lt_admin_ui(struct evhttp_request *req);

/* The reads of the store (admin_query.c): /v1/admin/dossiers/{code}/trail,
 * /v1/admin/dlq, /v1/admin/dlq/{id}, /v1/admin/report, /v1/admin/refusals,
 * /v1/admin/audit/verify, on a query thread of their own. */
struct lt_admin_queries;
struct lt_admin_queries *lt_admin_queries_new(struct lt_gateway *gw);
/* Runs the answers still waiting, then stops the thread. NULL-safe. */
void lt_admin_queries_free(struct lt_admin_queries *aq);
/* 1 when path is one of these routes (answered, now or later), else 0. */
int lt_admin_query_route(struct lt_admin_queries *aq, struct evhttp_request *req, const char *path);

#endif
