/* http.c — ingress: size limits, peer lookup, decode, route, then a durable
 * commit before the 202. Every refusal is answered with a JSON error naming
 * its reason and logged as one line; a refused request stores nothing.
 * Each connection's bytes pass the guard of http_guard.c first (head
 * screening, per-request deadline); the heads it refuses are answered here. */
#include "http.h"
#include "http_guard.h"
#include "adapter.h"
#include "answer.h"
#include "deliverable.h"
#include "events.h"
#include "log.h"
#include "pool.h"
#include "replay.h"
#include "security.h"
#include "sign_jws.h"
#include "verify_xml.h"
#include "store.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct lt_http {
	struct lt_gateway *gw;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	int pending;
	struct lt_guard *guard;     /* every peer connection's guard (http_guard.c) */
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
	char kid[64];               /* and its kid */
	char client_cn[128];        /* CN of its TLS client certificate ("" with tls = off) */
	struct lt_security *sec;    /* the generation it is checked with (a reference) */
	json_t *wants;              /* dossiers whose stored state its events need (deliverable.h) */
	struct lt_deliverable dv;   /* that read */
};

static void ingress_free(struct ingress *in)
{
	json_decref(in->ing.events);
	json_decref(in->ing.routes);
	json_decref(in->ing.receipt);
	free(in->ing.receipt_text);
	json_decref(in->ing.original);
	json_decref(in->wants);
	lt_deliverable_release(&in->dv);
	free(in->body);
	free(in->signature);
	lt_security_free(in->sec);
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
	char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	lt_http_reply_text(req, status, s ? s : "{}", s ? strlen(s) : 2, retry_after_s);
	free(s);
}

void lt_http_reply_text(struct evhttp_request *req, int status, const char *json, size_t len, int retry_after_s)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "application/json");
	if (retry_after_s > 0) {
		char v[16];
		snprintf(v, sizeof v, "%d", retry_after_s);
		evhttp_add_header(h, "Retry-After", v);
	}
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, json, len);
	evbuffer_add(out, "\n", 1);
	static const char *const reasons[] = { [200] = "OK", [202] = "Accepted", [400] = "Bad Request",
					       [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
					       [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
					       [413] = "Payload Too Large", [414] = "URI Too Long",
					       [415] = "Unsupported Media Type", [421] = "Misdirected Request",
					       [422] = "Unprocessable Entity",
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
	int64_t p;
	if (lt_parse_int64(colon + 1, 1, 65535, &p, NULL))
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
		lt_counters(gw, peer)->messages_in[lt_answer_slot(status)]++;
	lt_http_reply_error(req, status, code, detail, retry_after);
}

static void refusal_done(struct lt_store_op *op)
{
	free(op);
}

/* A refusal recorded in the store (peer, reason, body digest) — nothing
 * else is kept — logged as one line `what` ("security.refused"). */
static void refuse_stored(struct lt_gateway *gw, struct evhttp_request *req, const struct lt_peer *peer,
			  const char *message_id, int status, const char *code, const char *detail,
			  const char *body, size_t len, const char *what)
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
	lt_log(LT_WARN, what,
	       json_pack("{s:s,s:s?,s:i,s:s,s:s}", "peer", peer->name, "message_id", message_id, "status", status,
			 "error", code, "body_sha256", r->digest),
	       "refused: %s", detail);
	if (lt_store_submit(gw->store, &r->op))
		free(r);
	lt_counters(gw, peer)->messages_in[lt_answer_slot(status)]++;
	lt_http_reply_error(req, status, code, detail, 0);
}

/* A security refusal (401/403): one "security.refused" line, and its record. */
static void refuse_security(struct lt_gateway *gw, struct evhttp_request *req, const struct lt_peer *peer,
			    const char *message_id, int status, const char *code, const char *detail,
			    const char *body, size_t len)
{
	refuse_stored(gw, req, peer, message_id, status, code, detail, body, len, "security.refused");
}

/* A message that cannot be delivered (422): one "ingress.refused" line, and its record. */
static void refuse_recorded(struct lt_gateway *gw, struct evhttp_request *req, const struct lt_peer *peer,
			    const char *message_id, int status, const char *code, const char *detail,
			    const char *body, size_t len)
{
	refuse_stored(gw, req, peer, message_id, status, code, detail, body, len, "ingress.refused");
}

_Static_assert(sizeof ((struct lt_ingest *)0)->signed_id == LT_SIGNED_ID_MAX, "room for a signed identity");

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
	struct lt_peer_counters *pc = lt_counters(gw, in->peer);
	gw->http->pending--;
	if (op->rc == LT_ECONFLICT && in->ing.replay) {
		refuse_security(gw, in->req, in->peer, in->message_id, 409, "conflict", op->err.msg, in->body, in->len);
	} else if (op->rc == LT_ECONFLICT) {
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
		lt_events_stored(gw, in->peer, in->message_id, in->ing.events, in->ing.routes, "event stored and queued");
		pc->messages_in[lt_answer_slot(202)]++;
		lt_http_reply_text(in->req, 202, in->ing.receipt_text, strlen(in->ing.receipt_text), 0);
	}
	ingress_free(in);
}

