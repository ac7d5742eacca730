/* mapped.h — declarative peer dialects: the `mapped` adapter runs a mapping
 * file (mappings/NAME.map) that says, field by field, how a JSON peer's
 * messages become canonical events and how a canonical event becomes the
 * peer's request. The format is in mappings/README.md.
 *
 * Mapping files are shipped in mappings/ (installed in $(DATADIR)/mappings);
 * a deployment's mappings_dir (/etc/lienthong/mappings) adds dialects, and a
 * file there with a shipped file's name replaces it. Every file is checked
 * when it is loaded (FILE:LINE for every mistake); loading builds a new set
 * that can replace the one in use at any time, like the code tables. */
#ifndef LT_MAPPED_H
#define LT_MAPPED_H

#include <stddef.h>
#include "lt.h"

struct lt_mappings;

/* Read every *.map of dir (lt_mappings_dir() when NULL) and of override_dir
 * (none when NULL, "" or the same directory). On success *out owns a new set;
 * on failure LT_ECONFIG and one "FILE:LINE: problem" line per mistake in
 * errors. Needs the code tables it names in use (codes.h). */
int lt_mappings_load(const char *dir, const char *override_dir, struct lt_mappings **out, struct lt_buf *errors);
void lt_mappings_free(struct lt_mappings *set);
/* Make set the one the mapped adapter uses (takes it); the one it replaces
 * stays allocated until lt_mappings_shutdown(). Any thread. */
void lt_mappings_use(struct lt_mappings *set);
/* 1 when the files the set in use was read from are, byte for byte, what
 * lt_mappings_load(NULL, override_dir, ...) would read now (see lt_codes_unchanged). */
int lt_mappings_unchanged(const char *override_dir);
/* Lookups on this thread use set (not taken; NULL: the set in use again) while a reload
 * checks a new configuration before anything uses it. */
void lt_mappings_try(struct lt_mappings *set);
void lt_mappings_shutdown(void);
/* The set the mapped adapter uses (the shipped files, loaded then, when none
 * was set); NULL when they cannot be read. */
const struct lt_mappings *lt_mappings_in_use(void);
/* "N mappings from DIR (a, b)" and the replaced or added ones, into out. */
void lt_mappings_describe(const struct lt_mappings *set, char *out, size_t n);

/* Where the shipped mapping files live: LT_MAPPINGS_DIR env, ./mappings,
 * ../mappings or ../share/lienthong/mappings beside the executable, else
 * $(DATADIR)/mappings. */
const char *lt_mappings_dir(void);

#endif
