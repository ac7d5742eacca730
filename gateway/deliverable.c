/* deliverable.c — what each destination needs of an event, and filling it
 * from the dossier view before the event is acknowledged (deliverable.h). */
#include "deliverable.h"
#include "adapter.h"
#include "config.h"
#include "mapping.h"
#include "sla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rules of dest's adapter: "TYPE TYPE…: FIELD FIELD…; …" (adapter.h). */
static const char *rules_of(const struct lt_peer *dest)
{
	const struct lt_adapter *a = dest ? dest->adapter : NULL;
	if (!a)
		return NULL;
	return a->requires_of ? a->requires_of(dest) : a->requires;
}

/* The fields part of the first rule naming type (or "*"), and its length. */
static const char *fields_for(const char *rules, const char *type, size_t *len)
{
	size_t tn = strlen(type);
	for (const char *r = rules; r && *r;) {
		const char *end = strchr(r, ';'), *colon = strchr(r, ':');
		if (!end)
			end = r + strlen(r);
		if (colon && colon < end) {
			for (const char *t = r; t < colon;) {
				t += strspn(t, " \t");
				size_t n = strcspn(t, " \t:");
				if ((n == tn && strncmp(t, type, n) == 0) || (n == 1 && *t == '*')) {
					*len = (size_t)(end - colon - 1);
					return colon + 1;
				}
				t += n;
			}
		}
		r = *end ? end + 1 : end;
	}
	return NULL;
}

/* The value at a dotted path ("dossier.applicant.name") of event. */
static const json_t *at_path(const json_t *v, const char *path, size_t n)
{
	char p[200];
	if (n >= sizeof p)
		return NULL;
	memcpy(p, path, n);
	p[n] = '\0';
	const json_t *got = lt_json_dig(v, p);
	return got && !json_is_null(got) && !(json_is_string(got) && !*json_string_value(got)) ? got : NULL;
}

/* Whether one of the "a|b" alternatives of a field has a value. */
static int has_one(const json_t *event, const char *alts, size_t n)
{
	for (const char *a = alts; a < alts + n;) {
		size_t k = strcspn(a, "|");
		if (k > n - (size_t)(a - alts))
			k = n - (size_t)(a - alts);
		if (at_path(event, a, k))
			return 1;
		a += k + 1;
	}
	return 0;
}

/* The next field of a rule's list [*cur, end): its start and length, or NULL. */
static const char *next_field(const char **cur, const char *end, size_t *n)
{
	const char *f = *cur;
	while (f < end && (*f == ' ' || *f == '\t'))
		f++;
	if (!f || f >= end)
		return NULL;
	*n = strcspn(f, " \t;");
	if (*n > (size_t)(end - f))
		*n = (size_t)(end - f);
	*cur = f + *n;
	return f;
}

size_t lt_deliverable_missing(const struct lt_peer *dest, const json_t *event, json_t *missing)
{
	const char *rules = rules_of(dest), *type = json_string_value(json_object_get(event, "type"));
	size_t count = 0;
	size_t len = 0, n;
	const char *list = rules && type ? fields_for(rules, type, &len) : NULL, *cur = list, *f;
	while (list && (f = next_field(&cur, list + len, &n))) {
		if (!has_one(event, f, n)) {
			if (missing)
				json_array_append_new(missing, json_stringn(f, n));
			count++;
		}
	}
	return count;
}

json_t *lt_deliverable_wants(const struct lt_config *cfg, const json_t *events, const json_t *routes)
{
	json_t *codes = NULL, *ev, *d;
	size_t i, j;
	json_array_foreach(events, i, ev) {
		json_array_foreach(json_array_get(routes, i), j, d) {
			if (!lt_deliverable_missing(lt_config_peer(cfg, json_string_value(d)), ev, NULL))
				continue;
			if (!codes)
				codes = json_array();
			json_array_append(codes, json_object_get(ev, "dossier_code"));
			break;
		}
	}
	return codes;
}

/* Fill one field path (under "dossier.") of event from facts: the first
 * member the event lacks along the path is copied whole (an absent
 * applicant brings its name, phone and address together). Returns 1 and
 * records what was filled, 0 when facts do not have it either. */
