/* peersim.c — the peer simulator used by lienthong's integration tests, demo and benchmark.
 *
 * A real HTTP/HTTPS server (libevent evhttp, one thread) that records every delivery and fails
 * on demand.  Paths under /_sim/ are the control API (JSON in and out); every other request is
 * a delivery: it is recorded in memory (and as one JSONL line in --record once answered) and
 * answered with the default reply, or as the first active failure rule that matches says.
 * Run `peersim --help` for the command line; the control API is listed at ctl_routes[]. */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define SIM_MAX_BODY    (16u << 20)
#define SIM_MAX_HEADERS (64u << 10)
#define SIM_MAX_RULES   256
#define SIM_MAX_DELAY   3600000L
#define SIM_JSON        "application/json"
#define UNUSED          __attribute__((unused))
/* Every control handler gets the request, its JSON object body (NULL if empty) and query. */
#define CTL_ARGS struct evhttp_request *req, json_t *body UNUSED, struct evkeyvalq *q UNUSED

/* The answer given when no rule applies. */
struct sim_reply {
	int status;
	char *body, *ctype;
};

/* One failure rule from POST /_sim/fail; owns its strings. */
struct sim_rule {
	int status;            /* 0: keep the default reply's status */
	int drop;              /* close the connection without an answer */
	long delay_ms;
	long count;            /* applications left; -1 = until cleared */
	double share;          /* chance to apply to a matching delivery; 1 = always */
	uint64_t rng;          /* splitmix64 state, seeded from "seed" */
	char *body, *ctype, *retry_after, *path_prefix;
};

/* How one delivery is answered.  Strings are borrowed (from a rule, the default reply or a
 * struct sim_pending) and must outlive the answer. */
struct sim_outcome {
	int status, drop;
	long delay_ms;
	const char *body, *ctype, *retry_after;
};

/* One delivery: its JSON while the answer is pending, its compact JSON text once answered. */
struct sim_rec {
	json_t *live;
	char *text;
	char *path;
};

/* A delivery whose answer waits on a timer; owns copies of its outcome's strings. */
struct sim_pending {
	struct sim_pending *prev, *next;
	struct evhttp_request *req;
	struct event *timer;
	json_t *rec;           /* one reference */
	unsigned gen;          /* sim.gen when received; stale after a records reset */
	struct sim_outcome o;
	char *body, *ctype, *retry_after;
};

static struct {
	const char *name;
	struct event_base *base;
	struct evhttp *http, *ctl;
	SSL_CTX *ssl;
	FILE *record;
	struct sim_reply dflt, cli;     /* the current default reply; the command line's */
	struct sim_rule rules[SIM_MAX_RULES];
	size_t nrules;
	struct sim_rec *recs;           /* recs[i] has seq i + 1 */
	size_t nrecs, caprecs;
	unsigned gen;
	long by_status[600];
	long npending;
	struct sim_pending *pend;
} sim;

/* Print a message and exit 2; for start-up mistakes and out-of-memory. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "peersim: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* strdup that dies on out-of-memory; NULL in, NULL out. */
static char *xstrdup(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		die("out of memory");
	return d;
}

/* Wall-clock milliseconds since the epoch. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: a uniform double in [0, 1) from *state. */
static double rng_unit(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

/* json_dump_callback sink appending to an evbuffer. */
static int dump_to_evbuffer(const char *buf, size_t size, void *data)
{
	return evbuffer_add(data, buf, size);
}

/* Answer req with code and the JSON j (reference stolen). */
static void send_json(struct evhttp_request *req, int code, json_t *j)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	json_dump_callback(j, dump_to_evbuffer, out, JSON_COMPACT);
	json_decref(j);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", SIM_JSON);
	evhttp_send_reply(req, code, NULL, NULL);
}

/* Answer req with code and {"error":error,"detail":detail}. */
static void send_error(struct evhttp_request *req, int code, const char *error, const char *detail)
{
	send_json(req, code, json_pack("{s:s,s:s}", "error", error, "detail", detail));
}

