/* query.c — the operator's reads (query.h), the same on every store: the
 * backends only run numbered reads; the trail, the report and the audit
 * check are computed here.
 *
 * The report (what offices report, Decree 118/2025, see PEERS.md): for the
 * period [from, to), per receiving agency and in total —
 *   carried_over      received before the period, still open when it began
 *   direct, online, postal, not_stated   received in the period, by channel
 *                     (not_stated: the channel was never given)
 *   received          received in the period; received_total adds carried_over
 *   resolved          resolved in the period: early, on time or late by local
 *                     (+07:00) appointment day; a dossier that needed an apology
 *                     missed its first appointment and counts as late
 *   in_progress       open at the end: within the deadline, or overdue
 *   apologies         apology letters dated in the period
 *   late_without_apology   late or overdue with none (should be 0)
 *   inter_agency      counted dossiers handled by another agency than the one
 *                     that received them; exchanged_electronically: of those,
 *                     the ones whose transfer went through the gateway
 *   from_merged_units came under a unit code since merged (counted under the new)
 * and the same per handling agency, where a late or overdue dossier counts
 * under the agency that held it when its appointment passed (its trail's
 * "late at"). A dossier whose start the gateway never saw (first seen through
 * a later event: every dossier in progress on go-live day) has no received
 * date to count it by: it is never guessed into a category, only counted apart
 * ("unknown start": seen, resolved, in progress). */
#include "query.h"
#include "answer.h"
#include "codes.h"
#include "config.h"
#include "mapping.h"
#include "sla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400

struct lt_query {
	const struct lt_query_backend *be;
	void *db;
	const struct lt_config *cfg;
	struct lt_calendar cal;
	json_t *names;          /* agency code -> name seen in events read */
};

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

static int rows(struct lt_query *q, enum lt_read read, json_t **out, struct lt_err *err, int nargs, ...)
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
static const char *S(const json_t *row, size_t i)
{
	return json_string_value(json_array_get(row, i));
}

