/* mapped.c — the `mapped` adapter: a JSON peer's dialect described by a
 * mapping file instead of C (mapped.h; the format in mappings/README.md).
 *
 * A mapping is a list of rules `target = expression`, in blocks: [decode]
 * builds a canonical event from one peer item, [encode] builds the peer's
 * request body from a canonical event; a block `[decode when TYPE…]` applies
 * to those event types only. Rules run in file order; one whose value is
 * nothing (absent, null, "") sets nothing, unless its target is marked `!`
 * (required: then the message is refused naming the field). Empty objects
 * and arrays are left out of what is built; `a | b` is the first that has a
 * value, but a mistake in a (a code the table does not know, a date that is
 * no date) refuses the message rather than falling to b. Everything a file says is checked
 * when it is loaded, so a mapping that loads can only fail on a message. */
#include "mapped.h"
#include "adapter.h"
#include "inuse.h"
#include "config.h"
#include "jsonschema.h"
#include "mapping.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LINE 4096
#define MAX_ARGS 8

/* ---- the parsed form ---------------------------------------------------- */

enum seg_kind { SEG_KEY, SEG_INDEX, SEG_EACH };

struct seg {
	enum seg_kind kind;
	char *key;
	long index;
};

struct path {
	struct seg *s;
	size_t n;
	int each;                  /* it has a [] */
};

enum ex_kind { EX_PATH, EX_OUT, EX_TEXT, EX_FIRST, EX_CALL };
enum fn { FN_DATE, FN_CODE, FN_INT, FN_NUM, FN_NAMED, FN_EVENT, FN_WHEN, FN_DIFFERS, FN_CONCAT, FN_SPLIT, FN_OUT };
enum date_fmt { D_ISO, D_RFC3339, D_COMPACT, D_VN, D_VN_DAY, D_DAY };

static const struct {
	const char *name;
	enum fn fn;
	int min, max;              /* arguments */
} functions[] = {
	{ "date", FN_DATE, 2, 2 },       { "code", FN_CODE, 2, 2 },   { "int", FN_INT, 1, 1 },
	{ "num", FN_NUM, 1, 1 },         { "named", FN_NAMED, 1, 1 }, { "event", FN_EVENT, 1, 1 },
	{ "when", FN_WHEN, 2, 2 },       { "differs", FN_DIFFERS, 2, 2 }, { "concat", FN_CONCAT, 2, MAX_ARGS },
	{ "split", FN_SPLIT, 3, 3 },     { "out", FN_OUT, 1, 1 },
};

static const char *const date_names[] = {
	[D_ISO] = "iso", [D_RFC3339] = "rfc3339", [D_COMPACT] = "yyyyMMddHHmmss",
	[D_VN] = "dd/MM/yyyy HH:mm:ss", [D_VN_DAY] = "dd/MM/yyyy", [D_DAY] = "yyyy-MM-dd",
};
#define NDATES (sizeof date_names / sizeof *date_names)

struct expr {
	enum ex_kind kind;
	struct path path;          /* EX_PATH, EX_OUT */
	char *text;                /* EX_TEXT */
	enum fn fn;                /* EX_CALL */
	enum date_fmt fmt;
	const struct lt_code_table *table;
	long n;
	struct expr *args[MAX_ARGS];   /* EX_CALL's, EX_FIRST's alternatives */
	size_t nargs;
};

struct rule {
	struct path target;
	int required;
	struct expr *e;
	char *text;                /* the target as written, for messages */
	int line;
};

struct block {
	int encode;
	char **types;              /* when: NULL-terminated; NULL = every type */
	struct rule *rules;
	size_t n;
};

struct lt_mapping {
	char name[64];
	char *file;
	char *inbound_schema, *outbound_schema, *batch, *path, *refusal, *refusal_message;
	struct lt_schema *in_schema, *out_schema;
	json_t *out_doc;           /* the outbound schema as JSON, while the file is checked */
	struct block *blocks;
	size_t nblocks;
	char *requires;            /* what encode needs (adapter.h rules), from the `!` rules of [encode] */
};

struct lt_mappings {
	struct lt_mapping **m;
	size_t n;
	char dir[PATH_MAX], override_dir[PATH_MAX];
	struct lt_mappings *retired;
};

/* ---- freeing ------------------------------------------------------------- */

static void path_free(struct path *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->s[i].key);
	free(p->s);
	p->s = NULL;
	p->n = 0;
}

static void expr_free(struct expr *e)
{
	if (!e)
		return;
	path_free(&e->path);
	free(e->text);
	for (size_t i = 0; i < e->nargs; i++)
		expr_free(e->args[i]);
	free(e);
}

