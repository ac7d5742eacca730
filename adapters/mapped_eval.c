/* mapped_eval.c — a mapping's rules run on a message (mapped_int.h): the value of each
 * expression (paths, the functions date, code, int, num, named, event, when, differs,
 * concat, split, out), put at its target in what is built, one element for each [], a
 * required value missing refused with where it was looked for. */
#include "mapped_int.h"
#include "adapter.h"
#include "mapping.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- evaluation ----------------------------------------------------------- */

static int nothing(const json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v));
}

/* Where a source path points, for messages: a JSON pointer into the peer's
 * message when decoding ("/events/0/dossier/status/id"), the dotted
 * canonical field when encoding ("dossier.channel"). */
static void where(const struct lt_map_run *r, const struct lt_map_path *p, char *out, size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	if (!r->encode)
		len = (size_t)snprintf(out, n, "%s", r->base);
	for (size_t i = 0; i < p->n && len < n; i++) {
		const char *sep = r->encode ? (i ? "." : "") : "/";
		if (p->s[i].kind == SEG_KEY)
			len += (size_t)snprintf(out + len, n - len, "%s%s", sep, p->s[i].key);
		else
			len += (size_t)snprintf(out + len, n - len, r->encode ? "[%ld]" : "/%ld",
						p->s[i].kind == SEG_INDEX ? p->s[i].index : r->each);
	}
}

static const json_t *get(const json_t *v, const struct lt_map_path *p, long each)
{
	for (size_t i = 0; v && i < p->n; i++)
		v = p->s[i].kind == SEG_KEY ? json_object_get(v, p->s[i].key) :
		    json_array_get(v, (size_t)(p->s[i].kind == SEG_INDEX ? p->s[i].index : each));
	return v;
}

/* The length of the array a [] of p runs over, in doc. */
static long each_count(const json_t *doc, const struct lt_map_path *p)
{
	const json_t *v = doc;
	for (size_t i = 0; v && i < p->n; i++) {
		if (p->s[i].kind == SEG_EACH)
			return json_is_array(v) ? (long)json_array_size(v) : 0;
		v = p->s[i].kind == SEG_KEY ? json_object_get(v, p->s[i].key) : json_array_get(v, (size_t)p->s[i].index);
	}
	return 0;
}

/* The first source path of e with a []. */
static const struct lt_map_path *each_path(const struct lt_map_expr *e)
{
	if (e->kind == EX_PATH && e->path.each)
		return &e->path;
	for (size_t i = 0; i < e->nargs; i++) {
		const struct lt_map_path *p = e->args[i] ? each_path(e->args[i]) : NULL;
		if (p)
			return p;
	}
	return NULL;
}

/* Sets v (taken) at p in out, making the objects and arrays on the way. */
static int put(json_t *out, const struct lt_map_path *p, long each, json_t *v)
{
	json_t *at = out;
	for (size_t i = 0; i < p->n; i++) {
		const struct lt_map_seg *sg = &p->s[i];
		int last = i + 1 == p->n;
		int next_is_array = !last && p->s[i + 1].kind != SEG_KEY;
		if (sg->kind == SEG_KEY) {
			if (!json_is_object(at))
				return (json_decref(v), -1);
			if (last)
				return json_object_set_new(at, sg->key, v);
			json_t *nx = json_object_get(at, sg->key);
			if (!nx || (next_is_array ? !json_is_array(nx) : !json_is_object(nx))) {
				nx = next_is_array ? json_array() : json_object();
				json_object_set_new(at, sg->key, nx);
			}
			at = nx;
		} else {
			size_t idx = (size_t)(sg->kind == SEG_INDEX ? sg->index : each);
			if (!json_is_array(at))
				return (json_decref(v), -1);
			while (json_array_size(at) <= idx)
				json_array_append_new(at, json_null());
			if (last)
				return json_array_set_new(at, idx, v);
			json_t *nx = json_array_get(at, idx);
			if (next_is_array ? !json_is_array(nx) : !json_is_object(nx)) {
				nx = next_is_array ? json_array() : json_object();
				json_array_set_new(at, idx, nx);
			}
			at = nx;
		}
	}
	json_decref(v);
	return -1;
}

