/* mapped.c — the `mapped` adapter: a JSON peer's dialect described by a
 * mapping file instead of C (mapped.h; the format in mappings/README.md): the set
 * of mapping files in use, and the adapter's decode, encode, outcome, peer check and
 * requires over the peer's mapping. The files are read in mapped_load.c (parsed in
 * mapped_parse.c) and run in mapped_eval.c. */
#include "mapped_int.h"
#include "adapter.h"
#include "config.h"
#include "inuse.h"
#include "jsonschema.h"
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the set in use ------------------------------------------------------- */

static void *load_shipped(struct lt_buf *errors)
{
	struct lt_mappings *set = NULL;
	return lt_mappings_load(NULL, NULL, &set, errors) == 0 ? set : NULL;
}

static struct lt_inuse in_use = LT_INUSE_INIT("mapping files", load_shipped);

void lt_mappings_use(struct lt_mappings *set)
{
	set->retired = lt_inuse_swap(&in_use, set);
}

void lt_mappings_try(struct lt_mappings *set)
{
	lt_inuse_try(&in_use, set);
}

void lt_mappings_shutdown(void)
{
	lt_mappings_free(lt_inuse_take(&in_use));
}

/* The set in use; the shipped one, loaded once, when none was set. */
static const struct lt_mappings *current(void)
{
	return lt_inuse_get(&in_use);
}

const struct lt_mappings *lt_mappings_in_use(void)
{
	return current();
}

static const struct lt_mapping *mapping_named(const char *name)
{
	const struct lt_mappings *set = current();
	for (size_t i = 0; set && name && i < set->n; i++)
		if (!strcmp(set->m[i]->name, name))
			return set->m[i];
	return NULL;
}

/* ---- the adapter ---------------------------------------------------------- */

static const struct lt_mapping *mapping_of(const struct lt_peer *peer, struct lt_err *err)
{
	const char *name = lt_peer_param(peer, "mapping");
	const struct lt_mapping *m = mapping_named(name);
	if (!m)
		lt_err_set(err, LT_ECONFIG, "peer %s: param.mapping \"%s\" is no mapping file (mappings/NAME.map)", peer->name,
			   name ? name : "");
	return m;
}

/* One item at base → one event appended to events. */
static int decode_item(const struct lt_peer *peer, const struct lt_mapping *m, const json_t *item, const char *base,
		       json_t *events, struct lt_err *err)
{
	struct lt_map_run r = { .in = item, .out = json_object(), .base = base, .each = -1 };
	struct lt_err e = { 0 };
	int rc = lt_map_run_blocks(&r, m);
	if (rc) {
		*err = r.err;
		json_decref(r.out);
		return r.err.code ? r.err.code : LT_ESCHEMA;
	}
	json_object_set_new(r.out, "source", json_string(peer->name));
	lt_map_prune(r.out);
	if (lt_canonical_validate(r.out, &e)) {
		lt_err_set(err, LT_ESCHEMA, "%s: the canonical event it makes is invalid: %s", *base ? base : "/", e.msg);
		json_decref(r.out);
		return LT_ESCHEMA;
	}
	json_array_append_new(events, r.out);
	return LT_OK;
}

static int mapped_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out, struct lt_err *err)
{
	const struct lt_mapping *m = mapping_of(peer, err);
	if (!m)
		return LT_ECONFIG;
	json_t *doc = lt_json_parse("body", body, len, 0, err);
	if (!doc)
		return err->code;
	int rc = m->in_schema ? lt_schema_validate(m->in_schema, doc, err) : LT_OK;
	if (!rc && !json_is_object(doc))
		rc = lt_err_set(err, LT_ESCHEMA, "/: expected a JSON object");
	json_t *events = json_array(), *list = m->batch ? json_object_get(doc, m->batch) : NULL, *item;
	size_t i;
	if (!rc && json_is_array(list)) {
		json_array_foreach(list, i, item) {
			char base[96];
			snprintf(base, sizeof base, "/%s/%zu", m->batch, i);
			if ((rc = decode_item(peer, m, item, base, events, err)))
				break;
		}
	} else if (!rc) {
		rc = decode_item(peer, m, doc, "", events, err);
	}
	if (!rc)
		json_array_extend(out, events);
	json_decref(events);
	json_decref(doc);
	return rc;
}

