/* dispatch.h — outbound deliveries: one durable queue per destination peer,
 * libcurl's multi interface on the gateway's event loop. */
#ifndef LT_DISPATCH_H
#define LT_DISPATCH_H

#include "adapter.h"
#include "gateway.h"

/* Set up the curl multi handle and a queue per peer that has a url, and
 * kick every queue once (work left by an earlier run). */
int lt_dispatch_start(struct lt_gateway *gw, struct lt_err *err);
/* New deliveries for `dest` were committed: claim what the limits allow. */
void lt_dispatch_kick(struct lt_gateway *gw, const char *dest);
/* A reload swapped in gw->cfg: queues follow their peer's new settings (a changed url
 * takes the next attempt; one in flight ends where it began), a new peer gets a queue, a
 * removed peer's queue stops claiming (its deliveries wait in the store and resume when
 * it comes back). Loop thread. */
void lt_dispatch_reconfigure(struct lt_gateway *gw);
/* Stop claiming; attempts in flight go on. */
void lt_dispatch_drain(struct lt_gateway *gw);
/* Attempts in flight, including those whose outcome is not yet committed. */
int lt_dispatch_busy(struct lt_gateway *gw);
/* Abort what is still in flight: it stays in flight in the store and is sent
 * again after restart. Call before closing the store. */
void lt_dispatch_abort(struct lt_gateway *gw);
/* Free everything; after the store is closed. */
void lt_dispatch_free(struct lt_gateway *gw);

#endif