static int fill_path(json_t *event, const json_t *facts, const char *path, size_t n)
{
	char p[200];
	if (n >= sizeof p || n <= 8 || strncmp(path, "dossier.", 8))
		return 0;
	memcpy(p, path, n);
	p[n] = '\0';
	json_t *into = json_object_get(event, "dossier");
	if (!json_is_object(into)) {
		into = json_object();
		json_object_set_new(event, "dossier", into);
	}
	const json_t *from = facts;
	char *save = NULL;
	size_t upto = 8;
	for (char *seg = strtok_r(p + 8, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
		upto += strlen(seg) + (upto > 8);
		const json_t *f = json_object_get(from, seg);
		json_t *have = json_object_get(into, seg);
		if (!f)
			return 0;
		if (!have || json_is_null(have) || (json_is_string(have) && !*json_string_value(have))) {
			json_object_set_new(into, seg, json_deep_copy(f));
			json_t *detail = json_object_get(event, "detail");
			if (!json_is_object(detail)) {
				detail = json_object();
				json_object_set_new(event, "detail", detail);
			}
			json_t *list = json_object_get(detail, "filled_from_dossier");
			if (!json_is_array(list)) {
				list = json_array();
				json_object_set_new(detail, "filled_from_dossier", list);
			}
			json_array_append_new(list, json_stringn(path, upto));
			return 1;
		}
		if (!json_is_object(have) || !json_is_object(f))
			return 0;
		into = have;
		from = f;
	}
	return 0;
}

int lt_deliverable_fill_one(const struct lt_peer *dest, json_t *event, const json_t *facts)
{
	const char *rules = rules_of(dest), *type = json_string_value(json_object_get(event, "type"));
	int filled = 0;
	size_t len = 0, n;
	const char *list = rules && type && json_is_object(facts) ? fields_for(rules, type, &len) : NULL, *cur = list, *f;
	while (list && (f = next_field(&cur, list + len, &n))) {
		if (has_one(event, f, n))
			continue;
		for (const char *a = f; a < f + n;) {       /* the first alternative the facts have */
			size_t k = strcspn(a, "|");
			if (k > n - (size_t)(a - f))
				k = n - (size_t)(a - f);
			if (fill_path(event, facts, a, k)) {
				filled++;
				break;
			}
			a += k + 1;
		}
	}
	return filled;
}

/* What is known of code before events[upto]: the stored facts, then what the
 * message's earlier events of the same dossier said; a new object, or NULL. */
static json_t *known_before(const json_t *events, size_t upto, const char *code, const json_t *stored)
{
	json_t *seen = json_array(), *ev;
	size_t i;
	if (stored)
		json_array_append_new(seen, json_pack("{s:O}", "dossier", stored));
	json_array_foreach(events, i, ev) {
		if (i >= upto)
			break;
		const char *c = json_string_value(json_object_get(ev, "dossier_code"));
		if (c && !strcmp(c, code))
			json_array_append(seen, ev);
	}
	json_t *facts = json_array_size(seen) ? lt_dossier_facts(seen) : NULL;
	json_decref(seen);
	return facts;
}

int lt_deliverable_fill(const struct lt_config *cfg, json_t *events, const json_t *routes, const json_t *facts,
			struct lt_err *err)
{
	json_t *ev, *d;
	size_t i, j;
	json_array_foreach(events, i, ev) {
		const char *code = json_string_value(json_object_get(ev, "dossier_code"));
		json_t *known = code ? known_before(events, i, code, json_object_get(facts, code)) : NULL;
		json_array_foreach(json_array_get(routes, i), j, d) {
			const struct lt_peer *dest = lt_config_peer(cfg, json_string_value(d));
			lt_deliverable_fill_one(dest, ev, known);
			json_t *missing = json_array();
			if (lt_deliverable_missing(dest, ev, missing)) {
				lt_err_set(err, LT_ESCHEMA, "event %zu (%s of dossier %s) cannot be delivered to %s: %s is "
					   "required by %s and missing, %s", i + 1,
					   json_string_value(json_object_get(ev, "type")), code ? code : "?",
					   json_string_value(d), json_string_value(json_array_get(missing, 0)),
					   json_string_value(d), known ? "and the gateway's state of the dossier does not hold it"
								: "and the gateway holds no earlier state of the dossier");
				json_decref(missing);
				json_decref(known);
				return LT_ESCHEMA;
			}
			json_decref(missing);
		}
		json_decref(known);
	}
	return LT_OK;
}

static void read_done(struct lt_store_op *op)
{
	struct lt_deliverable *d = (struct lt_deliverable *)op;
	d->done(d);
}

int lt_deliverable_read(struct lt_store *s, struct lt_deliverable *d, json_t *codes)
{
	memset(&d->read, 0, sizeof d->read);
	d->read.op.kind = LT_OP_DOSSIERS;
	d->read.op.done = read_done;
	d->read.codes = codes;
	if (lt_store_submit(s, &d->read.op)) {
		json_decref(codes);
		d->read.codes = NULL;
		return LT_EBUSY;
	}
	return LT_OK;
}

void lt_deliverable_release(struct lt_deliverable *d)
{
	json_decref(d->read.codes);
	json_decref(d->read.facts);
	d->read.codes = d->read.facts = NULL;
}