/* A code's text: strings as they are, integers in decimal; NULL otherwise. */
static const char *code_text(const json_t *v, char buf[32])
{
	if (json_is_integer(v)) {
		snprintf(buf, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return json_string_value(v);
}

static int digits(const char *s, size_t n)
{
	return n && strspn(s, "0123456789") >= n;
}

/* A peer's date in fmt → unix seconds; 0 or -1. */
static int parse_date(enum lt_map_date_fmt fmt, const char *s, int64_t *t)
{
	char buf[48];
	size_t n = strlen(s);
	switch (fmt) {
	case D_ISO:          /* 2025-03-10T08:15:00.000+0700, +07:00 or Z (iGate) */
		if (n < 20 || n > 40)
			return -1;
		memcpy(buf, s, n + 1);
		if ((buf[n - 5] == '+' || buf[n - 5] == '-') && digits(buf + n - 4, 4)) {
			memmove(buf + n - 1, buf + n - 2, 3);
			buf[n - 2] = ':';
		}
		return lt_date_parse_rfc3339(buf, t, NULL) ? -1 : 0;
	case D_RFC3339:
		return lt_date_parse_rfc3339(s, t, NULL) ? -1 : 0;
	case D_COMPACT:
		return lt_date_parse_compact(s, t, NULL) ? -1 : 0;
	case D_VN:
		return lt_date_parse_vn(s, t, NULL) ? -1 : 0;
	case D_VN_DAY:
		if (n != 10)
			return -1;
		snprintf(buf, sizeof buf, "%s 00:00:00", s);
		return lt_date_parse_vn(buf, t, NULL) ? -1 : 0;
	case D_DAY:
		return lt_date_parse_day(s, n, t, NULL) ? -1 : 0;
	}
	return -1;
}

/* Unix seconds → the peer's date in fmt (Vietnam time). */
static void format_date(enum lt_map_date_fmt fmt, int64_t t, char out[40])
{
	char r[32];
	lt_date_format_rfc3339(t, r);        /* yyyy-mm-ddThh:mm:ss+07:00 */
	switch (fmt) {
	case D_ISO: snprintf(out, 40, "%.19s.000+0700", r); break;
	case D_RFC3339: snprintf(out, 40, "%s", r); break;
	case D_COMPACT: lt_date_format_compact(t, out); break;
	case D_VN: lt_date_format_vn(t, out); break;
	case D_VN_DAY: lt_date_format_vn(t, out), out[10] = '\0'; break;
	case D_DAY: snprintf(out, 40, "%.10s", r); break;
	}
}

static int eval(struct lt_map_run *r, const struct lt_map_expr *e, json_t **out);

/* A text argument (strings, integers in decimal); NULL when nothing. */
static int eval_text(struct lt_map_run *r, const struct lt_map_expr *e, char **out)
{
	json_t *v = NULL;
	char buf[32];
	*out = NULL;
	if (eval(r, e, &v))
		return -1;
	const char *s = nothing(v) ? NULL : code_text(v, buf);
	if (s)
		*out = strdup(s);
	json_decref(v);
	return 0;
}

/* The place an argument came from, for a message: its source, else the rule's. */
static void arg_where(struct lt_map_run *r, const struct lt_map_expr *a, char *out, size_t n)
{
	while (a && a->kind != EX_PATH && a->kind != EX_OUT && a->nargs)
		a = a->args[a->nargs - 1];
	if (a && a->kind == EX_PATH)
		where(r, &a->path, out, n);
	else
		snprintf(out, n, "%s", r->encode ? "the event" : *r->base ? r->base : "/");
}

static int call(struct lt_map_run *r, const struct lt_map_expr *e, json_t **out)
{
	json_t *v = NULL;
	char *s = NULL, at[300];
	int rc = 0;
	*out = NULL;
	switch (e->fn) {
	case FN_DATE: {
		int64_t t;
		char d[40];
		if ((rc = eval_text(r, e->args[1], &s)) || !s)
			break;
		if (parse_date(r->encode ? D_RFC3339 : e->fmt, s, &t)) {
			arg_where(r, e->args[1], at, sizeof at);
			rc = lt_err_set(&r->err, LT_ESCHEMA, "%s: \"%.40s\" is not a real date and time (%s)", at, s,
					r->encode ? "RFC 3339" : lt_map_date_names[e->fmt]);
			break;
		}
		if (r->encode)
			format_date(e->fmt, t, d);
		else
			lt_date_format_rfc3339(t, d);
		*out = json_string(d);
		break;
	}
	case FN_CODE: {
		if ((rc = eval_text(r, e->args[1], &s)) || !s)
			break;
		const char *c = r->encode ? lt_code_to_wire(e->table, s, NULL) : lt_code_to_canonical(e->table, s, NULL);
		if (!c) {
			char known[256];
			arg_where(r, e->args[1], at, sizeof at);
			rc = lt_err_set(&r->err, LT_ESCHEMA, r->encode ? "%s: \"%.40s\" has no code in table %s (%s: %s)"
							       : "%s: unknown code \"%.40s\" (table %s, known %s: %s)",
					at, s, e->table->id, e->table->cols[r->encode ? 1 : 0].name,
					lt_code_list(e->table, r->encode ? 1 : 0, known, sizeof known));
			break;
		}
		*out = json_string(c);
		break;
	}
	case FN_INT:
	case FN_NUM: {
		if ((rc = eval(r, e->args[0], &v)) || nothing(v))
			break;
		const char *str = json_string_value(v);
		int64_t n;
		if (json_is_integer(v)) {
			*out = json_incref(v);
		} else if (str && (e->fn == FN_INT || (digits(str, strlen(str)) && strlen(str) < 10)) &&
			   lt_parse_int64(str, INT64_MIN, INT64_MAX, &n, NULL) == LT_OK) {
			*out = json_integer(n);
		} else if (e->fn == FN_NUM) {
			*out = json_incref(v);
		} else {
			arg_where(r, e->args[0], at, sizeof at);
			rc = lt_err_set(&r->err, LT_ESCHEMA, "%s: \"%.40s\" is not a whole number", at, str ? str : "?");
		}
		break;
	}
	case FN_NAMED: {
		if ((rc = eval(r, e->args[0], &v)) || !json_is_object(v))
			break;
		const json_t *c = json_object_get(v, "code"), *nm = json_object_get(v, "name");
		json_t *o = json_object();
		if (!nothing(c) && json_is_string(c))
			json_object_set(o, "code", (json_t *)c);
		if (!nothing(nm) && json_is_string(nm))
			json_object_set(o, "name", (json_t *)nm);
		if (json_object_size(o))
			*out = o;
		else
			json_decref(o);
		break;
	}
	case FN_EVENT:
		if ((rc = eval(r, e->args[0], &v)) || !json_is_string(v) || !lt_event_type_known(json_string_value(v)))
			break;
		*out = json_incref(v);
		break;
	case FN_WHEN:
		if ((rc = eval(r, e->args[0], &v)) || nothing(v))
			break;
		rc = eval(r, e->args[1], out);
		break;
	case FN_DIFFERS: {
		json_t *b = NULL;
		if (eval(r, e->args[0], &v) || eval(r, e->args[1], &b)) {
			json_decref(b);
			rc = -1;
			break;
		}
		if (!nothing(v) && !(b && json_equal(v, b)))
			*out = json_incref(v);
		json_decref(b);
		break;
	}
	case FN_CONCAT: {
		struct lt_buf b = { 0 };
		size_t parts = 0;
		for (size_t i = 1; i < e->nargs && !rc; i++) {
			char *p = NULL;
			if ((rc = eval_text(r, e->args[i], &p)))
				break;
			if (p && *p) {
				if (parts++)
					lt_buf_append(&b, e->args[0]->text, strlen(e->args[0]->text));
				lt_buf_append(&b, p, strlen(p));
			}
			free(p);
		}
		if (!rc && parts)
			*out = json_string(b.data);
		lt_buf_free(&b);
		break;
	}
	case FN_SPLIT: {
		if ((rc = eval_text(r, e->args[2], &s)) || !s)
			break;
		const char *sep = e->args[0]->text;
		size_t seplen = strlen(sep), count = 1;
		for (const char *q = strstr(s, sep); q; q = strstr(q + seplen, sep))
			count++;
		long want = e->n < 0 ? (long)count + e->n : e->n;
		const char *q = s;
		for (long i = 0; q && i < want; i++)
			q = (q = strstr(q, sep)) ? q + seplen : NULL;
		if (want < 0 || want >= (long)count || !q)
			break;
		const char *end = strstr(q, sep);
		size_t len = end ? (size_t)(end - q) : strlen(q);
		while (len && (*q == ' '))
			q++, len--;
		while (len && q[len - 1] == ' ')
			len--;
		if (len)
			*out = json_stringn(q, len);
		break;
	}
	case FN_OUT:
		break;
	}
	free(s);
	json_decref(v);
	if (nothing(*out)) {
		json_decref(*out);
		*out = NULL;
	}
	return rc ? -1 : 0;
}

/* e's value (a new reference; NULL = nothing) into *out; -1 with r->err set. */
static int eval(struct lt_map_run *r, const struct lt_map_expr *e, json_t **out)
{
	*out = NULL;
	switch (e->kind) {
	case EX_TEXT:
		*out = *e->text ? json_string(e->text) : NULL;
		return 0;
	case EX_PATH:
	case EX_OUT: {
		const json_t *v = get(e->kind == EX_PATH ? r->in : r->out, &e->path, r->each);
		if (!nothing(v))
			*out = json_deep_copy(v);
		return 0;
	}
	case EX_FIRST:              /* the first with a value; a mistake (an unknown code) is not passed over */
		for (size_t i = 0; i < e->nargs; i++)
			if (eval(r, e->args[i], out) || *out)
				return *out ? 0 : -1;
		return 0;
	case EX_CALL:
		return call(r, e, out);
	}
	return 0;
}

/* Drops null members and elements, and objects and arrays left empty. */
void lt_map_prune(json_t *v)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *x, *tmp;
		json_object_foreach_safe(v, tmp, k, x) {
			lt_map_prune(x);
			if (json_is_null(x) || ((json_is_object(x) && !json_object_size(x)) ||
						(json_is_array(x) && !json_array_size(x))))
				json_object_del(v, k);
		}
	} else if (json_is_array(v)) {
		for (size_t i = json_array_size(v); i-- > 0;) {
			json_t *x = json_array_get(v, i);
			lt_map_prune(x);
			if (json_is_null(x) || (json_is_object(x) && !json_object_size(x)) ||
			    (json_is_array(x) && !json_array_size(x)))
				json_array_remove(v, i);
		}
	}
}

