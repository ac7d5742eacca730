/* query.c — the operator's reads (query.h), the same on every store: the
 * backends only run numbered reads; the trail, the dead letters and the
 * refusals are computed here, with what the report (query_report.c) and the
 * audit check (query_audit.c) share with them (query_int.h): the view, its
 * rows, agency names and a dossier's journey. */
#include "query.h"
#include "query_int.h"
#include "answer.h"
#include "codes.h"
#include "config.h"
#include "mapping.h"
#include "sla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct lt_query_backend *const backends[] = { &lt_query_sqlite, &lt_query_pg };

int lt_query_open(const char *dsn, struct lt_query **out, struct lt_err *err)
{
	const struct lt_query_backend *be = NULL;
	for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
		if (strncmp(dsn, backends[i]->scheme, strlen(backends[i]->scheme)) == 0 ||
		    (backends[i]->scheme2 && strncmp(dsn, backends[i]->scheme2, strlen(backends[i]->scheme2)) == 0))
			be = backends[i];
	if (!be)
		return lt_err_set(err, LT_ECONFIG, "store \"%.200s\": no backend reads this scheme", dsn);
	void *db = NULL;
	int rc = be->open(dsn, &db, err);
	if (rc)
		return rc;
	struct lt_query *q = calloc(1, sizeof *q);
	q->be = be;
	q->db = db;
	q->names = json_object();
	*out = q;
	return LT_OK;
}

void lt_query_close(struct lt_query *q)
{
	if (!q)
		return;
	q->be->close(q->db);
	lt_calendar_free(&q->cal);
	json_decref(q->names);
	free(q);
}

void lt_query_set_config(struct lt_query *q, const struct lt_config *cfg)
{
	q->cfg = cfg;
	lt_calendar_free(&q->cal);
	if (cfg && cfg->holidays)
		lt_calendar_parse(cfg->holidays, &q->cal, NULL);
}

/* ---- rows ---- */

/* Every row of a read as a JSON array of strings (null for NULL). */
static int collect(void *arg, int ncols, const char *const *vals)
{
	json_t *row = json_array();
	for (int i = 0; i < ncols; i++)
		json_array_append_new(row, vals[i] ? json_string(vals[i]) : json_null());
	json_array_append_new(arg, row);
	return 0;
}

