/* codes_load.c — *.codes files read into a set of code tables and checked
 * (codes.h: lt_codes_load, lt_codes_free): sections, header rows, every cell
 * against its column, tables declared by data, a deployment's replacements;
 * FILE:LINE for every mistake.
 *
 * Why a line format of our own rather than JSON: every mistake must be
 * reported with its file and line, a person edits these files by hand and
 * reviews them as diffs (one code, one line; comments beside the codes), and
 * neither is what JSON through jansson gives. */
#include "codes_int.h"
#include "adapter.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LINE 4096
#define MAX_COLS 8
#define MAX_CELL 256
#define MAX_DECLARED 64   /* deployment-declared tables in one set */
#define MAX_NAME 64       /* a declared table's id, a declared column's name */

/* ---- tables declared by data ---------------------------------------------- */

/* A table no C declares: its section is named VENDOR.NAME, VENDOR no built-in
 * table's first word nor an adapter's name, and its header row declares the
 * columns (codes/README.md, "Adding a table of your own"). */
struct lt_code_declared {
	struct lt_code_table spec;
	struct lt_code_column cols[MAX_COLS + 1];
	char id[MAX_NAME + 1];
	char names[MAX_COLS][MAX_NAME + 1];
};

/* A declared table's second column is checked when it is named after a
 * canonical field; any other name holds a code of one word, unchecked. */
static const struct {
	const char *name;
	enum lt_code_kind kind;
	const char *arg;
	int min, max;
} canonical_columns[] = {
	{ "status", LT_COL_INT, NULL, 1, 10 },   /* dossier.status: the portal's TrangThaiHoSo 1-10 (schema) */
	{ "event", LT_COL_CANONICAL, "event.type", 0, 0 },
	{ "channel", LT_COL_CANONICAL, "dossier.channel", 0, 0 },
	{ "return_via", LT_COL_CANONICAL, "dossier.return_via", 0, 0 },
	{ "applicant_type", LT_COL_CANONICAL, "applicant.type", 0, 0 },
};

/* 1 when id may name a table declared by data: "VENDOR.NAME", VENDOR being no
 * built-in table's first word and no adapter's name. */
static int declarable(const char *id)
{
	const char *dot = strchr(id, '.');
	size_t n, k = dot ? (size_t)(dot - id) : 0;
	if (!k || !dot[1] || strlen(id) > MAX_NAME)
		return 0;
	const struct lt_code_table *const *all = lt_code_tables(&n);
	for (size_t i = 0; i < n; i++)
		if (strncmp(all[i]->id, id, k) == 0 && (all[i]->id[k] == '.' || !all[i]->id[k]))
			return 0;
	for (size_t i = 0; i < lt_adapter_count(); i++) {
		const char *a = lt_adapter_at(i)->name;
		if (strlen(a) == k && strncmp(a, id, k) == 0)
			return 0;
	}
	return 1;
}

/* "portal, units, onestop, …": the first words a declared table may not use. */
static void reserved_words(char *out, size_t n)
{
	size_t len = 0, nt;
	const struct lt_code_table *const *all = lt_code_tables(&nt);
	out[0] = '\0';
	for (size_t i = 0; i < nt; i++) {
		size_t k = strcspn(all[i]->id, ".");
		int again = 0;
		for (size_t j = 0; j < i && !again; j++)
			again = strncmp(all[j]->id, all[i]->id, k) == 0 && strcspn(all[j]->id, ".") == k;
		if (!again && len < n)
			len += (size_t)snprintf(out + len, n - len, "%s%.*s", len ? ", " : "", (int)k, all[i]->id);
	}
	for (size_t i = 0; i < lt_adapter_count() && len < n; i++)
		if (!strstr(out, lt_adapter_at(i)->name))
			len += (size_t)snprintf(out + len, n - len, ", %s", lt_adapter_at(i)->name);
}

/* ---- freeing a set -------------------------------------------------------- */

static void table_clear(struct lt_code_rows *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->lines);
	t->cells = NULL;
	t->lines = NULL;
	t->nrows = t->cap = 0;
}

void lt_codes_free(struct lt_codes *set)
{
	while (set) {
		struct lt_codes *next = set->retired;
		for (size_t i = 0; i < set->n; i++) {
			table_clear(&set->t[i]);
			free(set->t[i].decl);
		}
		free(set->t);
		for (size_t i = 0; i < set->nfiles; i++)
			free(set->files[i]);
		free(set->files);
		free(set);
		set = next;
	}
}

