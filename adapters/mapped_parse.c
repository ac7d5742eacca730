/* mapped_parse.c — a mapping file's rules parsed: paths (a.b[0].c[]), expressions
 * ("text", name(args), path, a | b) and the checks of a call's word arguments (a date
 * format, a code table, a split's part), into the parsed form of mapped_int.h; and that
 * form freed. mapped_load.c runs it on each rule of a file. */
#include "mapped_int.h"
#include "codes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	enum lt_map_fn fn;
	int min, max;              /* arguments */
} functions[] = {
	{ "date", FN_DATE, 2, 2 },       { "code", FN_CODE, 2, 2 },   { "int", FN_INT, 1, 1 },
	{ "num", FN_NUM, 1, 1 },         { "named", FN_NAMED, 1, 1 }, { "event", FN_EVENT, 1, 1 },
	{ "when", FN_WHEN, 2, 2 },       { "differs", FN_DIFFERS, 2, 2 }, { "concat", FN_CONCAT, 2, LT_MAP_MAX_ARGS },
	{ "split", FN_SPLIT, 3, 3 },     { "out", FN_OUT, 1, 1 },
};

const char *const lt_map_date_names[] = {
	[D_ISO] = "iso", [D_RFC3339] = "rfc3339", [D_COMPACT] = "yyyyMMddHHmmss",
	[D_VN] = "dd/MM/yyyy HH:mm:ss", [D_VN_DAY] = "dd/MM/yyyy", [D_DAY] = "yyyy-MM-dd",
};
#define NDATES (sizeof lt_map_date_names / sizeof *lt_map_date_names)

/* ---- freeing ------------------------------------------------------------- */

void lt_map_path_free(struct lt_map_path *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->s[i].key);
	free(p->s);
	p->s = NULL;
	p->n = 0;
}

void lt_map_expr_free(struct lt_map_expr *e)
{
	if (!e)
		return;
	lt_map_path_free(&e->path);
	free(e->text);
	for (size_t i = 0; i < e->nargs; i++)
		lt_map_expr_free(e->args[i]);
	free(e);
}

/* ---- parsing: paths and expressions ---------------------------------------- */

