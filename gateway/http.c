/* http.c — ingress: size limits, peer lookup, decode, route, then a durable
 * commit before the 202. Every refusal is answered with a JSON error naming
 * its reason and logged as one line; a refused request stores nothing. */
#include "http.h"
#include "adapter.h"
#include "dispatch.h"
#include "log.h"
#include "pool.h"
#include "security.h"
#include "sign_jws.h"
#include "sign_xml.h"
#include "mapping.h"
#include "store.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct conn;
struct linger_sock;

struct lt_http {
	struct lt_gateway *gw;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	int pending;
	struct conn *conns;         /* every peer connection's guard */
	struct conn **by_fd;        /* attached guards by socket */
	size_t nfd;
	struct linger_sock *lingering;   /* refused connections being drained */
};

/* One inbound request: decoded on a worker, then committed by the store;
 * freed in ingest_done (or decode_done when refused). */
struct ingress {
	struct lt_ingest ing;       /* first: the store op */
	struct lt_job job;
	struct lt_gateway *gw;
	struct evhttp_request *req;
	const struct lt_peer *peer;
	char message_id[129];
	char *body;
	size_t len;
	char *signature;            /* X-Signature, for JWS peers */
	int rc;                     /* verify/decode result */
	struct lt_err err;
	char signer[128];           /* CN of the certificate that signed it */
};

static void ingress_free(struct ingress *in)
{
	json_decref(in->ing.events);
	json_decref(in->ing.routes);
	json_decref(in->ing.receipt);
	json_decref(in->ing.original);
	free(in->body);
	free(in->signature);
	free(in);
}

const char *const lt_answer_names[8] = { "accepted", "duplicate", "malformed", "unauthorized",
					 "conflict", "refused_size_or_type", "schema", "busy" };

int lt_answer_slot(int status)
{
	switch (status) {
	case 202: return 0;
	case 200: return 1;
	case 401: case 403: return 3;
	case 409: return 4;
	case 413: case 414: case 415: case 431: return 5;
	case 422: return 6;
	case 429: case 503: return 7;
	default: return 2;
	}
}

void lt_http_reply_json(struct evhttp_request *req, int status, json_t *body, int retry_after_s)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "application/json");
	if (retry_after_s > 0) {
		char v[16];
		snprintf(v, sizeof v, "%d", retry_after_s);
		evhttp_add_header(h, "Retry-After", v);
	}
	char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, s, strlen(s));
	evbuffer_add(out, "\n", 1);
	free(s);
	static const char *const reasons[] = { [200] = "OK", [202] = "Accepted", [400] = "Bad Request",
					       [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
					       [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
					       [413] = "Payload Too Large", [414] = "URI Too Long",
					       [415] = "Unsupported Media Type", [422] = "Unprocessable Entity",
					       [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
					       [500] = "Internal Server Error", [503] = "Service Unavailable" };
	const char *reason = status < 504 && reasons[status] ? reasons[status] : "Status";
	evhttp_send_reply(req, status, reason, out);
	evbuffer_free(out);
}

void lt_http_reply_error(struct evhttp_request *req, int status, const char *code, const char *detail,
			 int retry_after_s)
{
	char *d = strdup(detail);
	lt_utf8_clean(d);
	lt_http_reply_json(req, status, json_pack("{s:s,s:s}", "error", code, "detail", d), retry_after_s);
	free(d);
}

void lt_socket_nodelay(int fd)
{
	/* accepted sockets inherit it: answers (TLS records) are not held back
	 * by Nagle waiting for a delayed ACK — that cost 40 ms per request */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int lt_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return LT_EINVAL;
		snprintf(host, hostlen, "%.*s", (int)(close - s - 1), s + 1);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return LT_EINVAL;
		snprintf(host, hostlen, "%.*s", (int)(colon - s), s);
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return LT_EINVAL;
	*port = (int)p;
	return LT_OK;
}

/* Refuse: answer, log one line, count. */
static void refuse(struct lt_gateway *gw, struct evhttp_request *req, const struct lt_peer *peer,
		   const char *message_id, int status, const char *code, const char *detail, int retry_after)
{
	lt_log(status >= 500 ? LT_ERROR : LT_WARN, "ingress.refused",
	       json_pack("{s:s?,s:s?,s:i,s:s}", "peer", peer ? peer->name : NULL, "message_id", message_id,
			 "status", status, "error", code),
	       "refused inbound message: %s", detail);
	if (peer)
		gw->counters[peer->index].messages_in[lt_answer_slot(status)]++;
	lt_http_reply_error(req, status, code, detail, retry_after);
}

static void refusal_done(struct lt_store_op *op)
{
	free(op);
}

/* A security refusal (401/403): one "security.refused" line, and a record
 * of it in the store (peer, reason, body digest) — nothing else is kept. */
static void refuse_security(struct lt_gateway *gw, struct evhttp_request *req, const struct lt_peer *peer,
			    const char *message_id, int status, const char *code, const char *detail,
			    const char *body, size_t len)
{
	struct lt_refusal *r = calloc(1, sizeof *r);
	r->op.kind = LT_OP_REFUSAL;
	r->op.done = refusal_done;
	snprintf(r->peer, sizeof r->peer, "%s", peer->name);
	snprintf(r->message_id, sizeof r->message_id, "%s", message_id ? message_id : "");
	snprintf(r->reason, sizeof r->reason, "%s", detail);
	r->status = status;
	r->at_ms = lt_now_ms();
	lt_sha256_hex(body ? body : "", body ? len : 0, r->digest);
	lt_log(LT_WARN, "security.refused",
	       json_pack("{s:s,s:s?,s:i,s:s,s:s}", "peer", peer->name, "message_id", message_id, "status", status,
			 "error", code, "body_sha256", r->digest),
	       "refused: %s", detail);
	if (lt_store_submit(gw->store, &r->op))
		free(r);
	gw->counters[peer->index].messages_in[lt_answer_slot(status)]++;
	lt_http_reply_error(req, status, code, detail, 0);
}

static int valid_message_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("._:-", *p)))
			return 0;
	return 1;
}

