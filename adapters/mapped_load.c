/* mapped_load.c — mapping files read and checked (mapped.h: lt_mappings_load,
 * lt_mappings_describe, lt_mappings_free): the [mapping] settings and their schemas, the
 * blocks and rules (targets checked against the canonical or the outbound schema), what
 * encode needs (the `!` rules), and the shipped and the deployment's directories.
 * FILE:LINE for every mistake. */
#include "mapped_int.h"
#include "adapter.h"
#include "jsonschema.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LINE 4096

/* ---- freeing ------------------------------------------------------------- */

static void mapping_free(struct lt_mapping *m)
{
	if (m)
		free(m->requires);
	if (!m)
		return;
	for (size_t b = 0; b < m->nblocks; b++) {
		struct lt_map_block *bl = &m->blocks[b];
		for (size_t i = 0; i < bl->n; i++) {
			lt_map_path_free(&bl->rules[i].target);
			lt_map_expr_free(bl->rules[i].e);
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
static int schema_allows(const json_t *root, const json_t *s, const struct lt_map_path *path, size_t i)
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
	const struct lt_map_seg *sg = &path->s[i];
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
	struct lt_mistakes m;       /* the file being read, its mistakes */
};

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
			lt_mistake(&ld->m, line, "content_type: a mapping speaks application/json only, not \"%s\"", v);
		return;
	}
	if (!dst) {
		lt_mistake(&ld->m, line, "unknown setting \"%s\" in [mapping] (known: content_type, inbound_schema, "
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
			lt_mistake(&ld->m, line, "%s: %s", k, err.msg);
		if (slot == &m->out_schema) {
			json_decref(m->out_doc);
			m->out_doc = *slot ? json_load_file(full, 0, NULL) : NULL;
		}
	}
}

/* [decode], [encode], [decode when TYPE …] */
static struct lt_map_block *start_block(struct load *ld, struct lt_mapping *m, int line, char *head)
{
	char *save = NULL, *w = strtok_r(head, " \t", &save);
	int encode = w && !strcmp(w, "encode");
	if (!w || (strcmp(w, "decode") && !encode)) {
		lt_mistake(&ld->m, line, "unknown section [%s] (known: [mapping], [decode], [encode], [decode when TYPE…], "
			"[encode when TYPE…])", head);
		return NULL;
	}
	m->blocks = realloc(m->blocks, (m->nblocks + 1) * sizeof *m->blocks);
	struct lt_map_block *b = &m->blocks[m->nblocks++];
	memset(b, 0, sizeof *b);
	b->encode = encode;
	if (!(w = strtok_r(NULL, " \t", &save)))
		return b;
	if (strcmp(w, "when")) {
		lt_mistake(&ld->m, line, "expected [%s when TYPE…], not \"%s\"", encode ? "encode" : "decode", w);
		return b;
	}
	size_t n = 0;
	while ((w = strtok_r(NULL, " \t", &save))) {
		if (!lt_event_type_known(w))
			lt_mistake(&ld->m, line, "\"%s\" is not a canonical event type (schemas/canonical-event.schema.json)", w);
		b->types = realloc(b->types, (n + 2) * sizeof *b->types);
		b->types[n++] = strdup(w);
		b->types[n] = NULL;
	}
	if (!n)
		lt_mistake(&ld->m, line, "when names no event type");
	return b;
}

/* target = expression, target! = expression */
static void take_rule(struct load *ld, struct lt_mapping *m, struct lt_map_block *b, int line, char *s, char *eq,
		      const json_t *canonical)
{
	*eq = '\0';
	char *lhs = trim(s), *rhs = trim(eq + 1);
	struct lt_map_rule r = { .line = line };
	size_t len = strlen(lhs);
	if (len && lhs[len - 1] == '!') {
		r.required = 1;
		lhs[--len] = '\0';
		lhs = trim(lhs);
	}
	struct lt_map_parser p = { .s = lhs };
	if (lt_map_parse_path(&p, &r.target) || *trim((char *)p.s)) {
		lt_mistake(&ld->m, line, "target \"%s\": %s", lhs, p.why[0] ? p.why : "not a field path like dossier.channel");
		lt_map_path_free(&r.target);
		return;
	}
	p = (struct lt_map_parser){ .s = rhs };
	r.e = *rhs ? lt_map_parse_expr(&p) : NULL;
	if (r.e)
		lt_map_skip_blanks(&p);
	if (!r.e || *p.s) {
		lt_mistake(&ld->m, line, "%s: %s", lhs, !*rhs ? "no value" : p.why[0] ? p.why : "unexpected text after the value");
		lt_map_path_free(&r.target);
		lt_map_expr_free(r.e);
		return;
	}
	if (r.target.each != lt_map_has_each(r.e)) {
		lt_mistake(&ld->m, line, "%s: a [] in the target goes with a [] in a source (one element for each)", lhs);
	} else if (!b->encode && canonical && !schema_allows(canonical, json_object_get(json_object_get(canonical, "$defs"),
										    "event"), &r.target, 0)) {
		lt_mistake(&ld->m, line, "%s is not a field of the canonical event (schemas/canonical-event.schema.json)", lhs);
	} else if (b->encode && m->out_doc && !schema_allows(m->out_doc, m->out_doc, &r.target, 0)) {
		lt_mistake(&ld->m, line, "%s is not a field of what %s allows", lhs, m->outbound_schema);
	}
	r.text = strdup(lhs);
	b->rules = realloc(b->rules, (b->n + 1) * sizeof *b->rules);
	b->rules[b->n++] = r;
}

/* ---- what encode needs ----------------------------------------------------- */

/* The canonical fields a required rule's value reads, into buf: a path as
 * written, "a|b" for alternatives; nothing for constants and out(). */
static void expr_sources(const struct lt_map_expr *e, struct lt_buf *buf, const char *sep)
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
		const struct lt_map_block *bl = &m->blocks[b];
		if (!bl->encode || (bl->types && (!type || !lt_map_type_in(bl->types, type))))
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
		lt_buf_printf(ld->m.errors, "%s: cannot open: %s\n", path, strerror(errno));
		ld->m.n++;
		return NULL;
	}
	struct lt_mapping *m = calloc(1, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	m->file = strdup(path);
	ld->m.file = m->file;
	struct lt_err err = { 0 };
	const json_t *canonical = lt_canonical_schema(&err);
	enum { NONE, SETTINGS, RULES, SKIP } sec = NONE;
	struct lt_map_block *b = NULL;
	char *raw = NULL;
	size_t cap = 0;
	ssize_t n;
	int line = 0, seen_mapping = 0, outside = 0;
	while ((n = getline(&raw, &cap, f)) >= 0) {
		line++;
		if (n > MAX_LINE || (size_t)n != strlen(raw)) {
			lt_mistake(&ld->m, line, n > MAX_LINE ? "line longer than %d characters" : "a NUL byte (%d)", MAX_LINE);
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
				lt_mistake(&ld->m, line, "a section is a line like [decode]");
				sec = SKIP;
				continue;
			}
			*e = '\0';
			char *head = trim(s + 1);
			if (!strcmp(head, "mapping")) {
				if (seen_mapping++)
					lt_mistake(&ld->m, line, "[mapping] twice");
				else if (m->nblocks)      /* the rules are checked against its schemas */
					lt_mistake(&ld->m, line, "[mapping] comes before [decode] and [encode]");
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
				lt_mistake(&ld->m, line, "a line outside any section (start with [mapping], [decode] or [encode])");
		} else if (sec == SKIP) {
			continue;
		} else if (!eq) {
			lt_mistake(&ld->m, line, "expected %s, not \"%.60s\"", sec == SETTINGS ? "key = value" : "target = value", s);
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
		lt_mistake(&ld->m, 1, "%s", err.msg);
	int decodes = 0, encodes = 0;
	for (size_t i = 0; i < m->nblocks; i++)
		*(m->blocks[i].encode ? &encodes : &decodes) += (int)m->blocks[i].n;
	if (!decodes && !encodes)
		lt_mistake(&ld->m, line ? line : 1, "no [decode] or [encode] rules");
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
		lt_buf_printf(ld->m.errors, "%s: cannot read the mapping files there: %s\n", dir, strerror(errno));
		ld->m.n++;
		return;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		const char *fname = names[i]->d_name;
		size_t len = strlen(fname) - 4;
		snprintf(path, sizeof path, "%s/%s", dir, fname);
		if (!valid_name(fname, len)) {
			lt_buf_printf(ld->m.errors, "%s: a mapping's name (its file name before .map) is 1-63 of a-z 0-9 - _\n",
				      path);
			ld->m.n++;
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

int lt_mappings_load(const char *dir, const char *override_dir, struct lt_mappings **out, struct lt_buf *errors)
{
	struct lt_mappings *set = calloc(1, sizeof *set);
	struct load ld = { .m.errors = errors };
	*out = NULL;
	snprintf(set->dir, sizeof set->dir, "%s", dir ? dir : lt_mappings_dir());
	if (override_dir && *override_dir && !lt_same_dir(set->dir, override_dir))
		snprintf(set->override_dir, sizeof set->override_dir, "%s", override_dir);
	lt_files_mark(&set->read_from, set->dir, set->override_dir, ".map", 0);
	read_dir(&ld, set, set->dir, 0);
	if (set->override_dir[0])
		read_dir(&ld, set, set->override_dir, 1);
	if (ld.m.n) {
		lt_mappings_free(set);
		return LT_ECONFIG;
	}
	lt_files_mark(&set->read_from, set->dir, set->override_dir, ".map", 1);      /* lt_mappings_unchanged */
	*out = set;
	return LT_OK;
}

int lt_mappings_unchanged(const char *override_dir)
{
	const struct lt_mappings *set = lt_mappings_in_use();
	const char *over = override_dir && set && !lt_same_dir(set->dir, override_dir) ? override_dir : "";
	return set && !strcmp(over, set->override_dir) && lt_files_same(&set->read_from, set->dir, over, ".map");
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