static int64_t I(const json_t *row, size_t i)
{
	const char *s = S(row, i);
	return s ? strtoll(s, NULL, 10) : 0;
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* A unix time (s) as RFC 3339 in Vietnamese time; null for 0. */
static json_t *when(int64_t unix_s)
{
	if (!unix_s)
		return json_null();
	char out[32];
	lt_date_format_rfc3339(unix_s, out);
	return json_string(out);
}

/* An answer jansson could not build (text in the store that is not UTF-8). */
static int built(const json_t *doc, struct lt_err *err)
{
	return doc ? LT_OK : lt_err_set(err, LT_EIO, "the store holds text that is not UTF-8: the answer cannot be "
				      "written as JSON");
}

static int64_t date_of(const json_t *obj, const char *key)
{
	int64_t t = 0;
	const char *s = json_string_value(json_object_get(obj, key));
	if (!s || lt_date_parse_rfc3339(s, &t, NULL))
		return 0;
	return t;
}

static void num(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%lld", (long long)v);
}

/* An agency code's name: the config's [agencies], else the units table (units.names in
 * codes/units.codes), else the last name an event gave it. */
static const char *agency_name(const struct lt_query *q, const char *code)
{
	const char *n = q->cfg && q->cfg->agencies ? json_string_value(json_object_get(q->cfg->agencies, code)) : NULL;
	const char *const *row = n ? NULL : lt_code_find(&lt_agency_name_codes, 0, code);
	if (row && row[1])
		n = row[1];
	return n ? n : json_string_value(json_object_get(q->names, code));
}

static json_t *agency(const struct lt_query *q, const char *code)
{
	if (!code || !*code)
		return json_null();
	const char *n = agency_name(q, code);
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

struct journey {
	json_t *holders;        /* [{code, from, to}] unix s; to 0 = still held */
	char holder[64];        /* held by now ("" = nobody: closed or never known) */
	int64_t missed_due;     /* the appointment it missed (0 = none) */
	char late_at[64];       /* the agency that held it then */
	int closed;             /* returned, refused or withdrawn */
};

static void hold(struct journey *j, const char *code, int64_t t)
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

static void let_go(struct journey *j, int64_t t)
{
	json_t *last = json_array_get(j->holders, json_array_size(j->holders) - 1);
	if (last && !json_integer_value(json_object_get(last, "to")))
		json_object_set_new(last, "to", json_integer(t));
	j->holder[0] = '\0';
	j->closed = 1;
}

/* The agency holding it at t: the last one taken on at or before t. */
static const char *holder_at(const struct journey *j, int64_t t)
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
static void journey_walk(const struct lt_calendar *cal, const json_t *events, int64_t now, struct journey *j,
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
		int64_t at = date_of(ev, "occurred_at");
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
			int64_t from = date_of(lt_json_dig(ev, "dossier"), "received_at");
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
static int dossier_events(struct lt_query *q, const char *code, json_t **rowsp, json_t **parsed, struct lt_err *err)
{
	int rc = rows(q, LT_READ_EVENTS, rowsp, err, 1, code);
	if (rc)
		return rc;
	*parsed = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(*rowsp, i, r) {
		json_t *ev = json_loads(S(r, 7) ? S(r, 7) : "", 0, NULL);
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
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o}", "status", (json_int_t)I(r, 1),
			 "channel", str_or_null(S(r, 2)), "procedure", str_or_null(S(r, 3)),
			 "receiving_agency", agency(q, S(r, 4)), "handling_agency", agency(q, S(r, 5)),
			 "received_at", when(I(r, 6)), "due_at", when(I(r, 7)), "resolved_at", when(I(r, 8)),
			 "returned_at", when(I(r, 9)), "apologies", (json_int_t)I(r, 11), "last_event",
			 str_or_null(S(r, 12)));
}

int lt_query_trail(struct lt_query *q, const char *code, int64_t now_ms, json_t **out, struct lt_err *err)
{
	json_t *drows = NULL, *erows = NULL, *parsed = NULL, *vrows = NULL, *arows = NULL;
	struct moment *moments = NULL;
	struct journey j = { 0 };
	*out = NULL;
	int rc = rows(q, LT_READ_DOSSIER, &drows, err, 1, code);
	if (!rc)
		rc = dossier_events(q, code, &erows, &parsed, err);
	if (!rc)
		rc = rows(q, LT_READ_DELIVERIES, &vrows, err, 1, code);
	if (!rc)
		rc = rows(q, LT_READ_ATTEMPTS_OF, &arows, err, 1, code);
	if (rc)
		goto done;
	if (!json_array_size(drows) && !json_array_size(erows)) {
		rc = lt_err_set(err, LT_ENOTFOUND, "no dossier %.100s in the store", code);
		goto done;
	}
	struct lt_dossier d;
	journey_walk(&q->cal, parsed, now_ms / 1000, &j, &d);

	/* each delivery: when its event reached the gateway, when it was delivered */
	json_t *events = json_array(), *by_seq = json_object();
	size_t i, k;
	json_t *r;
	json_array_foreach(erows, i, r) {
		const json_t *ev = json_array_get(parsed, i);
		const char *mid = S(r, 4) ? S(r, 4) : "";
		const char *via = strncmp(mid, "answer:", 7) == 0 ? "answer from" : strncmp(mid, "poll:", 5) == 0 ?
				  "polled from" : strncmp(mid, "sla:", 4) == 0 ? "made by" : "sent by";
		char phrase[300];
		lt_trust_phrase(S(r, 8) ? S(r, 8) : "", phrase, sizeof phrase);
		int64_t occurred = date_of(ev, "occurred_at"), received_ms = I(r, 5);
		json_t *e = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "seq", (json_int_t)I(r, 0),
				      "n", (json_int_t)I(r, 1), "event_id", S(r, 6) ? S(r, 6) : "", "type",
				      S(r, 2) ? S(r, 2) : "", "source", S(r, 3) ? S(r, 3) : "", "message_id", mid, "via",
				      via, "trust", str_or_null(S(r, 8)), "vouched", str_or_null(phrase),
				      "occurred_at", when(occurred), "received_at", when(received_ms / 1000),
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
		num(key, I(r, 0));
		json_object_set(by_seq, key, e);
	}
	json_t *by_id = json_object();
	json_array_foreach(vrows, i, r) {
		char key[24];
		num(key, I(r, 1));
		json_t *e = json_object_get(by_seq, key);
		if (!e)
			continue;
		json_t *v = json_pack("{s:I,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)I(r, 0), "dest",
				      S(r, 2) ? S(r, 2) : "", "state", state_name(I(r, 3)), "attempts", (json_int_t)I(r, 4),
				      "last_status", S(r, 7) ? json_integer(I(r, 7)) : json_null(), "last_error",
				      I(r, 3) != 2 ? str_or_null(S(r, 8)) : json_null(), "queued_at",
				      when(I(r, 5) / 1000), "delivered_at", json_null(), "delay_s", json_null());
		json_array_append_new(json_object_get(e, "deliveries"), v);
		num(key, I(r, 0));
		json_object_set_new(by_id, key, json_pack("{s:O,s:O,s:O}", "delivery", v, "event", e, "received_ms",
							  json_object_get(e, "_received_ms")));
	}
	/* the timeline: every event as it reached the gateway, every attempt as it started */
	size_t n = json_array_size(events) + json_array_size(arows), m = 0;
	moments = calloc(n ? n : 1, sizeof *moments);
	json_array_foreach(erows, i, r) {
		json_t *e = json_array_get(events, i);
		moments[m] = (struct moment){ I(r, 5), m, json_pack("{s:s,s:O,s:O,s:O,s:O,s:O}", "what", "event", "at",
								      json_object_get(e, "received_at"), "n",
								      json_object_get(e, "n"), "type", json_object_get(e, "type"),
								      "source", json_object_get(e, "source"), "event_id",
								      json_object_get(e, "event_id")) };
		m++;
	}
	json_array_foreach(arows, i, r) {
		char key[24];
		num(key, I(r, 0));
		json_t *both = json_object_get(by_id, key);
		if (!both)
			continue;
		json_t *v = json_object_get(both, "delivery"), *e = json_object_get(both, "event");
		int64_t at = I(r, 2), ended = at + I(r, 3);
		const char *outcome = S(r, 5) ? S(r, 5) : "";
		if (strcmp(outcome, "done") == 0) {
			/* the hop's delay: from the gateway receiving the event to the peer accepting it */
			int64_t received = json_integer_value(json_object_get(both, "received_ms"));
			json_object_set_new(v, "delivered_at", when(ended / 1000));
			json_object_set_new(v, "delay_s", json_real((double)(ended - received) / 1000));
		}
		moments[m] = (struct moment){ at, m, json_pack("{s:s,s:o,s:O,s:O,s:s,s:I,s:o,s:s,s:o,s:I}", "what", "attempt",
								"at", when(at / 1000), "n", json_object_get(e, "n"), "type",
								json_object_get(e, "type"), "dest", json_string_value(json_object_get(v, "dest")),
								"attempt", (json_int_t)I(r, 1), "status",
								S(r, 4) ? json_integer(I(r, 4)) : json_null(), "outcome", outcome,
								"error", str_or_null(S(r, 6)), "duration_ms", (json_int_t)I(r, 3)) };
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
							 agency(q, json_string_value(json_object_get(h, "code"))), "from",
							 when(from), "to", when(to), "held_s", (json_int_t)(end > from ? end - from : 0),
							 "working_days", lt_working_days_between(&q->cal, from, end)));
	}
	json_t *late = json_null();
	if (j.missed_due) {
		int64_t end = d.resolved_at ? d.resolved_at : now;
		late = json_pack("{s:o,s:o,s:I,s:b,s:i}", "due_at", when(j.missed_due), "agency", agency(q, j.late_at),
				 "late_by_s", (json_int_t)(end > j.missed_due ? end - j.missed_due : 0), "resolved",
				 d.resolved_at != 0, "apologies", d.apologies);
	}
	json_t *prows = NULL;
	if ((rc = rows(q, LT_READ_PRUNED, &prows, err, 1, code)))
		goto done;
	r = json_array_get(prows, 0);
	/* retention pruned its first events: what went, and when */
	json_t *pruned = r ? json_pack("{s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "events", (json_int_t)I(r, 1), "through_n",
				       (json_int_t)I(r, 0), "deliveries", (json_int_t)I(r, 2), "attempts",
				       (json_int_t)I(r, 3), "first_received_at", when(I(r, 4) / 1000), "last_received_at",
				       when(I(r, 5) / 1000), "pruned_at", when(I(r, 6) / 1000)) : json_null();
	json_decref(prows);
	*out = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "dossier_code", code, "dossier",
			 json_array_size(drows) ? dossier_json(q, json_array_get(drows, 0)) : json_null(), "events", events,
			 "timeline", timeline, "holders", holders, "holder_now",
			 j.holder[0] && !j.closed ? agency(q, j.holder) : json_null(), "late", late, "pruned", pruned);
	json_decref(by_seq);
	json_decref(by_id);
	rc = built(*out, err);
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
	num(lim, limit + 1);
	json_t *r, *all;
	*out = NULL;
	int rc = rows(q, LT_READ_DLQ_LIST, &all, err, 3, dest, dossier_code, lim);
	if (rc)
		return rc;
	json_t *list = json_array();
	size_t i;
	json_array_foreach(all, i, r) {
		if ((int)i == limit)
			break;
		json_array_append_new(list, json_pack("{s:I,s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:o,s:o}", "id", (json_int_t)I(r, 0),
						      "dossier_code", S(r, 1) ? S(r, 1) : "", "type", S(r, 2) ? S(r, 2) : "",
						      "dest", S(r, 3) ? S(r, 3) : "", "attempts", (json_int_t)I(r, 4),
						      "last_status", S(r, 5) ? json_integer(I(r, 5)) : json_null(),
						      "last_error", str_or_null(S(r, 6)), "message_id", S(r, 7) ? S(r, 7) : "",
						      "queued_at", when(I(r, 8) / 1000), "dead_at", when(I(r, 9) / 1000)));
	}
	*out = json_pack("{s:o,s:I,s:b}", "dead_letters", list, "count", (json_int_t)json_array_size(list), "more",
			 (int)json_array_size(all) > limit);
	json_decref(all);
	return built(*out, err);
}

