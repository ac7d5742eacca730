/* http.h — the peer-facing listener: POST /v1/inbound/{peer}. */
#ifndef LT_HTTP_H
#define LT_HTTP_H

#include "gateway.h"

struct evhttp_request;

/* Bind the peer listener of gw->cfg->listen. 0 or LT_E* with err. */
int lt_http_start(struct lt_gateway *gw, struct lt_err *err);
/* A reload swapped in gw->cfg: the listener takes its size limits and timeouts (for
 * requests that begin from now on). Loop thread. */
void lt_http_reconfigure(struct lt_gateway *gw);
/* Stop accepting connections; requests already read still get answers. */
void lt_http_stop_accepting(struct lt_gateway *gw);
/* Requests waiting for their commit. */
int lt_http_pending(struct lt_gateway *gw);
void lt_http_free(struct lt_gateway *gw);

/* Send a JSON answer (takes ownership of body) with optional Retry-After. */
/* Answer classes counted per peer (lt_peer_counters.messages_in): 202, 200,
 * 400, 401/403, 409, 413/414/415/431, 422, 429/503; and their names. */
int lt_answer_slot(int status);
extern const char *const lt_answer_names[8];

void lt_http_reply_json(struct evhttp_request *req, int status, json_t *body, int retry_after_s);
/* The same with a body already serialised (len bytes of JSON, without the line end). */
void lt_http_reply_text(struct evhttp_request *req, int status, const char *json, size_t len, int retry_after_s);
/* Send {"error":code,"detail":…}. */
void lt_http_reply_error(struct evhttp_request *req, int status, const char *code, const char *detail,
			 int retry_after_s);
/* Set TCP_NODELAY on a (listening) socket. */
void lt_socket_nodelay(int fd);
/* "HOST:PORT" or "[V6]:PORT" → host and port (1..65535); LT_EINVAL otherwise. */
int lt_split_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
