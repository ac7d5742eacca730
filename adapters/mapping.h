/* mapping.h — the conversions adapters share: JSON helpers, and through
 * dates.h the date formats of the peer systems; the code tables are data
 * (codes.h, codes/). */
#ifndef LT_MAPPING_H
#define LT_MAPPING_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "dates.h"     /* the peers' date formats, for every adapter that reads or writes them */
#include "lt.h"
#include "codes.h"

/* JSON helpers for adapters. The value at a dotted path
 * ("dossier.applicant.address") of o, or NULL; the non-empty string there,
 * or NULL; set key to value unless value is NULL or "". */
const json_t *lt_json_dig(const json_t *o, const char *path);
const char *lt_json_str(const json_t *o, const char *path);
void lt_json_put_str(json_t *o, const char *key, const char *value);

/* Parse a peer's JSON (duplicate keys refused, plus `flags`), or NULL with
 * LT_EINVAL in err: "<what> is not valid JSON: <reason> at line L column C". */
json_t *lt_json_parse(const char *what, const char *s, size_t len, size_t flags, struct lt_err *err);

#endif