static void mapping_free(struct lt_mapping *m)
{
	if (m)
		free(m->requires);
	if (!m)
		return;
	for (size_t b = 0; b < m->nblocks; b++) {
		struct block *bl = &m->blocks[b];
		for (size_t i = 0; i < bl->n; i++) {
			path_free(&bl->rules[i].target);
			expr_free(bl->rules[i].e);
			free(bl->rules[i].text);
		}
		free(bl->rules);
		for (char **t = bl->types; t && *t; t++)
			free(*t);
		free(bl->types);
	}
	free(m->blocks);
	free(m->file);
	free(m->inbound_schema);
	free(m->outbound_schema);
	free(m->batch);
	free(m->path);
	free(m->refusal);
	free(m->refusal_message);
	lt_schema_free(m->in_schema);
	lt_schema_free(m->out_schema);
	free(m);
}

void lt_mappings_free(struct lt_mappings *set)
{
	while (set) {
		struct lt_mappings *next = set->retired;
		for (size_t i = 0; i < set->n; i++)
			mapping_free(set->m[i]);
		free(set->m);
		free(set);
		set = next;
	}
}

/* ---- parsing: paths and expressions ---------------------------------------- */

struct parser {
	const char *s;             /* where we are */
	char why[300];             /* the first syntax mistake */
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	if (!p->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof p->why, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void skip_blanks(struct parser *p)
{
	while (*p->s == ' ' || *p->s == '\t')
		p->s++;
}

static int ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* a.b[0].c[] → out. */
static int parse_path(struct parser *p, struct path *out)
{
	memset(out, 0, sizeof *out);
	for (;;) {
		const char *start = p->s;
		while (ident_char(*p->s))
			p->s++;
		if (p->s == start)
			return fail(p, "expected a field name at \"%.20s\"", start);
		out->s = realloc(out->s, (out->n + 1) * sizeof *out->s);
		out->s[out->n++] = (struct seg){ SEG_KEY, strndup(start, (size_t)(p->s - start)), 0 };
		while (*p->s == '[') {
			char *end;
			p->s++;
			struct seg sg = { SEG_EACH, NULL, 0 };
			if (*p->s != ']') {
				errno = 0;
				long i = strtol(p->s, &end, 10);
				if (end == p->s || *end != ']' || i < 0 || i > 999 || errno)
					return fail(p, "expected [] or [N] (N from 0 to 999) at \"%.20s\"", p->s - 1);
				sg = (struct seg){ SEG_INDEX, NULL, i };
				p->s = end;
			} else if (out->each) {
				return fail(p, "one [] per path");
			} else {
				out->each = 1;
			}
			p->s++;
			out->s = realloc(out->s, (out->n + 1) * sizeof *out->s);
			out->s[out->n++] = sg;
		}
		if (*p->s != '.')
			return 0;
		p->s++;
	}
}

static struct expr *parse_expr(struct parser *p);

static struct expr *new_expr(enum ex_kind k)
{
	struct expr *e = calloc(1, sizeof *e);
	e->kind = k;
	return e;
}

/* "text", with \" and \\ inside. */
static struct expr *parse_text(struct parser *p)
{
	struct lt_buf b = { 0 };
	p->s++;
	while (*p->s && *p->s != '"') {
		if (*p->s == '\\' && (p->s[1] == '"' || p->s[1] == '\\'))
			p->s++;
		lt_buf_append(&b, p->s++, 1);
	}
	if (*p->s != '"') {
		lt_buf_free(&b);
		fail(p, "a quoted text is not closed");
		return NULL;
	}
	p->s++;
	struct expr *e = new_expr(EX_TEXT);
	e->text = b.data ? b.data : strdup("");
	return e;
}

/* The word an argument is written as (a date format, a table, a number). */
static const char *word_of(const struct expr *a)
{
	if (a->kind == EX_TEXT)
		return a->text;
	if (a->kind == EX_PATH && a->path.n == 1 && a->path.s[0].kind == SEG_KEY)
		return a->path.s[0].key;
	return NULL;
}

/* Checks a call's arguments that are words, not values. */
static int call_words(struct parser *p, struct expr *e, const char *name)
{
	if (e->fn == FN_DATE) {
		const char *w = word_of(e->args[0]);
		for (size_t i = 0; w && i < NDATES; i++)
			if (!strcmp(w, date_names[i])) {
				e->fmt = (enum date_fmt)i;
				return 0;
			}
		return fail(p, "date: unknown format \"%s\" (known: iso, rfc3339, yyyyMMddHHmmss, \"dd/MM/yyyy HH:mm:ss\", "
			    "dd/MM/yyyy, yyyy-MM-dd)", w ? w : "?");
	}
	if (e->fn == FN_CODE) {
		char id[128] = "";
		const struct expr *a = e->args[0];
		for (size_t i = 0; a->kind == EX_PATH && i < a->path.n && a->path.s[i].kind == SEG_KEY; i++)
			snprintf(id + strlen(id), sizeof id - strlen(id), "%s%s", i ? "." : "", a->path.s[i].key);
		const struct lt_code_table *t = lt_code_table_named(id);   /* declared in C or by a *.codes file */
		if (t) {
			e->table = t;
			if (!t->cols[0].name || !t->cols[1].name)
				return fail(p, "code: table %s has fewer than two columns", id);
			return 0;
		}
		return fail(p, "code: unknown table \"%s\": no *.codes file declares it (codes/README.md lists the "
			    "tables, and how to add one of your own)", id);
	}
	if (e->fn == FN_SPLIT) {
		const char *w = word_of(e->args[1]);
		char *end;
		if (e->args[0]->kind != EX_TEXT || !*e->args[0]->text)
			return fail(p, "split: the separator is a quoted text, like split(\" \", 0, name)");
		e->n = w ? strtol(w, &end, 10) : 0;
		if (!w || !*w || *end || e->n < -99 || e->n > 99)
			return fail(p, "split: the part is a number (0 the first, -1 the last)");
		return 0;
	}
	if (e->fn == FN_CONCAT && e->args[0]->kind != EX_TEXT)
		return fail(p, "concat: the separator is a quoted text, like concat(\", \", a, b)");
	(void)name;
	return 0;
}

/* "text" | name(args) | path */
static struct expr *parse_atom(struct parser *p)
{
	skip_blanks(p);
	if (*p->s == '"')
		return parse_text(p);
	const char *start = p->s;
	while (ident_char(*p->s))
		p->s++;
	size_t len = (size_t)(p->s - start);
	if (*p->s == '(' && len) {
		struct expr *e = new_expr(EX_CALL);
		size_t f = 0;
		while (f < sizeof functions / sizeof *functions &&
		       (strlen(functions[f].name) != len || strncmp(functions[f].name, start, len)))
			f++;
		if (f == sizeof functions / sizeof *functions) {
			fail(p, "unknown function \"%.*s\" (known: date, code, int, num, named, event, when, differs, "
			     "concat, split, out)", (int)len, start);
			free(e);
			return NULL;
		}
		e->fn = functions[f].fn;
		p->s++;
		skip_blanks(p);
		while (*p->s != ')') {
			if (e->nargs == MAX_ARGS) {
				fail(p, "%s: too many arguments", functions[f].name);
				expr_free(e);
				return NULL;
			}
			if (e->fn == FN_OUT) {
				struct expr *a = new_expr(EX_OUT);
				e->args[e->nargs++] = a;
				if (parse_path(p, &a->path)) {
					expr_free(e);
					return NULL;
				}
			} else if (!(e->args[e->nargs++] = parse_expr(p))) {
				expr_free(e);
				return NULL;
			}
			skip_blanks(p);
			if (*p->s == ',') {
				p->s++;
				skip_blanks(p);
			} else if (*p->s != ')') {
				fail(p, "%s: expected , or ) at \"%.20s\"", functions[f].name, p->s);
				expr_free(e);
				return NULL;
			}
		}
		p->s++;
		if ((int)e->nargs < functions[f].min || (int)e->nargs > functions[f].max) {
			fail(p, "%s takes %d%s argument%s, not %zu", functions[f].name, functions[f].min,
			     functions[f].max > functions[f].min ? " or more" : "", functions[f].min == 1 ? "" : "s", e->nargs);
			expr_free(e);
			return NULL;
		}
		if (call_words(p, e, functions[f].name)) {
			expr_free(e);
			return NULL;
		}
		if (e->fn == FN_OUT) {      /* out(path) is a path into what is built */
			struct expr *o = e->args[0];
			e->args[0] = NULL;
			e->nargs = 0;
			expr_free(e);
			return o;
		}
		return e;
	}
	p->s = start;
	struct expr *e = new_expr(EX_PATH);
	if (parse_path(p, &e->path)) {
		expr_free(e);
		return NULL;
	}
	return e;
}

/* atom ('|' atom)* — the first that has a value. */
static struct expr *parse_expr(struct parser *p)
{
	struct expr *first = parse_atom(p), *alt = NULL;
	if (!first)
		return NULL;
	for (;;) {
		skip_blanks(p);
		if (*p->s != '|')
			return alt ? alt : first;
		p->s++;
		if (!alt) {
			alt = new_expr(EX_FIRST);
			alt->args[alt->nargs++] = first;
		}
		if (alt->nargs == MAX_ARGS) {
			fail(p, "at most %d alternatives", MAX_ARGS);
			expr_free(alt);
			return NULL;
		}
		if (!(alt->args[alt->nargs++] = parse_atom(p))) {
			expr_free(alt);
			return NULL;
		}
	}
}

/* 1 when some source path of e (not under out()) has a []. */
static int has_each(const struct expr *e)
{
	if (e->kind == EX_PATH)
		return e->path.each;
	for (size_t i = 0; i < e->nargs; i++)
		if (e->args[i] && has_each(e->args[i]))
			return 1;
	return 0;
}

/* ---- checking targets against a JSON Schema -------------------------------- */

static const json_t *resolve(const json_t *root, const json_t *s)
{
	for (int hops = 0; s && hops < 16; hops++) {
		const char *ref = json_string_value(json_object_get(s, "$ref"));
		if (!ref || strncmp(ref, "#/", 2))
			return s;
		const json_t *at = root;
		char part[128];
		for (const char *q = ref + 2; at && *q;) {
			size_t k = strcspn(q, "/");
			snprintf(part, sizeof part, "%.*s", (int)k, q);
			at = json_object_get(at, part);
			q += k + (q[k] == '/');
		}
		s = at;
	}
	return s;
}

/* 1 when path (from segment i) can be a place in documents of schema s. */
static int schema_allows(const json_t *root, const json_t *s, const struct path *path, size_t i)
{
	s = resolve(root, s);
	if (!s || i == path->n)
		return 1;
	static const char *const alts[] = { "oneOf", "anyOf", "allOf" };
	for (size_t a = 0; a < 3; a++) {
		const json_t *list = json_object_get(s, alts[a]), *x;
		size_t k;
		if (json_is_array(list)) {
			json_array_foreach(list, k, x)
				if (schema_allows(root, x, path, i))
					return 1;
			return 0;
		}
	}
	const struct seg *sg = &path->s[i];
	if (sg->kind == SEG_KEY) {
		const json_t *props = json_object_get(s, "properties"), *more = json_object_get(s, "additionalProperties");
		const json_t *sub = json_object_get(props, sg->key);
		if (sub)
			return schema_allows(root, sub, path, i + 1);
		if (json_is_false(more))
			return 0;
		return json_is_object(more) ? schema_allows(root, more, path, i + 1) : 1;
	}
	const json_t *items = json_object_get(s, "items");
	return items ? schema_allows(root, items, path, i + 1) : 1;
}

/* ---- loading a file ------------------------------------------------------- */

struct load {
	struct lt_buf *errors;
	int nerr;
	const char *file;
};

static void mistake(struct load *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void mistake(struct load *ld, int line, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lt_buf_printf(ld->errors, "%s:%d: %s\n", ld->file, line, msg);
	ld->nerr++;
}

/* Cuts a comment: # at the start or after a blank, outside quotes. */
static void cut_comment(char *s)
{
	int quoted = 0;
	for (char *p = s; *p; p++) {
		if (*p == '\\' && quoted && p[1])
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '#' && !quoted && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* [mapping] key = value */
static void setting(struct load *ld, struct lt_mapping *m, int line, const char *k, const char *v)
{
	char **dst = !strcmp(k, "inbound_schema") ? &m->inbound_schema :
		     !strcmp(k, "outbound_schema") ? &m->outbound_schema :
		     !strcmp(k, "batch") ? &m->batch :
		     !strcmp(k, "path") ? &m->path :
		     !strcmp(k, "refusal") ? &m->refusal :
		     !strcmp(k, "refusal_message") ? &m->refusal_message : NULL;
	if (!strcmp(k, "content_type")) {
		if (strcmp(v, "application/json"))
			mistake(ld, line, "content_type: a mapping speaks application/json only, not \"%s\"", v);
		return;
	}
	if (!dst) {
		mistake(ld, line, "unknown setting \"%s\" in [mapping] (known: content_type, inbound_schema, "
			"outbound_schema, batch, path, refusal, refusal_message)", k);
		return;
	}
	free(*dst);
	*dst = strdup(v);
	if (dst == &m->inbound_schema || dst == &m->outbound_schema) {
		struct lt_err err = { 0 };
		char full[PATH_MAX];
		struct lt_schema **slot = dst == &m->inbound_schema ? &m->in_schema : &m->out_schema;
		snprintf(full, sizeof full, "%s/%s", lt_schema_dir(), v);
		lt_schema_free(*slot);
		if (!(*slot = lt_schema_load(full, &err)))
			mistake(ld, line, "%s: %s", k, err.msg);
		if (slot == &m->out_schema) {
			json_decref(m->out_doc);
			m->out_doc = *slot ? json_load_file(full, 0, NULL) : NULL;
		}
	}
}

/* [decode], [encode], [decode when TYPE …] */
static struct block *start_block(struct load *ld, struct lt_mapping *m, int line, char *head)
{
	char *save = NULL, *w = strtok_r(head, " \t", &save);
	int encode = w && !strcmp(w, "encode");
	if (!w || (strcmp(w, "decode") && !encode)) {
		mistake(ld, line, "unknown section [%s] (known: [mapping], [decode], [encode], [decode when TYPE…], "
			"[encode when TYPE…])", head);
		return NULL;
	}
	m->blocks = realloc(m->blocks, (m->nblocks + 1) * sizeof *m->blocks);
	struct block *b = &m->blocks[m->nblocks++];
	memset(b, 0, sizeof *b);
	b->encode = encode;
	if (!(w = strtok_r(NULL, " \t", &save)))
		return b;
	if (strcmp(w, "when")) {
		mistake(ld, line, "expected [%s when TYPE…], not \"%s\"", encode ? "encode" : "decode", w);
		return b;
	}
	size_t n = 0;
	while ((w = strtok_r(NULL, " \t", &save))) {
		if (!lt_event_type_known(w))
			mistake(ld, line, "\"%s\" is not a canonical event type (schemas/canonical-event.schema.json)", w);
		b->types = realloc(b->types, (n + 2) * sizeof *b->types);
		b->types[n++] = strdup(w);
		b->types[n] = NULL;
	}
	if (!n)
		mistake(ld, line, "when names no event type");
	return b;
}

/* target = expression, target! = expression */
static void take_rule(struct load *ld, struct lt_mapping *m, struct block *b, int line, char *s, char *eq,
		      const json_t *canonical)
{
	*eq = '\0';
	char *lhs = trim(s), *rhs = trim(eq + 1);
	struct rule r = { .line = line };
	size_t len = strlen(lhs);
	if (len && lhs[len - 1] == '!') {
		r.required = 1;
		lhs[--len] = '\0';
		lhs = trim(lhs);
	}
	struct parser p = { .s = lhs };
	if (parse_path(&p, &r.target) || *trim((char *)p.s)) {
		mistake(ld, line, "target \"%s\": %s", lhs, p.why[0] ? p.why : "not a field path like dossier.channel");
		path_free(&r.target);
		return;
	}
	p = (struct parser){ .s = rhs };
	r.e = *rhs ? parse_expr(&p) : NULL;
	if (r.e)
		skip_blanks(&p);
	if (!r.e || *p.s) {
		mistake(ld, line, "%s: %s", lhs, !*rhs ? "no value" : p.why[0] ? p.why : "unexpected text after the value");
		path_free(&r.target);
		expr_free(r.e);
		return;
	}
	if (r.target.each != has_each(r.e)) {
		mistake(ld, line, "%s: a [] in the target goes with a [] in a source (one element for each)", lhs);
	} else if (!b->encode && canonical && !schema_allows(canonical, json_object_get(json_object_get(canonical, "$defs"),
										    "event"), &r.target, 0)) {
		mistake(ld, line, "%s is not a field of the canonical event (schemas/canonical-event.schema.json)", lhs);
	} else if (b->encode && m->out_doc && !schema_allows(m->out_doc, m->out_doc, &r.target, 0)) {
		mistake(ld, line, "%s is not a field of what %s allows", lhs, m->outbound_schema);
	}
	r.text = strdup(lhs);
	b->rules = realloc(b->rules, (b->n + 1) * sizeof *b->rules);
	b->rules[b->n++] = r;
}

/* ---- what encode needs ----------------------------------------------------- */

static int type_in(char *const *types, const char *type);

/* The canonical fields a required rule's value reads, into buf: a path as
 * written, "a|b" for alternatives; nothing for constants and out(). */
static void expr_sources(const struct expr *e, struct lt_buf *buf, const char *sep)
{
	if (!e)
		return;
	if (e->kind == EX_PATH && !e->path.each) {
		if (buf->len && sep)
			lt_buf_append(buf, sep, strlen(sep));
		for (size_t i = 0; i < e->path.n; i++) {
			if (e->path.s[i].kind != SEG_KEY)
				return;         /* an element: not a field the dossier view keeps */
			lt_buf_printf(buf, "%s%s", i ? "." : "", e->path.s[i].key);
		}
	} else if (e->kind == EX_FIRST) {
		struct lt_buf alts = { 0 };
		for (size_t i = 0; i < e->nargs; i++)
			expr_sources(e->args[i], &alts, "|");
		if (alts.len) {
			if (buf->len && sep)
				lt_buf_append(buf, sep, strlen(sep));
			lt_buf_append(buf, alts.data, alts.len);
		}
		lt_buf_free(&alts);
	} else if (e->kind == EX_CALL && e->fn != FN_OUT && e->fn != FN_WHEN) {
		for (size_t i = 0; i < e->nargs; i++)   /* code(TABLE, x), date(FMT, x): the path among them */
			if (e->args[i]->kind == EX_PATH || e->args[i]->kind == EX_FIRST || e->args[i]->kind == EX_CALL)
				expr_sources(e->args[i], buf, sep);
	}
}

/* The fields the `!` rules of blocks applying to type (NULL: to every type) read. */
static void block_needs(const struct lt_mapping *m, const char *type, struct lt_buf *out)
{
	for (size_t b = 0; b < m->nblocks; b++) {
		const struct block *bl = &m->blocks[b];
		if (!bl->encode || (bl->types && (!type || !type_in(bl->types, type))))
			continue;
		for (size_t i = 0; i < bl->n; i++)
			if (bl->rules[i].required) {
				struct lt_buf one = { 0 };
				expr_sources(bl->rules[i].e, &one, " ");
				if (one.len) {
					lt_buf_append(out, " ", 1);
					lt_buf_append(out, one.data, one.len);
				}
				lt_buf_free(&one);
			}
	}
}

/* "TYPE: FIELDS; …; *: FIELDS" from the `!` rules of [encode] and [encode
 * when TYPE…]; NULL when it has none. */
static char *derive_requires(const struct lt_mapping *m)
{
	struct lt_buf out = { 0 };
	int any = 0;
	for (size_t b = 0; b < m->nblocks; b++)
		for (char **t = m->blocks[b].encode ? m->blocks[b].types : NULL; t && *t; t++) {
			struct lt_buf f = { 0 };
			block_needs(m, *t, &f);
			if (f.len)
				lt_buf_printf(&out, "%s%s:%.*s", any++ ? "; " : "", *t, (int)f.len, f.data);
			lt_buf_free(&f);
		}
	struct lt_buf all = { 0 };
	block_needs(m, NULL, &all);
	if (all.len)
		lt_buf_printf(&out, "%s*:%.*s", any++ ? "; " : "", (int)all.len, all.data);
	lt_buf_free(&all);
	char *s = any ? strndup(out.data, out.len) : NULL;
	lt_buf_free(&out);
	return s;
}

static struct lt_mapping *load_file(struct load *ld, const char *path, const char *name)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		lt_buf_printf(ld->errors, "%s: cannot open: %s\n", path, strerror(errno));
		ld->nerr++;
		return NULL;
	}
	struct lt_mapping *m = calloc(1, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	m->file = strdup(path);
	ld->file = m->file;
	struct lt_err err = { 0 };
	const json_t *canonical = lt_canonical_schema(&err);
	enum { NONE, SETTINGS, RULES, SKIP } sec = NONE;
	struct block *b = NULL;
	char *raw = NULL;
	size_t cap = 0;
	ssize_t n;
	int line = 0, seen_mapping = 0, outside = 0;
	while ((n = getline(&raw, &cap, f)) >= 0) {
		line++;
		if (n > MAX_LINE || (size_t)n != strlen(raw)) {
			mistake(ld, line, n > MAX_LINE ? "line longer than %d characters" : "a NUL byte (%d)", MAX_LINE);
			continue;
		}
		cut_comment(raw);
		char *s = trim(raw);
		s[strcspn(s, "\n")] = '\0';
		s = trim(s);
		if (!*s)
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e || e[1]) {
				mistake(ld, line, "a section is a line like [decode]");
				sec = SKIP;
				continue;
			}
			*e = '\0';
			char *head = trim(s + 1);
			if (!strcmp(head, "mapping")) {
				if (seen_mapping++)
					mistake(ld, line, "[mapping] twice");
				else if (m->nblocks)      /* the rules are checked against its schemas */
					mistake(ld, line, "[mapping] comes before [decode] and [encode]");
				sec = SETTINGS;
			} else {
				b = start_block(ld, m, line, head);
				sec = b ? RULES : SKIP;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (sec == NONE) {
			if (!outside++)
				mistake(ld, line, "a line outside any section (start with [mapping], [decode] or [encode])");
		} else if (sec == SKIP) {
			continue;
		} else if (!eq) {
			mistake(ld, line, "expected %s, not \"%.60s\"", sec == SETTINGS ? "key = value" : "target = value", s);
		} else if (sec == SETTINGS) {
			*eq = '\0';
			setting(ld, m, line, trim(s), trim(eq + 1));
		} else {
			take_rule(ld, m, b, line, s, eq, canonical);
		}
	}
	free(raw);
	fclose(f);
	json_decref(m->out_doc);
	m->out_doc = NULL;
	if (err.msg[0])
		mistake(ld, 1, "%s", err.msg);
	int decodes = 0, encodes = 0;
	for (size_t i = 0; i < m->nblocks; i++)
		*(m->blocks[i].encode ? &encodes : &decodes) += (int)m->blocks[i].n;
	if (!decodes && !encodes)
		mistake(ld, line ? line : 1, "no [decode] or [encode] rules");
	m->requires = derive_requires(m);
	return m;
}

static int map_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".map");
}

static int valid_name(const char *s, size_t n)
{
	if (!n || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

static void read_dir(struct load *ld, struct lt_mappings *set, const char *dir, int override)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, map_file, alphasort);
	if (n < 0) {
		lt_buf_printf(ld->errors, "%s: cannot read the mapping files there: %s\n", dir, strerror(errno));
		ld->nerr++;
		return;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		const char *fname = names[i]->d_name;
		size_t len = strlen(fname) - 4;
		snprintf(path, sizeof path, "%s/%s", dir, fname);
		if (!valid_name(fname, len)) {
			lt_buf_printf(ld->errors, "%s: a mapping's name (its file name before .map) is 1-63 of a-z 0-9 - _\n",
				      path);
			ld->nerr++;
		} else {
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)len, fname);
			struct lt_mapping *m = load_file(ld, path, name);
			size_t k = 0;
			while (m && k < set->n && strcmp(set->m[k]->name, name))
				k++;
			if (m && k < set->n && override) {
				mapping_free(set->m[k]);
				set->m[k] = m;
			} else if (m) {
				set->m = realloc(set->m, (set->n + 1) * sizeof *set->m);
				set->m[set->n++] = m;
			}
		}
		free(names[i]);
	}
	free(names);
}

