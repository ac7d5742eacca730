/* sla.c — working-day arithmetic, the dossier state view, overdue detection. */
#include "sla.h"
#include "dates.h"
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_day(const char *s, size_t n, int64_t *day)
{
	int64_t t;
	if (lt_date_parse_day(s, n, &t, NULL))
		return -1;
	*day = lt_date_local_day(t);
	return 0;
}

int lt_calendar_parse(const char *list, struct lt_calendar *cal, struct lt_err *err)
{
	memset(cal, 0, sizeof *cal);
	const char *p = list ? list : "";
	size_t cap = 0;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " ,\t");
		const char *dots = memchr(p, '.', n);
		int64_t a, b;
		if (dots && dots + 1 < p + n && dots[1] == '.') {
			if (parse_day(p, (size_t)(dots - p), &a) || parse_day(dots + 2, n - (size_t)(dots - p) - 2, &b) ||
			    b < a || b - a > 366)
				goto bad;
		} else {
			if (parse_day(p, n, &a))
				goto bad;
			b = a;
		}
		for (int64_t d = a; d <= b; d++) {
			if (cal->nholidays == cap) {
				cap = cap ? cap * 2 : 32;
				cal->holidays = realloc(cal->holidays, cap * sizeof *cal->holidays);
			}
			cal->holidays[cal->nholidays++] = d;
		}
		p += n;
		continue;
bad:
		lt_err_set(err, LT_ECONFIG, "holiday \"%.*s\" is not a date like 2026-09-02 or a range 2026-09-01..2026-09-02",
			   (int)n, p);
		lt_calendar_free(cal);
		return LT_ECONFIG;
	}
	if (cal->nholidays)
		qsort(cal->holidays, cal->nholidays, sizeof *cal->holidays, cmp64);
	return LT_OK;
}

void lt_calendar_free(struct lt_calendar *cal)
{
	free(cal->holidays);
	cal->holidays = NULL;
	cal->nholidays = 0;
}

static int day_is_working(const struct lt_calendar *cal, int64_t day)
{
	int64_t wd = (day + 4) % 7;          /* 1970-01-01 was a Thursday: 0 = Sunday */
	if (wd < 0)
		wd += 7;
	if (wd == 0 || wd == 6)
		return 0;
	return !(cal && cal->nholidays && bsearch(&day, cal->holidays, cal->nholidays, sizeof day, cmp64));
}

int lt_calendar_is_working_day(const struct lt_calendar *cal, int64_t t)
{
	return day_is_working(cal, lt_date_local_day(t));
}

int lt_working_days_between(const struct lt_calendar *cal, int64_t a, int64_t b)
{
	if (b <= a)
		return 0;
	int n = 0;
	for (int64_t d = lt_date_local_day(a) + 1; d <= lt_date_local_day(b) && n < 3660; d++)
		n += day_is_working(cal, d);
	return n;
}

int64_t lt_add_working_days(const struct lt_calendar *cal, int64_t t, int n)
{
	int64_t day = lt_date_local_day(t), added = 0;
	while (n > 0 && added < 3660) {
		day++;
		added++;
		if (day_is_working(cal, day))
			n--;
	}
	return t + added * DAY;
}

static int64_t date_of(const json_t *obj, const char *key)
{
	int64_t t = 0;
	const char *s = json_string_value(json_object_get(obj, key));
	if (s && lt_date_parse_rfc3339(s, &t, NULL))
		t = 0;
	return t;
}

static void apply_type(const struct lt_calendar *cal, struct lt_dossier *d, const json_t *ev,
				  const char *type, const json_t *dos, const json_t *det, int64_t at);

static void copy_str(char *dst, size_t n, const json_t *v)
{
	if (json_is_string(v))
		snprintf(dst, n, "%s", json_string_value(v));
}

/* One event's dossier members into facts: a newer event's replace what was
 * known (objects merged member by member), an older one's fill only what
 * was not. */
static void merge_facts(json_t *facts, const json_t *dos, int older)
{
	static const char *const keys[] = { "procedure", "field", "receiving_agency", "handling_agency", "applicant",
					    "channel", "received_at", "due_at" };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		json_t *v = json_object_get(dos, keys[i]), *had = json_object_get(facts, keys[i]);
		if (!v || json_is_null(v))
			continue;
		if (json_is_object(had) && json_is_object(v)) {
			if (!older) {
				json_object_update_recursive(had, v);
			} else {
				json_t *merged = json_deep_copy(v);
				json_object_update_recursive(merged, had);
				json_object_set_new(facts, keys[i], merged);
			}
		} else if (!had || !older) {
			json_object_set_new(facts, keys[i], json_deep_copy(v));
		}
	}
}

json_t *lt_dossier_facts(const json_t *events)
{
	json_t *facts = json_object(), *ev;
	int64_t last = 0;
	size_t i;
	json_array_foreach(events, i, ev) {
		int64_t at = date_of(ev, "occurred_at");
		merge_facts(facts, json_object_get(ev, "dossier"), at && last && at < last);
		if (at > last)
			last = at;
	}
	return facts;
}

