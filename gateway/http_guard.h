/* http_guard.h — internal to the peer listener: the connection guard of
 * http_guard.c (head screening, per-request deadline, linger after a refusal)
 * as http.c uses it. Nothing outside http.c includes this. */
#ifndef LT_HTTP_GUARD_H
#define LT_HTTP_GUARD_H

#include "gateway.h"

struct bufferevent;
struct event_base;
struct evhttp_request;
struct lt_guard;

/* A head the guard refused, carried to the request callback by the stand-in
 * request that replaced it. The strings belong to the connection's guard and
 * stay valid until the answer is sent. */
struct lt_guard_refusal {
	int status;
	const char *code;     /* the "error" of the JSON answer */
	const char *peer;     /* {peer} of /v1/inbound/{peer} when it was a valid name; else NULL */
	const char *detail;
};

/* The guards of gw's peer connections; NULL when out of memory. */
struct lt_guard *lt_guard_new(struct lt_gateway *gw);
/* Frees the guards still held and the sockets still lingering. Call after
 * evhttp_free, whose close callbacks free the guards of open connections
 * (and may start lingering). NULL-safe. */
void lt_guard_free(struct lt_guard *g);
/* For evhttp_set_bevcb(http, lt_guard_bevcb, g): the bufferevent of a new
 * connection (TLS when gw->sec has a server context) with a guard on its input.
 * Without memory for the guard the connection is left to evhttp's own limits. */
struct bufferevent *lt_guard_bevcb(struct event_base *base, void *g);
/* A complete request arrived: its connection's deadline stops. Returns 1 and
 * fills *r when the request is a stand-in: the caller answers it with r and
 * nothing else. Returns 0 for a real request (or one on an unguarded connection);
 * the guard screens the next head once this one's answer is sent. */
int lt_guard_request(struct lt_guard *g, struct evhttp_request *req, struct lt_guard_refusal *r);

#endif