int lt_query_rows(struct lt_query *q, enum lt_read read, json_t **out, struct lt_err *err, int nargs, ...)
{
	const char *args[8];
	va_list ap;
	va_start(ap, nargs);
	for (int i = 0; i < nargs && i < 8; i++)
		args[i] = va_arg(ap, const char *);
	va_end(ap);
	*out = json_array();
	int rc = q->be->run(q->db, read, nargs, args, collect, *out, err);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* Column i of a row: text (NULL for NULL), a number (0 for NULL). */
const char *lt_col_str(const json_t *row, size_t i)
{
	return json_string_value(json_array_get(row, i));
}

int64_t lt_col_int(const json_t *row, size_t i)
{
	const char *s = lt_col_str(row, i);
	return s ? strtoll(s, NULL, 10) : 0;
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* A unix time (s) as RFC 3339 in Vietnamese time; null for 0. */
json_t *lt_query_when(int64_t unix_s)
{
	if (!unix_s)
		return json_null();
	char out[32];
	lt_date_format_rfc3339(unix_s, out);
	return json_string(out);
}

/* An answer jansson could not build (text in the store that is not UTF-8). */
int lt_query_built(const json_t *doc, struct lt_err *err)
{
	return doc ? LT_OK : lt_err_set(err, LT_EIO, "the store holds text that is not UTF-8: the answer cannot be "
				      "written as JSON");
}

int64_t lt_query_date_of(const json_t *obj, const char *key)
{
	int64_t t = 0;
	const char *s = json_string_value(json_object_get(obj, key));
	if (!s || lt_date_parse_rfc3339(s, &t, NULL))
		return 0;
	return t;
}

void lt_query_num(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%lld", (long long)v);
}

/* An agency code's name: the config's [agencies], else the units table (units.names in
 * codes/units.codes), else the last name an event gave it. */
const char *lt_query_agency_name(const struct lt_query *q, const char *code)
{
	const char *n = q->cfg && q->cfg->agencies ? json_string_value(json_object_get(q->cfg->agencies, code)) : NULL;
	const char *const *row = n ? NULL : lt_code_find(&lt_agency_name_codes, 0, code);
	if (row && row[1])
		n = row[1];
	return n ? n : json_string_value(json_object_get(q->names, code));
}

json_t *lt_query_agency(const struct lt_query *q, const char *code)
{
	if (!code || !*code)
		return json_null();
	const char *n = lt_query_agency_name(q, code);
	return n ? json_pack("{s:s,s:s}", "code", code, "name", n) : json_pack("{s:s}", "code", code);
}

/* Remember the names an event gives its agencies. */
static void learn_names(struct lt_query *q, const json_t *ev)
{
	static const char *const paths[] = { "dossier.receiving_agency", "dossier.handling_agency", "detail.from_agency",
					     "detail.to_agency" };
	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
		const json_t *a = lt_json_dig(ev, paths[i]);
		const char *code = lt_json_str(a, "code"), *name = lt_json_str(a, "name");
		if (code && name)
			json_object_set_new(q->names, code, json_string(name));
	}
}

/* ---- a dossier's journey: who held it, and where it went late ---- */

static void hold(struct lt_journey *j, const char *code, int64_t t)
{
	if (!code || !*code || strcmp(code, j->holder) == 0)
		return;
	json_t *last = json_array_get(j->holders, json_array_size(j->holders) - 1);
	if (last && !json_integer_value(json_object_get(last, "to")))
		json_object_set_new(last, "to", json_integer(t));
	json_array_append_new(j->holders, json_pack("{s:s,s:I,s:I}", "code", code, "from", (json_int_t)t, "to",
						    (json_int_t)0));
	snprintf(j->holder, sizeof j->holder, "%s", code);
}

static void let_go(struct lt_journey *j, int64_t t)
{
	json_t *last = json_array_get(j->holders, json_array_size(j->holders) - 1);
	if (last && !json_integer_value(json_object_get(last, "to")))
		json_object_set_new(last, "to", json_integer(t));
	j->holder[0] = '\0';
	j->closed = 1;
}

/* The agency holding it at t: the last one taken on at or before t. */
static const char *holder_at(const struct lt_journey *j, int64_t t)
{
	const char *who = NULL;
	size_t i;
	json_t *h;
	json_array_foreach(j->holders, i, h)
		if (json_integer_value(json_object_get(h, "from")) <= t || !who)
			who = json_string_value(json_object_get(h, "code"));
	return who;
}

/* Walk a dossier's events (parsed, in the gateway's order) as the dossier
 * view does, noting who held it (its receiving agency from the start, each
 * transfer's to_agency from then on) and the first appointment it missed:
 * an apology, or a due day passed with no result (a paused clock is not late). */
void lt_journey_walk(const struct lt_calendar *cal, const json_t *events, int64_t now, struct lt_journey *j,
		     struct lt_dossier *d)
{
	memset(j, 0, sizeof *j);
	memset(d, 0, sizeof *d);
	j->holders = json_array();
	int64_t t = 0;
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		int64_t at = lt_query_date_of(ev, "occurred_at");
		t = at ? at : t;
		if (!type)
			continue;
		if (!j->missed_due && d->due_at && !d->resolved_at && !d->returned_at && !d->paused_at &&
		    lt_date_local_day(t) > lt_date_local_day(d->due_at))
			j->missed_due = d->due_at;
		if (!j->missed_due && d->due_at && strcmp(type, "dossier.apology") == 0)
			j->missed_due = d->due_at;
		const char *to = lt_json_str(ev, "detail.to_agency.code");
		if (strcmp(type, "dossier.transferred") == 0 && to) {
			if (!j->holder[0])
				hold(j, lt_json_str(ev, "detail.from_agency.code"), t);
			hold(j, to, t);
		} else if (!j->holder[0] && !j->closed) {
			const char *first = lt_json_str(ev, "dossier.receiving_agency.code");
			int64_t from = lt_query_date_of(lt_json_dig(ev, "dossier"), "received_at");
			hold(j, first ? first : lt_json_str(ev, "dossier.handling_agency.code"), from ? from : t);
		}
		lt_dossier_apply(cal, d, ev);
		if (strcmp(type, "dossier.returned") == 0 || strcmp(type, "dossier.rejected") == 0 ||
		    strcmp(type, "dossier.withdrawn") == 0)
			let_go(j, t);
	}
	if (!j->missed_due && d->due_at) {
		int open = !d->resolved_at && !d->returned_at && !lt_status_ended(d->status);
		int64_t end = d->resolved_at ? d->resolved_at : open && !d->paused_at ? now : 0;
		if (end && lt_date_local_day(end) > lt_date_local_day(d->due_at))
			j->missed_due = d->due_at;
	}
	const char *who = j->missed_due ? holder_at(j, j->missed_due) : NULL;
	snprintf(j->late_at, sizeof j->late_at, "%s", who ? who : "");
}