/* Base64 of p[0..n) as a new JSON string. */
static json_t *base64_string(const unsigned char *p, size_t n)
{
	char *b = malloc(4 * ((n + 2) / 3) + 1);
	json_t *s;

	if (!b)
		die("out of memory");
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
	c = xstrdup(v);
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
		char *key = xstrdup(kv->key);
		json_t *old;

		for (char *p = key; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p += 'a' - 'A';
		old = json_object_get(h, key);
		if (old) {
			char *joined;

			if (asprintf(&joined, "%s, %s", json_string_value(old), kv->value) < 0)
				die("out of memory");
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
 * which owns it; the returned pointer is borrowed and valid until answer(). */
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
			die("out of memory");
	}
	json_object_set_new(rec, "seq", json_integer((json_int_t)sim.nrecs + 1));
	json_object_set_new(rec, "at_ms", json_integer(now_ms()));
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
	sim.recs[sim.nrecs++] = (struct sim_rec){ rec, NULL, xstrdup(uri) };
	sim.npending++;
	return rec;
}

/* Forget every record; answers still pending for them are no longer counted. */
static void records_clear(void)
{
	for (size_t i = 0; i < sim.nrecs; i++) {
		json_decref(sim.recs[i].live);
		free(sim.recs[i].text);
		free(sim.recs[i].path);
	}
	sim.nrecs = 0;
	sim.gen++;
	sim.npending = 0;
	memset(sim.by_status, 0, sizeof sim.by_status);
}

/* Free a rule's strings. */
static void rule_free(struct sim_rule *r)
{
	free(r->body);
	free(r->ctype);
	free(r->retry_after);
	free(r->path_prefix);
	memset(r, 0, sizeof *r);
}

/* Remove every rule (all) or those whose count has run out; the others keep their order. */
static void rules_prune(int all)
{
	size_t j = 0;

	for (size_t i = 0; i < sim.nrules; i++) {
		if (all || sim.rules[i].count == 0)
			rule_free(&sim.rules[i]);
		else
			sim.rules[j++] = sim.rules[i];
	}
	sim.nrules = j;
}

/* Choose the answer for a delivery to uri: the first rule that matches (path prefix, share
 * roll) and has count left, else the default reply.  Consumes one count of that rule. */
static void pick_outcome(const char *uri, struct sim_outcome *o)
{
	rules_prune(0);
	*o = (struct sim_outcome){ .status = sim.dflt.status, .body = sim.dflt.body,
				   .ctype = sim.dflt.ctype };
	for (size_t i = 0; i < sim.nrules; i++) {
		struct sim_rule *r = &sim.rules[i];

		if (r->path_prefix && strncmp(uri, r->path_prefix, strlen(r->path_prefix)) != 0)
			continue;
		if (r->share < 1.0 && rng_unit(&r->rng) >= r->share)
			continue;
		if (r->count > 0)
			r->count--;
		o->drop = r->drop;
		o->delay_ms = r->delay_ms;
		o->retry_after = r->retry_after;
		if (r->status)
			o->status = r->status;
		if (r->body)
			o->body = r->body;
		if (r->ctype)
			o->ctype = r->ctype;
		return;
	}
}

/* Close req's connection without an answer.  The socket is shut down first so the client sees
 * an empty reply; the reply then fails to write and libevent frees the connection and req on
 * its own error path, which is safe from any callback. */
static void drop_connection(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	evhttp_send_reply(req, 500, NULL, NULL);
}

/* Answer (or drop) a delivery as o says and complete its record: status, answered_ms, the
 * JSONL line and, unless the records were reset since (gen), the counters and the stored
 * text, which replaces the JSON.  req and (unless the caller holds a reference) rec are gone
 * afterwards. */
static void answer(struct evhttp_request *req, json_t *rec, const struct sim_outcome *o,
		   unsigned gen)
{
	int status = o->drop ? 0 : o->status;
	struct sim_rec *r;
	char *text;

	if (o->drop) {
		drop_connection(req);
	} else {
		struct evkeyvalq *h = evhttp_request_get_output_headers(req);

		evhttp_add_header(h, "Content-Type", o->ctype);
		if (o->retry_after)
			evhttp_add_header(h, "Retry-After", o->retry_after);
		evbuffer_add(evhttp_request_get_output_buffer(req), o->body, strlen(o->body));
		evhttp_send_reply(req, status, NULL, NULL);
	}
	json_object_set_new(rec, "status", json_integer(status));
	json_object_set_new(rec, "answered_ms", json_integer(now_ms()));
	if (!(text = json_dumps(rec, JSON_COMPACT)))
		die("out of memory");
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
	free(p);
}

/* Timer callback: the delay of a pending delivery is over; answer it. */
static void pending_fire(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct sim_pending *p = arg;

	answer(p->req, p->rec, &p->o, p->gen);
	pending_free(p);
}

/* Hold req for o->delay_ms then answer it as o says; other requests keep flowing. */
static void pending_start(struct evhttp_request *req, json_t *rec, const struct sim_outcome *o)
{
	struct sim_pending *p = calloc(1, sizeof *p);
	struct timeval tv = { o->delay_ms / 1000, (o->delay_ms % 1000) * 1000 };

	if (!p || !(p->timer = evtimer_new(sim.base, pending_fire, p)))
		die("out of memory");
	p->req = req;
	p->rec = json_incref(rec);
	p->gen = sim.gen;
	p->o = *o;
	p->o.body = p->body = xstrdup(o->body);
	p->o.ctype = p->ctype = xstrdup(o->ctype);
	p->o.retry_after = p->retry_after = xstrdup(o->retry_after);
	p->next = sim.pend;
	if (sim.pend)
		sim.pend->prev = p;
	sim.pend = p;
	evtimer_add(p->timer, &tv);
}

/* A delivery: record it, then answer now or after the chosen delay. */
static void on_delivery(struct evhttp_request *req, const char *uri)
{
	json_t *rec = record_add(req, uri);
	struct sim_outcome o;

	pick_outcome(uri, &o);
	if (o.delay_ms > 0)
		pending_start(req, rec, &o);
	else
		answer(req, rec, &o, sim.gen);
}

/* A "body"-like field: a string as is, any other JSON value as compact JSON text. */
static char *body_text(json_t *v)
{
	char *s;

	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (!(s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		die("out of memory");
	return s;
}

/* 0 if every key of o is in the NULL-terminated list keys, else -1 naming the first other. */
static int check_keys(json_t *o, const char *const *keys, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		const char *const *p = keys;

		while (*p && strcmp(*p, k) != 0)
			p++;
		if (!*p) {
			snprintf(err, errlen, "unknown field \"%s\"", k);
			return -1;
		}
	}
	return 0;
}

/* If o has key, it must be an integer in [min, max]: store it in *out.  Returns 0 or -1. */
static int get_int(json_t *o, const char *key, long min, long max, long *out,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "\"%s\" must be an integer from %ld to %ld", key, min, max);
		return -1;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

/* If o has key, it must be a string: store a copy in *out.  Returns 0 or -1. */
static int get_str(json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* Fill r from a /_sim/fail body.  Returns 0, or -1 with a sentence in err and r empty. */
static int rule_parse(json_t *o, struct sim_rule *r, char *err, size_t errlen)
{
	static const char *const keys[] = { "status", "body", "content_type", "retry_after",
		"delay_ms", "drop", "count", "share", "seed", "path_prefix", NULL };
	long status = 0, seed = 0x5eed;
	json_t *v;

	memset(r, 0, sizeof *r);
	r->count = -1;
	r->share = 1.0;
	if (check_keys(o, keys, err, errlen) < 0 ||
	    get_int(o, "status", 200, 599, &status, err, errlen) < 0 ||
	    get_int(o, "delay_ms", 0, SIM_MAX_DELAY, &r->delay_ms, err, errlen) < 0 ||
	    get_int(o, "count", 1, LONG_MAX, &r->count, err, errlen) < 0 ||
	    get_int(o, "seed", LONG_MIN, LONG_MAX, &seed, err, errlen) < 0 ||
	    get_str(o, "content_type", &r->ctype, err, errlen) < 0 ||
	    get_str(o, "path_prefix", &r->path_prefix, err, errlen) < 0)
		goto fail;
	r->status = (int)status;
	r->rng = (uint64_t)seed;
	if ((v = json_object_get(o, "drop"))) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "\"drop\" must be true or false");
			goto fail;
		}
		r->drop = json_is_true(v);
	}
	if ((v = json_object_get(o, "share"))) {
		if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
			snprintf(err, errlen, "\"share\" must be a number from 0 to 1");
			goto fail;
		}
		r->share = json_number_value(v);
	}
	if ((v = json_object_get(o, "retry_after"))) {
		if (!json_is_string(v) && !json_is_integer(v)) {
			snprintf(err, errlen, "\"retry_after\" must be a string or an integer");
			goto fail;
		}
		r->retry_after = body_text(v);
	}
	if ((v = json_object_get(o, "body")))
		r->body = body_text(v);
	if (!r->status && !r->delay_ms && !r->drop) {
		snprintf(err, errlen, "give at least one of \"status\", \"delay_ms\" or \"drop\"");
		goto fail;
	}
	if (r->drop && (r->status || r->body || r->retry_after)) {
		snprintf(err, errlen, "\"drop\" sends no answer: do not combine it with "
			 "\"status\", \"body\" or \"retry_after\"");
		goto fail;
	}
	if (r->status >= 300 && !r->body) {
		char detail[300];

		snprintf(detail, sizeof detail, "peersim %s answers %d on purpose", sim.name,
			 r->status);
		v = json_pack("{s:s,s:s}", "error", "simulated", "detail", detail);
		r->body = body_text(v);
		json_decref(v);
		if (!r->ctype)
			r->ctype = xstrdup(SIM_JSON);
	}
	return 0;
