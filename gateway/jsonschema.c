/* jsonschema.c — a small JSON Schema validator (draft 2020-12 subset) on jansson.
 *
 * A schema file is compiled once into a tree of nodes: keyword values checked,
 * regexes compiled, each $ref pointing at its $defs node. Validation walks
 * that graph and never writes to it, so a loaded schema is shared by threads.
 * Recursion is bounded twice: the document's nesting is checked first
 * (LT_SCHEMA_MAX_DEPTH), and nested evaluations count against MAX_EVAL_DEPTH,
 * so neither hostile documents nor odd schemas exhaust the stack. */
#include "jsonschema.h"

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVAL_DEPTH 256     /* nested node evaluations in one validation */
#define MAX_SCHEMA_NESTING 64  /* nesting of the schema document itself */
#define MSG_SIZE sizeof(((struct lt_err *)0)->msg)
#define PTR_MAX 200            /* bytes of JSON pointer shown in a message */
#define SHOW_CHARS 48          /* code points of a string value shown */
#define COUNT(a) (sizeof(a) / sizeof *(a))

enum { T_NULL = 1, T_BOOL = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32,
       T_INTEGER = 64 };
static const char *const type_names[] = { "null", "boolean", "object", "array", "number",
					  "string", "integer" };
/* How a value's jansson type is named in messages, and which T_* it is. */
static const char *const got_names[] = { [JSON_OBJECT] = "object", [JSON_ARRAY] = "array",
	[JSON_STRING] = "string", [JSON_INTEGER] = "integer", [JSON_REAL] = "number",
	[JSON_TRUE] = "boolean", [JSON_FALSE] = "boolean", [JSON_NULL] = "null" };
static const unsigned got_types[] = { [JSON_OBJECT] = T_OBJECT, [JSON_ARRAY] = T_ARRAY,
	[JSON_STRING] = T_STRING, [JSON_INTEGER] = T_NUMBER | T_INTEGER, [JSON_REAL] = T_NUMBER,
	[JSON_TRUE] = T_BOOL, [JSON_FALSE] = T_BOOL, [JSON_NULL] = T_NULL };

enum { F_NONE, F_DATETIME, F_DATE, F_EMAIL };
static const char *const format_names[] = { "", "date-time", "date", "email" };
/* Limits come in min/max pairs: even index = lower bound. */
enum { MIN_ITEMS, MAX_ITEMS, MIN_LENGTH, MAX_LENGTH, MIN_PROPS, MAX_PROPS, NCOUNTS };
static const char *const count_kw[] = { "minItems", "maxItems", "minLength", "maxLength",
					"minProperties", "maxProperties" };
static const char *const bound_kw[] = { "minimum", "maximum" };
enum { ALL_OF, ANY_OF, ONE_OF, NALTS };
static const char *const alt_kw[] = { "allOf", "anyOf", "oneOf" };
static const char *const annotations[] = { "$schema", "$id", "title", "description",
					   "examples", "$comment", "default" };

struct prop {                          /* a property, or a $defs entry */
	const char *name;              /* borrowed from the schema document */
	struct node *schema;
};

struct node {
	int boolean;                   /* -1 ordinary schema; 0/1 the schema false/true */
	unsigned types;                /* T_* mask; 0 = any type */
	struct prop *props;            /* sorted by name */
	size_t nprops, nrequired;
	const char **required;
	struct node *addl;             /* NULL: any extra property allowed */
	struct node *items;
	long long count[NCOUNTS];      /* -1 = unset */
	bool has_bound[2];             /* minimum, maximum */
	double bound[2];
	const json_t *enum_v, *const_v;
	const char *pattern;
	regex_t re;
	int format;
	struct node *ref;              /* not owned: points into the $defs table */
	struct node **alt[NALTS];
	size_t nalt[NALTS];
	int mark;                      /* load-time cycle check only */
};

struct lt_schema {
	json_t *doc;                   /* keeps borrowed names, enum and const values alive */
	struct node *root;
	struct prop *defs;             /* own their nodes */
	size_t ndefs;
};