/* The events of a dossier parsed, in order, beside their rows. */
int lt_query_dossier_events(struct lt_query *q, const char *code, json_t **rowsp, json_t **parsed, struct lt_err *err)
{
	int rc = lt_query_rows(q, LT_READ_EVENTS, rowsp, err, 1, code);
	if (rc)
		return rc;
	*parsed = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(*rowsp, i, r) {
		json_t *ev = json_loads(lt_col_str(r, 7) ? lt_col_str(r, 7) : "", 0, NULL);
		if (!ev)
			ev = json_object();
		learn_names(q, ev);
		json_array_append_new(*parsed, ev);
	}
	return LT_OK;
}

/* ---- the trail ---- */

static const char *const state_names[] = { "pending", "in flight", "delivered", "dead", "waiting for order" };

static const char *state_name(int64_t s)
{
	return s >= 0 && s <= 4 ? state_names[s] : "unknown";
}

struct moment {
	int64_t at_ms;
	size_t order;
	json_t *entry;
};

static int by_time(const void *a, const void *b)
{
	const struct moment *x = a, *y = b;
	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static json_t *dossier_json(struct lt_query *q, const json_t *r)
{
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o}", "status", (json_int_t)lt_col_int(r, 1),
			 "channel", str_or_null(lt_col_str(r, 2)), "procedure", str_or_null(lt_col_str(r, 3)),
			 "receiving_agency", lt_query_agency(q, lt_col_str(r, 4)), "handling_agency",
			 lt_query_agency(q, lt_col_str(r, 5)), "received_at", lt_query_when(lt_col_int(r, 6)), "due_at",
			 lt_query_when(lt_col_int(r, 7)), "resolved_at", lt_query_when(lt_col_int(r, 8)), "returned_at",
			 lt_query_when(lt_col_int(r, 9)), "apologies", (json_int_t)lt_col_int(r, 11), "last_event",
			 str_or_null(lt_col_str(r, 12)));
}