fail:
	rule_free(r);
	return -1;
}

/* POST /_sim/fail: add a failure rule after the others. */
static void ctl_fail(CTL_ARGS)
{
	char err[256];

	rules_prune(0);
	if (!body)
		return send_error(req, 400, "malformed", "POST a JSON object describing the rule");
	if (sim.nrules == SIM_MAX_RULES)
		return send_error(req, 400, "too_many_rules", "at most 256 rules may be active");
	if (rule_parse(body, &sim.rules[sim.nrules], err, sizeof err) < 0)
		return send_error(req, 400, "malformed", err);
	sim.nrules++;
	send_json(req, 200, json_pack("{s:b,s:I}", "ok", 1, "rules", (json_int_t)sim.nrules));
}

/* POST /_sim/clear: remove every rule. */
static void ctl_clear(CTL_ARGS)
{
	rules_prune(1);
	send_json(req, 200, json_pack("{s:b,s:i}", "ok", 1, "rules", 0));
}

/* Copy reply a into *d, freeing what *d held. */
static void reply_set(struct sim_reply *d, const struct sim_reply *a)
{
	char *body = xstrdup(a->body), *ctype = xstrdup(a->ctype);

	free(d->body);
	free(d->ctype);
	*d = (struct sim_reply){ a->status, body, ctype };
}

