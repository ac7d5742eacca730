/* codes.h — code tables as data.
 *
 * Every code list lienthong translates with (channels, statuses, procedure
 * modules, VNPost tracking codes, edXML status codes, registry states, unit
 * renames) is a section of a `*.codes` file: shipped in codes/ (installed in
 * $(DATADIR)/codes), and replaced table by table by the files of a
 * deployment's codes_dir (/etc/lienthong/codes). The C side only declares
 * each table — its columns and what each column may hold — and looks codes
 * up; the rows are data, checked when they are loaded (FILE:LINE for every
 * mistake). The format is described in codes/README.md.
 *
 * A table is declared by whoever uses it: the shared ones here, an adapter's
 * own in its `codes` list (adapter.h). */
#ifndef LT_CODES_H
#define LT_CODES_H

#include <stddef.h>
#include "lt.h"

enum lt_code_kind {
	LT_COL_CODE,       /* one word (a wire code, a procedure code) */
	LT_COL_CANONICAL,  /* one of the canonical schema's enum at `arg`: "dossier.channel" is
			    * $defs/dossier/properties/channel (event types: "event.type") */
	LT_COL_WORD,       /* one of the words of `arg` ("done dead") */
	LT_COL_INT,        /* an integer from min to max */
	LT_COL_DATE,       /* YYYY-MM-DD */
	LT_COL_TEXT,       /* the rest of the line, spaces included; the last column only */
};

#define LT_COL_UNIQUE   0x1  /* no two rows have the same value here */
#define LT_COL_OPTIONAL 0x2  /* "-" leaves the cell empty (NULL) */

struct lt_code_column {
	const char *name;          /* its name in the header row */
	enum lt_code_kind kind;
	const char *arg;           /* CANONICAL: "def.property"; WORD: the words */
	int min, max;              /* INT */
	unsigned flags;
};

/* A table's declaration. Its rows are found through the current set. */
struct lt_code_table {
	const char *id;            /* its section in a *.codes file: "onestop.status" */
	const char *name;          /* in messages: "status (status.id)" */
	const struct lt_code_column *cols; /* ends with a column whose name is NULL */
	int may_be_empty;          /* 1: a table with no rows is valid (unit renames) */
};

/* The tables shared by several adapters (codes/portal.codes, units.codes). */
extern const struct lt_code_table lt_channel_codes;         /* KenhThucHien 1 direct, 2 online, 3 postal */
extern const struct lt_code_table lt_applicant_type_codes;  /* LoaiDoiTuong 1 citizen … 4 other */
extern const struct lt_code_table lt_return_via_codes;      /* HinhThuc 0 direct, 1 postal */
extern const struct lt_code_table lt_status_codes;          /* TrangThaiHoSo 1..10 → the event it suggests */
extern const struct lt_code_table lt_unit_codes;            /* old unit code → new, since a day */
extern const struct lt_code_table lt_agency_name_codes;     /* agency code → its name (reports, trails, console) */

/* Every declared table: the shared ones, then each adapter's, in registry
 * order; n is set to their count. */
const struct lt_code_table *const *lt_code_tables(size_t *n);

struct lt_codes;

/* Read every table: the shipped files of dir (lt_codes_dir() when NULL; it
 * may list several directories, "codes:tests/example"),
 * then the files of override_dir (none when NULL or "", or the same
 * directory): a table there replaces the shipped one whole. Every table
 * declared must be found once in the shipped files; a section no declaration
 * names, a duplicate, a wrong header or a bad cell is a mistake. On success
 * *out owns a new set (not yet in use). On failure LT_ECONFIG, `errors`
 * holds one "FILE:LINE: problem" line per mistake — all of them — and *out
 * still owns what was read (never to be used, but what a mapping file names
 * is checked against it: a table declared in a file with a mistake elsewhere
 * is not "unknown"); the caller frees it either way.
 * May be called again at any time (a reload builds a new set). */
int lt_codes_load(const char *dir, const char *override_dir, struct lt_codes **out, struct lt_buf *errors);
void lt_codes_free(struct lt_codes *set);

/* Make set the one lookups use (takes it). The set it replaces stays
 * allocated until lt_codes_shutdown(): a lookup on another thread may still
 * read it. Any thread. */
void lt_codes_use(struct lt_codes *set);
/* 1 when the files the set in use was read from are, byte for byte, what
 * lt_codes_load(NULL, override_dir, ...) would read now: a reload keeps it
 * instead of loading (and keeping in memory) a copy. */
int lt_codes_unchanged(const char *override_dir);
/* Free the set in use and every one it replaced; lookups load the shipped
 * tables again if called after it. */
/* Lookups on this thread use set (not taken; NULL: the set in use again) while a reload
 * checks a new configuration before anything uses it. */
void lt_codes_try(struct lt_codes *set);
void lt_codes_shutdown(void);

/* The set lookups use (the shipped tables, loaded then, when none was set);
 * NULL when they cannot be read. */
const struct lt_codes *lt_codes_in_use(void);

/* The table named id in the set lookups use (declared in C or by data), or NULL. */
const struct lt_code_table *lt_code_table_named(const char *id);
/* The k-th table of set declared by data (a [VENDOR.NAME] section whose header
 * row declares its columns; codes/README.md), and the file it came from; NULL
 * after the last. */
const struct lt_code_table *lt_codes_declared(const struct lt_codes *set, size_t k, const char **file);

/* "N tables from DIR" and, when some are replaced, "; T from FILE, …", for
 * check-config and the start log line (into out, n bytes). */
void lt_codes_describe(const struct lt_codes *set, char *out, size_t n);

/* Lookups in the set in use; when none is (a unit test, a tool), the shipped
 * tables are loaded first, once. Returned strings belong to the set and stay
 * valid until lt_codes_shutdown(). */

/* Rows of t, and one cell (NULL when "-"). */
size_t lt_code_count(const struct lt_code_table *t);
const char *lt_code_cell(const struct lt_code_table *t, size_t row, size_t col);
/* The first row whose column col is value: its cells (NULL when "-"), or NULL. */
const char *const *lt_code_find(const struct lt_code_table *t, size_t col, const char *value);
/* The first row whose column col is value, as an index; -1 when none. */
long lt_code_index(const struct lt_code_table *t, size_t col, const char *value);

/* Two-column use: column 0 is the wire code, column 1 the canonical value.
 * wire → canonical; NULL and err ("channel (KenhThucHien): unknown code \"7\"") when absent. */
const char *lt_code_to_canonical(const struct lt_code_table *t, const char *wire, struct lt_err *err);
/* canonical → wire; NULL and err when absent. */
const char *lt_code_to_wire(const struct lt_code_table *t, const char *canonical, struct lt_err *err);
/* "1, 2, 3, 4, 6": column col of every row, for error messages (into out, n bytes). */
const char *lt_code_list(const struct lt_code_table *t, size_t col, char *out, size_t n);

/* Portal status codes TrangThaiHoSo (lt_status_codes) and the event type
 * each suggests when a peer reports only a status (e.g. 9 → dossier.resolved).
 * NULL / 0 for a code the table does not have. */
const char *lt_status_event_type(int status);
int lt_status_valid(int status);

#endif