int lt_query_trail(struct lt_query *q, const char *code, int64_t now_ms, json_t **out, struct lt_err *err)
{
	json_t *drows = NULL, *erows = NULL, *parsed = NULL, *vrows = NULL, *arows = NULL;
	struct moment *moments = NULL;
	struct lt_journey j = { 0 };
	*out = NULL;
	int rc = lt_query_rows(q, LT_READ_DOSSIER, &drows, err, 1, code);
	if (!rc)
		rc = lt_query_dossier_events(q, code, &erows, &parsed, err);
	if (!rc)
		rc = lt_query_rows(q, LT_READ_DELIVERIES, &vrows, err, 1, code);
	if (!rc)
		rc = lt_query_rows(q, LT_READ_ATTEMPTS_OF, &arows, err, 1, code);
	if (rc)
		goto done;
	if (!json_array_size(drows) && !json_array_size(erows)) {
		rc = lt_err_set(err, LT_ENOTFOUND, "no dossier %.100s in the store", code);
		goto done;
	}
	struct lt_dossier d;
	lt_journey_walk(&q->cal, parsed, now_ms / 1000, &j, &d);

	/* each delivery: when its event reached the gateway, when it was delivered */
	json_t *events = json_array(), *by_seq = json_object();
	size_t i, k;
	json_t *r;
	json_array_foreach(erows, i, r) {
		const json_t *ev = json_array_get(parsed, i);
		const char *mid = lt_col_str(r, 4) ? lt_col_str(r, 4) : "";
		const char *via = strncmp(mid, "answer:", 7) == 0 ? "answer from" : strncmp(mid, "poll:", 5) == 0 ?
				  "polled from" : strncmp(mid, "sla:", 4) == 0 ? "made by" : "sent by";
		char phrase[300];
		lt_trust_phrase(lt_col_str(r, 8) ? lt_col_str(r, 8) : "", phrase, sizeof phrase);
		int64_t occurred = lt_query_date_of(ev, "occurred_at"), received_ms = lt_col_int(r, 5);
		json_t *e = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "seq",
				      (json_int_t)lt_col_int(r, 0), "n", (json_int_t)lt_col_int(r, 1), "event_id",
				      lt_col_str(r, 6) ? lt_col_str(r, 6) : "", "type",
				      lt_col_str(r, 2) ? lt_col_str(r, 2) : "", "source",
				      lt_col_str(r, 3) ? lt_col_str(r, 3) : "", "message_id", mid, "via", via, "trust",
				      str_or_null(lt_col_str(r, 8)), "vouched", str_or_null(phrase), "occurred_at",
				      lt_query_when(occurred), "received_at", lt_query_when(received_ms / 1000),
				      "lag_s", occurred ? json_integer(received_ms / 1000 - occurred) : json_null(),
				      "deliveries", json_array());
		const json_t *prev = lt_json_dig(ev, "detail.previous_codes");
		if (json_is_object(prev))
			json_object_set(e, "previous_codes", (json_t *)prev);
		const json_t *filled = lt_json_dig(ev, "detail.filled_from_dossier");    /* deliverable.h */
		if (json_is_array(filled))
			json_object_set(e, "filled_from_dossier", (json_t *)filled);
		json_object_set_new(e, "_received_ms", json_integer(received_ms));
		json_array_append_new(events, e);
		char key[24];
		lt_query_num(key, lt_col_int(r, 0));
		json_object_set(by_seq, key, e);
	}
	json_t *by_id = json_object();
	json_array_foreach(vrows, i, r) {
		char key[24];
		lt_query_num(key, lt_col_int(r, 1));
		json_t *e = json_object_get(by_seq, key);
		if (!e)
			continue;
		json_t *v = json_pack("{s:I,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)lt_col_int(r, 0),
				      "dest", lt_col_str(r, 2) ? lt_col_str(r, 2) : "", "state",
				      state_name(lt_col_int(r, 3)), "attempts", (json_int_t)lt_col_int(r, 4),
				      "last_status", lt_col_str(r, 7) ? json_integer(lt_col_int(r, 7)) : json_null(),
				      "last_error", lt_col_int(r, 3) != 2 ? str_or_null(lt_col_str(r, 8)) : json_null(),
				      "queued_at", lt_query_when(lt_col_int(r, 5) / 1000), "delivered_at", json_null(),
				      "delay_s", json_null());
		json_array_append_new(json_object_get(e, "deliveries"), v);
		lt_query_num(key, lt_col_int(r, 0));
		json_object_set_new(by_id, key, json_pack("{s:O,s:O,s:O}", "delivery", v, "event", e, "received_ms",
							  json_object_get(e, "_received_ms")));
	}
	/* the timeline: every event as it reached the gateway, every attempt as it started */
	size_t n = json_array_size(events) + json_array_size(arows), m = 0;
	moments = calloc(n ? n : 1, sizeof *moments);
	json_array_foreach(erows, i, r) {
		json_t *e = json_array_get(events, i);
		moments[m] = (struct moment){ lt_col_int(r, 5), m, json_pack("{s:s,s:O,s:O,s:O,s:O,s:O}", "what",
									     "event", "at",
									     json_object_get(e, "received_at"), "n",
									     json_object_get(e, "n"), "type",
									     json_object_get(e, "type"), "source",
									     json_object_get(e, "source"), "event_id",
									     json_object_get(e, "event_id")) };
		m++;
	}
	json_array_foreach(arows, i, r) {
		char key[24];
		lt_query_num(key, lt_col_int(r, 0));
		json_t *both = json_object_get(by_id, key);
		if (!both)
			continue;
		json_t *v = json_object_get(both, "delivery"), *e = json_object_get(both, "event");
		int64_t at = lt_col_int(r, 2), ended = at + lt_col_int(r, 3);
		const char *outcome = lt_col_str(r, 5) ? lt_col_str(r, 5) : "";
		if (strcmp(outcome, "done") == 0) {
			/* the hop's delay: from the gateway receiving the event to the peer accepting it */
			int64_t received = json_integer_value(json_object_get(both, "received_ms"));
			json_object_set_new(v, "delivered_at", lt_query_when(ended / 1000));
			json_object_set_new(v, "delay_s", json_real((double)(ended - received) / 1000));
		}
		moments[m] = (struct moment){ at, m, json_pack("{s:s,s:o,s:O,s:O,s:s,s:I,s:o,s:s,s:o,s:I}", "what",
							       "attempt", "at", lt_query_when(at / 1000), "n",
							       json_object_get(e, "n"), "type",
							       json_object_get(e, "type"), "dest",
							       json_string_value(json_object_get(v, "dest")), "attempt",
							       (json_int_t)lt_col_int(r, 1), "status",
							       lt_col_str(r, 4) ? json_integer(lt_col_int(r, 4)) : json_null(),
							       "outcome", outcome, "error",
							       str_or_null(lt_col_str(r, 6)), "duration_ms",
							       (json_int_t)lt_col_int(r, 3)) };
		m++;
	}
	qsort(moments, m, sizeof *moments, by_time);
	json_array_foreach(events, i, r)
		json_object_del(r, "_received_ms");
	json_t *timeline = json_array();
	for (k = 0; k < m; k++)
		json_array_append_new(timeline, moments[k].entry);

	/* who held it, for how long (calendar time and working days) */
	int64_t now = now_ms / 1000;
	json_t *holders = json_array(), *h;
	json_array_foreach(j.holders, i, h) {
		int64_t from = json_integer_value(json_object_get(h, "from")), to = json_integer_value(json_object_get(h, "to"));
		int64_t end = to ? to : now;
		json_array_append_new(holders, json_pack("{s:o,s:o,s:o,s:I,s:i}", "agency",
							 lt_query_agency(q, json_string_value(json_object_get(h, "code"))),
							 "from", lt_query_when(from), "to", lt_query_when(to), "held_s",
							 (json_int_t)(end > from ? end - from : 0), "working_days",
							 lt_working_days_between(&q->cal, from, end)));
	}
	json_t *late = json_null();
	if (j.missed_due) {
		int64_t end = d.resolved_at ? d.resolved_at : now;
		late = json_pack("{s:o,s:o,s:I,s:b,s:i}", "due_at", lt_query_when(j.missed_due), "agency",
				 lt_query_agency(q, j.late_at), "late_by_s",
				 (json_int_t)(end > j.missed_due ? end - j.missed_due : 0), "resolved",
				 d.resolved_at != 0, "apologies", d.apologies);
	}
	json_t *prows = NULL;
	if ((rc = lt_query_rows(q, LT_READ_PRUNED, &prows, err, 1, code)))
		goto done;
	r = json_array_get(prows, 0);
	/* retention pruned its first events: what went, and when */
	json_t *pruned = r ? json_pack("{s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "events", (json_int_t)lt_col_int(r, 1),
				       "through_n", (json_int_t)lt_col_int(r, 0), "deliveries",
				       (json_int_t)lt_col_int(r, 2), "attempts", (json_int_t)lt_col_int(r, 3),
				       "first_received_at", lt_query_when(lt_col_int(r, 4) / 1000), "last_received_at",
				       lt_query_when(lt_col_int(r, 5) / 1000), "pruned_at",
				       lt_query_when(lt_col_int(r, 6) / 1000)) : json_null();
	json_decref(prows);
	*out = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "dossier_code", code, "dossier",
			 json_array_size(drows) ? dossier_json(q, json_array_get(drows, 0)) : json_null(), "events",
			 events, "timeline", timeline, "holders", holders, "holder_now",
			 j.holder[0] && !j.closed ? lt_query_agency(q, j.holder) : json_null(), "late", late, "pruned",
			 pruned);
	json_decref(by_seq);
	json_decref(by_id);
	rc = lt_query_built(*out, err);
