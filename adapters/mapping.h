/* mapping.h — the conversions adapters share: the date formats of the peer
 * systems and JSON helpers; the code tables are data (codes.h, codes/). */
#ifndef LT_MAPPING_H
#define LT_MAPPING_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lt.h"
#include "codes.h"

/* Dates. Canonical events use RFC 3339 with an offset; the portal uses
 * yyyyMMddHHmmss and the civil registry dd/MM/yyyy HH:mm:ss, both in
 * Asia/Ho_Chi_Minh time (UTC+07:00, no daylight saving).
 * Each returns 0 or LT_EINVAL with err naming the value; impossible dates
 * (2026-02-30, hour 24) are refused. */
int lt_date_parse_rfc3339(const char *s, int64_t *unix_s, struct lt_err *err);
void lt_date_format_rfc3339(int64_t unix_s, char out[32]);        /* always +07:00 */
int lt_date_parse_compact(const char *s, int64_t *unix_s, struct lt_err *err);   /* yyyyMMddHHmmss */
void lt_date_format_compact(int64_t unix_s, char out[16]);
int lt_date_parse_vn(const char *s, int64_t *unix_s, struct lt_err *err);        /* dd/MM/yyyy HH:mm:ss */
void lt_date_format_vn(int64_t unix_s, char out[20]);
/* RFC 3339 → compact / vn in one step (for encoders). */
int lt_date_rfc3339_to_compact(const char *s, char out[16], struct lt_err *err);
int lt_date_rfc3339_to_vn(const char *s, char out[20], struct lt_err *err);

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