static int same_dir(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int lt_mappings_load(const char *dir, const char *override_dir, struct lt_mappings **out, struct lt_buf *errors)
{
	struct lt_mappings *set = calloc(1, sizeof *set);
	struct load ld = { .errors = errors };
	*out = NULL;
	snprintf(set->dir, sizeof set->dir, "%s", dir ? dir : lt_mappings_dir());
	read_dir(&ld, set, set->dir, 0);
	if (override_dir && *override_dir && !same_dir(set->dir, override_dir)) {
		snprintf(set->override_dir, sizeof set->override_dir, "%s", override_dir);
		read_dir(&ld, set, override_dir, 1);
	}
	if (ld.nerr) {
		lt_mappings_free(set);
		return LT_ECONFIG;
	}
	*out = set;
	return LT_OK;
}

void lt_mappings_describe(const struct lt_mappings *set, char *out, size_t n)
{
	if (!set) {
		snprintf(out, n, "none loaded");
		return;
	}
	size_t len = (size_t)snprintf(out, n, "%zu mapping%s from %s", set->n, set->n == 1 ? "" : "s", set->dir);
	for (size_t i = 0; i < set->n && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : " (", set->m[i]->name);
	if (set->n && len < n)
		len += (size_t)snprintf(out + len, n - len, ")");
	const char *sep = "; from the deployment: ";
	for (size_t i = 0; i < set->n && len < n; i++)
		if (set->override_dir[0] && !strncmp(set->m[i]->file, set->override_dir, strlen(set->override_dir))) {
			len += (size_t)snprintf(out + len, n - len, "%s%s", sep, set->m[i]->file);
			sep = ", ";
		}
}

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

/* ---- evaluation ----------------------------------------------------------- */

struct run {
	const json_t *in;          /* the peer item (decode) or the canonical event (encode) */
	json_t *out;               /* what is being built */
	const char *base;          /* JSON pointer of `in` in the message: "" or "/events/2" */
	long each;                 /* the current [] element */
	int encode;
	struct lt_err err;         /* the first mistake */
};

static int nothing(const json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v));
}