/* Make msg fit for a log line or a JSON answer: controls become '?', and an
 * incomplete UTF-8 sequence left at the end by truncation is cut. */
static void tidy(char *msg)
{
	size_t len = strlen(msg), i = len;
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = '?';
	while (i > 0 && ((unsigned char)msg[i - 1] & 0xC0) == 0x80)
		i--;
	unsigned char lead = i ? (unsigned char)msg[i - 1] : 0;
	if (i && len - (i - 1) < (lead >= 0xF0 ? 4u : lead >= 0xE0 ? 3u : lead >= 0xC0 ? 2u : 1u))
		msg[i - 1] = '\0';
}

/* A short rendering of a value for messages: strings quoted and cut after
 * SHOW_CHARS code points, containers named. */
static void show(const json_t *v, char *out, size_t cap)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), cut = 0;
	double d = json_real_value(v);
	for (int chars = 0; cut < len; cut++) /* cut before code point SHOW_CHARS + 1 */
		if (((unsigned char)s[cut] & 0xC0) != 0x80 && chars++ == SHOW_CHARS)
			break;
	if (json_is_string(v))
		snprintf(out, cap, "\"%.*s%s\"", (int)cut, s, cut < len ? "…" : "");
	else if (json_is_integer(v))
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v) && snprintf(out, cap, "%.15g", d) && strtod(out, NULL) != d)
		snprintf(out, cap, "%.17g", d); /* the shortest form that reads back the same */
	else if (!json_is_real(v))
		snprintf(out, cap, "%s", json_is_object(v) ? "an object" : json_is_array(v) ?
			 "an array" : json_is_null(v) ? "null" : json_is_true(v) ? "true" : "false");
	tidy(out);
}

/* ---- loading ------------------------------------------------------------ */

struct loader {
	struct lt_schema *s;
	const char *path;
	struct lt_err *err;
	char where[256];               /* schema location being compiled */
};

__attribute__((format(printf, 2, 3)))
static int load_fail(struct loader *ld, const char *fmt, ...)
{
	char reason[MSG_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	lt_err_set(ld->err, LT_ECONFIG, "%s: %s: %.400s", ld->path,
		   ld->where[0] ? ld->where : "/", reason);
	if (ld->err)
		tidy(ld->err->msg);
	return LT_ECONFIG;
}

static struct node *new_node(void)
{
	struct node *n = calloc(1, sizeof *n);
	if (n) {
		n->boolean = -1;
		memset(n->count, 0xff, sizeof n->count); /* all -1: unset */
	}
	return n;
}

/* Free n and the subschemas it owns. Recursion is bounded by MAX_SCHEMA_NESTING. */
static void free_node(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nprops; i++)
		free_node(n->props[i].schema);
	for (int k = 0; k < NALTS; k++) {
		for (size_t i = 0; i < n->nalt[k]; i++)
			free_node(n->alt[k][i]);
		free(n->alt[k]);
	}
	free_node(n->addl);
	free_node(n->items);
	if (n->pattern)
		regfree(&n->re);
	free(n->props);
	free(n->required);
	free(n);
}

static int compile(struct loader *ld, const json_t *js, struct node *n, int depth);

/* Compile js into a fresh node *out (owned by the caller's node even on
 * failure); "/seg" is added to the location meanwhile. */
static int compile_sub(struct loader *ld, const char *seg, const json_t *js, int depth,
		       struct node **out)
{
	size_t keep = strlen(ld->where);
	snprintf(ld->where + keep, sizeof ld->where - keep, "/%s", seg);
	int rc = (*out = new_node()) ? compile(ld, js, *out, depth + 1)
				       : load_fail(ld, "out of memory");
	ld->where[keep] = '\0';
	return rc;
}

static int compile_alts(struct loader *ld, int which, const json_t *v, struct node *n, int depth)
{
	if (!json_is_array(v) || json_array_size(v) == 0)
		return load_fail(ld, "%s must be a non-empty array of schemas", alt_kw[which]);
	if (!(n->alt[which] = calloc(json_array_size(v), sizeof *n->alt[which])))
		return load_fail(ld, "out of memory");
	for (size_t i = 0; i < json_array_size(v); i++) {
		char seg[32];
		snprintf(seg, sizeof seg, "%s/%zu", alt_kw[which], i);
		if (compile_sub(ld, seg, json_array_get(v, i), depth, &n->alt[which][n->nalt[which]++]))
			return LT_ECONFIG;
	}
	return 0;
}