/* ---- the loader ----------------------------------------------------------- */

struct load {
	struct lt_codes *set;
	struct lt_mistakes m;       /* the file being read, its mistakes */
	int line;
	int pass;                  /* 0 shipped, 1 override */
	unsigned char *seen;       /* per table: 1 shipped, 2 replaced by an override */
	const char **seen_file;    /* where the table was found in this pass */
	int *seen_line;
	int in_section;            /* a [table] line was read in this file */
	struct lt_code_rows cur;          /* the section being read (rows go here first) */
	long cur_index;            /* its index in set->t, -1 = skipping an unknown/broken section */
	int header_done;
	int declaring;             /* cur is declared by its header row (cur.decl: a new declaration) */
	size_t nbuiltin;           /* set->t[0..nbuiltin) are declared in C */
};

/* Forget the section being read (rows and a declaration it brought). */
static void cur_drop(struct load *ld)
{
	table_clear(&ld->cur);
	free(ld->cur.decl);
	ld->cur.decl = NULL;
	ld->cur_index = -1;
}

/* 1 when s is valid UTF-8 without control characters other than tab. */
static int clean_utf8(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : (*s & 0xF8) == 0xF0 ? 3 : -1;
		if (n < 0 || (*s < 0x20 && *s != '\t') || *s == 0x7F || (n == 1 && *s < 0xC2))
			return 0;
		unsigned cp = n == 0 ? *s : n == 1 ? (*s & 0x1Fu) : n == 2 ? (*s & 0x0Fu) : (*s & 0x07u);
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3Fu);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return 0;
		s += n + 1;
	}
	return 1;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The words of a column's header, as text: "code type meaning". */
static void header_of(const struct lt_code_table *spec, char *out, size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	for (const struct lt_code_column *c = spec->cols; c->name && len < n; c++)
		len += snprintf(out + len, n - len, "%s%s", c == spec->cols ? "" : " ", c->name);
}

static long spec_index(const struct lt_codes *set, const char *id)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->t[i].spec->id, id) == 0)
			return (long)i;
	return -1;
}

static int word_in(const char *words, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = words; *p;) {
		size_t k = strcspn(p, " ");
		if (k == n && strncmp(p, w, n) == 0)
			return 1;
		p += k;
		p += *p == ' ';
	}
	return 0;
}

static int days_in(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 ? 28 + ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) : d[m - 1];
}

/* Checks one cell against its column; 0, or a mistake reported. */
static int check_cell(struct load *ld, const struct lt_code_column *c, const char *v)
{
	const char *id = ld->cur.spec->id;
	char list[512];
	if (strlen(v) > MAX_CELL) {
		lt_mistake(&ld->m, ld->line, "table %s: %s is longer than %d bytes", id, c->name, MAX_CELL);
		return -1;
	}
	switch (c->kind) {
	case LT_COL_CODE:
	case LT_COL_TEXT:
		return 0;
	case LT_COL_WORD:
		if (word_in(c->arg, v))
			return 0;
		lt_mistake(&ld->m, ld->line, "table %s: %s \"%s\" is not one of: %s", id, c->name, v, c->arg);
		return -1;
	case LT_COL_CANONICAL: {
		struct lt_err e = { 0 };
		const json_t *en = lt_canonical_enum(c->arg, &e), *x;
		size_t i, len = 0;
		if (!en) {
			lt_mistake(&ld->m, ld->line, "table %s: %s: %s", id, c->name, e.msg);
			return -1;
		}
		json_array_foreach(en, i, x) {
			if (json_is_string(x) && strcmp(json_string_value(x), v) == 0)
				return 0;
			len += snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", i ? " " : "",
					json_string_value(x));
		}
		lt_mistake(&ld->m, ld->line, "table %s: %s \"%s\" is not a canonical %s (schemas/canonical-event.schema.json: %s)",
			id, c->name, v, c->arg, list);
		return -1;
	}
	case LT_COL_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (*v && !*end && !errno && n >= c->min && n <= c->max && (v[0] != '0' || !v[1]))
			return 0;
		lt_mistake(&ld->m, ld->line, "table %s: %s \"%s\" is not a whole number from %d to %d", id, c->name, v, c->min,
			c->max);
		return -1;
	}
	case LT_COL_DATE: {
		int y, m, d, n = 0;
		if (strlen(v) == 10 && sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 && v[4] == '-' &&
		    v[7] == '-' && strspn(v, "0123456789-") == 10 && y >= 1900 && m >= 1 && m <= 12 && d >= 1 &&
		    d <= days_in(y, m))
			return 0;
		lt_mistake(&ld->m, ld->line, "table %s: %s \"%s\" is not a day like 2025-07-01", id, c->name, v);
		return -1;
	}
	}
	return -1;
}

