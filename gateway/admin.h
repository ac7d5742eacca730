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

/* Who may use the admin listener (admin_auth.c): NULL when it is plain HTTP
 * on loopback (no admin_token_file, no admin_trust). Problems go to errors as
 * "FILE:LINE: key: why" lines; check-config and the start call it. */
struct lt_admin_auth;
struct lt_security;
struct event_base;
struct bufferevent;
int lt_admin_auth_new(const struct lt_config *cfg, const struct lt_security *sec, struct lt_admin_auth **out,
		      struct lt_buf *errors);
void lt_admin_auth_free(struct lt_admin_auth *a);      /* NULL-safe */
/* One line for check-config: the URL, the credentials taken. */
void lt_admin_auth_describe(const struct lt_admin_auth *a, const struct lt_config *cfg, struct lt_buf *out);
int lt_admin_auth_tls(const struct lt_admin_auth *a);
/* evhttp's bufferevent callback of the HTTPS listener (arg: the auth). */
struct bufferevent *lt_admin_auth_bevcb(struct event_base *base, void *arg);
/* Each name of the listener's certificate (DNS and IP subjectAltNames, no
 * wildcard): Host values a browser sends for it. */
void lt_admin_auth_names(const struct lt_admin_auth *a, void (*add)(void *arg, const char *name), void *arg);
/* Who asks: 0 with who ("cert:SUBJECT", "token:NAME", or "loopback" when no
 * credential is asked); else -1, *status 401 or 403 and a sentence in why. */
int lt_admin_auth_check(const struct lt_admin_auth *a, struct evhttp_request *req, char who[LT_TRUST_MAX],
			int *status, char *why, size_t n);

#endif