static int parse_type(struct loader *ld, const json_t *v, unsigned *mask)
{
	size_t count = json_is_array(v) ? json_array_size(v) : 1, t = 0;
	for (size_t i = 0; i < count; i++) {
		const char *name = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
		for (t = 0; name && t < COUNT(type_names) && strcmp(name, type_names[t]); t++)
			;
		if (t == COUNT(type_names) || !name)
			break;
		*mask |= 1u << t;
	}
	return count && t < COUNT(type_names) && *mask ? 0 : load_fail(ld,
		"type must name null, boolean, object, array, number, string or integer");
}

/* Patterns run as POSIX EREs but are read by other tools as ECMA-262: refuse
 * the constructs the two read differently (glibc would silently take \d for
 * d), and compile the rest once. */
static int compile_pattern(struct loader *ld, const json_t *v, struct node *n)
{
	const char *p = json_string_value(v);
	char msg[128];
	int rc;
	if (!p)
		return load_fail(ld, "pattern must be a string");
	if (strchr(p, '\\') || strstr(p, "[:") || strstr(p, "[="))
		return load_fail(ld, "pattern %s uses a backslash or a POSIX [: :] class, which "
				 "ECMA-262 reads differently; use a bracket expression", p);
	if ((rc = regcomp(&n->re, p, REG_EXTENDED | REG_NOSUB))) {
		regerror(rc, &n->re, msg, sizeof msg);
		return load_fail(ld, "pattern %s does not compile: %s", p, msg);
	}
	n->pattern = p;
	return 0;
}

static int prop_cmp(const void *a, const void *b)
{
	return strcmp(((const struct prop *)a)->name, ((const struct prop *)b)->name);
}

static int compile_props(struct loader *ld, const json_t *v, struct node *n, int depth)
{
	const char *name;
	json_t *sub;
	if (!json_is_object(v) || !(n->props = calloc(json_object_size(v) + 1, sizeof *n->props)))
		return load_fail(ld, "properties must be an object");
	json_object_foreach((json_t *)v, name, sub) {
		char seg[160];
		snprintf(seg, sizeof seg, "properties/%s", name);
		n->props[n->nprops].name = name;
		if (compile_sub(ld, seg, sub, depth, &n->props[n->nprops++].schema))
			return LT_ECONFIG;
	}
	qsort(n->props, n->nprops, sizeof *n->props, prop_cmp);
	return 0;
}

static int compile_required(struct loader *ld, const json_t *v, struct node *n)
{
	if (!json_is_array(v) || !(n->required = calloc(json_array_size(v) + 1, sizeof(char *))))
		return load_fail(ld, "required must be an array of strings");
	for (size_t i = 0; i < json_array_size(v); i++) {
		if (!json_is_string(json_array_get(v, i)))
			return load_fail(ld, "required must be an array of strings");
		n->required[n->nrequired++] = json_string_value(json_array_get(v, i));
	}
	return 0;
}

/* Compile one keyword of an object schema into n; unknown keywords that are
 * not annotations are refused so nothing is silently left unchecked. */