/* One data row of the current section: its cells checked and kept. */
static void take_row(struct load *ld, char *s)
{
	struct lt_code_rows *t = &ld->cur;
	const struct lt_code_column *cols = t->spec->cols;
	char *cell[MAX_COLS];
	size_t i;
	for (i = 0; i < t->ncols; i++) {
		while (is_blank(*s))
			s++;
		if (!*s)
			break;
		cell[i] = s;
		if (cols[i].kind == LT_COL_TEXT) {
			s += strlen(s);
		} else {
			s += strcspn(s, " \t");
			if (*s)
				*s++ = '\0';
		}
	}
	while (is_blank(*s))
		s++;
	char header[256];
	header_of(t->spec, header, sizeof header);
	if (i < t->ncols) {
		size_t need = 0;
		for (size_t k = i; k < t->ncols; k++)
			need += !(cols[k].flags & LT_COL_OPTIONAL);
		if (need) {
			lt_mistake(&ld->m, ld->line, "table %s: this row has %zu cell%s; it needs %zu (%s; \"-\" for an empty one)",
				t->spec->id, i, i == 1 ? "" : "s", t->ncols, header);
			t->bad_rows++;
			return;
		}
		for (; i < t->ncols; i++)
			cell[i] = "-";      /* optional cells left out at the end */
	}
	if (*s) {
		lt_mistake(&ld->m, ld->line, "table %s: \"%.40s\" is one cell too many (%s)", t->spec->id, s, header);
		t->bad_rows++;
		return;
	}
	int bad = 0;
	for (i = 0; i < t->ncols; i++) {
		if (strcmp(cell[i], "-") == 0) {
			if (cols[i].flags & LT_COL_OPTIONAL) {
				cell[i] = NULL;
				continue;
			}
			lt_mistake(&ld->m, ld->line, "table %s: %s may not be empty (\"-\")", t->spec->id, cols[i].name);
			bad = 1;
			continue;
		}
		bad |= check_cell(ld, &cols[i], cell[i]) != 0;
		if (cols[i].flags & LT_COL_UNIQUE) {
			for (size_t r = 0; r < t->nrows && !bad; r++) {
				const char *o = t->cells[r * t->ncols + i];
				if (o && strcmp(o, cell[i]) == 0) {
					lt_mistake(&ld->m, ld->line, "table %s: %s \"%s\" is already on line %d", t->spec->id,
						cols[i].name, cell[i], t->lines[r]);
					bad = 1;
				}
			}
		}
	}
	if (bad) {
		t->bad_rows++;
		return;
	}
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->cells = realloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
		t->lines = realloc(t->lines, t->cap * sizeof *t->lines);
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = cell[i] ? strdup(cell[i]) : NULL;
	t->lines[t->nrows++] = ld->line;
}

/* The section being read is complete: it becomes (or replaces) its table. */
static void end_section(struct load *ld)
{
	struct lt_code_rows *t = &ld->cur;
	if (ld->cur_index < 0) {
		cur_drop(ld);
		return;
	}
	if (!ld->header_done)
		lt_mistake(&ld->m, t->line, "table %s has no header row (%s)", t->spec->id, "the names of its columns");
	else if (!t->nrows && !t->bad_rows && !t->spec->may_be_empty)
		lt_mistake(&ld->m, t->line, "table %s has no rows", t->spec->id);
	struct lt_code_rows *dst = &ld->set->t[ld->cur_index];
	struct lt_code_declared *keep = dst->decl;
	table_clear(dst);
	if (t->decl)                /* declared again (a deployment's copy): its own columns */
		free(keep), keep = t->decl;
	*dst = *t;
	dst->decl = keep;
	dst->spec = keep ? &keep->spec : dst->spec;
	dst->overridden = ld->pass == 1 && (ld->seen[ld->cur_index] & 1);   /* a shipped table replaced */
	memset(t, 0, sizeof *t);
	ld->cur_index = -1;
}