static int fail(struct lt_map_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct lt_map_parser *p, const char *fmt, ...)
{
	if (!p->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof p->why, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void lt_map_skip_blanks(struct lt_map_parser *p)
{
	while (*p->s == ' ' || *p->s == '\t')
		p->s++;
}

static int ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* a.b[0].c[] → out. */
int lt_map_parse_path(struct lt_map_parser *p, struct lt_map_path *out)
{
	memset(out, 0, sizeof *out);
	for (;;) {
		const char *start = p->s;
		while (ident_char(*p->s))
			p->s++;
		if (p->s == start)
			return fail(p, "expected a field name at \"%.20s\"", start);
		out->s = realloc(out->s, (out->n + 1) * sizeof *out->s);
		out->s[out->n++] = (struct lt_map_seg){ SEG_KEY, strndup(start, (size_t)(p->s - start)), 0 };
		while (*p->s == '[') {
			char *end;
			p->s++;
			struct lt_map_seg sg = { SEG_EACH, NULL, 0 };
			if (*p->s != ']') {
				errno = 0;
				long i = strtol(p->s, &end, 10);
				if (end == p->s || *end != ']' || i < 0 || i > 999 || errno)
					return fail(p, "expected [] or [N] (N from 0 to 999) at \"%.20s\"", p->s - 1);
				sg = (struct lt_map_seg){ SEG_INDEX, NULL, i };
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

static struct lt_map_expr *new_expr(enum lt_map_ex_kind k)
{
	struct lt_map_expr *e = calloc(1, sizeof *e);
	e->kind = k;
	return e;
}

/* "text", with \" and \\ inside. */
static struct lt_map_expr *parse_text(struct lt_map_parser *p)
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
	struct lt_map_expr *e = new_expr(EX_TEXT);
	e->text = b.data ? b.data : strdup("");
	return e;
}

/* The word an argument is written as (a date format, a table, a number). */
static const char *word_of(const struct lt_map_expr *a)
{
	if (a->kind == EX_TEXT)
		return a->text;
	if (a->kind == EX_PATH && a->path.n == 1 && a->path.s[0].kind == SEG_KEY)
		return a->path.s[0].key;
	return NULL;
}

/* Checks a call's arguments that are words, not values. */
static int call_words(struct lt_map_parser *p, struct lt_map_expr *e, const char *name)
{
	if (e->fn == FN_DATE) {
		const char *w = word_of(e->args[0]);
		for (size_t i = 0; w && i < NDATES; i++)
			if (!strcmp(w, lt_map_date_names[i])) {
				e->fmt = (enum lt_map_date_fmt)i;
				return 0;
			}
		return fail(p, "date: unknown format \"%s\" (known: iso, rfc3339, yyyyMMddHHmmss, \"dd/MM/yyyy HH:mm:ss\", "
			    "dd/MM/yyyy, yyyy-MM-dd)", w ? w : "?");
	}
	if (e->fn == FN_CODE) {
		char id[128] = "";
		const struct lt_map_expr *a = e->args[0];
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
static struct lt_map_expr *parse_atom(struct lt_map_parser *p)
{
	lt_map_skip_blanks(p);
	if (*p->s == '"')
		return parse_text(p);
	const char *start = p->s;
	while (ident_char(*p->s))
		p->s++;
	size_t len = (size_t)(p->s - start);
	if (*p->s == '(' && len) {
		struct lt_map_expr *e = new_expr(EX_CALL);
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
		lt_map_skip_blanks(p);
		while (*p->s != ')') {
			if (e->nargs == LT_MAP_MAX_ARGS) {
				fail(p, "%s: too many arguments", functions[f].name);
				lt_map_expr_free(e);
				return NULL;
			}
			if (e->fn == FN_OUT) {
				struct lt_map_expr *a = new_expr(EX_OUT);
				e->args[e->nargs++] = a;
				if (lt_map_parse_path(p, &a->path)) {
					lt_map_expr_free(e);
					return NULL;
				}
			} else if (!(e->args[e->nargs++] = lt_map_parse_expr(p))) {
				lt_map_expr_free(e);
				return NULL;
			}
			lt_map_skip_blanks(p);
			if (*p->s == ',') {
				p->s++;
				lt_map_skip_blanks(p);
			} else if (*p->s != ')') {
				fail(p, "%s: expected , or ) at \"%.20s\"", functions[f].name, p->s);
				lt_map_expr_free(e);
				return NULL;
			}
		}
		p->s++;
		if ((int)e->nargs < functions[f].min || (int)e->nargs > functions[f].max) {
			fail(p, "%s takes %d%s argument%s, not %zu", functions[f].name, functions[f].min,
			     functions[f].max > functions[f].min ? " or more" : "", functions[f].min == 1 ? "" : "s", e->nargs);
			lt_map_expr_free(e);
			return NULL;
		}
		if (call_words(p, e, functions[f].name)) {
			lt_map_expr_free(e);
			return NULL;
		}
		if (e->fn == FN_OUT) {      /* out(path) is a path into what is built */
			struct lt_map_expr *o = e->args[0];
			e->args[0] = NULL;
			e->nargs = 0;
			lt_map_expr_free(e);
			return o;
		}
		return e;
	}
	p->s = start;
	struct lt_map_expr *e = new_expr(EX_PATH);
	if (lt_map_parse_path(p, &e->path)) {
		lt_map_expr_free(e);
		return NULL;
	}
	return e;
}

/* atom ('|' atom)* — the first that has a value. */
struct lt_map_expr *lt_map_parse_expr(struct lt_map_parser *p)
{
	struct lt_map_expr *first = parse_atom(p), *alt = NULL;
	if (!first)
		return NULL;
	for (;;) {
		lt_map_skip_blanks(p);
		if (*p->s != '|')
			return alt ? alt : first;
		p->s++;
		if (!alt) {
			alt = new_expr(EX_FIRST);
			alt->args[alt->nargs++] = first;
		}
		if (alt->nargs == LT_MAP_MAX_ARGS) {
			fail(p, "at most %d alternatives", LT_MAP_MAX_ARGS);
			lt_map_expr_free(alt);
			return NULL;
		}
		if (!(alt->args[alt->nargs++] = parse_atom(p))) {
			lt_map_expr_free(alt);
			return NULL;
		}
	}
}

/* 1 when some source path of e (not under out()) has a []. */
int lt_map_has_each(const struct lt_map_expr *e)
{
	if (e->kind == EX_PATH)
		return e->path.each;
	for (size_t i = 0; i < e->nargs; i++)
		if (e->args[i] && lt_map_has_each(e->args[i]))
			return 1;
	return 0;
}