static int compile_keyword(struct loader *ld, struct node *n, const char *key, const json_t *v,
			   int depth)
{
	const char *r = json_string_value(v);
	for (int i = 0; i < NCOUNTS; i++) {
		if (strcmp(key, count_kw[i]))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return load_fail(ld, "%s must be a non-negative integer", key);
		n->count[i] = json_integer_value(v);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		if (strcmp(key, bound_kw[i]))
			continue;
		n->has_bound[i] = true;
		n->bound[i] = json_number_value(v);
		return json_is_number(v) ? 0 : load_fail(ld, "%s must be a number", key);
	}
	for (int i = 0; i < NALTS; i++)
		if (!strcmp(key, alt_kw[i]))
			return compile_alts(ld, i, v, n, depth);
	for (size_t i = 0; i < COUNT(annotations); i++)
		if (!strcmp(key, annotations[i]))
			return 0;
	for (int i = F_DATETIME; !strcmp(key, "format") && i <= F_EMAIL; i++)
		if (r && !strcmp(r, format_names[i]))
			return n->format = i, 0;
	if (!strcmp(key, "type")) return parse_type(ld, v, &n->types);
	if (!strcmp(key, "properties")) return compile_props(ld, v, n, depth);
	if (!strcmp(key, "required")) return compile_required(ld, v, n);
	if (!strcmp(key, "pattern")) return compile_pattern(ld, v, n);
	if (!strcmp(key, "items")) return compile_sub(ld, key, v, depth, &n->items);
	if (!strcmp(key, "additionalProperties"))
		return json_is_true(v) ? 0 : compile_sub(ld, key, v, depth, &n->addl);
	if (!strcmp(key, "const")) return n->const_v = v, 0;
	if (!strcmp(key, "enum"))
		return json_array_size(n->enum_v = v) ? 0 : load_fail(ld, "enum must be a non-empty array");
	if (!strcmp(key, "format")) return load_fail(ld, "format must be date-time, date or email");
	if (!strcmp(key, "$defs"))
		return depth == 0 ? 0 : load_fail(ld, "$defs is supported only at the schema root");
	if (strcmp(key, "$ref"))
		return load_fail(ld, "unsupported keyword \"%s\"", key);
	for (size_t i = 0; r && !strncmp(r, "#/$defs/", 8) && i < ld->s->ndefs; i++)
		if (!strcmp(ld->s->defs[i].name, r + 8))
			return n->ref = ld->s->defs[i].schema, 0;
	return load_fail(ld, "$ref %s is not #/$defs/NAME of an entry here", r ? r : "(not a string)");
}

static int compile(struct loader *ld, const json_t *js, struct node *n, int depth)
{
	const char *key;
	json_t *v;
	if (depth > MAX_SCHEMA_NESTING)
		return load_fail(ld, "schema nested more than %d levels", MAX_SCHEMA_NESTING);
	if (json_is_boolean(js))
		n->boolean = json_is_true(js);
	else if (!json_is_object(js))
		return load_fail(ld, "a schema must be an object or a boolean");
	json_object_foreach((json_t *)js, key, v)
		if (compile_keyword(ld, n, key, v, depth))
			return LT_ECONFIG;
	return 0;
}

/* True if following in-place edges ($ref, allOf, anyOf, oneOf) from n comes
 * back to a node on the current walk: that would evaluate one value forever.
 * Every such cycle passes through a $defs node, where the walks start. */
static bool in_place_cycle(struct node *n)
{
	bool cyc;
	if (n->mark)
		return n->mark == 1;
	n->mark = 1;
	cyc = n->ref && in_place_cycle(n->ref);
	for (int k = 0; k < NALTS; k++)
		for (size_t i = 0; !cyc && i < n->nalt[k]; i++)
			cyc = in_place_cycle(n->alt[k][i]);
	n->mark = 2;
	return cyc;
}

/* Create a node per $defs entry first so $refs anywhere can point at them,
 * then compile each entry, then refuse in-place cycles. */
static int load_defs(struct loader *ld, const json_t *root)
{
	struct lt_schema *s = ld->s;
	const json_t *defs = json_object_get(root, "$defs");
	const char *name;
	json_t *sub;
	if (!defs)
		return 0;
	if (!json_is_object(defs) || !(s->defs = calloc(json_object_size(defs) + 1, sizeof *s->defs)))
		return load_fail(ld, "$defs must be an object");
	json_object_foreach((json_t *)defs, name, sub) {
		s->defs[s->ndefs].name = name;
		if (!(s->defs[s->ndefs++].schema = new_node()))
			return load_fail(ld, "out of memory");
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < s->ndefs; i++) {
			snprintf(ld->where, sizeof ld->where, "/$defs/%s", s->defs[i].name);
			if (pass == 0 && compile(ld, json_object_get(defs, s->defs[i].name),
						 s->defs[i].schema, 1))
				return LT_ECONFIG;
			if (pass == 1 && in_place_cycle(s->defs[i].schema))
				return load_fail(ld, "$ref cycle that never descends into the document");
		}
	}
	ld->where[0] = '\0';
	return 0;
}