/* Where a source path points, for messages: a JSON pointer into the peer's
 * message when decoding ("/events/0/dossier/status/id"), the dotted
 * canonical field when encoding ("dossier.channel"). */
static void where(const struct run *r, const struct path *p, char *out, size_t n)
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

static const json_t *get(const json_t *v, const struct path *p, long each)
{
	for (size_t i = 0; v && i < p->n; i++)
		v = p->s[i].kind == SEG_KEY ? json_object_get(v, p->s[i].key) :
		    json_array_get(v, (size_t)(p->s[i].kind == SEG_INDEX ? p->s[i].index : each));
	return v;
}

/* The length of the array a [] of p runs over, in doc. */
static long each_count(const json_t *doc, const struct path *p)
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
static const struct path *each_path(const struct expr *e)
{
	if (e->kind == EX_PATH && e->path.each)
		return &e->path;
	for (size_t i = 0; i < e->nargs; i++) {
		const struct path *p = e->args[i] ? each_path(e->args[i]) : NULL;
		if (p)
			return p;
	}
	return NULL;
}

/* Sets v (taken) at p in out, making the objects and arrays on the way. */
static int put(json_t *out, const struct path *p, long each, json_t *v)
{
	json_t *at = out;
	for (size_t i = 0; i < p->n; i++) {
		const struct seg *sg = &p->s[i];
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
static int parse_date(enum date_fmt fmt, const char *s, int64_t *t)
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
static void format_date(enum date_fmt fmt, int64_t t, char out[40])
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

static int eval(struct run *r, const struct expr *e, json_t **out);

/* A text argument (strings, integers in decimal); NULL when nothing. */
static int eval_text(struct run *r, const struct expr *e, char **out)
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
static void arg_where(struct run *r, const struct expr *a, char *out, size_t n)
{
	while (a && a->kind != EX_PATH && a->kind != EX_OUT && a->nargs)
		a = a->args[a->nargs - 1];
	if (a && a->kind == EX_PATH)
		where(r, &a->path, out, n);
	else
		snprintf(out, n, "%s", r->encode ? "the event" : *r->base ? r->base : "/");
}

static int call(struct run *r, const struct expr *e, json_t **out)
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
					r->encode ? "RFC 3339" : date_names[e->fmt]);
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
static int eval(struct run *r, const struct expr *e, json_t **out)
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
static void prune(json_t *v)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *x, *tmp;
		json_object_foreach_safe(v, tmp, k, x) {
			prune(x);
			if (json_is_null(x) || ((json_is_object(x) && !json_object_size(x)) ||
						(json_is_array(x) && !json_array_size(x))))
				json_object_del(v, k);
		}
	} else if (json_is_array(v)) {
		for (size_t i = json_array_size(v); i-- > 0;) {
			json_t *x = json_array_get(v, i);
			prune(x);
			if (json_is_null(x) || (json_is_object(x) && !json_object_size(x)) ||
			    (json_is_array(x) && !json_array_size(x)))
				json_array_remove(v, i);
		}
	}
}

