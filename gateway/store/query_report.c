/* query_report.c — the office's report (query_report.h), from the store's
 * dossiers table and, for the dossiers that went late, their journey.
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
 * ("unknown start": seen, resolved, in progress).
 *
 * The report as CSV, and the dates a report is asked for, are here too. */
#include "query.h"
#include "query_int.h"
#include "query_report.h"
#include "dates.h"
#include "sla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400

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
	const char *name = strcmp(code, "total") ? lt_query_agency_name(q, code) : NULL;
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
	lt_query_num(f, from);
	lt_query_num(t, to);
	json_t *all = NULL, *apol = NULL, *r;
	struct tallies recv = { 0 }, hand = { 0 };
	int64_t total[F_N] = { 0 }, seen = 0, u_resolved = 0, u_open = 0;
	json_t *late_where = json_object(), *agency_of = json_object(), *handler_of = json_object();
	*out = NULL;
	int rc = lt_query_rows(q, LT_READ_REPORT, &all, err, 2, f, t);
	if (!rc)
		rc = lt_query_rows(q, LT_READ_APOLOGIES, &apol, err, 0);
	size_t i;
	json_array_foreach(rc ? NULL : all, i, r) {
		struct rd d = { lt_col_str(r, 0), lt_col_str(r, 2), lt_col_str(r, 3), lt_col_str(r, 4),
			       lt_col_int(r, 1), lt_col_int(r, 5), lt_col_int(r, 6), lt_col_int(r, 7), lt_col_int(r, 8),
			       lt_col_int(r, 9), lt_col_int(r, 10), lt_col_int(r, 11), lt_col_int(r, 12) / 1000 };
		if (d.channel && !*d.channel)
			d.channel = NULL;
		if (!d.r) {
			/* first seen through a later event: no received date to count it by;
			 * seen from its first event's time (when it happened, else when it came) */
			json_t *erows = NULL, *parsed = NULL, *ev;
			if ((rc = lt_query_dossier_events(q, d.code, &erows, &parsed, err)))
				break;
			size_t k;
			json_array_foreach(parsed, k, ev) {
				int64_t at = lt_query_date_of(ev, "occurred_at");
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
			struct lt_journey j;
			struct lt_dossier dv;
			if ((rc = lt_query_dossier_events(q, d.code, &erows, &parsed, err)))
				break;
			lt_journey_walk(&q->cal, parsed, to, &j, &dv);
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
		json_t *ev = json_loads(lt_col_str(r, 1) ? lt_col_str(r, 1) : "", 0, NULL);
		int64_t at = lt_query_date_of(ev, "occurred_at");
		json_decref(ev);
		const char *ra = json_string_value(json_object_get(agency_of,
								   lt_col_str(r, 0) ? lt_col_str(r, 0) : ""));
		if (!ra || at < from || at >= to)
			continue;
		tally_of(&recv, ra)[F_APOLOGIES]++;
		tally_of(&hand, json_string_value(json_object_get(handler_of, lt_col_str(r, 0))))[F_APOLOGIES]++;
		total[F_APOLOGIES]++;
	}
	if (!rc) {
		json_t *late_at = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(late_where, k, v)
			json_array_append_new(late_at, json_pack("{s:o,s:O}", "agency", lt_query_agency(q, k), "late",
								 v));
		*out = json_pack("{s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I},s:o}", "from", lt_query_when(from), "to",
				 lt_query_when(to), "agencies", tallies_json(q, &recv), "handling_agencies",
				 tallies_json(q, &hand), "total", tally_json(q, "total", total), "unknown_start",
				 "seen", (json_int_t)seen, "resolved", (json_int_t)u_resolved, "in_progress",
				 (json_int_t)u_open, "late_at", late_at);
		rc = lt_query_built(*out, err);
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