void lt_dossier_apply(const struct lt_calendar *cal, struct lt_dossier *d, const json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	const json_t *dos = json_object_get(ev, "dossier"), *det = json_object_get(ev, "detail");
	int64_t at = date_of(ev, "occurred_at");
	if (!type)
		return;
	/* an older (or late repeated) event is in the trail, but the view keeps
	 * the status and last event of the newest one */
	int older = at && d->last_at && at < d->last_at, status = d->status;
	int64_t paused = d->paused_at;
	char last[sizeof d->last_event];
	memcpy(last, d->last_event, sizeof last);
	apply_type(cal, d, ev, type, dos, det, at);
	if (older) {
		d->status = status;
		d->paused_at = paused;
		memcpy(d->last_event, last, sizeof last);
	} else if (at) {
		d->last_at = at;
	}
}

static void apply_type(const struct lt_calendar *cal, struct lt_dossier *d, const json_t *ev,
				  const char *type, const json_t *dos, const json_t *det, int64_t at)
{
	copy_str(d->code, sizeof d->code, json_object_get(ev, "dossier_code"));
	snprintf(d->last_event, sizeof d->last_event, "%s", type);
	if (dos) {
		json_t *st = json_object_get(dos, "status");
		/* compared before the cast: 4294967297 is no status 1 */
		if (json_is_integer(st) && json_integer_value(st) >= 1 && json_integer_value(st) <= 10)
			d->status = (int)json_integer_value(st);
		copy_str(d->channel, sizeof d->channel, json_object_get(dos, "channel"));
		copy_str(d->procedure, sizeof d->procedure, json_object_get(json_object_get(dos, "procedure"), "code"));
		copy_str(d->receiving_agency, sizeof d->receiving_agency,
			 json_object_get(json_object_get(dos, "receiving_agency"), "code"));
		copy_str(d->handling_agency, sizeof d->handling_agency,
			 json_object_get(json_object_get(dos, "handling_agency"), "code"));
		if (date_of(dos, "received_at"))
			d->received_at = date_of(dos, "received_at");
		if (date_of(dos, "due_at") && strcmp(type, "dossier.supplemented"))
			d->due_at = date_of(dos, "due_at");
		if (date_of(dos, "resolved_at"))
			d->resolved_at = date_of(dos, "resolved_at");
		if (date_of(dos, "returned_at"))
			d->returned_at = date_of(dos, "returned_at");
	}
	if (strcmp(type, "dossier.received") == 0 && !d->received_at) {
		d->received_at = at;
	} else if (strcmp(type, "dossier.supplement_requested") == 0) {
		d->status = LT_STATUS_SUPPLEMENT;
		if (!d->paused_at)
			d->paused_at = at;
	} else if (strcmp(type, "dossier.supplemented") == 0) {
		if (d->paused_at && d->due_at) {
			int waited = lt_working_days_between(cal, d->paused_at, at);
			int64_t moved = lt_add_working_days(cal, d->due_at, waited);
			int64_t stated = det ? date_of(det, "new_due_at") : 0;
			d->due_at = stated ? stated : moved;
		}
		d->paused_at = 0;
		d->status = LT_STATUS_PROCESSING;
	} else if (strcmp(type, "dossier.apology") == 0) {
		d->apologies++;
		if (det && date_of(det, "new_due_at"))
			d->due_at = date_of(det, "new_due_at");
	} else if (strcmp(type, "dossier.resolved") == 0) {
		d->status = LT_STATUS_RESOLVED;
		if (!d->resolved_at)
			d->resolved_at = at;
	} else if (strcmp(type, "dossier.returned") == 0) {
		d->status = LT_STATUS_RETURNED;
		if (!d->returned_at)
			d->returned_at = at;
		if (!d->resolved_at)
			d->resolved_at = at;
	} else if (strcmp(type, "dossier.rejected") == 0) {
		d->status = LT_STATUS_REJECTED;
	} else if (strcmp(type, "dossier.withdrawn") == 0) {
		d->status = LT_STATUS_WITHDRAWN;
	} else if (strcmp(type, "dossier.suspended") == 0) {
		d->status = LT_STATUS_SUSPENDED;
	} else if (strcmp(type, "dossier.overdue") == 0) {
		d->overdue_notified_for = d->due_at;
	}
}

int lt_dossier_overdue(const struct lt_dossier *d, int64_t now)
{
	if (!d->due_at || d->due_at >= now || d->resolved_at || d->returned_at || d->paused_at)
		return 0;
	if (lt_status_ended(d->status) || d->status == LT_STATUS_RESOLVED || d->status == LT_STATUS_RETURNED)
		return 0;       /* closed: LT_STATUS_CLOSED_SQL */
	return d->overdue_notified_for != d->due_at;
}

json_t *lt_dossier_overdue_event(const struct lt_dossier *d, int64_t now, const char *source)
{
	char at[32], due[32];
	lt_date_format_rfc3339(now, at);
	lt_date_format_rfc3339(d->due_at, due);
	json_t *dossier = json_object();
	if (d->status)
		json_object_set_new(dossier, "status", json_integer(d->status));
	if (d->procedure[0])
		json_object_set_new(dossier, "procedure", json_pack("{s:s}", "code", d->procedure));
	if (d->channel[0])
		json_object_set_new(dossier, "channel", json_string(d->channel));
	json_object_set_new(dossier, "due_at", json_string(due));
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s}}", "type", "dossier.overdue", "occurred_at", at, "source",
			 source, "dossier_code", d->code, "dossier", dossier, "detail", "old_due_at", due, "reason",
			 "quá hạn giải quyết: chưa có kết quả và chưa có phiếu xin lỗi hẹn lại ngày trả");
}