struct lt_schema *lt_schema_load(const char *path, struct lt_err *err)
{
	struct loader ld = { .path = path, .err = err };
	json_error_t jerr;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		bool io = json_error_code(&jerr) == json_error_cannot_open_file;
		lt_err_set(err, io ? LT_EIO : LT_ECONFIG, "%s:%d:%d: %s", path, jerr.line,
			   jerr.column, jerr.text);
		return NULL;
	}
	if (!(ld.s = calloc(1, sizeof *ld.s))) {
		json_decref(doc);
		lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
		return NULL;
	}
	ld.s->doc = doc;
	int rc = load_defs(&ld, doc);
	if (!rc && !(ld.s->root = new_node()))
		rc = lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
	if (!rc && !compile(&ld, doc, ld.s->root, 0))
		return ld.s;
	lt_schema_free(ld.s);
	return NULL;
}

void lt_schema_free(struct lt_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ndefs; i++)
		free_node(s->defs[i].schema);
	free_node(s->root);
	free(s->defs);
	json_decref(s->doc);
	free(s);
}

/* ---- validation --------------------------------------------------------- */

struct vctx {
	const char *key[LT_SCHEMA_MAX_DEPTH + 1]; /* path to the current value; NULL = index */
	size_t idx[LT_SCHEMA_MAX_DEPTH + 1];
	int depth, eval, score;        /* score: how far the failing evaluation got (see fail) */
	char msg[MSG_SIZE];
};

/* Record a failure at the current value and return -1. The message starts
 * with the value's JSON pointer ("/" for the root, cut after PTR_MAX bytes).
 * score ranks failures across the alternatives of anyOf/oneOf: 2 × the depth
 * of the value examined, +1 when that value had the right shape, so "wrong
 * type", "missing" and "unknown property" lose to a more specific complaint. */
__attribute__((format(printf, 3, 4)))
static int fail(struct vctx *c, int score, const char *fmt, ...)
{
	char ptr[PTR_MAX + 64] = "", reason[MSG_SIZE];
	size_t len = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	for (int i = 0; i < c->depth && len < PTR_MAX; i++) {
		const char *k = c->key[i];
		if (!k)
			len += (size_t)snprintf(ptr + len, sizeof ptr - len, "/%zu", c->idx[i]);
		else
			ptr[len++] = '/';
		/* escape as RFC 6901 says; never stop inside a UTF-8 sequence */
		for (; k && *k && (len < PTR_MAX || ((unsigned char)*k & 0xC0) == 0x80); k++)
			len += (size_t)snprintf(ptr + len, sizeof ptr - len, "%s",
						*k == '~' ? "~0" : *k == '/' ? "~1" : (char[]){ *k, 0 });
	}
	snprintf(c->msg, sizeof c->msg, "%s%s: %.240s", len ? ptr : "/",
		 len >= PTR_MAX ? "…" : "", reason);
	tidy(c->msg);
	c->score = score;
	return -1;
}

/* Descend into key (or index idx when key is NULL); check_depth has made
 * sure the path fits in c. */
static void push(struct vctx *c, const char *key, size_t idx)
{
	c->key[c->depth] = key;
	c->idx[c->depth++] = idx;
}

/* Refuse a document with more than LT_SCHEMA_MAX_DEPTH levels of objects and
 * arrays (the root is level 1); the recursion is bounded by that limit. */
static int check_depth(const json_t *v, struct vctx *c)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	void *it = json_is_object(v) ? json_object_iter((json_t *)v) : NULL;
	if (c->depth >= LT_SCHEMA_MAX_DEPTH)
		return fail(c, 0, "document nested too deeply (more than %d levels)",
			    LT_SCHEMA_MAX_DEPTH);
	for (size_t i = 0; i < n || it; i++) {
		const json_t *sub = it ? json_object_iter_value(it) : json_array_get(v, i);
		if (json_is_object(sub) || json_is_array(sub)) {
			push(c, it ? json_object_iter_key(it) : NULL, i);
			if (check_depth(sub, c))
				return -1;
			c->depth--;
		}
		if (it)
			it = json_object_iter_next((json_t *)v, it);
	}
	return 0;
}