static struct lt_code_declared *new_declaration(const char *id)
{
	struct lt_code_declared *d = calloc(1, sizeof *d);
	snprintf(d->id, sizeof d->id, "%s", id);
	d->spec.id = d->id;
	d->spec.name = d->id;
	d->spec.cols = d->cols;
	return d;
}

static void start_section(struct load *ld, const char *id)
{
	end_section(ld);
	long i = spec_index(ld->set, id);
	ld->header_done = 0;
	ld->declaring = 0;
	if (i < 0 && declarable(id)) {
		if (ld->set->n >= ld->nbuiltin + MAX_DECLARED) {
			lt_mistake(&ld->m, ld->line, "table [%s]: more than %d tables declared by data", id, MAX_DECLARED);
			return;
		}
		i = (long)ld->set->n++;
		ld->set->t[i].decl = new_declaration(id);
		ld->set->t[i].spec = &ld->set->t[i].decl->spec;
		ld->declaring = 1;
	} else if (i < 0) {
		char known[1024], reserved[512];
		size_t len = 0;
		for (size_t k = 0; k < ld->set->n; k++)
			len += snprintf(known + len, len < sizeof known ? sizeof known - len : 0, "%s%s", k ? ", " : "",
					ld->set->t[k].spec->id);
		reserved_words(reserved, sizeof reserved);
		lt_mistake(&ld->m, ld->line, "unknown table [%s] (known: %s; a table of your own is named VENDOR.NAME, "
			"VENDOR not one of: %s)", id, known, reserved);
		return;
	} else if (ld->set->t[i].decl && !(ld->seen[i] & (1u << ld->pass))) {
		ld->cur.decl = new_declaration(id);   /* a deployment's copy declares its columns again */
		ld->declaring = 1;
	}
	if (ld->seen[i] & (1u << ld->pass)) {
		lt_mistake(&ld->m, ld->line, "table %s is defined twice in %s (first at %s:%d)", id,
			ld->pass ? ld->set->override_dir : ld->set->dir, ld->seen_file[i], ld->seen_line[i]);
		return;
	}
	ld->seen[i] |= 1u << ld->pass;
	ld->seen_file[i] = ld->m.file;
	ld->seen_line[i] = ld->line;
	ld->cur_index = i;
	ld->cur.spec = ld->cur.decl ? &ld->cur.decl->spec : ld->set->t[i].spec;
	ld->cur.ncols = ld->declaring ? 0 : ld->set->t[i].ncols;
	ld->cur.file = ld->m.file;
	ld->cur.line = ld->line;
}

/* The header row of a table declared by data declares its columns: the wire
 * code (unique), the canonical value (checked when named after a canonical
 * field: canonical_columns), then free text; the last takes the rest of the line. */
static void declare_columns(struct load *ld, char *s)
{
	struct lt_code_declared *d = ld->cur.decl ? ld->cur.decl : ld->set->t[ld->cur_index].decl;
	size_t n = 0;
	int bad = 0;
	ld->header_done = 1;
	for (char *save = NULL, *w = strtok_r(s, " \t", &save); w && !bad; w = strtok_r(NULL, " \t", &save)) {
		if (n == MAX_COLS) {
			lt_mistake(&ld->m, ld->line, "table %s: more than %d columns", d->id, MAX_COLS);
			bad = 1;
		} else if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", *w) || strlen(w) > MAX_NAME ||
			   strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(w)) {
			lt_mistake(&ld->m, ld->line, "table %s: column \"%.70s\" is not a name (a letter, then letters, digits "
				"or _; at most %d)", d->id, w, MAX_NAME);
			bad = 1;
		} else {
			for (size_t k = 0; k < n && !bad; k++)
				if (strcmp(d->names[k], w) == 0) {
					lt_mistake(&ld->m, ld->line, "table %s: column %s is named twice", d->id, w);
					bad = 1;
				}
			snprintf(d->names[n], sizeof d->names[n], "%s", w);
			n++;
		}
	}
	if (!bad && n < 2) {
		lt_mistake(&ld->m, ld->line, "table %s: its header row names %zu column%s; a table declared here has at least "
			"two: the wire code, then the canonical value (like \"code status meaning\")", d->id, n,
			n == 1 ? "" : "s");
		bad = 1;
	}
	if (bad) {
		cur_drop(ld);
		return;
	}
	memset(d->cols, 0, sizeof d->cols);
	for (size_t k = 0; k < n; k++) {
		struct lt_code_column *c = &d->cols[k];
		c->name = d->names[k];
		c->kind = k + 1 == n && k > 1 ? LT_COL_TEXT : LT_COL_CODE;
		c->flags = k == 0 ? LT_COL_UNIQUE : k > 1 ? LT_COL_OPTIONAL : 0;
		for (size_t j = 0; k == 1 && j < sizeof canonical_columns / sizeof *canonical_columns; j++)
			if (strcmp(c->name, canonical_columns[j].name) == 0) {
				c->kind = canonical_columns[j].kind;
				c->arg = canonical_columns[j].arg;
				c->min = canonical_columns[j].min;
				c->max = canonical_columns[j].max;
			}
	}
	ld->cur.ncols = n;
	if (!ld->cur.decl)
		ld->set->t[ld->cur_index].ncols = n;
}