static int content_type_is(const char *have, const char *want)
{
	if (!have)
		return 0;
	size_t n = strlen(want);
	return strncasecmp(have, want, n) == 0 && (have[n] == '\0' || have[n] == ';' || have[n] == ' ');
}

static void ingest_done(struct lt_store_op *op)
{
	struct ingress *in = (struct ingress *)op;
	struct lt_gateway *gw = in->gw;
	struct lt_peer_counters *pc = &gw->counters[in->peer->index];
	gw->http->pending--;
	if (op->rc == LT_ECONFLICT) {
		refuse(gw, in->req, in->peer, in->message_id, 409, "conflict", op->err.msg, 0);
	} else if (op->rc) {
		char detail[400];
		snprintf(detail, sizeof detail,
			 "the gateway could not make the message durable (%s); nothing was kept, send it again",
			 op->err.msg);
		refuse(gw, in->req, in->peer, in->message_id, 503, "store_unavailable", detail, 5);
	} else if (in->ing.duplicate) {
		json_t *r = in->ing.original ? json_incref(in->ing.original) : json_object();
		json_object_set_new(r, "status", json_string("duplicate"));
		lt_log(LT_INFO, "ingress.duplicate",
		       json_pack("{s:s,s:s}", "peer", in->peer->name, "message_id", in->message_id),
		       "message seen before with the same body; original receipt returned");
		pc->messages_in[lt_answer_slot(200)]++;
		lt_http_reply_json(in->req, 200, r, 0);
	} else {
		size_t i;
		json_t *ev;
		json_array_foreach(in->ing.events, i, ev) {
			json_t *dests = json_array_get(in->ing.routes, i);
			const char *dossier = json_string_value(json_object_get(ev, "dossier_code"));
			pc->events_in++;
			if (json_array_size(dests) == 0) {
				gw->events_unrouted++;
				lt_log(LT_WARN, "event.unrouted",
				       json_pack("{s:s,s:s,s:s,s:O}", "dossier_code", dossier, "message_id", in->message_id,
						 "peer", in->peer->name, "event_id", json_object_get(ev, "event_id")),
				       "event %s matches no route; kept, not delivered",
				       json_string_value(json_object_get(ev, "type")));
			} else {
				lt_log(LT_INFO, "event.received",
				       json_pack("{s:s,s:s,s:s,s:O,s:O,s:O}", "dossier_code", dossier, "message_id",
						 in->message_id, "peer", in->peer->name, "event_id",
						 json_object_get(ev, "event_id"), "type", json_object_get(ev, "type"),
						 "routed_to", dests),
				       "event stored and queued");
			}
			size_t j;
			json_t *d;
			json_array_foreach(dests, j, d)
				lt_dispatch_kick(gw, json_string_value(d));
		}
		pc->messages_in[lt_answer_slot(202)]++;
		lt_http_reply_json(in->req, 202, json_incref(in->ing.receipt), 0);
	}
	ingress_free(in);
}

/* The message id and timestamp inside a verified XML document, where the
 * wire format has them (civilreg: root attributes messageId and thoiGian;
 * edXML status: its Timestamp): the id must be the X-Message-Id, the time
 * inside the replay window. */
static int check_signed_xml_ids(struct ingress *in, xmlDocPtr doc, int64_t now, int64_t window)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlChar *mid = root ? xmlGetProp(root, BAD_CAST "messageId") : NULL;
	xmlChar *when = root ? xmlGetProp(root, BAD_CAST "thoiGian") : NULL;
	int rc = LT_OK;
	int64_t t = 0;
	if (mid && strcmp((const char *)mid, in->message_id))
		rc = lt_err_set(&in->err, LT_EAUTH, "messageId \"%.64s\" of the signed document does not match X-Message-Id",
				(const char *)mid);
	for (xmlNodePtr c = root ? root->children : NULL; !rc && !when && c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST "Timestamp") == 0) {
			xmlChar *txt = xmlNodeGetContent(c);
			if (lt_date_parse_vn((const char *)txt, &t, &in->err))
				rc = LT_EAUTH;
			xmlFree(txt);
			if (rc)
				lt_err_set(&in->err, LT_EAUTH, "timestamp of the signed document: %.200s", in->err.msg);
			else
				t = t ? t : 1;
		}
	if (!rc && when && lt_date_parse_rfc3339((const char *)when, &t, &in->err))
		rc = lt_err_set(&in->err, LT_EAUTH, "thoiGian of the signed document: %.200s", in->err.msg);
	if (!rc && t && (t * 1000 < now - window || t * 1000 > now + window))
		rc = lt_err_set(&in->err, LT_EAUTH, "timestamp out of window: the document is dated %lld s from now, "
				"the window is %lld s", (long long)(t - now / 1000), (long long)(window / 1000));
	xmlFree(mid);
	xmlFree(when);
	return rc;
}

/* Worker thread: the signature is checked before any content is decoded.
 * JWS: the detached signature over the exact body, its jti equal to the
 * X-Message-Id, its iat inside the replay window. */