int lt_query_dlq_show(struct lt_query *q, int64_t id, json_t **out, struct lt_err *err)
{
	char key[24];
	num(key, id);
	json_t *one = NULL, *att = NULL;
	*out = NULL;
	int rc = rows(q, LT_READ_DLQ_ONE, &one, err, 1, key);
	if (rc)
		return rc;
	json_t *r = json_array_get(one, 0);
	if (!r) {
		rc = lt_err_set(err, LT_ENOTFOUND, "no delivery %lld in the store", (long long)id);
	} else if (I(r, 0) != 3) {
		rc = lt_err_set(err, LT_ECONFLICT, "delivery %lld is not a dead letter: it is %s (see the trail of %.80s)",
				(long long)id, state_name(I(r, 0)), S(r, 2) ? S(r, 2) : "");
	} else if (!(rc = rows(q, LT_READ_ATTEMPTS, &att, err, 1, key))) {
		json_t *attempts = json_array(), *a;
		size_t i;
		json_array_foreach(att, i, a)
			json_array_append_new(attempts, json_pack("{s:I,s:o,s:I,s:o,s:s,s:o}", "n", (json_int_t)I(a, 0), "at",
								  when(I(a, 1) / 1000), "duration_ms", (json_int_t)I(a, 2),
								  "status", S(a, 3) ? json_integer(I(a, 3)) : json_null(),
								  "outcome", S(a, 4) ? S(a, 4) : "", "error", str_or_null(S(a, 5))));
		json_t *event = json_loads(S(r, 12) ? S(r, 12) : "", 0, NULL);
		*out = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)id,
				 "dest", S(r, 1) ? S(r, 1) : "", "dossier_code", S(r, 2) ? S(r, 2) : "", "type",
				 S(r, 3) ? S(r, 3) : "", "message_id", S(r, 4) ? S(r, 4) : "", "source", S(r, 5) ? S(r, 5) : "",
				 "attempts", (json_int_t)I(r, 6), "queued_at", when(I(r, 7) / 1000), "dead_at",
				 when(I(r, 8) / 1000), "last_status", S(r, 9) ? json_integer(I(r, 9)) : json_null(),
				 "last_error", str_or_null(S(r, 10)), "last_response", str_or_null(S(r, 11)), "event",
				 event ? event : json_string(S(r, 12) ? S(r, 12) : ""), "attempt_list", attempts);
		rc = built(*out, err);
	}
	json_decref(one);
	json_decref(att);
	return rc;
}