/* The header row of the current section must name its columns, in order. */
static void take_header(struct load *ld, char *s)
{
	if (ld->declaring) {
		declare_columns(ld, s);
		return;
	}
	char want[256], got[512];
	size_t len = 0;
	header_of(ld->cur.spec, want, sizeof want);
	got[0] = '\0';
	for (char *save = NULL, *w = strtok_r(s, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		len += snprintf(got + len, len < sizeof got ? sizeof got - len : 0, "%s%s", len ? " " : "", w);
	ld->header_done = 1;
	if (strcmp(want, got)) {
		lt_mistake(&ld->m, ld->line, "table %s: the header row must be \"%s\", not \"%s\"", ld->cur.spec->id, want, got);
		cur_drop(ld);           /* its rows cannot be read against the wrong columns */
	}
}

static void read_file(struct load *ld, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		lt_buf_printf(ld->m.errors, "%s: cannot open: %s\n", path, strerror(errno));
		ld->m.n++;
		return;
	}
	ld->set->files = realloc(ld->set->files, (ld->set->nfiles + 1) * sizeof *ld->set->files);
	ld->m.file = ld->set->files[ld->set->nfiles++] = strdup(path);
	ld->line = 0;
	ld->cur_index = -1;
	ld->in_section = 0;
	int outside = 0;
	char *raw = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&raw, &cap, f)) >= 0) {
		ld->line++;
		while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
			raw[--n] = '\0';
		if (n > MAX_LINE) {
			lt_mistake(&ld->m, ld->line, "line longer than %d characters", MAX_LINE);
			continue;
		}
		if ((size_t)n != strlen(raw) || !clean_utf8((unsigned char *)raw)) {
			lt_mistake(&ld->m, ld->line, "not UTF-8 text (or a control character)");
			continue;
		}
		for (char *p = raw; *p; p++)   /* a comment: # at the start or after a blank */
			if (*p == '#' && (p == raw || is_blank(p[-1]))) {
				*p = '\0';
				break;
			}
		char *s = raw, *e = raw + strlen(raw);
		while (is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			*--e = '\0';
		if (!*s)
			continue;
		if (*s == '[') {
			size_t k = strspn(s + 1, "abcdefghijklmnopqrstuvwxyz0123456789._-");
			if (s[1 + k] != ']' || s[2 + k] || !k) {
				end_section(ld);
				ld->in_section = 1;     /* its rows belong to no table: skipped */
				lt_mistake(&ld->m, ld->line, "a table starts with a line like [onestop.status], not \"%.60s\"", s);
				continue;
			}
			s[1 + k] = '\0';
			ld->in_section = 1;
			start_section(ld, s + 1);
		} else if (!ld->in_section) {
			if (!outside++)         /* one mistake for the lot */
				lt_mistake(&ld->m, ld->line, "a row outside any table (start one with a line like [onestop.status])");
		} else if (ld->cur_index < 0) {
			continue;               /* rows of a section already reported */
		} else if (!ld->header_done) {
			take_header(ld, s);
		} else {
			take_row(ld, s);
		}
	}
	free(raw);
	end_section(ld);
	fclose(f);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a > b && strcmp(s + a - b, suffix) == 0;
}

static int codes_file(const struct dirent *d)
{
	return d->d_name[0] != '.' && ends_with(d->d_name, ".codes");
}

