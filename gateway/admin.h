/* admin.h — the admin listener (loopback by default): /healthz, /readyz,
 * /metrics (Prometheus text), /v1/admin/status, /v1/admin/dlq/..., /ui. */
#ifndef LT_ADMIN_H
#define LT_ADMIN_H

#include "gateway.h"

int lt_admin_start(struct lt_gateway *gw, struct lt_err *err);
void lt_admin_free(struct lt_gateway *gw);

struct evhttp_request;
/* GET /ui: the operator's page (admin_ui.c). */
void lt_admin_ui(struct evhttp_request *req);

#endif