static int verify_signature(struct ingress *in)
{
	const struct lt_peer *peer = in->peer;
	const struct lt_peer_security *ps = &in->gw->sec->peers[peer->index];
	int64_t now = lt_now_ms();
	int64_t window = in->gw->cfg->replay_window_ms;
	if (strcmp(peer->verify, "jws") == 0) {
		struct lt_jws_info info;
		int rc = lt_jws_verify(ps->jws_keys, in->signature, in->body, in->len, now / 1000, &info, &in->err);
		if (rc)
			return LT_EAUTH;
		snprintf(in->signer, sizeof in->signer, "%s", info.signer_cn);
		if (strcmp(info.jti, in->message_id))
			return lt_err_set(&in->err, LT_EAUTH, "jti \"%.64s\" of the signature does not match X-Message-Id",
					  info.jti);
		if (info.iat * 1000 < now - window || info.iat * 1000 > now + window)
			return lt_err_set(&in->err, LT_EAUTH,
					  "timestamp out of window: iat is %lld s from now, the window is %lld s",
					  (long long)(info.iat - now / 1000), (long long)(window / 1000));
	} else if (strcmp(peer->verify, "xmldsig") == 0) {
		struct lt_xml_info info;
		xmlDocPtr doc = NULL;
		if (lt_xml_verify(ps->xml_trust, in->body, in->len, now / 1000, &info, &doc, &in->err)) {
			/* not XML we will read at all: malformed (400), not a bad signature */
			static const char *const malformed[] = { "malformed XML", "document too deep",
								 "document type declaration" };
			for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
				if (strncmp(in->err.msg, malformed[i], strlen(malformed[i])) == 0)
					return in->err.code = LT_EINVAL;
			return LT_EAUTH;
		}
		snprintf(in->signer, sizeof in->signer, "%s", info.signer_cn);
		int rc = check_signed_xml_ids(in, doc, now, window);
		xmlFreeDoc(doc);
		if (rc)
			return rc;
	}
	return LT_OK;
}

/* Whether a JSON text nests arrays and objects more than max levels deep; *at is the
 * offset of the bracket that goes over. One pass over the bytes (strings skipped),
 * nothing allocated, so the limit holds before any parser recurses into the body. */
static int json_deeper_than(const char *s, size_t n, int max, size_t *at)
{
	int depth = 0, in_string = 0;
	for (size_t i = 0; i < n; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = 0;
		} else if (s[i] == '"') {
			in_string = 1;
		} else if (s[i] == '[' || s[i] == '{') {
			if (++depth > max) {
				*at = i;
				return 1;
			}
		} else if (s[i] == ']' || s[i] == '}') {
			depth--;
		}
	}
	return 0;
}

/* Worker thread: everything CPU-bound about a message — decode and schema
 * check, event ids, routing, the receipt. Touches only read-only config. */
static void decode_run(struct lt_job *job)
{
	struct ingress *in = (struct ingress *)((char *)job - offsetof(struct ingress, job));
	const struct lt_peer *peer = in->peer;
	in->rc = verify_signature(in);
	if (in->rc)
		return;
	size_t at;
	int max_depth = in->gw->cfg->max_json_depth;
	if (content_type_is(peer->adapter->content_type, "application/json") &&
	    json_deeper_than(in->body, in->len, max_depth, &at)) {
		in->rc = lt_err_set(&in->err, LT_EINVAL, "body is not accepted JSON: arrays and objects nest more than "
				    "%d levels deep (max_json_depth) at byte %zu", max_depth, at + 1);
		return;
	}
	json_t *events = json_array();
	in->rc = peer->adapter->decode(peer, in->body, in->len, events, &in->err);
	/* whatever the wire format, what is stored is a valid canonical event */
	size_t k;
	json_t *e;
	json_array_foreach(events, k, e) {
		if (in->rc || peer->adapter == &lt_adapter_canonical)
			break;
		if ((in->rc = lt_canonical_validate(e, &in->err)))
			lt_err_set(&in->err, LT_ESCHEMA, "event %zu as translated: %.400s", k + 1, in->err.msg);
	}
	if (!in->rc && json_array_size(events) == 0)
		in->rc = lt_err_set(&in->err, LT_ESCHEMA, "the message carries no event");
	if (in->rc) {
		json_decref(events);
		return;
	}
	in->ing.events = events;
	in->ing.routes = json_array();
	lt_sha256_hex(in->body, in->len, in->ing.digest);
	json_t *receipt_events = json_array();
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		if (!json_object_get(ev, "event_id")) {
			char id[27];
			lt_event_id(id);
			json_object_set_new(ev, "event_id", json_string(id));
		}
		lt_units_apply(in->gw->cfg, ev);
		json_t *dests = json_array();
		lt_route_event(in->gw->cfg, peer->name, ev, dests);
		json_array_append_new(in->ing.routes, dests);
		json_array_append_new(receipt_events,
				      json_pack("{s:O,s:O,s:O,s:O}", "event_id", json_object_get(ev, "event_id"),
						"type", json_object_get(ev, "type"), "dossier_code",
						json_object_get(ev, "dossier_code"), "routed_to", dests));
	}
	in->ing.receipt = json_pack("{s:s,s:s,s:s,s:o}", "status", "accepted", "message_id", in->message_id,
				    "peer", peer->name, "events", receipt_events);
}

/* Loop thread: refuse what did not decode, hand the rest to the store. */
static void decode_done(struct lt_job *job)
{
	struct ingress *in = (struct ingress *)((char *)job - offsetof(struct ingress, job));
	struct lt_gateway *gw = in->gw;
	if (in->rc) {
		gw->http->pending--;
		if (in->rc == LT_EAUTH) {
			refuse_security(gw, in->req, in->peer, in->message_id, 401, "signature", in->err.msg, in->body,
					in->len);
		} else {
			int status = in->rc == LT_ESCHEMA ? 422 : 400;
			refuse(gw, in->req, in->peer, in->message_id, status,
			       in->rc == LT_ESCHEMA ? "schema" : "malformed", in->err.msg, 0);
		}
		ingress_free(in);
		return;
	}
	in->ing.now_ms = lt_now_ms();
	if (lt_store_submit(gw->store, &in->ing.op)) {
		gw->http->pending--;
		refuse(gw, in->req, in->peer, in->message_id, 503, "busy",
		       "the gateway has too many messages waiting to be stored; retry later", 2);
		ingress_free(in);
	}
}