/* ---- refusals ---- */

int lt_query_refusals(struct lt_query *q, int limit, json_t **out, struct lt_err *err)
{
	char lim[24];
	num(lim, limit);
	json_t *all, *r;
	*out = NULL;
	int rc = rows(q, LT_READ_REFUSALS, &all, err, 1, lim);
	if (rc)
		return rc;
	json_t *list = json_array();
	size_t i;
	json_array_foreach(all, i, r)
		json_array_append_new(list, json_pack("{s:I,s:o,s:s,s:o,s:I,s:s,s:s}", "id", (json_int_t)I(r, 0), "at",
						      when(I(r, 1) / 1000), "peer", S(r, 2) ? S(r, 2) : "", "message_id",
						      str_or_null(S(r, 3)), "status", (json_int_t)I(r, 4), "reason",
						      S(r, 5) ? S(r, 5) : "", "body_sha256", S(r, 6) ? S(r, 6) : ""));
	*out = json_pack("{s:o,s:I}", "refusals", list, "count", (json_int_t)json_array_size(list));
	json_decref(all);
	return built(*out, err);
}

/* ---- the audit trail ---- */

#define MAX_BROKEN_SHOWN 10
#define MAX_ACTIONS_SHOWN 100

struct audit_walk {
	char prev[65];
	int64_t rows, in, answers, broken, actions;
	json_t *shown;
	json_t *last_actions;           /* the operators' latest replays and purges, oldest first */
	int64_t checkpoint;     /* the last pruned row's seq (0 = none): kept rows come after it */
};