static int mapped_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			 struct lt_request *out, struct lt_err *err)
{
	(void)ctx;
	const struct lt_mapping *m = mapping_of(peer, err);
	if (!m)
		return LT_ECONFIG;
	struct lt_map_run r = { .in = event, .out = json_object(), .each = -1, .encode = 1 };
	struct lt_err e = { 0 };
	const char *code = lt_json_str(event, "dossier_code"), *path = lt_peer_param(peer, "path");
	int rc = lt_map_run_blocks(&r, m);
	char *s = NULL;
	if (rc) {
		*err = r.err;
		rc = r.err.code ? r.err.code : LT_ESCHEMA;
	} else {
		lt_map_prune(r.out);
		if (m->out_schema && lt_schema_validate(m->out_schema, r.out, &e))
			rc = lt_err_set(err, LT_ESCHEMA, "delivery of dossier %s would not be valid: %s", code ? code : "?", e.msg);
		else if (!(s = json_dumps(r.out, JSON_COMPACT | JSON_PRESERVE_ORDER)))
			rc = lt_err_set(err, LT_ENOMEM, "cannot encode delivery");
	}
	if (!rc) {
		snprintf(out->method, sizeof out->method, "POST");
		snprintf(out->path, sizeof out->path, "%s", path ? path : m->path ? m->path : "");
		snprintf(out->content_type, sizeof out->content_type, "application/json");
		lt_buf_append(&out->body, s, strlen(s));
	}
	free(s);
	json_decref(r.out);
	return rc;
}

/* The default rule; a 2xx whose `refusal` member is false is a refusal (dead),
 * with its `refusal_message` member as the reason. */
static enum lt_verdict mapped_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
				      const struct lt_response *rsp, json_t *out, struct lt_err *err)
{
	(void)ctx;
	(void)event;
	(void)out;
	const struct lt_mapping *m = mapping_named(lt_peer_param(peer, "mapping"));
	if (rsp->status < 200 || rsp->status > 299 || !m || !m->refusal)
		return lt_outcome_default(rsp, err);
	json_t *doc = rsp->body ? json_loadb(rsp->body, rsp->len, 0, NULL) : NULL;
	enum lt_verdict v = LT_DONE;
	if (json_is_false(json_object_get(doc, m->refusal))) {
		const char *msg = m->refusal_message ? json_string_value(json_object_get(doc, m->refusal_message)) : NULL;
		lt_err_set(err, LT_EINVAL, "%s refused: %.400s", peer->name, msg ? msg : "no message");
		v = LT_DEAD;
	}
	json_decref(doc);
	return v;
}

static int mapped_check_peer(const struct lt_peer *peer, struct lt_err *err)
{
	const char *name = lt_peer_param(peer, "mapping");
	const struct lt_mappings *set = current();
	char known[512] = "";
	if (mapping_named(name))
		return LT_OK;
	for (size_t i = 0, len = 0; set && i < set->n && len < sizeof known; i++)
		len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", set->m[i]->name);
	return lt_err_set(err, LT_ECONFIG, "peer %s: %s (known: %s)", peer->name,
			  name ? "param.mapping names no mapping file" : "adapter mapped needs param.mapping",
			  known[0] ? known : "none");
}

/* What encode needs for this peer: its mapping file's `!` rules of [encode]. */
static const char *mapped_requires(const struct lt_peer *peer)
{
	const struct lt_mapping *m = mapping_named(lt_peer_param(peer, "mapping"));
	return m ? m->requires : NULL;
}

static const struct lt_adapter_param params[] = {
	{ "mapping", 1, NULL, "the mapping file that describes the peer's dialect (mappings/NAME.map: NAME)", "onestop" },
	{ "path", 0, "the mapping's path, else the peer's url", "where deliveries are posted, after the peer's url",
	  "/lienthong/events" },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct lt_adapter lt_adapter_mapped = {
	.name = "mapped",
	.about = "any JSON peer whose dialect a mapping file describes (mappings/README.md), both ways",
	.content_type = "application/json",
	.params = params,
	.decode = mapped_decode,
	.encode = mapped_encode,
	.outcome = mapped_outcome,
	.check_peer = mapped_check_peer,
	.requires_of = mapped_requires,
};