static void handle_inbound(struct lt_gateway *gw, struct evhttp_request *req, const char *peer_name)
{
	const struct lt_peer *peer = lt_config_peer(gw->cfg, peer_name);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *mid = evhttp_find_header(h, "X-Message-Id");
	char detail[700];

	if (!peer) {
		snprintf(detail, sizeof detail, "no peer named \"%.64s\" is configured", peer_name);
		refuse(gw, req, NULL, mid, 404, "unknown_peer", detail, 0);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		refuse(gw, req, peer, mid, 405, "method_not_allowed", "only POST is accepted here", 0);
		return;
	}
	if (gw->cfg->tls) {
		char cn[128];
		lt_tls_client_cn(req, cn, sizeof cn);
		if (strcmp(cn, peer->identity)) {
			snprintf(detail, sizeof detail,
				 "client certificate CN=%.100s does not match peer %s (expected CN=%.100s)",
				 cn[0] ? cn : "(none)", peer->name, peer->identity);
			refuse_security(gw, req, peer, mid, 403, "forbidden", detail, NULL, 0);
			return;
		}
	}
	if ((size_t)lt_store_backlog(gw->store) >= gw->cfg->max_backlog) {
		snprintf(detail, sizeof detail, "the gateway holds %lld undelivered deliveries (max_backlog %zu); "
			 "nothing was kept, send it again later", (long long)lt_store_backlog(gw->store),
			 gw->cfg->max_backlog);
		refuse(gw, req, peer, mid, 503, "backlog_full", detail, 30);
		return;
	}
	if (gw->stopping) {
		refuse(gw, req, peer, mid, 503, "shutting_down", "the gateway is shutting down; send it again shortly", 5);
		return;
	}
	struct evbuffer *in_buf = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in_buf);
	if (len > gw->cfg->max_body || evhttp_request_get_response_code(req) == 413) {
		snprintf(detail, sizeof detail, "body of %zu bytes is over the limit of %zu bytes", len, gw->cfg->max_body);
		refuse(gw, req, peer, mid, 413, "too_large", detail, 0);
		return;
	}
	const char *ctype = evhttp_find_header(h, "Content-Type");
	if (!content_type_is(ctype, peer->adapter->content_type)) {
		snprintf(detail, sizeof detail, "Content-Type must be %s for peer %s (adapter %s), not %.64s",
			 peer->adapter->content_type, peer->name, peer->adapter->name, ctype ? ctype : "missing");
		refuse(gw, req, peer, mid, 415, "content_type", detail, 0);
		return;
	}
	if (!mid) {
		refuse(gw, req, peer, NULL, 400, "missing_message_id", "header X-Message-Id is required", 0);
		return;
	}
	if (!valid_message_id(mid)) {
		refuse(gw, req, peer, NULL, 400, "bad_message_id",
		       "header X-Message-Id must be 1-128 characters of A-Z a-z 0-9 . _ : -", 0);
		return;
	}

	struct ingress *in = calloc(1, sizeof *in);
	in->gw = gw;
	in->req = req;
	in->peer = peer;
	snprintf(in->message_id, sizeof in->message_id, "%s", mid);
	in->len = len;
	in->body = malloc(len + 1);
	evbuffer_copyout(in_buf, in->body, len);
	in->body[len] = '\0';
	const char *sig = evhttp_find_header(h, "X-Signature");
	in->signature = sig ? strdup(sig) : NULL;
	in->ing.op.kind = LT_OP_INGEST;
	in->ing.op.done = ingest_done;
	in->ing.peer = peer->name;
	in->ing.message_id = in->message_id;
	in->ing.unique_body = strcmp(peer->verify, "xmldsig") == 0;
	in->job.run = decode_run;
	in->job.done = decode_done;
	if (lt_pool_submit(gw->pool, &in->job)) {
		ingress_free(in);
		refuse(gw, req, peer, mid, 503, "busy", "the gateway has too many messages waiting to be checked; retry later", 2);
		return;
	}
	gw->http->pending++;
}

/* ---- connection guard -------------------------------------------------------------
 *
 * libevent 2.1's evhttp leaves three openings to a hostile client: its read timeout
 * starts again at every byte, so a head or body sent a byte at a time holds a
 * connection for hours; it has no server hook between a request's head and its body,
 * so a Content-Length over max_body is read (up to its own cap) before we see it; and
 * it answers an oversized head with an HTML page of its own, unlogged. So every peer
 * connection has a guard that
 *   - holds back the bytes of each request head until the head is complete and screens
 *     it (request line, head size, header lines, Content-Length against max_body,
 *     Transfer-Encoding) before evhttp reads a byte of it;
 *   - closes the connection when its request (TLS handshake, head and body) is not
 *     complete read_timeout after it began, however slowly the bytes come.
 * A refused head is replaced by a stand-in request of our own with "Connection: close",
 * so that the refusal goes out through evhttp as our JSON error, is logged like any
 * other, and the connection closes after it; what the client sends after it is dropped. */

#define LT_HTTP_MAX_REQUEST_LINE 8192   /* bytes; a longer request line gets 414 */
#define LT_HTTP_MAX_HEADER_LINES 100    /* header fields in one head; more get 431 */