static int audit_row(void *arg, int ncols, const char *const *v)
{
	struct audit_walk *w = arg;
	if (ncols < 12)
		return LT_EIO;
#define T(i) (v[i] ? v[i] : "")
	struct lt_audit_row r = { .at_ms = v[1] ? strtoll(v[1], NULL, 10) : 0, .direction = T(2), .peer = T(3),
				  .message_id = T(4), .body_sha256 = T(5), .sig_sha256 = T(6), .trust = T(11),
				  .prev = T(7) };
	char hash[65];
	lt_audit_hash(&r, hash);
	const char *why = NULL;
	int in = strcmp(r.direction, "in") == 0;
	if (w->checkpoint && strtoll(T(0), NULL, 10) <= w->checkpoint)
		why = "it is at or before the checkpoint of the pruned rows (a row was put back, or the checkpoint changed)";
	else if (strcmp(r.prev, w->prev) && w->checkpoint && !w->rows)
		why = "it does not follow the checkpoint of the pruned rows (the checkpoint or this row was changed)";
	else if (strcmp(r.prev, w->prev))
		why = "it does not follow the row before it (a row was removed, inserted or changed)";
	else if (strcmp(hash, T(8)))
		why = "its content does not match its hash (the row was changed)";
	else if (in && strcmp(T(10), "1"))
		why = "the message it records is not in the store";
	else if (in && strcmp(T(9), r.body_sha256))
		why = "the stored message's digest differs from the one recorded (the message was changed)";
	if (why && w->broken++ < MAX_BROKEN_SHOWN)
		json_array_append_new(w->shown, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s}", "row", (json_int_t)strtoll(T(0), NULL, 10),
							  "at", when(r.at_ms / 1000), "direction", r.direction, "peer",
							  r.peer, "message_id", r.message_id, "reason", why));
	snprintf(w->prev, sizeof w->prev, "%s", T(8));
#undef T
	w->rows++;
	w->in += in;
	w->answers += strcmp(r.direction, "answer") == 0;
	if (strcmp(r.direction, "replay") == 0 || strcmp(r.direction, "purge") == 0) {
		w->actions++;
		if (json_array_size(w->last_actions) == MAX_ACTIONS_SHOWN)
			json_array_remove(w->last_actions, 0);
		json_array_append_new(w->last_actions,
				      json_pack("{s:I,s:o,s:s,s:s,s:s,s:s}", "row", (json_int_t)strtoll(v[0] ? v[0] : "0", NULL, 10),
						"at", when(r.at_ms / 1000), "action", r.direction, "peer", r.peer,
						"message_id", r.message_id, "by", r.trust));
	}
	return 0;
}

/* Retention's checkpoints: the chain goes on from the last one's hash. Each
 * run's pruned rows come after the run before. */
static json_t *audit_checkpoints(struct lt_query *q, struct audit_walk *w, struct lt_err *err)
{
	json_t *cps = NULL;
	if (rows(q, LT_READ_AUDIT_PRUNED, &cps, err, 0))
		return NULL;
	int64_t n = 0, last_seq = 0, last_at = 0;
	size_t i;
	json_t *r;
	json_array_foreach(cps, i, r) {
		if (I(r, 2) <= last_seq && w->broken++ < MAX_BROKEN_SHOWN)
			json_array_append_new(w->shown, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s}", "row", (json_int_t)I(r, 0),
								  "at", when(I(r, 4) / 1000), "direction", "checkpoint",
								  "peer", "", "message_id", "", "reason",
								  "a checkpoint overlaps the one before it (it was changed)"));
		n += I(r, 3);
		last_seq = I(r, 0);
		last_at = I(r, 4);
		snprintf(w->prev, sizeof w->prev, "%s", S(r, 1) ? S(r, 1) : "");
	}
	w->checkpoint = last_seq;
	json_t *o = json_array_size(cps) ?
		json_pack("{s:I,s:I,s:s,s:o,s:I}", "rows", (json_int_t)n, "before_seq", (json_int_t)(last_seq + 1),
			  "checkpoint_hash", w->prev, "last_at", when(last_at / 1000), "runs",
			  (json_int_t)json_array_size(cps)) : json_null();
	json_decref(cps);
	return o;
}

int lt_query_audit_verify(struct lt_query *q, json_t **out, struct lt_err *err)
{
	struct audit_walk w = { .shown = json_array(), .last_actions = json_array() };
	memset(w.prev, '0', 64);
	w.prev[64] = '\0';
	*out = NULL;
	json_t *pruned = audit_checkpoints(q, &w, err);
	if (!pruned) {
		json_decref(w.shown);
		json_decref(w.last_actions);
		return LT_EIO;
	}
	int rc = q->be->run(q->db, LT_READ_AUDIT, 0, NULL, audit_row, &w, err);
	if (rc) {
		json_decref(w.shown);
		json_decref(w.last_actions);
		json_decref(pruned);
		return rc == LT_EIO && !err->msg[0] ? lt_err_set(err, LT_EIO, "the audit trail has the wrong columns") : rc;
	}
	*out = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:o,s:o,s:o}", "intact", w.broken == 0, "rows",
			 (json_int_t)w.rows, "in", (json_int_t)w.in, "out", (json_int_t)(w.rows - w.in - w.answers - w.actions),
			 "answers", (json_int_t)w.answers, "operator_actions", (json_int_t)w.actions, "last_hash", w.prev,
			 "broken_count", (json_int_t)w.broken, "broken", w.shown, "actions", w.last_actions, "pruned", pruned);
	return built(*out, err);
}