/* POST /_sim/reset: remove every rule, restore the command line's default reply and, with
 * {"records":true}, forget the records (seq starts again at 1). */
static void ctl_reset(CTL_ARGS)
{
	static const char *const keys[] = { "records", NULL };
	char err[256];

	if (body && check_keys(body, keys, err, sizeof err) < 0)
		return send_error(req, 400, "malformed", err);
	rules_prune(1);
	reply_set(&sim.dflt, &sim.cli);
	if (body && json_is_true(json_object_get(body, "records")))
		records_clear();
	send_json(req, 200, json_pack("{s:b,s:i,s:I}", "ok", 1, "rules", 0,
				      "records", (json_int_t)sim.nrecs));
}

/* POST /_sim/reply: change the default answer (fields given replace the current ones). */
static void ctl_reply(CTL_ARGS)
{
	static const char *const keys[] = { "status", "body", "content_type", NULL };
	struct sim_reply r = { sim.dflt.status, NULL, NULL };
	long status = r.status;
	char err[256];
	json_t *v;

	if (!body)
		return send_error(req, 400, "malformed", "POST a JSON object with the new reply");
	if (check_keys(body, keys, err, sizeof err) < 0 ||
	    get_int(body, "status", 200, 599, &status, err, sizeof err) < 0 ||
	    get_str(body, "content_type", &r.ctype, err, sizeof err) < 0)
		return send_error(req, 400, "malformed", err);
	r.status = (int)status;
	r.body = (v = json_object_get(body, "body")) ? body_text(v) : xstrdup(sim.dflt.body);
	if (!r.ctype)
		r.ctype = xstrdup(sim.dflt.ctype);
	free(sim.dflt.body);
	free(sim.dflt.ctype);
	sim.dflt = r;
	send_json(req, 200, json_pack("{s:b,s:i,s:s,s:s}", "ok", 1, "status", r.status,
				      "body", r.body, "content_type", r.ctype));
}

/* Parse query parameter key as a non-negative integer into *out (unchanged if absent).
 * Returns 0 or -1. */