/* Every *.codes file of dir, in name order. */
static void read_dir(struct load *ld, const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, codes_file, alphasort);
	if (n < 0) {
		lt_buf_printf(ld->m.errors, "%s: cannot read the code tables there: %s\n", dir, strerror(errno));
		ld->m.n++;
		return;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		struct stat sb;
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			read_file(ld, path);
		free(names[i]);
	}
	free(names);
	if (n == 0 && ld->pass == 0) {
		lt_buf_printf(ld->m.errors, "%s: no *.codes files (the shipped code tables)\n", dir);
		ld->m.n++;
	}
}

/* 1 when dir is one of the shipped directories of list ("a:b"). */
static int shipped_dir(const char *list, const char *dir)
{
	char *dirs = strdup(list), *save = NULL;
	int same = 0;
	for (char *d = strtok_r(dirs, ":", &save); d && !same; d = strtok_r(NULL, ":", &save))
		same = lt_same_dir(d, dir);
	free(dirs);
	return same;
}

int lt_codes_load(const char *dir, const char *override_dir, struct lt_codes **out, struct lt_buf *errors)
{
	size_t n;
	const struct lt_code_table *const *specs = lt_code_tables(&n);
	struct lt_codes *set = calloc(1, sizeof *set);
	struct load ld = { .set = set, .m.errors = errors, .cur_index = -1 };
	*out = NULL;
	snprintf(set->dir, sizeof set->dir, "%s", dir ? dir : lt_codes_dir());
	if (override_dir && *override_dir && !shipped_dir(set->dir, override_dir))
		snprintf(set->override_dir, sizeof set->override_dir, "%s", override_dir);
	set->n = ld.nbuiltin = n;
	set->t = calloc(n + MAX_DECLARED, sizeof *set->t);
	ld.seen = calloc(n + MAX_DECLARED, 1);
	ld.seen_file = calloc(n + MAX_DECLARED, sizeof *ld.seen_file);
	ld.seen_line = calloc(n + MAX_DECLARED, sizeof *ld.seen_line);
	for (size_t i = 0; i < n; i++) {
		set->t[i].spec = specs[i];
		for (const struct lt_code_column *c = specs[i]->cols; c->name; c++)
			set->t[i].ncols++;
		const struct lt_code_column *cols = specs[i]->cols;
		size_t nc = set->t[i].ncols;
		if (nc < 1 || nc > MAX_COLS) {
			lt_buf_printf(errors, "code table %s is declared with %zu columns (1 to %d)\n", specs[i]->id, nc,
				      MAX_COLS);
			ld.m.n++;
			set->t[i].ncols = 0;
		}
		for (size_t k = 0; k + 1 < nc; k++)
			if (cols[k].kind == LT_COL_TEXT) {
				lt_buf_printf(errors, "code table %s: text column %s is declared before the last\n",
					      specs[i]->id, cols[k].name);
				ld.m.n++;
			}
		for (size_t j = 0; j < i; j++)
			if (strcmp(specs[j]->id, specs[i]->id) == 0) {
				lt_buf_printf(errors, "code table %s is declared twice (an adapter's codes list)\n", specs[i]->id);
				ld.m.n++;
			}
	}
	lt_files_mark(&set->read_from, set->dir, set->override_dir, ".codes", 0);
	char *dirs = strdup(set->dir), *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
		read_dir(&ld, d);
	free(dirs);
	for (size_t i = 0; i < n; i++)
		if (!(ld.seen[i] & 1)) {
			lt_buf_printf(errors, "%s: table [%s] is missing (%s)\n", set->dir, specs[i]->id, specs[i]->name);
			ld.m.n++;
		}
	if (set->override_dir[0]) {
		ld.pass = 1;
		read_dir(&ld, set->override_dir);
	}
	free(ld.seen);
	free(ld.seen_file);
	free(ld.seen_line);
	cur_drop(&ld);
	lt_files_mark(&set->read_from, set->dir, set->override_dir, ".codes", 1);     /* lt_codes_unchanged */
	*out = set;
	return ld.m.n ? LT_ECONFIG : LT_OK;
}

int lt_codes_unchanged(const char *override_dir)
{
	const struct lt_codes *set = lt_codes_in_use();
	const char *over = override_dir && set && !shipped_dir(set->dir, override_dir) ? override_dir : "";
	return set && !strcmp(over, set->override_dir) && lt_files_same(&set->read_from, set->dir, over, ".codes");
}
