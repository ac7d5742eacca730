/* dates.h — dates and the one time zone, for the gateway and the adapters.
 *
 * Canonical events use RFC 3339 with an offset; the portal writes
 * yyyyMMddHHmmss and the civil registry dd/MM/yyyy HH:mm:ss, both in local
 * time. Local time is the gateway's one zone ([gateway] timezone): Vietnam,
 * UTC+7 all year (no daylight saving since 1975) — for logs, trails, reports,
 * due dates and the peers' local formats alike, whatever the machine's TZ.
 * Every parser returns 0 or LT_EINVAL with err naming the value, and refuses
 * impossible dates (2026-02-30, hour 24). Pure; any thread. */
#ifndef LT_DATES_H
#define LT_DATES_H

#include <stddef.h>
#include <stdint.h>
#include "lt.h"

#define LT_TZ_NAME "Asia/Ho_Chi_Minh"
#define LT_TZ_OFFSET_S (7 * 3600)
#define LT_TZ_OFFSET "+07:00"

/* RFC 3339 (any offset, or Z) ↔ unix seconds; formatted in local time. */
int lt_date_parse_rfc3339(const char *s, int64_t *unix_s, struct lt_err *err);
void lt_date_format_rfc3339(int64_t unix_s, char out[32]);
/* The same with milliseconds, as log lines carry it: 2026-11-24T09:00:00.123+07:00. */
void lt_date_format_rfc3339_ms(int64_t unix_ms, char out[40]);
/* The portal's yyyyMMddHHmmss and the registry's dd/MM/yyyy HH:mm:ss, local time. */
int lt_date_parse_compact(const char *s, int64_t *unix_s, struct lt_err *err);
void lt_date_format_compact(int64_t unix_s, char out[16]);
int lt_date_parse_vn(const char *s, int64_t *unix_s, struct lt_err *err);
void lt_date_format_vn(int64_t unix_s, char out[20]);
/* RFC 3339 → compact / vn in one step (for encoders). */
int lt_date_rfc3339_to_compact(const char *s, char out[16], struct lt_err *err);
int lt_date_rfc3339_to_vn(const char *s, char out[20], struct lt_err *err);

/* A local day written YYYY-MM-DD (the n bytes at s): the unix time of its
 * first second. Holidays, [units] since, report periods. */
int lt_date_parse_day(const char *s, size_t n, int64_t *unix_s, struct lt_err *err);
/* The local day of a unix time, counted from 1970-01-01 (day 0, a Thursday). */
int64_t lt_date_local_day(int64_t unix_s);
/* The same in SQL, of an expression in unix seconds (SQLite, PostgreSQL). */
#define LT_DATE_LOCAL_DAY_SQL(x) "((" x " + " LT_DATE_STR(LT_TZ_OFFSET_S) ") / 86400)"
#define LT_DATE_STR(x) LT_DATE_STR_(x)
#define LT_DATE_STR_(x) #x

#endif
