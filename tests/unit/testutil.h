/* testutil.h — helpers shared by the unit tests (header-only; include after cmocka.h). */
#ifndef LT_TESTUTIL_H
#define LT_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lt.h"

/* The whole file at path, NUL-terminated (malloc'd); its length in *len if
 * len is not NULL. Fails the running test when the file cannot be read. */
static inline char *tu_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	struct lt_buf b = { 0 };
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		lt_buf_append(&b, chunk, n);
	fclose(f);
	if (len)
		*len = b.len;
	return b.data ? b.data : strdup("");
}

#endif