static int query_uint(struct evkeyvalq *q, const char *key, long *out)
{
	const char *v = evhttp_find_header(q, key);
	char *end;
	long n;

	if (!v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 0)
		return -1;
	*out = n;
	return 0;
}

/* GET /_sim/received[?since=K][&path_prefix=P][&limit=L]: records with seq > K, oldest
 * first, as {"count":<returned>,"total":<all>,"records":[...]}. */
static void ctl_received(CTL_ARGS)
{
	const char *prefix = evhttp_find_header(q, "path_prefix");
	size_t plen = prefix ? strlen(prefix) : 0;
	long since = 0, limit = LONG_MAX, n = 0;
	struct evbuffer *out = evhttp_request_get_output_buffer(req), *list;

	if (query_uint(q, "since", &since) < 0 || query_uint(q, "limit", &limit) < 0)
		return send_error(req, 400, "malformed", "since and limit must be integers >= 0");
	if (!(list = evbuffer_new()))
		die("out of memory");
	for (size_t i = (size_t)since; i < sim.nrecs && n < limit; i++) {
		const struct sim_rec *r = &sim.recs[i];

		if (prefix && strncmp(r->path, prefix, plen) != 0)
			continue;
		if (n++)
			evbuffer_add(list, ",", 1);
		if (r->text)
			evbuffer_add(list, r->text, strlen(r->text));
		else
			json_dump_callback(r->live, dump_to_evbuffer, list, JSON_COMPACT);
	}
	evbuffer_add_printf(out, "{\"count\":%ld,\"total\":%zu,\"records\":[", n, sim.nrecs);
	evbuffer_add_buffer(out, list);
	evbuffer_add(out, "]}", 2);
	evbuffer_free(list);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", SIM_JSON);
	evhttp_send_reply(req, 200, NULL, NULL);
}

/* GET /_sim/count: {"count":N,"pending":P,"by_status":{"200":n,...,"0":dropped}}. */
static void ctl_count(CTL_ARGS)
{
	json_t *by = json_object();

	for (int s = 0; s < 600; s++) {
		char key[16];

		if (!sim.by_status[s])
			continue;
		snprintf(key, sizeof key, "%d", s);
		json_object_set_new(by, key, json_integer(sim.by_status[s]));
	}
	send_json(req, 200, json_pack("{s:I,s:I,s:o}", "count", (json_int_t)sim.nrecs,
				      "pending", (json_int_t)sim.npending, "by_status", by));
}

/* GET /_sim/health: {"ok":true,"name":NAME}. */
static void ctl_health(CTL_ARGS)
{
	send_json(req, 200, json_pack("{s:b,s:s}", "ok", 1, "name", sim.name));
}

/* The control API: path, method, handler.  POST bodies are JSON objects (may be empty). */
static const struct ctl_route {
	const char *path;
	enum evhttp_cmd_type method;
	void (*fn)(struct evhttp_request *, json_t *, struct evkeyvalq *);
} ctl_routes[] = {
	{ "/_sim/fail",     EVHTTP_REQ_POST, ctl_fail },
	{ "/_sim/clear",    EVHTTP_REQ_POST, ctl_clear },
	{ "/_sim/reset",    EVHTTP_REQ_POST, ctl_reset },
	{ "/_sim/reply",    EVHTTP_REQ_POST, ctl_reply },
	{ "/_sim/received", EVHTTP_REQ_GET,  ctl_received },
	{ "/_sim/count",    EVHTTP_REQ_GET,  ctl_count },
	{ "/_sim/health",   EVHTTP_REQ_GET,  ctl_health },
};

/* A /_sim/ request: route it, parse its JSON body and query, run the handler. */
static void on_control(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const struct ctl_route *r = NULL;
	struct evkeyvalq q = { 0 };
	json_t *body = NULL;
	json_error_t jerr;

	for (size_t i = 0; i < sizeof ctl_routes / sizeof ctl_routes[0]; i++)
		if (path && strcmp(path, ctl_routes[i].path) == 0)
			r = &ctl_routes[i];
	if (!r)
		return send_error(req, 404, "not_found", "no such control endpoint under /_sim/");
	if (evhttp_request_get_command(req) != r->method)
		return send_error(req, 405, "method", r->method == EVHTTP_REQ_GET ?
				  "use GET" : "use POST");
	if (evhttp_parse_query_str(query ? query : "", &q) < 0)
		return send_error(req, 400, "malformed", "the query string cannot be parsed");
	if (n) {
		body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, &jerr);
		if (!body || !json_is_object(body)) {
			char detail[300];

			snprintf(detail, sizeof detail, "the body must be a JSON object: %s",
				 body ? "got another JSON value" : jerr.text);
			send_error(req, 400, "malformed", detail);
			goto done;
		}
	}
	r->fn(req, body, &q);