done:
	free(moments);
	json_decref(j.holders);
	json_decref(drows);
	json_decref(erows);
	json_decref(parsed);
	json_decref(vrows);
	json_decref(arows);
	return rc;
}

/* ---- dead letters ---- */

int lt_query_dlq_list(struct lt_query *q, const char *dest, const char *dossier_code, int limit, json_t **out,
		      struct lt_err *err)
{
	char lim[24];
	lt_query_num(lim, limit + 1);
	json_t *r, *all;
	*out = NULL;
	int rc = lt_query_rows(q, LT_READ_DLQ_LIST, &all, err, 3, dest, dossier_code, lim);
	if (rc)
		return rc;
	json_t *list = json_array();
	size_t i;
	json_array_foreach(all, i, r) {
		if ((int)i == limit)
			break;
		json_array_append_new(list, json_pack("{s:I,s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:o,s:o}", "id",
						      (json_int_t)lt_col_int(r, 0), "dossier_code",
						      lt_col_str(r, 1) ? lt_col_str(r, 1) : "", "type",
						      lt_col_str(r, 2) ? lt_col_str(r, 2) : "", "dest",
						      lt_col_str(r, 3) ? lt_col_str(r, 3) : "", "attempts",
						      (json_int_t)lt_col_int(r, 4), "last_status",
						      lt_col_str(r, 5) ? json_integer(lt_col_int(r, 5)) : json_null(),
						      "last_error", str_or_null(lt_col_str(r, 6)), "message_id",
						      lt_col_str(r, 7) ? lt_col_str(r, 7) : "", "queued_at",
						      lt_query_when(lt_col_int(r, 8) / 1000), "dead_at",
						      lt_query_when(lt_col_int(r, 9) / 1000)));
	}
	*out = json_pack("{s:o,s:I,s:b}", "dead_letters", list, "count", (json_int_t)json_array_size(list), "more",
			 (int)json_array_size(all) > limit);
	json_decref(all);
	return lt_query_built(*out, err);
}