static int rule_run(struct lt_map_run *r, const struct lt_map_rule *ru)
{
	const struct lt_map_path *ep = ru->target.each ? each_path(ru->e) : NULL;
	long count = ep ? each_count(r->in, ep) : 1;
	for (long i = 0; i < count; i++) {
		json_t *v = NULL;
		r->each = i;
		if (eval(r, ru->e, &v))
			return -1;
		if (!v && ru->required) {
			char at[300];
			arg_where(r, ru->e, at, sizeof at);
			return lt_err_set(&r->err, LT_ESCHEMA, "%s: missing (%s needs it)", at, ru->text);
		}
		if (v)
			put(r->out, &ru->target, i, v);
	}
	r->each = -1;
	return 0;
}

int lt_map_type_in(char *const *types, const char *type)
{
	for (char *const *t = types; t && *t; t++)
		if (type && !strcmp(*t, type))
			return 1;
	return !types;
}

/* Runs every block of one direction; the event type of a `when` is read from
 * what is built (decode) or from the event (encode) as the block starts. */
int lt_map_run_blocks(struct lt_map_run *r, const struct lt_mapping *m)
{
	for (size_t b = 0; b < m->nblocks; b++) {
		const struct lt_map_block *bl = &m->blocks[b];
		if (bl->encode != r->encode)
			continue;
		const char *type = json_string_value(json_object_get(r->encode ? r->in : r->out, "type"));
		if (!lt_map_type_in(bl->types, type))
			continue;
		for (size_t i = 0; i < bl->n; i++)
			if (rule_run(r, &bl->rules[i]))
				return -1;
	}
	return 0;
}