static const char standin[] = "GET /v1/inbound/-refused HTTP/1.1\r\nConnection: close\r\n\r\n";

enum conn_state {
	CONN_HEAD,      /* reading a head: its bytes are held back from evhttp */
	CONN_BODY,      /* the head passed: evhttp reads the rest of the request */
	CONN_BUSY,      /* the request is complete and ours until its answer is sent */
	CONN_REFUSING,  /* the stand-in carries our refusal; whatever else comes is dropped */
};

struct conn {
	struct lt_http *h;
	struct bufferevent *bev;
	struct evhttp_connection *evcon;  /* NULL until attached */
	evutil_socket_t fd;
	enum conn_state state;
	int moving;                       /* our own moves in the input buffer are not news */
	int64_t began_ms;                 /* when the current request began; 0: none yet */
	struct event *deadline;           /* began_ms + read_timeout */
	struct event *kick;               /* soon: attach; later: screen held bytes again */
	struct evbuffer *held;            /* the head so far, not shown to evhttp yet */
	size_t scanned;                   /* bytes of held already split into lines */
	int lines;                        /* complete lines in held, the request line first */
	int status;                       /* the refusal the stand-in carries */
	char code[24];
	char peer[64];                    /* {peer} of /v1/inbound/{peer}, when it is a valid name */
	char detail[240];
	struct conn *prev, *next;
};