/* Worker thread: the signature is checked before any content is decoded.
 * JWS: the detached signature over the exact body, its jti equal to the
 * X-Message-Id, its iat inside the replay window. XML: the enveloped
 * signature, then the signed time and identity its kind carries
 * (replay.c); the store then refuses a signed content or identity already
 * received under another message id. */
static int verify_signature(struct ingress *in)
{
	const struct lt_peer *peer = in->peer;
	const struct lt_peer_security *ps = &in->sec->peers[peer->index];
	int64_t now = lt_now_ms();
	int64_t window = in->sec->cfg->replay_window_ms;
	if (strcmp(peer->verify, "none") && !ps->jws_keys && !ps->xml_trust)
		return lt_err_set(&in->err, LT_EAUTH, "signer certificate not accepted for peer %s: it has no keys "
				  "(it is not configured to send signed messages)", peer->name);
	if (strcmp(peer->verify, "jws") == 0) {
		struct lt_jws_info info;
		int rc = lt_jws_verify(ps->jws_keys, in->signature, in->body, in->len, now / 1000, &info, &in->err);
		if (rc)
			return LT_EAUTH;
		snprintf(in->signer, sizeof in->signer, "%s", info.signer_cn);
		snprintf(in->kid, sizeof in->kid, "%s", info.kid);
		if (strcmp(info.jti, in->message_id))
			return lt_err_set(&in->err, LT_EAUTH, "jti \"%.64s\" of the signature does not match X-Message-Id",
					  info.jti);
		/* iat is any integer the signer chose: nothing is computed from it before its range is known */
		if (!lt_within_window(info.iat, now, window))
			return info.iat < -LT_TIME_MAX_S || info.iat > LT_TIME_MAX_S ?
				lt_err_set(&in->err, LT_EAUTH, "timestamp out of window: iat %lld is out of range (unix "
					   "seconds up to the year 9999), the window is %lld s", (long long)info.iat,
					   (long long)(window / 1000)) :
				lt_err_set(&in->err, LT_EAUTH,
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
		snprintf(in->kid, sizeof in->kid, "%s", info.signer_kid);
		int rc = lt_replay_bind_xml(peer, doc, in->message_id, now, window, in->ing.signed_id, &in->err);
		xmlFreeDoc(doc);
		if (rc)
			return rc;
		snprintf(in->ing.signed_digest, sizeof in->ing.signed_digest, "%s", info.content_sha256);
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
	if (strcmp(peer->verify, "none"))       /* for its audit row and the trail */
		lt_trust_signature(in->ing.trust, peer->verify, in->kid, in->signer);
	else
		lt_trust_client(in->ing.trust, in->client_cn);
	size_t at;
	int max_depth = in->sec->cfg->max_json_depth;
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
	in->ing.routes = lt_events_stamp(in->sec->cfg, peer->name, events);
	in->wants = lt_deliverable_wants(in->sec->cfg, events, in->ing.routes);
	lt_sha256_hex(in->body, in->len, in->ing.digest);
	json_t *receipt_events = json_array();
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev)
		json_array_append_new(receipt_events,
				      json_pack("{s:O,s:O,s:O,s:O}", "event_id", json_object_get(ev, "event_id"),
						"type", json_object_get(ev, "type"), "dossier_code",
						json_object_get(ev, "dossier_code"), "routed_to",
						json_array_get(in->ing.routes, i)));
	in->ing.receipt = json_pack("{s:s,s:s,s:s,s:o}", "status", "accepted", "message_id", in->message_id,
				    "peer", peer->name, "events", receipt_events);
	/* serialised once, here: the store keeps these bytes and the 202 answers with them */
	in->ing.receipt_text = json_dumps(in->ing.receipt, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!in->ing.receipt_text)
		in->rc = lt_err_set(&in->err, LT_ENOMEM, "out of memory serialising the receipt");
}

static void deliverable_done(struct lt_deliverable *dv);
static void ingest_submit(struct ingress *in);

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
	if (in->wants) {        /* something a destination needs: from the dossier's stored state */
		in->dv.done = deliverable_done;
		in->dv.arg = in;
		json_t *codes = in->wants;
		in->wants = NULL;
		if (!lt_deliverable_read(gw->store, &in->dv, codes))
			return;
		gw->http->pending--;
		refuse(gw, in->req, in->peer, in->message_id, 503, "busy",
		       "the gateway has too many messages waiting to be stored; retry later", 2);
		ingress_free(in);
		return;
	}
	ingest_submit(in);
}