done:
	json_decref(body);
	evhttp_clear_headers(&q);
}

/* evhttp callback for both listeners; arg is non-NULL on the control listener, which serves
 * only /_sim/. */
static void on_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);

	if (strncmp(uri, "/_sim/", 6) == 0)
		on_control(req);
	else if (arg)
		send_error(req, 404, "not_found", "the control listener serves only /_sim/");
	else
		on_delivery(req, uri);
}

/* Verify callback when client certificates are optional: accept any (or none); the record's
 * client_verified says whether it chained to --ca. */
static int verify_any(int ok UNUSED, X509_STORE_CTX *ctx UNUSED)
{
	return 1;
}

/* evhttp bevcb: a TLS server bufferevent for each new connection (arg is the SSL_CTX). */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	else
		SSL_free(ssl);
	return bev;
}

/* Build the server TLS context (TLS 1.2+); always asks for a client certificate, which is
 * required and checked against ca only when require is set. */
static SSL_CTX *tls_new(const char *cert, const char *key, const char *ca, int require)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		die("cannot create a TLS context");
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		die("cannot load certificate %s", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		die("cannot load key %s or it does not match %s", key, cert);
	if (ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);

		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 || !names)
			die("cannot load CA bundle %s", ca);
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"peersim", 7);
	if (require)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_any);
	return ctx;
}

/* Create an evhttp with peersim's limits, bound to spec ("HOST:PORT" or "[V6]:PORT"); returns
 * it and stores the bound port in *port.  Dies on failure. */
static struct evhttp *listen_on(const char *spec, int *port, void *arg)
{
	char host[256], *portstr;
	struct evutil_addrinfo hints = { 0 }, *ai = NULL;
	struct evconnlistener *l;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	struct evhttp *http;
	int rc;

	if (snprintf(host, sizeof host, "%s", spec) >= (int)sizeof host ||
	    !(portstr = strrchr(host, ':')))
		die("listen address \"%s\" is not HOST:PORT", spec);
	*portstr++ = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 2 || host[n - 1] != ']')
			die("listen address \"%s\": unbalanced [", spec);
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	if ((rc = evutil_getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai)) != 0)
		die("listen address \"%s\": %s", spec, evutil_gai_strerror(rc));
	l = evconnlistener_new_bind(sim.base, NULL, NULL,
				    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    1024, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!l)
		die("cannot listen on %s: %s", spec, strerror(errno));
	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &slen) < 0)
		die("getsockname: %s", strerror(errno));
	/* accepted sockets inherit it: answers are not held back by Nagle */
	int one = 1;
	setsockopt(evconnlistener_get_fd(l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	if (!(http = evhttp_new(sim.base)) || !evhttp_bind_listener(http, l))
		die("cannot start HTTP on %s", spec);
	evhttp_set_max_body_size(http, SIM_MAX_BODY);
	evhttp_set_max_headers_size(http, SIM_MAX_HEADERS);
	evhttp_set_timeout(http, 120);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, on_request, arg);
	return http;
}