/* Client bytes quoted in a detail: printable ASCII only, cut to cap. */
static void quote_printable(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i = 0;
	for (; i < n && i + 1 < cap; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static void conn_arm(struct conn *c)
{
	int64_t left = c->began_ms + c->h->gw->cfg->read_timeout_ms - lt_now_ms();
	struct timeval tv = { 0, 0 };
	if (left > 0) {
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	}
	evtimer_add(c->deadline, &tv);
}

/* Replace what is held by the stand-in that carries this refusal. Returns 1: ready for evhttp. */
static int conn_refuse(struct conn *c, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int conn_refuse(struct conn *c, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof c->detail, fmt, ap);
	va_end(ap);
	c->status = status;
	snprintf(c->code, sizeof c->code, "%s", code);
	c->state = CONN_REFUSING;
	evbuffer_drain(c->held, evbuffer_get_length(c->held));
	evbuffer_add(c->held, standin, sizeof standin - 1);
	return 1;
}

/* Hand what is held to evhttp. Outside the bufferevent's own read (in_read = 0) the
 * input's end may be frozen (socket bufferevents) and evhttp must be told there is
 * something to read; that may answer or free the connection, so c may be gone after. */
static void conn_release(struct conn *c, int in_read)
{
	struct evbuffer *input = bufferevent_get_input(c->bev);
	c->moving = 1;
	if (evbuffer_add_buffer(input, c->held) < 0) {
		evbuffer_unfreeze(input, 0);
		evbuffer_add_buffer(input, c->held);
		evbuffer_freeze(input, 0);
	}
	c->moving = 0;
	c->scanned = 0;
	c->lines = 0;
	if (c->state == CONN_HEAD)
		c->state = CONN_BODY;
	if (!in_read)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
}

static int method_allowed(const char *m, size_t n)
{
	static const char *const allowed[] = { "POST", "GET", "PUT", "DELETE", "HEAD" };
	for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
		if (n == strlen(allowed[i]) && memcmp(m, allowed[i], n) == 0)
			return 1;
	return 0;
}

/* The head held[0..end) is complete: check what evhttp would otherwise take on
 * trust. Returns 1 (ready for evhttp: the head itself, or a stand-in). */
static int conn_check_head(struct conn *c, size_t end)
{
	const struct lt_config *cfg = c->h->gw->cfg;
	const char *p = (const char *)evbuffer_pullup(c->held, (ev_ssize_t)end), *e = p + end;
	char q[80];

	c->peer[0] = '\0';

	const char *nl = memchr(p, '\n', end);
	size_t rl = (size_t)(nl - p) - (nl > p && nl[-1] == '\r');
	const char *sp1 = memchr(p, ' ', rl), *sp2 = sp1 ? memchr(sp1 + 1, ' ', rl - (size_t)(sp1 + 1 - p)) : NULL;
	if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1 || sp1[1] != '/' ||
	    !((size_t)(p + rl - sp2 - 1) == 8 && (memcmp(sp2 + 1, "HTTP/1.1", 8) == 0 || memcmp(sp2 + 1, "HTTP/1.0", 8) == 0))) {
		quote_printable(q, 60, p, rl);
		return conn_refuse(c, 400, "bad_request", "malformed request line \"%s\": expected METHOD /path HTTP/1.1", q);
	}
	const char *target = sp1 + 1, *prefix = "/v1/inbound/";
	size_t tlen = (size_t)(sp2 - target), plen = strlen(prefix);
	if (tlen > plen && memcmp(target, prefix, plen) == 0) {
		size_t n = strcspn(target + plen, "?/ ");
		int ok = n < sizeof c->peer;
		for (size_t i = 0; ok && i < n; i++)
			ok = strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", target[plen + i]) != NULL;
		if (ok)
			snprintf(c->peer, sizeof c->peer, "%.*s", (int)n, target + plen);
	}
	if (!method_allowed(p, (size_t)(sp1 - p))) {
		quote_printable(q, 32, p, (size_t)(sp1 - p));
		return conn_refuse(c, 405, "method_not_allowed", "method %s is not allowed; peers POST to /v1/inbound/{peer}", q);
	}

	int have_cl = 0, have_te = 0, chunked = 0;
	unsigned long long cl = 0;
	for (const char *s = nl + 1; s < e;) {
		const char *t = memchr(s, '\n', (size_t)(e - s));
		size_t n = (size_t)(t - s) - (t > s && t[-1] == '\r');
		if (n == 0)
			break;
		if (*s == ' ' || *s == '\t')
			return conn_refuse(c, 400, "bad_request", "obsolete line folding in the request head is not accepted");
		const char *colon = memchr(s, ':', n);
		if (!colon || colon == s) {
			quote_printable(q, 40, s, n);
			return conn_refuse(c, 400, "bad_request", "header line \"%s\" has no field name and colon", q);
		}
		size_t kn = (size_t)(colon - s);
		const char *v = colon + 1, *ve = s + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (kn == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
			unsigned long long x = 0;
			const char *d = v;
			for (; d < ve && *d >= '0' && *d <= '9' && x <= 99999999999999ULL; d++)
				x = x * 10 + (unsigned)(*d - '0');
			if (d == v || d != ve || (have_cl && x != cl)) {
				quote_printable(q, 24, v, (size_t)(ve - v));
				return conn_refuse(c, 400, "bad_request", have_cl && d == ve ?
						   "conflicting Content-Length headers" :
						   "Content-Length \"%s\" is not a number of bytes", q);
			}
			have_cl = 1;
			cl = x;
		} else if (kn == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
			have_te = 1;
			chunked = (size_t)(ve - v) == 7 && strncasecmp(v, "chunked", 7) == 0;
			if (!chunked) {
				quote_printable(q, 40, v, (size_t)(ve - v));
				return conn_refuse(c, 400, "bad_request",
						   "Transfer-Encoding \"%s\" is not accepted (send Content-Length, or chunked)", q);
			}
		}
		s = t + 1;
	}
	if (have_cl && have_te)
		return conn_refuse(c, 400, "bad_request", "both Content-Length and Transfer-Encoding: send one of them");
	if (have_cl && cl > cfg->max_body)
		return conn_refuse(c, 413, "too_large", "Content-Length %llu is over the limit of %zu bytes (max_body); "
				   "the body was not read", cl, cfg->max_body);
	return 1;
}

/* Split what is held into lines until the head ends, refusing what breaks a limit.
 * Returns 1 when held is ready for evhttp, 0 while the head is incomplete. */
static int conn_screen(struct conn *c)
{
	const struct lt_config *cfg = c->h->gw->cfg;
	size_t len = evbuffer_get_length(c->held);
	for (;;) {
		struct evbuffer_ptr at;
		size_t eol = 0;
		if (evbuffer_ptr_set(c->held, &at, c->scanned, EVBUFFER_PTR_SET) < 0)
			break;
		struct evbuffer_ptr found = evbuffer_search_eol(c->held, &at, &eol, EVBUFFER_EOL_CRLF);
		if (found.pos < 0)
			break;
		size_t line = (size_t)found.pos - c->scanned;
		c->scanned = (size_t)found.pos + eol;
		if (c->lines++ == 0) {
			if (line > LT_HTTP_MAX_REQUEST_LINE)
				break;
			continue;
		}
		if (line == 0)
			return c->scanned > cfg->max_headers ? conn_refuse(c, 431, "headers_too_large",
				"the request head is %zu bytes, over the limit of %zu bytes (max_headers)",
				c->scanned, cfg->max_headers) : conn_check_head(c, c->scanned);
		if (c->lines > LT_HTTP_MAX_HEADER_LINES + 1)
			return conn_refuse(c, 431, "headers_too_large", "more than %d header lines in the request head",
					   LT_HTTP_MAX_HEADER_LINES);
	}
	size_t first = c->lines ? 0 : len;
	if (c->lines) {
		struct evbuffer_ptr at;
		evbuffer_ptr_set(c->held, &at, 0, EVBUFFER_PTR_SET);
		size_t eol = 0;
		struct evbuffer_ptr found = evbuffer_search_eol(c->held, &at, &eol, EVBUFFER_EOL_CRLF);
		first = found.pos < 0 ? len : (size_t)found.pos;
	}
	if (first > LT_HTTP_MAX_REQUEST_LINE)
		return conn_refuse(c, 414, "uri_too_long", "the request line is longer than %d bytes",
				   LT_HTTP_MAX_REQUEST_LINE);
	if (len > cfg->max_headers)
		return conn_refuse(c, 431, "headers_too_large",
				   "the request head is over the limit of %zu bytes (max_headers)", cfg->max_headers);
	return 0;
}

/* Every byte the client sends lands here before evhttp reads it. */
static void conn_input_cb(struct evbuffer *input, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (c->moving || info->n_added == 0)
		return;
	c->moving = 1;
	switch (c->state) {
	case CONN_BODY:
		break;
	case CONN_REFUSING: {
		/* keep the stand-in (if evhttp has not read it yet), drop the rest unread */
		size_t keep = evbuffer_get_length(input) - info->n_added;
		evbuffer_remove_buffer(input, c->held, keep);
		evbuffer_drain(input, info->n_added);
		evbuffer_add_buffer(input, c->held);
		break;
	}
	case CONN_BUSY:
		/* the next request, early: screened once this one is answered */
		evbuffer_add_buffer(c->held, input);
		break;
	case CONN_HEAD:
		if (!c->began_ms) {
			c->began_ms = lt_now_ms();
			conn_arm(c);
		}
		evbuffer_add_buffer(c->held, input);
		if (conn_screen(c)) {
			c->moving = 0;
			conn_release(c, 1);
			return;
		}
		break;
	}
	c->moving = 0;
}

static void conn_free(struct conn *c, int bev_alive)
{
	struct lt_http *h = c->h;
	if (bev_alive)
		evbuffer_remove_cb(bufferevent_get_input(c->bev), conn_input_cb, c);
	if (c->fd >= 0 && (size_t)c->fd < h->nfd && h->by_fd[c->fd] == c)
		h->by_fd[c->fd] = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	event_free(c->deadline);
	event_free(c->kick);
	evbuffer_free(c->held);
	free(c);
}

/* After a refusal the client may still be sending what we will not read: closing
 * at once would answer those bytes with a reset, which can destroy our answer
 * before the client reads it. So a duplicate of the socket (evhttp closes its
 * own) stops sending and drops what still comes until the client closes, for at
 * most read_timeout. */
struct linger_sock {
	struct lt_http *h;
	struct event *ev;
	evutil_socket_t fd;
	int64_t until_ms;
	struct linger_sock *prev, *next;
};

static void linger_free(struct linger_sock *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		l->h->lingering = l->next;
	if (l->next)
		l->next->prev = l->prev;
	event_free(l->ev);
	close(l->fd);
	free(l);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct linger_sock *l = arg;
	char drop[16384];
	ssize_t n = -1;
	errno = 0;
	for (int i = 0; (what & EV_READ) && i < 64 && (n = recv(fd, drop, sizeof drop, MSG_DONTWAIT)) > 0; i++)
		;
	if ((n > 0 || errno == EAGAIN || errno == EWOULDBLOCK) && !(what & EV_TIMEOUT) && lt_now_ms() < l->until_ms)
		return;
	linger_free(l);
}

static void linger_start(struct lt_http *h, evutil_socket_t fd)
{
	struct linger_sock *l = calloc(1, sizeof *l);
	if (!l || (l->fd = dup(fd)) < 0) {
		free(l);
		return;
	}
	shutdown(l->fd, SHUT_WR);
	l->h = h;
	l->until_ms = lt_now_ms() + h->gw->cfg->read_timeout_ms;
	struct timeval tv = { (time_t)(h->gw->cfg->read_timeout_ms / 1000),
			      (suseconds_t)(h->gw->cfg->read_timeout_ms % 1000) * 1000 };
	if (!(l->ev = event_new(h->gw->base, l->fd, EV_READ | EV_PERSIST, linger_cb, l)) || event_add(l->ev, &tv)) {
		if (l->ev)
			event_free(l->ev);
		close(l->fd);
		free(l);
		return;
	}
	l->next = h->lingering;
	if (h->lingering)
		h->lingering->prev = l;
	h->lingering = l;
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct conn *c = arg;
	if (c->state == CONN_REFUSING && c->fd >= 0)
		linger_start(c->h, c->fd);
	conn_free(c, 1);
}

/* The request (TLS handshake, head, body) took longer than read_timeout. A head
 * still being read is answered 408 through a stand-in; otherwise the connection
 * is closed as it is. */
static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	const struct lt_config *cfg = c->h->gw->cfg;
	if (!c->evcon || c->state == CONN_BUSY)
		return;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	int handshaking = ssl && !SSL_is_init_finished(ssl);
	long long took = (long long)(lt_now_ms() - c->began_ms);
	if (c->state == CONN_HEAD && !handshaking) {
		conn_refuse(c, 408, "read_timeout", "the request head was not complete %lld ms after it began "
			    "(read_timeout is %lld ms); the connection is closed", took, (long long)cfg->read_timeout_ms);
		c->began_ms = lt_now_ms();   /* a last read_timeout to take the answer */
		conn_arm(c);
		conn_release(c, 0);
		return;
	}
	lt_log(LT_WARN, "ingress.refused",
	       json_pack("{s:s?,s:i,s:s}", "peer", c->peer[0] ? c->peer : NULL, "status", 408, "error", "read_timeout"),
	       "closed a slow connection: %s was not complete %lld ms after it began (read_timeout is %lld ms)",
	       handshaking ? "the TLS handshake" : c->state == CONN_BODY ? "the request body" : "the answer to a refusal",
	       took, (long long)cfg->read_timeout_ms);
	evhttp_connection_free(c->evcon);   /* conn_closed frees c */
}