/* The T_* types v satisfies; a real with no fraction is also an integer. */
static unsigned type_of(const json_t *v)
{
	double d = json_real_value(v); /* beyond ±9e15 every double is whole */
	if (json_is_real(v) && (d <= -9e15 || d >= 9e15 || (double)(long long)d == d))
		return T_NUMBER | T_INTEGER;
	return got_types[json_typeof(v)];
}

/* JSON Schema equality: numbers by value (1 == 1.0) at the top level, the
 * rest as jansson compares (nested 1 and 1.0 differ; no schema here needs it).
 * json_equal recurses no deeper than the schema's own value. */
static bool json_eq(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

/* True if s[0..len) starts with the shape tmpl: 'd' a digit, 'T' T or t,
 * any other character itself. */
static bool shaped(const char *s, size_t len, const char *tmpl)
{
	size_t i;
	for (i = 0; tmpl[i] && i < len; i++)
		if (tmpl[i] == 'd' ? s[i] < '0' || s[i] > '9' :
		    tmpl[i] == 'T' ? s[i] != 'T' && s[i] != 't' : s[i] != tmpl[i])
			return false;
	return !tmpl[i];
}

static int num(const char *s, int n)
{
	return n ? num(s, n - 1) * 10 + (s[n - 1] - '0') : 0;
}

/* NULL if s is an RFC 3339 full-date (date_only) or date-time with a
 * mandatory offset, with every field in range; else the reason it is not. */
static const char *datetime_problem(const char *s, size_t len, bool date_only)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t i = 19;
	if (!shaped(s, len, date_only ? "dddd-dd-dd" : "dddd-dd-ddTdd:dd:dd"))
		return date_only ? "expected YYYY-MM-DD" : "expected YYYY-MM-DDTHH:MM:SS and an offset";
	int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
	if (m < 1 || m > 12)
		return "month out of range";
	if (d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400))))
		return "day out of range for the month";
	if (date_only)
		return len == 10 ? NULL : "unexpected characters after the date";
	if (num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 60)
		return "hour, minute or second out of range";
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
	if (s[i - 1] == '.')
		return "expected digits after the decimal point";
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == len ? NULL : "unexpected characters after the offset";
	if (i == len || (s[i] != '+' && s[i] != '-'))
		return "missing time zone offset (Z, +HH:MM or -HH:MM)";
	if (!shaped(s + i + 1, len - i - 1, "dd:dd") || len - i != 6)
		return "offset must be +HH:MM or -HH:MM";
	return num(s + i + 1, 2) > 23 || num(s + i + 4, 2) > 59 ? "offset out of range" : NULL;
}

/* A deliberately simple check: local@domain.tld, no spaces or controls. */
static const char *email_problem(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len), *dot = at ? strrchr(at, '.') : NULL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7F)
			return "contains a space or control character";
	if (!at || at == s || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
		return "expected exactly one @ after a non-empty local part";
	return dot && dot > at + 1 && dot[1] ? NULL : "domain must be a dotted name";
}

static int validate(const struct node *n, const json_t *v, struct vctx *c);

/* Check have against the limit pair starting at lo (minX, maxX). */
static int check_count(const struct node *n, int lo, long long have, const char *unit,
		       struct vctx *c)
{
	if (n->count[lo] >= 0 && have < n->count[lo])
		return fail(c, 2 * c->depth + 1, "%lld %s, fewer than %s %lld", have, unit,
			    count_kw[lo], n->count[lo]);
	if (n->count[lo + 1] >= 0 && have > n->count[lo + 1])
		return fail(c, 2 * c->depth + 1, "%lld %s, more than %s %lld", have, unit,
			    count_kw[lo + 1], n->count[lo + 1]);
	return 0;
}