/* ---- the report ---- */

enum { F_CARRIED, F_DIRECT, F_ONLINE, F_POSTAL, F_NOT_STATED, F_RECEIVED, F_TOTAL, F_RESOLVED, F_EARLY, F_ON_TIME,
       F_LATE, F_OPEN, F_WITHIN, F_OVERDUE, F_APOLOGIES, F_NO_APOLOGY, F_INTER, F_ELECTRONIC, F_MERGED, F_N };

static const char *const fields[F_N] = {
	"carried_over", "direct", "online", "postal", "not_stated", "received", "received_total", "resolved",
	"resolved_early", "resolved_on_time", "resolved_late", "in_progress", "in_progress_on_time",
	"in_progress_overdue", "apologies", "late_without_apology", "inter_agency", "exchanged_electronically",
	"from_merged_units",
};

struct tally {
	char agency[64];
	int64_t v[F_N];
};

struct tallies {
	struct tally *t;
	size_t n;
};

static int64_t *tally_of(struct tallies *ts, const char *agency)
{
	for (size_t i = 0; i < ts->n; i++)
		if (strcmp(ts->t[i].agency, agency) == 0)
			return ts->t[i].v;
	ts->t = realloc(ts->t, (ts->n + 1) * sizeof *ts->t);
	struct tally *t = &ts->t[ts->n++];
	memset(t, 0, sizeof *t);
	snprintf(t->agency, sizeof t->agency, "%s", agency);
	return t->v;
}

static double share(int64_t part, int64_t whole)
{
	return whole ? (double)(int64_t)(1000.0 * (double)part / (double)whole + 0.5) / 10 : 0;
}

static json_t *tally_json(const struct lt_query *q, const char *code, const int64_t *v)
{
	json_t *o = json_pack("{s:s}", "agency", code);
	const char *name = strcmp(code, "total") ? agency_name(q, code) : NULL;
	json_object_set_new(o, "name", name ? json_string(name) : json_null());
	for (int f = 0; f < F_N; f++)
		json_object_set_new(o, fields[f], json_integer(v[f]));
	json_object_set_new(o, "online_share", json_real(share(v[F_ONLINE], v[F_RECEIVED])));
	json_object_set_new(o, "electronic_share", json_real(share(v[F_ELECTRONIC], v[F_INTER])));
	return o;
}

static int by_agency(const void *a, const void *b)
{
	return strcmp(((const struct tally *)a)->agency, ((const struct tally *)b)->agency);
}

static json_t *tallies_json(const struct lt_query *q, struct tallies *ts)
{
	json_t *a = json_array();
	if (ts->n)
		qsort(ts->t, ts->n, sizeof *ts->t, by_agency);
	for (size_t i = 0; i < ts->n; i++)
		json_array_append_new(a, tally_json(q, ts->t[i].agency, ts->t[i].v));
	return a;
}

/* One report row of the dossiers table (LT_READ_REPORT), as numbers. */
struct rd {
	const char *code, *channel, *receiving, *handling;
	int64_t status, r, due, res, ret, apologies, merged, transferred, first_seen;
};

static int open_at(const struct rd *d, int64_t t)
{
	return (!d->res || d->res >= t) && (!d->ret || d->ret >= t) && !lt_status_ended(d->status);
}

/* Add one dossier with a known start to a row of figures; the late and
 * overdue ones say so (they are counted per handling agency where they went late). */
