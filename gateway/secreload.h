/* secreload.h — reloading the security material while the gateway runs.
 *
 * On SIGHUP, and when a CRL file changes (its mtime, size or inode, looked at every
 * LT_CRL_CHECK_MS), the keys, certificates, trust and CRLs named by the running
 * configuration are loaded again on a worker thread and, if all of it loads, swapped in
 * on the loop: new connections, requests and delivery attempts use the new generation,
 * while what is in flight finishes with the old one (each holds a reference). If any of
 * it fails, the running generation stays and every mistake is logged. Other settings
 * are applied only by a restart. Loop thread only. */
#ifndef LT_SECRELOAD_H
#define LT_SECRELOAD_H

#include "gateway.h"

#define LT_CRL_CHECK_MS 2000

/* Remember the CRL files' stamps and the configuration file's digest; start the timer. */
int lt_secreload_start(struct lt_gateway *gw, struct lt_err *err);
/* Reload now (why: "SIGHUP", "crl …changed"); a reload already running is followed by
 * one more. */
void lt_secreload_request(struct lt_gateway *gw, const char *why);
/* Whether the configuration file differs from the one the gateway started with. */
int lt_secreload_config_changed(struct lt_gateway *gw);
/* Reloads done and failed since start, for /metrics. */
void lt_secreload_counts(struct lt_gateway *gw, int64_t *done, int64_t *failed);
/* Stop the timer and free; after the pool is freed. */
void lt_secreload_free(struct lt_gateway *gw);

#endif
