/* codes.c — code tables read from *.codes files (codes.h; the format in
 * codes/README.md): the shared tables' declarations, the set in use, and the
 * lookups adapters make. The files are read and checked in codes_load.c. */
#include "codes_int.h"
#include "adapter.h"
#include "inuse.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the shared tables ---------------------------------------------------- */

static const struct lt_code_column channel_cols[] = {
	{ "KenhThucHien", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "channel", LT_COL_CANONICAL, "dossier.channel", 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
const struct lt_code_table lt_channel_codes = { "portal.channel", "channel (KenhThucHien)", channel_cols, 0 };

static const struct lt_code_column applicant_type_cols[] = {
	{ "LoaiDoiTuong", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "type", LT_COL_CANONICAL, "applicant.type", 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
const struct lt_code_table lt_applicant_type_codes = { "portal.applicant_type", "applicant type (LoaiDoiTuong)",
						       applicant_type_cols, 0 };

static const struct lt_code_column return_via_cols[] = {
	{ "HinhThuc", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "return_via", LT_COL_CANONICAL, "dossier.return_via", 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
const struct lt_code_table lt_return_via_codes = { "portal.return_via", "return method (HinhThuc)", return_via_cols,
						   0 };

static const struct lt_code_column status_cols[] = {
	{ "TrangThaiHoSo", LT_COL_INT, NULL, 1, 10, LT_COL_UNIQUE },
	{ "event", LT_COL_CANONICAL, "event.type", 0, 0, 0 },
	{ "meaning", LT_COL_TEXT, NULL, 0, 0, LT_COL_OPTIONAL },
	{ NULL, 0, NULL, 0, 0, 0 },
};
const struct lt_code_table lt_status_codes = { "portal.status", "portal status (TrangThaiHoSo)", status_cols, 0 };

static const struct lt_code_column unit_cols[] = {
	{ "old", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "new", LT_COL_CODE, NULL, 0, 0, 0 },
	{ "since", LT_COL_DATE, NULL, 0, 0, LT_COL_OPTIONAL },
	{ NULL, 0, NULL, 0, 0, 0 },
};
const struct lt_code_table lt_unit_codes = { "units", "unit renames", unit_cols, 1 };

static const struct lt_code_column agency_name_cols[] = {
	{ "code", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "name", LT_COL_TEXT, NULL, 0, 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
const struct lt_code_table lt_agency_name_codes = { "units.names", "agency names", agency_name_cols, 1 };

static const struct lt_code_table *const shared[] = {
	&lt_channel_codes, &lt_applicant_type_codes, &lt_return_via_codes, &lt_status_codes, &lt_unit_codes,
	&lt_agency_name_codes,
};
#define NSHARED (sizeof shared / sizeof *shared)

static const struct lt_code_table *all_tables[128];
static size_t ntables;

/* Fills all_tables: the shared tables, then each adapter's, in registry order. */
static void collect(void)
{
	for (size_t i = 0; i < NSHARED; i++)
		all_tables[ntables++] = shared[i];
	for (size_t i = 0; i < lt_adapter_count(); i++)
		for (const struct lt_code_table *const *t = lt_adapter_at(i)->codes; t && *t; t++)
			if (ntables < sizeof all_tables / sizeof *all_tables)
				all_tables[ntables++] = *t;
}

const struct lt_code_table *const *lt_code_tables(size_t *n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, collect);
	*n = ntables;
	return all_tables;
}

/* ---- a loaded set --------------------------------------------------------- */

void lt_codes_describe(const struct lt_codes *set, char *out, size_t n)
{
	if (!set) {
		snprintf(out, n, "none loaded");
		return;
	}
	size_t len = (size_t)snprintf(out, n, "%zu tables from %s", set->n, set->dir);
	const char *sep = "; declared by data: ";
	for (size_t i = 0; i < set->n && len < n; i++)
		if (set->t[i].decl) {
			len += (size_t)snprintf(out + len, n - len, "%s%s (%s)", sep, set->t[i].spec->id, set->t[i].file);
			sep = ", ";
		}
	sep = "; replaced: ";
	for (size_t i = 0; i < set->n && len < n; i++)
		if (set->t[i].overridden) {
			len += (size_t)snprintf(out + len, n - len, "%s%s (%s)", sep, set->t[i].spec->id, set->t[i].file);
			sep = ", ";
		}
}

/* ---- the set in use ------------------------------------------------------- */

static void *load_shipped(struct lt_buf *errors)
{
	struct lt_codes *set = NULL;
	return lt_codes_load(NULL, NULL, &set, errors) == 0 ? set : NULL;
}

static struct lt_inuse in_use = LT_INUSE_INIT("code tables", load_shipped);

void lt_codes_use(struct lt_codes *set)
{
	set->retired = lt_inuse_swap(&in_use, set);
}

void lt_codes_try(struct lt_codes *set)
{
	lt_inuse_try(&in_use, set);
}

void lt_codes_shutdown(void)
{
	lt_codes_free(lt_inuse_take(&in_use));
}

/* The set in use; the shipped one, loaded once, when none was set. */
static const struct lt_codes *current(void)
{
	return lt_inuse_get(&in_use);
}

const struct lt_codes *lt_codes_in_use(void)
{
	return current();
}

static const struct lt_code_rows *rows_of(const struct lt_code_table *spec)
{
	const struct lt_codes *set = current();
	for (size_t i = 0; set && i < set->n; i++)
		if (set->t[i].spec == spec)
			return &set->t[i];
	for (size_t i = 0; set && i < set->n; i++)   /* a declared table of the set a reload replaced */
		if (set->t[i].decl && strcmp(set->t[i].spec->id, spec->id) == 0)
			return &set->t[i];
	return NULL;
}

const struct lt_code_table *lt_code_table_named(const char *id)
{
	const struct lt_codes *set = current();
	for (size_t i = 0; set && id && i < set->n; i++)
		if (strcmp(set->t[i].spec->id, id) == 0)
			return set->t[i].spec;
	return NULL;
}

const struct lt_code_table *lt_codes_declared(const struct lt_codes *set, size_t k, const char **file)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (set->t[i].decl && k-- == 0) {
			if (file)
				*file = set->t[i].file;
			return set->t[i].spec;
		}
	return NULL;
}

size_t lt_code_count(const struct lt_code_table *spec)
{
	const struct lt_code_rows *t = rows_of(spec);
	return t ? t->nrows : 0;
}

const char *lt_code_cell(const struct lt_code_table *spec, size_t row, size_t col)
{
	const struct lt_code_rows *t = rows_of(spec);
	return t && row < t->nrows && col < t->ncols ? t->cells[row * t->ncols + col] : NULL;
}

long lt_code_index(const struct lt_code_table *spec, size_t col, const char *value)
{
	const struct lt_code_rows *t = rows_of(spec);
	for (size_t r = 0; t && value && col < t->ncols && r < t->nrows; r++) {
		const char *c = t->cells[r * t->ncols + col];
		if (c && strcmp(c, value) == 0)
			return (long)r;
	}
	return -1;
}

const char *const *lt_code_find(const struct lt_code_table *spec, size_t col, const char *value)
{
	const struct lt_code_rows *t = rows_of(spec);
	long r = lt_code_index(spec, col, value);
	return r < 0 ? NULL : (const char *const *)&t->cells[(size_t)r * t->ncols];
}

const char *lt_code_to_canonical(const struct lt_code_table *t, const char *wire, struct lt_err *err)
{
	const char *const *row = lt_code_find(t, 0, wire);
	if (row)
		return row[1];
	lt_err_set(err, LT_ESCHEMA, "%s: unknown code \"%.32s\"", t->name, wire ? wire : "(missing)");
	return NULL;
}

const char *lt_code_to_wire(const struct lt_code_table *t, const char *canonical, struct lt_err *err)
{
	const char *const *row = lt_code_find(t, 1, canonical);
	if (row)
		return row[0];
	lt_err_set(err, LT_ESCHEMA, "%s: no code for \"%.32s\"", t->name, canonical ? canonical : "(missing)");
	return NULL;
}

const char *lt_code_list(const struct lt_code_table *t, size_t col, char *out, size_t n)
{
	size_t len = 0, rows = lt_code_count(t);
	out[0] = '\0';
	for (size_t r = 0; r < rows && len < n; r++) {
		const char *c = lt_code_cell(t, r, col);
		len += (size_t)snprintf(out + len, n - len, "%s%s", r ? ", " : "", c ? c : "-");
	}
	return out;
}

const char *lt_status_event_type(int status)
{
	char s[16];
	snprintf(s, sizeof s, "%d", status);
	const char *const *row = lt_code_find(&lt_status_codes, 0, s);
	return row ? row[1] : NULL;
}

int lt_status_valid(int status)
{
	return lt_status_event_type(status) != NULL;
}