/* Loop thread: the events were completed from the dossier view (or not). */
static void deliverable_done(struct lt_deliverable *dv)
{
	struct ingress *in = dv->arg;
	struct lt_gateway *gw = in->gw;
	struct lt_err err = { 0 };
	int rc = dv->read.op.rc ? dv->read.op.rc
				: lt_deliverable_fill(in->sec->cfg, in->ing.events, in->ing.routes, dv->read.facts, &err);
	if (rc) {
		gw->http->pending--;
		if (rc == LT_ESCHEMA)
			refuse_recorded(gw, in->req, in->peer, in->message_id, 422, "undeliverable", err.msg, in->body, in->len);
		else
			refuse(gw, in->req, in->peer, in->message_id, 503, "store_unavailable",
			       "the gateway could not read the dossier's state; nothing was kept, send it again", 5);
		ingress_free(in);
		return;
	}
	ingest_submit(in);
}

static void ingest_submit(struct ingress *in)
{
	struct lt_gateway *gw = in->gw;
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
	char cn[128] = "";
	if (gw->cfg->tls) {
		lt_tls_client_cn(req, cn, sizeof cn);
		if (strcmp(cn, peer->identity)) {
			snprintf(detail, sizeof detail,
				 "client certificate CN=%.100s does not match peer %s (expected CN=%.100s)",
				 cn[0] ? cn : "(none)", peer->name, peer->identity);
			refuse_security(gw, req, peer, mid, 403, "forbidden", detail, NULL, 0);
			return;
		}
		struct lt_err rev = { 0 };
		if (lt_tls_client_revoked(gw->sec, peer->index, req, &rev)) {
			snprintf(detail, sizeof detail, "client certificate not accepted for peer %s: %s", peer->name,
				 rev.msg);
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
	in->sec = lt_security_ref(gw->sec);
	snprintf(in->message_id, sizeof in->message_id, "%s", mid);
	snprintf(in->client_cn, sizeof in->client_cn, "%s", cn);
	in->len = len;
	in->body = malloc(len + 1);
	evbuffer_copyout(in_buf, in->body, len);
	in->body[len] = '\0';
	const char *sig = evhttp_find_header(h, "X-Signature");
	in->signature = sig ? strdup(sig) : NULL;
	if (sig)
		lt_sha256_hex(sig, strlen(sig), in->ing.sig_sha256);
	in->ing.op.kind = LT_OP_INGEST;
	in->ing.op.done = ingest_done;
	in->ing.peer = peer->name;
	in->ing.message_id = in->message_id;
	in->job.run = decode_run;
	in->job.done = decode_done;
	if (lt_pool_submit(gw->pool, &in->job)) {
		ingress_free(in);
		refuse(gw, req, peer, mid, 503, "busy", "the gateway has too many messages waiting to be checked; retry later", 2);
		return;
	}
	gw->http->pending++;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct lt_gateway *gw = arg;
	struct lt_guard_refusal r;
	if (lt_guard_request(gw->http->guard, req, &r)) {
		refuse(gw, req, r.peer ? lt_config_peer(gw->cfg, r.peer) : NULL, NULL, r.status, r.code, r.detail, 0);
		return;
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

void lt_http_reconfigure(struct lt_gateway *gw)
{
	struct lt_http *h = gw->http;
	if (!h || !h->http)
		return;
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
}

int lt_http_start(struct lt_gateway *gw, struct lt_err *err)
{
	char host[256];
	int port;
	if (lt_split_hostport(gw->cfg->listen, host, sizeof host, &port))
		return lt_err_set(err, LT_ECONFIG, "listen = %s: expected HOST:PORT", gw->cfg->listen);
	struct lt_http *h = calloc(1, sizeof *h);
	h->gw = gw;
	if (!(h->guard = lt_guard_new(gw))) {
		free(h);
		return lt_err_set(err, LT_ENOMEM, "out of memory for the peer listener");
	}
	h->http = evhttp_new(gw->base);
	gw->http = h;
	lt_http_reconfigure(gw);        /* its limits and timeouts */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_PUT |
					    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->http, on_request, gw);
	evhttp_set_bevcb(h->http, lt_guard_bevcb, h->guard);
	h->bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
	if (!h->bound) {
		evhttp_free(h->http);
		lt_guard_free(h->guard);
		free(h);
		gw->http = NULL;
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
	lt_guard_free(gw->http->guard);
	free(gw->http);
	gw->http = NULL;
}