/* The evhttp connection exists once the accept callback that made the bufferevent
 * returns: learn it, and be told when it goes. */
static int conn_attach(struct conn *c)
{
	struct lt_http *h = c->h;
	void *evcon = NULL;
	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	c->evcon = evcon;
	c->fd = bufferevent_getfd(c->bev);
	if (!c->evcon || c->fd < 0)
		return LT_EINVAL;
	if ((size_t)c->fd >= h->nfd) {
		size_t n = h->nfd ? h->nfd : 64;
		while (n <= (size_t)c->fd)
			n *= 2;
		struct conn **t = realloc(h->by_fd, n * sizeof *t);
		if (!t)
			return LT_ENOMEM;
		memset(t + h->nfd, 0, (n - h->nfd) * sizeof *t);
		h->by_fd = t;
		h->nfd = n;
	}
	h->by_fd[c->fd] = c;
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	conn_arm(c);
	return LT_OK;
}

static void conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (!c->evcon) {
		if (conn_attach(c)) {
			/* cannot be found again: leave this connection to evhttp's own limits */
			c->evcon = NULL;
			c->fd = -1;
			conn_free(c, 1);
		}
		return;
	}
	if (c->state == CONN_HEAD && evbuffer_get_length(c->held) && conn_screen(c))
		conn_release(c, 0);
}

