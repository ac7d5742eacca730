/* peersim_rec.c — the peer simulator's deliveries: each one is recorded, then answered as the
 * failure rules say — at once, after a delay, with a body trickled out in pieces, or not at all
 * (connection closed, connection reset, or held until the client gives up).
 *
 * In flight: a delivery counts from its arrival until its answer is out (or refused), or until
 * its client leaves.  Clients that leave are seen by peeking at the sockets of deliveries that
 * wait (sim_rec_start's timer, and before counting each new arrival, so a client that timed out
 * and opened a new connection is never counted twice). */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "peersim.h"

#define TRICKLE_PIECES 10       /* a trickled body goes out in at most this many pieces */
#define REAP_MS 50              /* how often waiting deliveries are checked for a client gone */

/* A delivery whose answer waits (delay, hang, trickle); owns copies of its outcome's strings. */
struct sim_pending {
	struct sim_pending *prev, *next;
	struct evhttp_request *req;
	struct event *timer;
	json_t *rec;           /* one reference */
	unsigned gen;          /* sim.gen when received; stale after a records reset */
	int gone;              /* the client left before the answer was complete */
	int started;           /* trickle: the status line and headers are out */
	size_t pieces_out;     /* trickle: body pieces out so far */
	struct sim_outcome o;
	char *body, *ctype, *retry_after, *signature;
};

/* Base64 of p[0..n) as a new JSON string. */
static json_t *base64_string(const unsigned char *p, size_t n)
{
	char *b = malloc(4 * ((n + 2) / 3) + 1);
	json_t *s;

	if (!b)
		sim_die("out of memory");
	EVP_EncodeBlock((unsigned char *)b, p, (int)n);
	s = json_string(b);
	free(b);
	return s;
}

/* A header value as a JSON string; bytes that are not valid UTF-8 become '?'. */
static json_t *header_string(const char *v)
{
	json_t *s = json_stringn(v, strlen(v));
	char *c;

	if (s)
		return s;
	c = sim_strdup(v);
	for (char *p = c; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	s = json_string(c);
	free(c);
	return s;
}

/* Request headers as {lower-cased name: value}; repeated headers are joined with ", ". */
static json_t *headers_json(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	json_t *h = json_object();

	for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
		char *key = sim_strdup(kv->key);
		json_t *old;

		for (char *p = key; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p += 'a' - 'A';
		old = json_object_get(h, key);
		if (old) {
			char *joined;

			if (asprintf(&joined, "%s, %s", json_string_value(old), kv->value) < 0)
				sim_die("out of memory");
			json_object_set_new(h, key, header_string(joined));
			free(joined);
		} else {
			json_object_set_new(h, key, header_string(kv->value));
		}
		free(key);
	}
	return h;
}

/* Add client_cn and client_verified to rec from the TLS peer certificate, null without one. */
static void record_client(struct evhttp_request *req, json_t *rec)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *cert = NULL;
	char cn[256];

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
#else
	cert = ssl ? SSL_get_peer_certificate(ssl) : NULL;
#endif
	if (cert && X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
					      cn, sizeof cn) >= 0)
		json_object_set_new(rec, "client_cn", header_string(cn));
	else
		json_object_set_new(rec, "client_cn", json_null());
	json_object_set_new(rec, "client_verified",
			    cert ? json_boolean(SSL_get_verify_result(ssl) == X509_V_OK) : json_null());
	X509_free(cert);
}

/* Build the record of a delivery (status null until answered) and append it to sim.recs,
 * which owns it; the returned pointer is borrowed and valid until record_done(). */