static int count_dossier(const struct rd *d, int64_t f, int64_t t, int64_t *v)
{
	int carried = d->r < f && open_at(d, f), received = d->r >= f && d->r < t;
	int resolved = d->res >= f && d->res < t, open_end = open_at(d, t);
	int late = 0, overdue = 0;
	if (carried)
		v[F_CARRIED]++;
	if (received) {
		v[F_RECEIVED]++;
		int c = !d->channel ? F_NOT_STATED : strcmp(d->channel, "direct") == 0 ? F_DIRECT :
			strcmp(d->channel, "online") == 0 ? F_ONLINE : strcmp(d->channel, "postal") == 0 ? F_POSTAL :
			F_NOT_STATED;
		v[c]++;
	}
	if (carried || received)
		v[F_TOTAL]++;
	if (resolved) {
		v[F_RESOLVED]++;
		if (d->apologies || (d->due && lt_date_local_day(d->res) > lt_date_local_day(d->due)))
			late = 1, v[F_LATE]++;
		else if (d->due && lt_date_local_day(d->res) == lt_date_local_day(d->due))
			v[F_ON_TIME]++;
		else
			v[F_EARLY]++;
	}
	if (open_end) {
		v[F_OPEN]++;
		if (d->due && d->due < t)
			overdue = 1, v[F_OVERDUE]++;
		else
			v[F_WITHIN]++;
	}
	if (!d->apologies && (late || overdue))
		v[F_NO_APOLOGY]++;
	if (carried || received) {
		int inter = d->transferred || (d->handling && d->receiving && strcmp(d->handling, d->receiving));
		v[F_INTER] += inter;
		v[F_ELECTRONIC] += inter && d->transferred;
	}
	if (d->merged && (received || resolved || open_end))
		v[F_MERGED]++;
	return late || overdue;
}

int lt_query_report(struct lt_query *q, int64_t from, int64_t to, json_t **out, struct lt_err *err)
{
	char f[24], t[24];
	num(f, from);
	num(t, to);
	json_t *all = NULL, *apol = NULL, *r;
	struct tallies recv = { 0 }, hand = { 0 };
	int64_t total[F_N] = { 0 }, seen = 0, u_resolved = 0, u_open = 0;
	json_t *late_where = json_object(), *agency_of = json_object(), *handler_of = json_object();
	*out = NULL;
	int rc = rows(q, LT_READ_REPORT, &all, err, 2, f, t);
	if (!rc)
		rc = rows(q, LT_READ_APOLOGIES, &apol, err, 0);
	size_t i;
	json_array_foreach(rc ? NULL : all, i, r) {
		struct rd d = { S(r, 0), S(r, 2), S(r, 3), S(r, 4), I(r, 1), I(r, 5), I(r, 6), I(r, 7), I(r, 8), I(r, 9),
				I(r, 10), I(r, 11), I(r, 12) / 1000 };
		if (d.channel && !*d.channel)
			d.channel = NULL;
		if (!d.r) {
			/* first seen through a later event: no received date to count it by;
			 * seen from its first event's time (when it happened, else when it came) */
			json_t *erows = NULL, *parsed = NULL, *ev;
			if ((rc = dossier_events(q, d.code, &erows, &parsed, err)))
				break;
			size_t k;
			json_array_foreach(parsed, k, ev) {
				int64_t at = date_of(ev, "occurred_at");
				if (at && at < d.first_seen)
					d.first_seen = at;
			}
			json_decref(erows);
			json_decref(parsed);
			int resolved = d.res >= from && d.res < to;
			if (d.first_seen >= to || !(resolved || open_at(&d, to) || d.first_seen >= from))
				continue;
			seen++;
			u_resolved += resolved;
			u_open += !resolved && open_at(&d, to);
			continue;
		}
		if (!(d.r >= from || open_at(&d, from) || (d.res >= from && d.res < to)))
			continue;
		const char *ra = d.receiving && *d.receiving ? d.receiving : "(none)";
		int64_t scratch[F_N] = { 0 };
		int late = count_dossier(&d, from, to, scratch);
		for (int k = 0; k < F_N; k++) {
			tally_of(&recv, ra)[k] += scratch[k];
			total[k] += scratch[k];
		}
		/* per handling agency: where it went late, else who handled it */
		const char *ha = d.handling && *d.handling ? d.handling : ra;
		char where[64] = "";
		if (late) {
			json_t *erows = NULL, *parsed = NULL;
			struct journey j;
			struct lt_dossier dv;
			if ((rc = dossier_events(q, d.code, &erows, &parsed, err)))
				break;
			journey_walk(&q->cal, parsed, to, &j, &dv);
			snprintf(where, sizeof where, "%s", j.late_at);
			json_decref(j.holders);
			json_decref(erows);
			json_decref(parsed);
		}
		if (where[0]) {
			ha = where;
			json_t *c = json_object_get(late_where, where);
			json_object_set_new(late_where, where, json_integer(json_integer_value(c) + 1));
		}
		int64_t *hv = tally_of(&hand, ha);
		for (int k = 0; k < F_N; k++)
			hv[k] += scratch[k];
		json_object_set_new(agency_of, d.code, json_string(ra));
		json_object_set_new(handler_of, d.code, json_string(ha));
	}
	/* apology letters dated in the period, under each dossier's agencies */
	json_array_foreach(rc ? NULL : apol, i, r) {
		json_t *ev = json_loads(S(r, 1) ? S(r, 1) : "", 0, NULL);
		int64_t at = date_of(ev, "occurred_at");
		json_decref(ev);
		const char *ra = json_string_value(json_object_get(agency_of, S(r, 0) ? S(r, 0) : ""));
		if (!ra || at < from || at >= to)
			continue;
		tally_of(&recv, ra)[F_APOLOGIES]++;
		tally_of(&hand, json_string_value(json_object_get(handler_of, S(r, 0))))[F_APOLOGIES]++;
		total[F_APOLOGIES]++;
	}
	if (!rc) {
		json_t *late_at = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(late_where, k, v)
			json_array_append_new(late_at, json_pack("{s:o,s:O}", "agency", agency(q, k), "late", v));
		*out = json_pack("{s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I},s:o}", "from", when(from), "to", when(to),
				 "agencies", tallies_json(q, &recv), "handling_agencies", tallies_json(q, &hand),
				 "total", tally_json(q, "total", total), "unknown_start", "seen", (json_int_t)seen,
				 "resolved", (json_int_t)u_resolved, "in_progress", (json_int_t)u_open, "late_at", late_at);
		rc = built(*out, err);
	}
	free(recv.t);
	free(hand.t);
	json_decref(late_where);
	json_decref(agency_of);
	json_decref(handler_of);
	json_decref(all);
	json_decref(apol);
	return rc;
}