static int check_enum(const struct node *n, const json_t *v, struct vctx *c)
{
	char val[256], list[256] = "", one[200];
	size_t len = 0, i;
	for (i = 0; i < json_array_size(n->enum_v); i++)
		if (json_eq(json_array_get(n->enum_v, i), v))
			return 0;
	for (i = 0; i < json_array_size(n->enum_v); i++) {
		const json_t *e = json_array_get(n->enum_v, i);
		if (!json_is_string(e))
			show(e, one, sizeof one);
		const char *text = json_is_string(e) ? json_string_value(e) : one;
		if (len + strlen(text) + 2 > 200) /* leave room for the pointer and value */
			break;
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", text);
	}
	show(v, val, sizeof val);
	return fail(c, 2 * c->depth + 1, "%s is not one of %s%s", val, list,
		    i < json_array_size(n->enum_v) ? ", …" : "");
}

static int check_string(const struct node *n, const json_t *v, struct vctx *c)
{
	const char *s = json_string_value(v), *why = NULL;
	size_t len = json_string_length(v);
	long long chars = 0;
	char val[256];
	for (size_t i = 0; i < len; i++) /* code points: bytes that are not continuations */
		chars += ((unsigned char)s[i] & 0xC0) != 0x80;
	if (check_count(n, MIN_LENGTH, chars, "characters", c))
		return -1;
	if (n->format == F_DATETIME || n->format == F_DATE)
		why = datetime_problem(s, len, n->format == F_DATE);
	else if (n->format == F_EMAIL)
		why = email_problem(s, len);
	if (!why && !(n->pattern && (strlen(s) != len || regexec(&n->re, s, 0, NULL, 0))))
		return 0;
	show(v, val, sizeof val); /* only on failure: this is the hot path */
	if (n->pattern && strlen(s) != len)
		return fail(c, 2 * c->depth + 1, "%s contains a NUL character", val);
	if (!why)
		return fail(c, 2 * c->depth + 1, "%s does not match pattern %s", val, n->pattern);
	return fail(c, 2 * c->depth + 1, "%s is not a valid %s: %s", val, format_names[n->format], why);
}

static int check_number(const struct node *n, const json_t *v, struct vctx *c)
{
	char val[64];
	double d = json_number_value(v);
	for (int k = 0; k < 2; k++) {
		if (!n->has_bound[k] || (k ? d <= n->bound[k] : d >= n->bound[k]))
			continue;
		show(v, val, sizeof val);
		return fail(c, 2 * c->depth + 1, "%s is %s %.17g", val,
			    k ? "greater than maximum" : "less than minimum", n->bound[k]);
	}
	return 0;
}

static int check_object(const struct node *n, const json_t *v, struct vctx *c)
{
	int score = 2 * c->depth, rc = 0;
	const char *key;
	json_t *sub;
	for (size_t i = 0; i < n->nrequired; i++) {
		if (json_object_get(v, n->required[i]))
			continue;
		push(c, n->required[i], 0);
		rc = fail(c, score, "required property is missing");
		c->depth--;
		return rc;
	}
	if (check_count(n, MIN_PROPS, (long long)json_object_size(v), "properties", c))
		return -1;
	json_object_foreach((json_t *)v, key, sub) {
		struct prop want = { .name = key };
		const struct prop *p = n->nprops ? bsearch(&want, n->props, n->nprops,
							   sizeof *n->props, prop_cmp) : NULL;
		const struct node *s = p ? p->schema : n->addl;
		if (!s)
			continue;
		push(c, key, 0);
		rc = !p && s->boolean == 0 ? fail(c, score, "property not allowed here")
					   : validate(s, sub, c);
		c->depth--;
		if (rc)
			return rc;
	}
	return 0;
}

static int check_array(const struct node *n, const json_t *v, struct vctx *c)
{
	int rc = check_count(n, MIN_ITEMS, (long long)json_array_size(v), "items", c);
	for (size_t i = 0; !rc && n->items && i < json_array_size(v); i++) {
		push(c, NULL, i);
		rc = validate(n->items, json_array_get(v, i), c);
		c->depth--;
	}
	return rc;
}

/* anyOf (one_only false) or oneOf (true). On failure the message is that of
 * the alternative that got furthest, the earliest on ties. Out of line so
 * its message buffer is not on every validate() frame. */
