/* query_int.h — what the operator's reads share (query.c, query_report.c,
 * query_audit.c); not part of the API: the view itself, its rows as JSON,
 * agency names, and a dossier's journey. */
#ifndef LT_QUERY_INT_H
#define LT_QUERY_INT_H

#include <jansson.h>
#include <stdint.h>
#include "lt.h"
#include "query.h"
#include "sla.h"

struct lt_query {
	const struct lt_query_backend *be;
	void *db;
	const struct lt_config *cfg;
	struct lt_calendar cal;
	json_t *names;          /* agency code -> name seen in events read */
};

/* Run a numbered read with nargs text arguments (at most 8): *out is every
 * row as a JSON array of strings (null for NULL), or NULL on error. */
int lt_query_rows(struct lt_query *q, enum lt_read read, json_t **out, struct lt_err *err, int nargs, ...);
/* Column i of a row: text (NULL for NULL), a number (0 for NULL). */
const char *lt_col_str(const json_t *row, size_t i);
int64_t lt_col_int(const json_t *row, size_t i);

/* A unix time (s) as RFC 3339 in Vietnamese time; null for 0. */
json_t *lt_query_when(int64_t unix_s);
/* LT_OK when doc was built; else LT_EIO, the store holding text that is not UTF-8. */
int lt_query_built(const json_t *doc, struct lt_err *err);
/* The RFC 3339 time obj[key] as unix s; 0 when absent or not a time. */
int64_t lt_query_date_of(const json_t *obj, const char *key);
/* v in decimal, a read's argument. */
void lt_query_num(char buf[24], int64_t v);

/* An agency code's name ([agencies], the units table, else what events said),
 * or NULL; as {code, name} (JSON null for no code). */
const char *lt_query_agency_name(const struct lt_query *q, const char *code);
json_t *lt_query_agency(const struct lt_query *q, const char *code);

/* A dossier's journey: who held it, and where it went late. */
struct lt_journey {
	json_t *holders;        /* [{code, from, to}] unix s; to 0 = still held */
	char holder[64];        /* held by now ("" = nobody: closed or never known) */
	int64_t missed_due;     /* the appointment it missed (0 = none) */
	char late_at[64];       /* the agency that held it then */
	int closed;             /* returned, refused or withdrawn */
};

/* Walk a dossier's parsed events in order into j (j->holders is the caller's
 * to json_decref) and its dossier view d; now (unix s) ends what is still open. */
void lt_journey_walk(const struct lt_calendar *cal, const json_t *events, int64_t now, struct lt_journey *j,
		     struct lt_dossier *d);
/* The events of a dossier: their rows, and beside them each one parsed (an
 * empty object when it does not parse); the agency names they give are learnt. */
int lt_query_dossier_events(struct lt_query *q, const char *code, json_t **rowsp, json_t **parsed, struct lt_err *err);

#endif