int lt_query_dlq_show(struct lt_query *q, int64_t id, json_t **out, struct lt_err *err)
{
	char key[24];
	lt_query_num(key, id);
	json_t *one = NULL, *att = NULL;
	*out = NULL;
	int rc = lt_query_rows(q, LT_READ_DLQ_ONE, &one, err, 1, key);
	if (rc)
		return rc;
	json_t *r = json_array_get(one, 0);
	if (!r) {
		rc = lt_err_set(err, LT_ENOTFOUND, "no delivery %lld in the store", (long long)id);
	} else if (lt_col_int(r, 0) != 3) {
		rc = lt_err_set(err, LT_ECONFLICT, "delivery %lld is not a dead letter: it is %s (see the trail of %.80s)",
				(long long)id, state_name(lt_col_int(r, 0)), lt_col_str(r, 2) ? lt_col_str(r, 2) : "");
	} else if (!(rc = lt_query_rows(q, LT_READ_ATTEMPTS, &att, err, 1, key))) {
		json_t *attempts = json_array(), *a;
		size_t i;
		json_array_foreach(att, i, a)
			json_array_append_new(attempts, json_pack("{s:I,s:o,s:I,s:o,s:s,s:o}", "n",
								  (json_int_t)lt_col_int(a, 0), "at",
								  lt_query_when(lt_col_int(a, 1) / 1000), "duration_ms",
								  (json_int_t)lt_col_int(a, 2), "status",
								  lt_col_str(a, 3) ? json_integer(lt_col_int(a, 3)) : json_null(),
								  "outcome", lt_col_str(a, 4) ? lt_col_str(a, 4) : "",
								  "error", str_or_null(lt_col_str(a, 5))));
		json_t *event = json_loads(lt_col_str(r, 12) ? lt_col_str(r, 12) : "", 0, NULL);
		*out = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)id,
				 "dest", lt_col_str(r, 1) ? lt_col_str(r, 1) : "", "dossier_code",
				 lt_col_str(r, 2) ? lt_col_str(r, 2) : "", "type",
				 lt_col_str(r, 3) ? lt_col_str(r, 3) : "", "message_id",
				 lt_col_str(r, 4) ? lt_col_str(r, 4) : "", "source",
				 lt_col_str(r, 5) ? lt_col_str(r, 5) : "", "attempts", (json_int_t)lt_col_int(r, 6),
				 "queued_at", lt_query_when(lt_col_int(r, 7) / 1000), "dead_at",
				 lt_query_when(lt_col_int(r, 8) / 1000), "last_status",
				 lt_col_str(r, 9) ? json_integer(lt_col_int(r, 9)) : json_null(), "last_error",
				 str_or_null(lt_col_str(r, 10)), "last_response", str_or_null(lt_col_str(r, 11)),
				 "event", event ? event : json_string(lt_col_str(r, 12) ? lt_col_str(r, 12) : ""),
				 "attempt_list", attempts);
		rc = lt_query_built(*out, err);
	}
	json_decref(one);
	json_decref(att);
	return rc;
}