static int rule_run(struct run *r, const struct rule *ru)
{
	const struct path *ep = ru->target.each ? each_path(ru->e) : NULL;
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

static int type_in(char *const *types, const char *type)
{
	for (char *const *t = types; t && *t; t++)
		if (type && !strcmp(*t, type))
			return 1;
	return !types;
}

/* Runs every block of one direction; the event type of a `when` is read from
 * what is built (decode) or from the event (encode) as the block starts. */
static int run_blocks(struct run *r, const struct lt_mapping *m)
{
	for (size_t b = 0; b < m->nblocks; b++) {
		const struct block *bl = &m->blocks[b];
		if (bl->encode != r->encode)
			continue;
		const char *type = json_string_value(json_object_get(r->encode ? r->in : r->out, "type"));
		if (!type_in(bl->types, type))
			continue;
		for (size_t i = 0; i < bl->n; i++)
			if (rule_run(r, &bl->rules[i]))
				return -1;
	}
	return 0;
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
	struct run r = { .in = item, .out = json_object(), .base = base, .each = -1 };
	struct lt_err e = { 0 };
	int rc = run_blocks(&r, m);
	if (rc) {
		*err = r.err;
		json_decref(r.out);
		return r.err.code ? r.err.code : LT_ESCHEMA;
	}
	json_object_set_new(r.out, "source", json_string(peer->name));
	prune(r.out);
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
	struct run r = { .in = event, .out = json_object(), .each = -1, .encode = 1 };
	struct lt_err e = { 0 };
	const char *code = lt_json_str(event, "dossier_code"), *path = lt_peer_param(peer, "path");
	int rc = run_blocks(&r, m);
	char *s = NULL;
	if (rc) {
		*err = r.err;
		rc = r.err.code ? r.err.code : LT_ESCHEMA;
	} else {
		prune(r.out);
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