/* Write {"listen":P,"control":Q,"tls":B,"pid":N} to path atomically (temp file + rename). */
static void write_port_file(const char *path, int port, int ctl_port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "w")))
		die("cannot write %s: %s", tmp, strerror(errno));
	fprintf(f, "{\"listen\":%d,\"control\":%d,\"tls\":%s,\"pid\":%ld}\n", port, ctl_port,
		sim.ssl ? "true" : "false", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* SIGTERM/SIGINT: leave the loop; main() then cleans up and exits 0. */
static void on_signal(evutil_socket_t sig UNUSED, short what UNUSED, void *arg UNUSED)
{
	event_base_loopexit(sim.base, NULL);
}

/* Print the command line summary to f. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: peersim --listen HOST:PORT [--control HOST:PORT] [--name NAME]\n"
		"               [--tls-cert PEM --tls-key PEM [--ca PEM] [--require-client-cert]]\n"
		"               [--record FILE.jsonl] [--reply-status N] [--reply-body JSON]\n"
		"               [--reply-content-type T] [--port-file FILE]\n"
		"PORT 0 picks a free port (see --port-file). Control API under /_sim/.\n");
}

/* The command line, as given. */
struct sim_opts {
	const char *listen, *control, *cert, *key, *ca, *record, *port_file;
	const char *status, *body, *ctype;
	int require;
};

/* Fill o from argv and check that the options fit together; dies with usage on a mistake. */
static void parse_args(int argc, char **argv, struct sim_opts *o)
{
	const struct { const char *flag, **dst; } opts[] = {
		{ "--listen", &o->listen }, { "--control", &o->control }, { "--name", &sim.name },
		{ "--tls-cert", &o->cert }, { "--tls-key", &o->key }, { "--ca", &o->ca },
		{ "--record", &o->record }, { "--port-file", &o->port_file },
		{ "--reply-status", &o->status }, { "--reply-body", &o->body },
		{ "--reply-content-type", &o->ctype },
	};
	char *end;
	long st;

	for (int i = 1; i < argc; i++) {
		size_t k = 0;

		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(argv[i], "--require-client-cert")) {
			o->require = 1;
			continue;
		}
		while (k < sizeof opts / sizeof opts[0] && strcmp(argv[i], opts[k].flag) != 0)
			k++;
		if (k == sizeof opts / sizeof opts[0] || i + 1 == argc) {
			usage(stderr);
			die("%s %s", argv[i], i + 1 == argc ? "needs a value" : "is not an option");
		}
		*opts[k].dst = argv[++i];
	}
	if (!o->listen) {
		usage(stderr);
		die("--listen is required");
	}
	if (!o->cert != !o->key)
		die("--tls-cert and --tls-key go together");
	if ((o->ca || o->require) && !o->cert)
		die("--ca and --require-client-cert need --tls-cert and --tls-key");
	if (o->require && !o->ca)
		die("--require-client-cert needs --ca to check client certificates against");
	st = o->status ? strtol(o->status, &end, 10) : 200;
	if (o->status && (*end || st < 200 || st > 599))
		die("--reply-status must be from 200 to 599");
	sim.cli = (struct sim_reply){ (int)st, xstrdup(o->body ? o->body : "{\"status\":\"ok\"}"),
				      xstrdup(o->ctype ? o->ctype : SIM_JSON) };
}

int main(int argc, char **argv)
{
	struct sim_opts o = { 0 };
	int port = 0, ctl_port = 0;
	struct event *sigterm, *sigint;

	sim.name = "peer";
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	reply_set(&sim.dflt, &sim.cli);
	if (o.record && !(sim.record = fopen(o.record, "a")))
		die("cannot open %s: %s", o.record, strerror(errno));
	if (!(sim.base = event_base_new()))
		die("cannot create the event loop");
	if (o.cert)
		sim.ssl = tls_new(o.cert, o.key, o.ca, o.require);
	sim.http = listen_on(o.listen, &port, NULL);
	if (sim.ssl)
		evhttp_set_bevcb(sim.http, tls_bev, sim.ssl);
	ctl_port = port;
	if (o.control)
		sim.ctl = listen_on(o.control, &ctl_port, &sim);
	sigterm = evsignal_new(sim.base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(sim.base, SIGINT, on_signal, NULL);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
		die("cannot watch signals");
	if (o.port_file)
		write_port_file(o.port_file, port, ctl_port);
	fprintf(stderr, "peersim %s listening on %s (port %d, %s%s), control port %d\n",
		sim.name, o.listen, port, sim.ssl ? "https" : "http",
		o.require ? ", client certificates required" : "", ctl_port);
	event_base_dispatch(sim.base);

	/* Answer what still waits so libevent frees every request with its connection. */
	while (sim.pend) {
		evhttp_send_error(sim.pend->req, 503, "shutting down");
		pending_free(sim.pend);
	}
	evhttp_free(sim.http);
	if (sim.ctl)
		evhttp_free(sim.ctl);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(sim.base);
	rules_prune(1);
	records_clear();
	free(sim.recs);
	free(sim.dflt.body);
	free(sim.dflt.ctype);
	free(sim.cli.body);
	free(sim.cli.ctype);
	SSL_CTX_free(sim.ssl);
	if (sim.record)
		fclose(sim.record);
	fprintf(stderr, "peersim %s stopped\n", sim.name);
	return 0;
}
