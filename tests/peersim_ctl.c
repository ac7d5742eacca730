/* peersim_ctl.c — the peer simulator's control API (paths under /_sim/, JSON in and out) and
 * the failure rules it keeps: which delivery fails, and how (status, delay, drop, reset, hang,
 * trickled body).  The routes are listed at ctl_routes[]. */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "peersim.h"

/* Every control handler gets the request, its JSON object body (NULL if empty) and query. */
#define CTL_ARGS struct evhttp_request *req, json_t *body UNUSED, struct evkeyvalq *q UNUSED

/* splitmix64: a uniform double in [0, 1) from *state. */
static double rng_unit(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

/* Free a rule's strings. */
static void rule_free(struct sim_rule *r)
{
	free(r->body);
	free(r->ctype);
	free(r->retry_after);
	free(r->path_prefix);
	sim_sign_free(&r->sign);
	memset(r, 0, sizeof *r);
}

/* Remove every rule (all) or those whose count has run out; the others keep their order. */
void sim_rules_prune(int all)
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
void sim_pick_outcome(const char *uri, struct sim_outcome *o)
{
	sim_rules_prune(0);
	*o = (struct sim_outcome){ .status = sim.dflt.status, .body = sim.dflt.body,
				   .ctype = sim.dflt.ctype, .sign = &sim.dflt.sign };
	for (size_t i = 0; i < sim.nrules; i++) {
		struct sim_rule *r = &sim.rules[i];

		if (r->path_prefix && strncmp(uri, r->path_prefix, strlen(r->path_prefix)) != 0)
			continue;
		if (r->share < 1.0 && rng_unit(&r->rng) >= r->share)
			continue;
		if (r->count > 0)
			r->count--;
		o->drop = r->drop;
		o->reset = r->reset;
		o->hang = r->hang;
		o->delay_ms = r->delay_ms;
		o->trickle_ms = r->trickle_ms;
		o->retry_after = r->retry_after;
		if (r->status)
			o->status = r->status;
		if (r->body)
			o->body = r->body;
		if (r->body || r->sign.how)
			o->sign = &r->sign;
		if (r->ctype)
			o->ctype = r->ctype;
		return;
	}
}

/* A "body"-like field: a string as is, any other JSON value as compact JSON text. */
static char *body_text(json_t *v)
{
	char *s;

	if (json_is_string(v))
		return sim_strdup(json_string_value(v));
	if (!(s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		sim_die("out of memory");
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
	*out = sim_strdup(json_string_value(v));
	return 0;
}

/* If o has key, it must be true or false: store it in *out.  Returns 0 or -1. */
static int get_bool(json_t *o, const char *key, int *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "\"%s\" must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* Check that the parts of rule r fit together.  Returns 0, or -1 with a sentence in err. */
static int rule_check(const struct sim_rule *r, char *err, size_t errlen)
{
	const char *silent = r->drop ? "drop" : r->reset ? "reset" : r->hang ? "hang" : NULL;

	if (!r->status && !r->delay_ms && !r->trickle_ms && !silent) {
		snprintf(err, errlen, "give at least one of \"status\", \"delay_ms\", \"trickle_ms\", "
			 "\"drop\", \"reset\" or \"hang\"");
		return -1;
	}
	if (r->drop + r->reset + r->hang > 1) {
		snprintf(err, errlen, "\"drop\", \"reset\" and \"hang\" exclude each other");
		return -1;
	}
	if (silent && (r->status || r->body || r->retry_after || r->trickle_ms)) {
		snprintf(err, errlen, "\"%s\" sends no answer: do not combine it with "
			 "\"status\", \"body\", \"retry_after\" or \"trickle_ms\"", silent);
		return -1;
	}
	if (r->hang && r->delay_ms) {
		snprintf(err, errlen, "\"hang\" waits for the client to leave: no \"delay_ms\"");
		return -1;
	}
	return 0;
}

/* Fill r from a /_sim/fail body.  Returns 0, or -1 with a sentence in err and r empty. */
static int rule_parse(json_t *o, struct sim_rule *r, char *err, size_t errlen)
{
	static const char *const keys[] = { "status", "body", "content_type", "retry_after",
		"delay_ms", "trickle_ms", "drop", "reset", "hang", "count", "share", "seed",
		"path_prefix", "sign", "sign_key", "sign_cert", "tamper", NULL };
	long status = 0, seed = 0x5eed;
	json_t *v;

	memset(r, 0, sizeof *r);
	r->count = -1;
	r->share = 1.0;
	if (check_keys(o, keys, err, errlen) < 0 ||
	    get_int(o, "status", 200, 599, &status, err, errlen) < 0 ||
	    get_int(o, "delay_ms", 0, SIM_MAX_DELAY, &r->delay_ms, err, errlen) < 0 ||
	    get_int(o, "trickle_ms", 0, SIM_MAX_DELAY, &r->trickle_ms, err, errlen) < 0 ||
	    get_int(o, "count", 1, LONG_MAX, &r->count, err, errlen) < 0 ||
	    get_int(o, "seed", LONG_MIN, LONG_MAX, &seed, err, errlen) < 0 ||
	    get_bool(o, "drop", &r->drop, err, errlen) < 0 ||
	    get_bool(o, "reset", &r->reset, err, errlen) < 0 ||
	    get_bool(o, "hang", &r->hang, err, errlen) < 0 ||
	    get_str(o, "content_type", &r->ctype, err, errlen) < 0 ||
	    get_str(o, "path_prefix", &r->path_prefix, err, errlen) < 0 ||
	    sim_sign_parse(o, &r->sign, err, errlen) < 0)
		goto fail;
	r->status = (int)status;
	r->rng = (uint64_t)seed;
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
	if (rule_check(r, err, errlen) < 0)
		goto fail;
	if (r->status >= 300 && !r->body) {
		char detail[300];

		snprintf(detail, sizeof detail, "peersim %s answers %d on purpose", sim.name,
			 r->status);
		v = json_pack("{s:s,s:s}", "error", "simulated", "detail", detail);
		r->body = body_text(v);
		json_decref(v);
		if (!r->ctype)
			r->ctype = sim_strdup(SIM_JSON);
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

	sim_rules_prune(0);
	if (!body)
		return sim_send_error(req, 400, "malformed", "POST a JSON object describing the rule");
	if (sim.nrules == SIM_MAX_RULES)
		return sim_send_error(req, 400, "too_many_rules", "at most 256 rules may be active");
	if (rule_parse(body, &sim.rules[sim.nrules], err, sizeof err) < 0)
		return sim_send_error(req, 400, "malformed", err);
	sim.nrules++;
	sim_send_json(req, 200, json_pack("{s:b,s:I}", "ok", 1, "rules", (json_int_t)sim.nrules));
}

/* POST /_sim/clear: remove every rule. */
static void ctl_clear(CTL_ARGS)
{
	sim_rules_prune(1);
	sim_send_json(req, 200, json_pack("{s:b,s:i}", "ok", 1, "rules", 0));
}

/* Copy reply a into *d, freeing what *d held. */
void sim_reply_set(struct sim_reply *d, const struct sim_reply *a)
{
	char *body = sim_strdup(a->body), *ctype = sim_strdup(a->ctype);
	struct sim_sign sign = { 0 };

	sim_sign_copy(&sign, &a->sign);
	free(d->body);
	free(d->ctype);
	sim_sign_free(&d->sign);
	*d = (struct sim_reply){ a->status, body, ctype, sign };
}

/* POST /_sim/reset: remove every rule, restore the command line's default reply and, with
 * {"records":true}, forget the records (seq starts again at 1). */
static void ctl_reset(CTL_ARGS)
{
	static const char *const keys[] = { "records", NULL };
	char err[256];

	if (body && check_keys(body, keys, err, sizeof err) < 0)
		return sim_send_error(req, 400, "malformed", err);
	sim_rules_prune(1);
	sim_reply_set(&sim.dflt, &sim.cli);
	if (body && json_is_true(json_object_get(body, "records")))
		sim_records_clear();
	sim_send_json(req, 200, json_pack("{s:b,s:i,s:I}", "ok", 1, "rules", 0,
					  "records", (json_int_t)sim.nrecs));
}

/* POST /_sim/reply: change the default answer (fields given replace the current ones; a new
 * body is unsigned unless "sign" comes with it). */
static void ctl_reply(CTL_ARGS)
{
	static const char *const keys[] = { "status", "body", "content_type", "sign", "sign_key",
					    "sign_cert", "tamper", NULL };
	struct sim_reply r = { sim.dflt.status, NULL, NULL, { 0 } };
	long status = r.status;
	char err[256];
	json_t *v;

	if (!body)
		return sim_send_error(req, 400, "malformed", "POST a JSON object with the new reply");
	if (check_keys(body, keys, err, sizeof err) < 0 ||
	    get_int(body, "status", 200, 599, &status, err, sizeof err) < 0 ||
	    get_str(body, "content_type", &r.ctype, err, sizeof err) < 0 ||
	    sim_sign_parse(body, &r.sign, err, sizeof err) < 0) {
		free(r.ctype);
		return sim_send_error(req, 400, "malformed", err);
	}
	r.status = (int)status;
	r.body = (v = json_object_get(body, "body")) ? body_text(v) : sim_strdup(sim.dflt.body);
	if (!r.sign.how && !v)
		sim_sign_copy(&r.sign, &sim.dflt.sign);
	if (!r.ctype)
		r.ctype = sim_strdup(sim.dflt.ctype);
	free(sim.dflt.body);
	free(sim.dflt.ctype);
	sim_sign_free(&sim.dflt.sign);
	sim.dflt = r;
	sim_send_json(req, 200, json_pack("{s:b,s:i,s:s,s:s,s:s?}", "ok", 1, "status", r.status,
					  "body", r.body, "content_type", r.ctype, "sign", r.sign.how));
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
		return sim_send_error(req, 400, "malformed", "since and limit must be integers >= 0");
	if (!(list = evbuffer_new()))
		sim_die("out of memory");
	for (size_t i = (size_t)since; i < sim.nrecs && n < limit; i++) {
		const struct sim_rec *r = &sim.recs[i];

		if (prefix && strncmp(r->path, prefix, plen) != 0)
			continue;
		if (n++)
			evbuffer_add(list, ",", 1);
		if (r->text)
			evbuffer_add(list, r->text, strlen(r->text));
		else
			json_dump_callback(r->live, sim_dump_to_evbuffer, list, JSON_COMPACT);
	}
	evbuffer_add_printf(out, "{\"count\":%ld,\"total\":%zu,\"records\":[", n, sim.nrecs);
	evbuffer_add_buffer(out, list);
	evbuffer_add(out, "]}", 2);
	evbuffer_free(list);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", SIM_JSON);
	evhttp_send_reply(req, 200, NULL, NULL);
}

/* GET /_sim/count: {"count":N,"pending":P,"by_status":{"200":n,...,"0":no answer},
 * "inflight":I,"max_inflight":M}: I deliveries wait for their answer with the client still
 * connected now, M at most at once since start or the last records reset. */
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
	sim_send_json(req, 200, json_pack("{s:I,s:I,s:o,s:I,s:I}", "count", (json_int_t)sim.nrecs,
					  "pending", (json_int_t)sim.npending, "by_status", by,
					  "inflight", (json_int_t)sim.inflight,
					  "max_inflight", (json_int_t)sim.max_inflight));
}

/* GET /_sim/health: {"ok":true,"name":NAME}. */
static void ctl_health(CTL_ARGS)
{
	sim_send_json(req, 200, json_pack("{s:b,s:s}", "ok", 1, "name", sim.name));
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
void sim_control(struct evhttp_request *req)
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
		return sim_send_error(req, 404, "not_found", "no such control endpoint under /_sim/");
	if (evhttp_request_get_command(req) != r->method)
		return sim_send_error(req, 405, "method", r->method == EVHTTP_REQ_GET ?
				      "use GET" : "use POST");
	if (evhttp_parse_query_str(query ? query : "", &q) < 0)
		return sim_send_error(req, 400, "malformed", "the query string cannot be parsed");
	if (n) {
		body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, &jerr);
		if (!body || !json_is_object(body)) {
			char detail[300];

			snprintf(detail, sizeof detail, "the body must be a JSON object: %s",
				 body ? "got another JSON value" : jerr.text);
			sim_send_error(req, 400, "malformed", detail);
			goto done;
		}
	}
	r->fn(req, body, &q);
done:
	json_decref(body);
	evhttp_clear_headers(&q);
}
