/* codes_int.h — what the code tables' own files share, apart from their public face
 * (codes.h): a loaded set, built by the loader (codes_load.c) and read by the set in
 * use and the lookups (codes.c). Included by adapters/codes*.c only. */
#ifndef LT_CODES_INT_H
#define LT_CODES_INT_H

#include <limits.h>
#include <stddef.h>
#include "codes.h"

/* A table no C declares, its columns named by its header row (codes_load.c). */
struct lt_code_declared;

/* ---- a loaded set --------------------------------------------------------- */

/* One table of a set: its declaration and its rows. */
struct lt_code_rows {
	const struct lt_code_table *spec;
	struct lt_code_declared *decl;  /* a table declared by data: its declaration, owned; NULL: declared in C */
	size_t ncols, nrows, cap;
	char **cells;              /* nrows × ncols; NULL for "-" */
	int *lines;
	const char *file;          /* one of the set's files */
	int line;                  /* of its [section] */
	int overridden;
	int bad_rows;              /* rows refused while reading it */
};

struct lt_codes {
	size_t n;
	struct lt_code_rows *t;    /* in lt_code_tables() order, then the declared ones as found */
	char **files;              /* every file read, owned */
	size_t nfiles;
	char dir[PATH_MAX];
	char override_dir[PATH_MAX];
	struct lt_codes *retired;  /* sets this one replaced (lt_codes_use) */
	struct lt_files_mark read_from; /* the files it was read from (a reload of the same keeps the set) */
};

#endif
