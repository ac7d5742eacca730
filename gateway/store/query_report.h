/* query_report.h — the office's report for a period (query_report.c), as a
 * JSON document or CSV, and the dates a report is asked for as typed. */
#ifndef LT_QUERY_REPORT_H
#define LT_QUERY_REPORT_H

#include <jansson.h>
#include <stdint.h>
#include "lt.h"

struct lt_query;

/* The office's figures for [from, to) (unix s), per receiving agency, per
 * handling agency (a late dossier counted where it went late), in total, and
 * the dossiers whose start the gateway never saw apart. See query_report.c. */
int lt_query_report(struct lt_query *q, int64_t from, int64_t to, json_t **out, struct lt_err *err);
/* The report as CSV: one line per agency of both tables, the total, and the
 * unknown-start row (the columns named on the first line). */
void lt_query_report_csv(const json_t *report, struct lt_buf *out);

/* A report date as typed: YYYY-MM-DD or DD/MM/YYYY (a whole local day: its
 * start, or with `end` the next day's) or RFC 3339; err names `opt` and the
 * text as given. */
int lt_query_parse_day(const char *opt, const char *s, int end, int64_t *out, struct lt_err *err);

#endif