/* The answer went out and evhttp waits for the next request on this connection. */
static void conn_request_done(struct evhttp_request *req, void *arg)
{
	(void)req;
	struct conn *c = arg;
	struct evbuffer *input = bufferevent_get_input(c->bev);
	c->state = CONN_HEAD;
	c->began_ms = 0;
	c->peer[0] = '\0';
	c->moving = 1;
	evbuffer_prepend_buffer(c->held, input);   /* pipelined bytes are the next head */
	c->moving = 0;
	if (evbuffer_get_length(c->held)) {
		c->began_ms = lt_now_ms();
		conn_arm(c);
		event_active(c->kick, EV_TIMEOUT, 1);   /* once evhttp has its next request */
	}
}

static struct bufferevent *conn_bevcb(struct event_base *base, void *arg)
{
	struct lt_http *h = arg;
	const struct lt_security *sec = h->gw->sec;
	struct bufferevent *bev = sec && sec->server_ctx ? lt_tls_bevcb(base, (void *)sec)
						      : bufferevent_socket_new(base, -1, 0);
	struct conn *c = bev ? calloc(1, sizeof *c) : NULL;
	if (!c)
		return bev;
	c->h = h;
	c->bev = bev;
	c->fd = -1;
	c->began_ms = lt_now_ms();
	c->held = evbuffer_new();
	c->deadline = evtimer_new(base, conn_deadline_cb, c);
	c->kick = evtimer_new(base, conn_kick_cb, c);
	if (!c->held || !c->deadline || !c->kick || !evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, c)) {
		if (c->held)
			evbuffer_free(c->held);
		if (c->deadline)
			event_free(c->deadline);
		if (c->kick)
			event_free(c->kick);
		free(c);
		return bev;
	}
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	event_active(c->kick, EV_TIMEOUT, 1);
	return bev;
}

/* The guard of the connection a complete request came on; NULL for one without. */
static struct conn *conn_of(struct lt_http *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	struct conn *c = fd >= 0 && (size_t)fd < h->nfd ? h->by_fd[fd] : NULL;
	return c && c->evcon == evcon ? c : NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct lt_gateway *gw = arg;
	struct conn *c = conn_of(gw->http, req);
	if (c) {
		evtimer_del(c->deadline);   /* complete: ours until answered */
		c->began_ms = 0;
		if (c->state == CONN_REFUSING) {
			refuse(gw, req, c->peer[0] ? lt_config_peer(gw->cfg, c->peer) : NULL, NULL, c->status, c->code,
			       c->detail, 0);
			return;
		}
		c->state = CONN_BUSY;
		evhttp_request_set_on_complete_cb(req, conn_request_done, c);
	}
	const char *uri = evhttp_request_get_uri(req);
	const char *prefix = "/v1/inbound/";
	if (strncmp(uri, prefix, strlen(prefix)) == 0) {
		char peer[80];
		const char *p = uri + strlen(prefix);
		size_t n = strcspn(p, "?/");
		if (n == 0 || n >= sizeof peer || p[n] == '/') {
			lt_http_reply_error(req, 404, "not_found", "expected /v1/inbound/{peer}", 0);
			return;
		}
		memcpy(peer, p, n);
		peer[n] = '\0';
		handle_inbound(gw, req, peer);
		return;
	}
	lt_http_reply_error(req, 404, "not_found", "no such endpoint; peers post to /v1/inbound/{peer}", 0);
}

int lt_http_start(struct lt_gateway *gw, struct lt_err *err)
{
	char host[256];
	int port;
	if (lt_split_hostport(gw->cfg->listen, host, sizeof host, &port))
		return lt_err_set(err, LT_ECONFIG, "listen = %s: expected HOST:PORT", gw->cfg->listen);
	struct lt_http *h = calloc(1, sizeof *h);
	h->gw = gw;
	h->http = evhttp_new(gw->base);
	/* a Content-Length over max_body is refused by the guard before the body;
	 * a chunked body is counted by evhttp, which answers past its own limit
	 * with an HTML 413: give it room so that our JSON 413 is what peers
	 * normally get, while memory stays bounded by the hard cap. */
	evhttp_set_max_body_size(h->http, (ev_ssize_t)(gw->cfg->max_body * 4 + 65536));
	evhttp_set_max_headers_size(h->http, (ev_ssize_t)gw->cfg->max_headers);
	/* the guard cuts a request read_timeout after it began; evhttp's own timeout,
	 * a second later so the two never race, closes idle keep-alive connections
	 * and answers a client does not take */
	struct timeval idle = { (time_t)(gw->cfg->read_timeout_ms / 1000) + 1,
				(suseconds_t)(gw->cfg->read_timeout_ms % 1000) * 1000 };
	evhttp_set_timeout_tv(h->http, &idle);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_PUT |
					    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->http, on_request, gw);
	evhttp_set_bevcb(h->http, conn_bevcb, h);
	h->bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
	if (!h->bound) {
		evhttp_free(h->http);
		free(h);
		return lt_err_set(err, LT_EIO, "cannot listen on %s (address in use or not local?)", gw->cfg->listen);
	}
	lt_socket_nodelay(evhttp_bound_socket_get_fd(h->bound));
	gw->http = h;
	return LT_OK;
}

void lt_http_stop_accepting(struct lt_gateway *gw)
{
	if (gw->http && gw->http->bound) {
		evhttp_del_accept_socket(gw->http->http, gw->http->bound);
		gw->http->bound = NULL;
	}
}

int lt_http_pending(struct lt_gateway *gw)
{
	return gw->http ? gw->http->pending : 0;
}

void lt_http_free(struct lt_gateway *gw)
{
	if (!gw->http)
		return;
	evhttp_free(gw->http->http);   /* each connection's close callback frees its guard */
	while (gw->http->conns)
		conn_free(gw->http->conns, 0);
	while (gw->http->lingering)
		linger_free(gw->http->lingering);
	free(gw->http->by_fd);
	free(gw->http);
	gw->http = NULL;
}