__attribute__((noinline))
static int check_alternatives(struct node *const *alts, size_t n, bool one_only,
			      const json_t *v, struct vctx *c)
{
	char best[MSG_SIZE] = "";
	int best_score = -1;
	size_t matched = n;
	for (size_t i = 0; i < n; i++) {
		if (validate(alts[i], v, c) == 0) {
			if (!one_only)
				return 0;
			if (matched < n)
				return fail(c, 2 * c->depth + 1, "matches more than one alternative "
					    "of oneOf (%zu and %zu)", matched, i);
			matched = i;
		} else if (c->score > best_score) {
			best_score = c->score;
			memcpy(best, c->msg, sizeof best);
		}
	}
	if (matched < n)
		return 0;
	memcpy(c->msg, best, sizeof c->msg);
	c->score = best_score;
	return -1;
}

static int validate_node(const struct node *n, const json_t *v, struct vctx *c)
{
	unsigned t = type_of(v);
	char want[256] = "", val[256];
	if (n->ref && validate(n->ref, v, c))
		return -1;
	if (n->types && !(n->types & t)) {
		for (size_t i = 0, len = 0; i < COUNT(type_names); i++)
			if (n->types & (1u << i))
				len += (size_t)snprintf(want + len, sizeof want - len, "%s%s",
							len ? " or " : "", type_names[i]);
		return fail(c, 2 * c->depth, "expected %s, got %s", want, got_names[json_typeof(v)]);
	}
	if (n->enum_v && check_enum(n, v, c))
		return -1;
	if (n->const_v && !json_eq(n->const_v, v)) {
		show(v, val, sizeof val);
		show(n->const_v, want, sizeof want);
		return fail(c, 2 * c->depth + 1, "%s is not %s", val, want);
	}
	if (((t & T_STRING) && check_string(n, v, c)) || ((t & T_NUMBER) && check_number(n, v, c)) ||
	    ((t & T_OBJECT) && check_object(n, v, c)) || ((t & T_ARRAY) && check_array(n, v, c)))
		return -1;
	for (size_t i = 0; i < n->nalt[ALL_OF]; i++)
		if (validate(n->alt[ALL_OF][i], v, c))
			return -1;
	if (n->nalt[ANY_OF] && check_alternatives(n->alt[ANY_OF], n->nalt[ANY_OF], false, v, c))
		return -1;
	if (n->nalt[ONE_OF] && check_alternatives(n->alt[ONE_OF], n->nalt[ONE_OF], true, v, c))
		return -1;
	return 0;
}

static int validate(const struct node *n, const json_t *v, struct vctx *c)
{
	int rc;
	if (n->boolean >= 0)
		return n->boolean ? 0 : fail(c, 2 * c->depth + 1, "no value is allowed here");
	if (c->eval >= MAX_EVAL_DEPTH)
		return fail(c, 2 * c->depth + 1, "schema evaluation nested too deeply");
	c->eval++;
	rc = validate_node(n, v, c);
	c->eval--;
	return rc;
}

static int run(const struct node *n, const json_t *doc, struct lt_err *err)
{
	struct vctx c = { .depth = 0 };
	if (check_depth(doc, &c) || validate(n, doc, &c))
		return lt_err_set(err, LT_ESCHEMA, "%s", c.msg);
	return 0;
}

int lt_schema_validate(const struct lt_schema *s, const json_t *doc, struct lt_err *err)
{
	if (!s || !doc)
		return lt_err_set(err, LT_EINVAL, "validate: no schema or no document");
	return run(s->root, doc, err);
}

int lt_schema_validate_def(const struct lt_schema *s, const char *def, const json_t *doc,
			   struct lt_err *err)
{
	if (!s || !doc || !def)
		return lt_err_set(err, LT_EINVAL, "validate: no schema, definition or document");
	for (size_t i = 0; i < s->ndefs; i++)
		if (!strcmp(s->defs[i].name, def))
			return run(s->defs[i].schema, doc, err);
	return lt_err_set(err, LT_EINVAL, "schema has no $defs entry \"%s\"", def);
}
