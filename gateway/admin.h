/* admin.h — the admin listener (loopback by default): /healthz, /readyz,
 * /metrics (Prometheus text) and /v1/admin/status. */
#ifndef LT_ADMIN_H
#define LT_ADMIN_H

#include "gateway.h"

int lt_admin_start(struct lt_gateway *gw, struct lt_err *err);
void lt_admin_free(struct lt_gateway *gw);

#endif