/* A quoted CSV field ("" inside for "). */
static void csv_field(struct lt_buf *out, const char *s)
{
	lt_buf_append(out, "\"", 1);
	for (; s && *s; s++) {
		if (*s == '"')
			lt_buf_append(out, "\"", 1);
		lt_buf_append(out, s, 1);
	}
	lt_buf_append(out, "\"", 1);
}

static void csv_row(struct lt_buf *out, const char *table, const json_t *row)
{
	lt_buf_printf(out, "%s,", table);
	csv_field(out, json_string_value(json_object_get(row, "agency")));
	lt_buf_append(out, ",", 1);
	csv_field(out, json_string_value(json_object_get(row, "name")));
	for (int f = 0; f < F_N; f++)
		lt_buf_printf(out, ",%lld", (long long)json_integer_value(json_object_get(row, fields[f])));
	lt_buf_printf(out, ",%.1f,%.1f\n", json_real_value(json_object_get(row, "online_share")),
		      json_real_value(json_object_get(row, "electronic_share")));
}

void lt_query_report_csv(const json_t *report, struct lt_buf *out)
{
	lt_buf_printf(out, "table,agency,name");
	for (int f = 0; f < F_N; f++)
		lt_buf_printf(out, ",%s", fields[f]);
	lt_buf_printf(out, ",online_share,electronic_share\n");
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(report, "agencies"), i, row)
		csv_row(out, "receiving", row);
	csv_row(out, "total", json_object_get(report, "total"));
	json_array_foreach(json_object_get(report, "handling_agencies"), i, row)
		csv_row(out, "handling", row);
	const json_t *u = json_object_get(report, "unknown_start");
	lt_buf_printf(out, "unknown_start,\"(unknown start)\",\"\"");
	for (int f = 0; f < F_N; f++)
		lt_buf_printf(out, ",%lld", strcmp(fields[f], "resolved") == 0 ? (long long)json_integer_value(json_object_get(u, "resolved"))
				   : strcmp(fields[f], "in_progress") == 0 ? (long long)json_integer_value(json_object_get(u, "in_progress"))
				   : 0LL);
	lt_buf_printf(out, ",0.0,0.0\n");
}

int lt_query_parse_day(const char *opt, const char *s, int end, int64_t *out, struct lt_err *err)
{
	char day[16];
	int d, m, y, n = 0;
	if (sscanf(s, "%2d/%2d/%4d%n", &d, &m, &y, &n) == 3 && s[n] == '\0' && strlen(s) == 10)
		snprintf(day, sizeof day, "%04d-%02d-%02d", y, m, d);
	else
		snprintf(day, sizeof day, "%.10s", s);
	int rc;
	if (strlen(s) == 10) {
		rc = lt_date_parse_day(day, strlen(day), out, NULL);
		if (!rc)
			*out += end ? DAY_S : 0;
	} else {
		rc = lt_date_parse_rfc3339(s, out, NULL);
	}
	if (rc)
		return lt_err_set(err, LT_EINVAL, "%s \"%.40s\" is not a date: write YYYY-MM-DD (2026-03-01), DD/MM/YYYY "
				  "(01/03/2026) or RFC 3339 (2026-03-01T08:00:00+07:00)", opt, s);
	return LT_OK;
}
