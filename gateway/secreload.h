/* secreload.h — reloading the configuration and its security material while the gateway runs.
 *
 * On SIGHUP the configuration file is read again and checked as check-config would (its
 * keys, code tables, mapping files, adapters' settings, keys, certificates, trust and CRLs,
 * in one pass) on a worker thread; if all of it is valid, the new generation is swapped in
 * on the loop: peers (added, removed, changed), routes, limits, retry and SLA settings, code
 * tables, mapping files and the security material. New connections, requests, polls and
 * delivery attempts use it, while what is in flight finishes with the generation it began
 * with (each holds a reference: struct lt_security holds its struct lt_config). Settings
 * that cannot change while running (listen, store, node_id, workers, ...) keep their running
 * value and are logged as needing a restart. An invalid file changes nothing: every mistake
 * is logged with FILE:LINE, then a summary. When a CRL file changes (its mtime, size or
 * inode, looked at every LT_CRL_CHECK_MS) only the security material of the running
 * configuration is loaded again. Loop thread only. */
#ifndef LT_SECRELOAD_H
#define LT_SECRELOAD_H

#include "gateway.h"

#define LT_CRL_CHECK_MS 2000

/* Remember the CRL files' stamps and the configuration file's digest; start the timer. */
int lt_secreload_start(struct lt_gateway *gw, struct lt_err *err);
/* Reload now (why: "SIGHUP", "crl …changed"): the whole configuration file when full, else
 * the security material of the running one; a reload already running is followed by one
 * more. */
void lt_secreload_request(struct lt_gateway *gw, const char *why, int full);
/* Lay out gw->counters for cfg's peers (kept by name, removed peers' after them). */
void lt_secreload_counters(struct lt_gateway *gw, const struct lt_config *cfg);
/* Reloads done and failed since start, for /metrics. */
void lt_secreload_counts(struct lt_gateway *gw, int64_t *done, int64_t *failed);
/* Stop the timer and free; after the pool is freed. */
void lt_secreload_free(struct lt_gateway *gw);

#endif