static json_t *record_add(struct evhttp_request *req, const char *uri)
{
	static const char *const methods[] = { "GET", "POST", "HEAD", "PUT", "DELETE",
					       "OPTIONS", "TRACE", "CONNECT", "PATCH" };
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const char *p = n ? (const char *)evbuffer_pullup(in, -1) : "";
	const char *method = "OTHER";
	json_t *rec = json_object(), *body;

	for (unsigned i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if ((unsigned)cmd == (1u << i))
			method = methods[i];
	if (sim.nrecs == sim.caprecs) {
		sim.caprecs = sim.caprecs ? 2 * sim.caprecs : 1024;
		if (!(sim.recs = realloc(sim.recs, sim.caprecs * sizeof *sim.recs)))
			sim_die("out of memory");
	}
	json_object_set_new(rec, "seq", json_integer((json_int_t)sim.nrecs + 1));
	json_object_set_new(rec, "at_ms", json_integer(sim_now_ms()));
	json_object_set_new(rec, "method", json_string(method));
	json_object_set_new(rec, "path", header_string(uri));
	json_object_set_new(rec, "headers", headers_json(req));
	body = json_stringn(p, n);
	json_object_set_new(rec, "body", body ? body : json_null());
	if (!body)
		json_object_set_new(rec, "body_b64", base64_string((const unsigned char *)p, n));
	json_object_set_new(rec, "body_len", json_integer((json_int_t)n));
	json_object_set_new(rec, "status", json_null());
	record_client(req, rec);
	sim.recs[sim.nrecs++] = (struct sim_rec){ rec, NULL, sim_strdup(uri) };
	sim.npending++;
	return rec;
}

/* Forget every record; answers still pending for them are no longer counted. */
void sim_records_clear(void)
{
	for (size_t i = 0; i < sim.nrecs; i++) {
		json_decref(sim.recs[i].live);
		free(sim.recs[i].text);
		free(sim.recs[i].path);
	}
	sim.nrecs = 0;
	sim.gen++;
	sim.npending = 0;
	sim.max_inflight = sim.inflight;
	memset(sim.by_status, 0, sizeof sim.by_status);
}

/* A delivery arrived: count it in flight and note the count in its record. */
static void inflight_begin(json_t *rec)
{
	if (++sim.inflight > sim.max_inflight)
		sim.max_inflight = sim.inflight;
	json_object_set_new(rec, "inflight", json_integer((json_int_t)sim.inflight));
}

/* A delivery's answer is out, or its client left. */
static void inflight_end(void)
{
	if (sim.inflight > 0)
		sim.inflight--;
}

/* Complete the record of a delivery: status (0: no answer), answered_ms, the JSONL line and,
 * unless the records were reset since (gen), the counters and the stored text, which replaces
 * the JSON.  rec is gone afterwards unless the caller holds a reference. */
static void record_done(json_t *rec, int status, unsigned gen)
{
	struct sim_rec *r;
	char *text;

	json_object_set_new(rec, "status", json_integer(status));
	json_object_set_new(rec, "answered_ms", json_integer(sim_now_ms()));
	if (!(text = json_dumps(rec, JSON_COMPACT)))
		sim_die("out of memory");
	if (sim.record) {
		fputs(text, sim.record);
		fputc('\n', sim.record);
		fflush(sim.record);
	}
	if (gen != sim.gen) {
		free(text);
		return;
	}
	r = &sim.recs[json_integer_value(json_object_get(rec, "seq")) - 1];
	sim.npending--;
	sim.by_status[status]++;
	r->text = text;
	json_decref(r->live);
	r->live = NULL;
}

/* The socket under req, or -1 once libevent has let go of its connection. */
static evutil_socket_t request_fd(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;

	return bev ? bufferevent_getfd(bev) : -1;
}

/* Close req's connection without an answer.  The socket is shut down first so the client sees
 * an empty reply; the reply then fails to write and libevent frees the connection and req on
 * its own error path, which is safe from any callback. */
static void drop_connection(struct evhttp_request *req)
{
	evutil_socket_t fd = request_fd(req);

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	evhttp_send_reply(req, 500, NULL, NULL);
}

/* Reset req's connection (RST, no answer).  The socket is swapped under libevent for an
 * unconnected one (dup2): the real one is closed at once with SO_LINGER 0, which sends a reset
 * and no FIN; the reply then fails to write on the stand-in and libevent frees the connection
 * and req on its own error path, as for drop_connection(). */
static void reset_connection(struct evhttp_request *req)
{
	evutil_socket_t fd = request_fd(req);
	struct linger lg = { 1, 0 };
	int stand_in;

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0 &&
	    (stand_in = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
		if (dup2(stand_in, fd) < 0)
			shutdown(fd, SHUT_RDWR);
		close(stand_in);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	evhttp_send_reply(req, 500, NULL, NULL);
}

/* The headers of an answer as o says. */
static void answer_headers(struct evhttp_request *req, const struct sim_outcome *o)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", o->ctype);
	if (o->retry_after)
		evhttp_add_header(h, "Retry-After", o->retry_after);
	if (o->signature)
		evhttp_add_header(h, "X-Signature", o->signature);
}

/* Answer (or drop, or reset) a delivery at once as o says and complete its record.  req and
 * (unless the caller holds a reference) rec are gone afterwards. */
static void answer(struct evhttp_request *req, json_t *rec, const struct sim_outcome *o,
		   unsigned gen)
{
	if (o->drop) {
		drop_connection(req);
	} else if (o->reset) {
		reset_connection(req);
	} else {
		answer_headers(req, o);
		evbuffer_add(evhttp_request_get_output_buffer(req), o->body, strlen(o->body));
		evhttp_send_reply(req, o->status, NULL, NULL);
	}
	record_done(rec, o->drop || o->reset ? 0 : o->status, gen);
}

/* Unlink p from the pending list and free it (not its request). */
static void pending_free(struct sim_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		sim.pend = p->next;
	if (p->next)
		p->next->prev = p->prev;
	event_free(p->timer);
	json_decref(p->rec);
	free(p->body);
	free(p->ctype);
	free(p->retry_after);
	free(p->signature);
	free(p);
}

/* The delivery of p is over (answered, or its client left while it hung): stop counting it
 * and free p. */
static void pending_end(struct sim_pending *p)
{
	if (!p->gone)
		inflight_end();
	pending_free(p);
}

/* The next step of a trickled answer: the status line and headers (with the length) first,
 * then one piece of the body per step, spread over trickle_ms; the last piece ends it.  A
 * client that left meanwhile gets the rest into the void: libevent drops the writes. */
static void trickle_step(struct sim_pending *p)
{
	size_t len = strlen(p->o.body);
	size_t pieces = len < TRICKLE_PIECES ? len : TRICKLE_PIECES;
	long every = pieces ? p->o.trickle_ms / (long)pieces : 0;
	struct timeval tv = { every / 1000, (every % 1000) * 1000 };

	if (!p->started) {
		char n[32];

		answer_headers(p->req, &p->o);
		snprintf(n, sizeof n, "%zu", len);
		evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Length", n);
		evhttp_send_reply_start(p->req, p->o.status, NULL);
		p->started = 1;
	} else {
		size_t from = len * p->pieces_out / pieces, to = len * (p->pieces_out + 1) / pieces;
		struct evbuffer *piece = evbuffer_new();

		if (!piece)
			sim_die("out of memory");
		evbuffer_add(piece, p->o.body + from, to - from);
		evhttp_send_reply_chunk(p->req, piece);
		evbuffer_free(piece);
		p->pieces_out++;
	}
	if (p->pieces_out < pieces) {
		evtimer_add(p->timer, &tv);
		return;
	}
	evhttp_send_reply_end(p->req);
	record_done(p->rec, p->o.status, p->gen);
	pending_end(p);
}

/* Timer callback: the delay of a pending delivery is over, or its next trickle step is due. */
static void pending_fire(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct sim_pending *p = arg;

	if (p->o.trickle_ms > 0) {
		trickle_step(p);
		return;
	}
	answer(p->req, p->rec, &p->o, p->gen);
	pending_end(p);
}

/* Hold req for o->delay_ms (for ever with o->hang, until its client leaves) then answer it as
 * o says; other requests keep flowing. */
static void pending_start(struct evhttp_request *req, json_t *rec, const struct sim_outcome *o)
{
	struct sim_pending *p = calloc(1, sizeof *p);
	struct timeval tv = { o->delay_ms / 1000, (o->delay_ms % 1000) * 1000 };

	if (!p || !(p->timer = evtimer_new(sim.base, pending_fire, p)))
		sim_die("out of memory");
	p->req = req;
	p->rec = json_incref(rec);
	p->gen = sim.gen;
	p->o = *o;
	p->o.body = p->body = sim_strdup(o->body);
	p->o.ctype = p->ctype = sim_strdup(o->ctype);
	p->o.retry_after = p->retry_after = sim_strdup(o->retry_after);
	p->o.signature = p->signature = sim_strdup(o->signature);
	p->next = sim.pend;
	if (sim.pend)
		sim.pend->prev = p;
	sim.pend = p;
	if (!o->hang)
		evtimer_add(p->timer, &tv);
}

/* 1 if the client of req has left: libevent let go of the connection, or the socket has
 * something to read while the client should be waiting for its answer — curl ends a timed-out
 * exchange with a TLS close_notify and a FIN, and no client of peersim pipelines requests. */
static int client_left(struct evhttp_request *req)
{
	evutil_socket_t fd = request_fd(req);
	char b;

	if (fd < 0)
		return 1;
	if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
		return 1;
	return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* Look at every waiting delivery whose client is still counted: one that left stops counting
 * and its record says when; a hanging one ends there, unanswered (status 0). */
static void reap(void)
{
	struct sim_pending *p = sim.pend, *next;

	for (; p; p = next) {
		next = p->next;
		if (p->gone || !client_left(p->req))
			continue;
		p->gone = 1;
		inflight_end();
		json_object_set_new(p->rec, "client_gone_ms", json_integer(sim_now_ms()));
		if (p->o.hang) {
			drop_connection(p->req);
			record_done(p->rec, 0, p->gen);
			pending_free(p);
		}
	}
}

static void on_reap_timer(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	reap();
}

void sim_rec_start(void)
{
	struct timeval tv = { 0, REAP_MS * 1000 };

	if (!(sim.reaper = event_new(sim.base, -1, EV_PERSIST, on_reap_timer, NULL)) ||
	    event_add(sim.reaper, &tv) < 0)
		sim_die("cannot start the watch on waiting deliveries");
}

void sim_deliver(struct evhttp_request *req, const char *uri)
{
	json_t *rec;
	struct sim_outcome o;
	char *body = NULL, *signature = NULL, err[300];

	reap();
	rec = record_add(req, uri);
	inflight_begin(rec);
	sim_pick_outcome(uri, &o);
	if (!o.drop && !o.reset && !o.hang) {
		if (sim_answer_make(req, &o, &body, &signature, err, sizeof err) < 0) {
			fprintf(stderr, "peersim %s: %s\n", sim.name, err);
			o = (struct sim_outcome){ .status = 500, .body = err, .ctype = "text/plain" };
		} else {
			o.body = body;
			o.signature = signature;
		}
	}
	if (o.delay_ms > 0 || o.hang || o.trickle_ms > 0)
		pending_start(req, rec, &o);
	else
		answer(req, rec, &o, sim.gen);
	free(body);
	free(signature);
	if (!(o.delay_ms > 0 || o.hang || o.trickle_ms > 0))
		inflight_end();
}

void sim_rec_stop(void)
{
	while (sim.pend) {
		if (sim.pend->started)
			evhttp_send_reply_end(sim.pend->req);
		else
			evhttp_send_error(sim.pend->req, 503, "shutting down");
		pending_free(sim.pend);
	}
	if (sim.reaper)
		event_free(sim.reaper);
	sim.reaper = NULL;
	sim_records_clear();
	free(sim.recs);
	sim.recs = NULL;
}