/* ---- refusals ---- */

int lt_query_refusals(struct lt_query *q, int limit, json_t **out, struct lt_err *err)
{
	char lim[24];
	lt_query_num(lim, limit);
	json_t *all, *r;
	*out = NULL;
	int rc = lt_query_rows(q, LT_READ_REFUSALS, &all, err, 1, lim);
	if (rc)
		return rc;
	json_t *list = json_array();
	size_t i;
	json_array_foreach(all, i, r) json_array_append_new(list, json_pack("{s:I,s:o,s:s,s:o,s:I,s:s,s:s}", "id",
									    (json_int_t)lt_col_int(r, 0), "at",
									    lt_query_when(lt_col_int(r, 1) / 1000),
									    "peer",
									    lt_col_str(r, 2) ? lt_col_str(r, 2) : "",
									    "message_id", str_or_null(lt_col_str(r, 3)),
									    "status", (json_int_t)lt_col_int(r, 4),
									    "reason",
									    lt_col_str(r, 5) ? lt_col_str(r, 5) : "",
									    "body_sha256",
									    lt_col_str(r, 6) ? lt_col_str(r, 6) : ""));
	*out = json_pack("{s:o,s:I}", "refusals", list, "count", (json_int_t)json_array_size(list));
	json_decref(all);
	return lt_query_built(*out, err);
}
