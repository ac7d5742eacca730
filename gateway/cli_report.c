/* cli_report.c — `lienthong report`: the one-stop office's figures for a
 * period, per receiving agency, from the dossier view in the store.
 *
 * What offices report (Decree 118/2025, see PEERS.md): dossiers received
 * (carried over, direct, online, postal), resolved (early, on time, late),
 * in progress (within the deadline, overdue), apologies issued, and the share
 * received online. Days are local (+07:00) calendar days: resolved on the
 * appointment day is on time, before it early, after it late. A dossier that
 * needed an apology missed its first appointment: resolved, it counts as
 * late even if the new date was kept. */
#include "cli.h"
#include "mapping.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char LT_CLI_REPORT_HELP[] =
	"usage: lienthong report --from DATE --to DATE [--format text|csv|json] [-c FILE]\n"
	"The period's figures per receiving agency (current unit codes), and in total:\n"
	"  carried_over      received before the period, still open when it began\n"
	"  direct, online, postal   received in the period, by channel\n"
	"  resolved_early, resolved_on_time, resolved_late   resolved in the period, by\n"
	"                    appointment day (a dossier that needed an apology counts as late)\n"
	"  in_progress_on_time, in_progress_overdue   open at the end of the period\n"
	"  apologies         apology letters issued in the period\n"
	"  late_without_apology   late or overdue dossiers with no apology (should be 0)\n"
	"  online_share      online / received in the period, in percent\n"
	"  from_merged_units dossiers that came under a unit code since merged (the figure\n"
	"                    includes them under the new code)\n"
	"DATE is YYYY-MM-DD or DD/MM/YYYY (a whole local day; --to includes that day) or an RFC 3339 time\n"
	"(--to excludes it). Reads the store, beside the running gateway.\n";

/* The local day (+07:00) of a unix time, as a number SQLite can compare. */
#define DAY(x) "((" x " + 25200) / 86400)"
#define OPEN_AT(t) "(res = 0 OR res >= " t ") AND (ret = 0 OR ret >= " t ") AND status NOT IN (3, 7, 8)"

static const char report_sql[] =
	"WITH p(f, t) AS (SELECT ?1, ?2),"
	" d AS (SELECT code, COALESCE(NULLIF(receiving_agency, ''), '(none)') AS agency, channel,"
	"  received_at AS r, due_at AS due, resolved_at AS res, returned_at AS ret, apologies, status,"
	"  EXISTS (SELECT 1 FROM events e WHERE e.dossier_code = dossiers.code"
	"   AND json_extract(e.body, '$.detail.previous_codes') IS NOT NULL) AS merged FROM dossiers),"
	" a AS (SELECT COALESCE(NULLIF(x.receiving_agency, ''), '(none)') AS agency, COUNT(*) AS n"
	"  FROM events e JOIN dossiers x ON x.code = e.dossier_code, p"
	"  WHERE e.type = 'dossier.apology' AND CAST(strftime('%s', json_extract(e.body, '$.occurred_at')) AS INTEGER)"
	"   BETWEEN p.f AND p.t - 1"
	"  GROUP BY 1)"
	" SELECT d.agency,"
	"  SUM(r < f AND " OPEN_AT("f") "),"
	"  SUM(r >= f AND r < t AND channel = 'direct'),"
	"  SUM(r >= f AND r < t AND channel = 'online'),"
	"  SUM(r >= f AND r < t AND channel = 'postal'),"
	"  SUM(r >= f AND r < t),"
	"  SUM(res >= f AND res < t AND apologies = 0 AND (due = 0 OR " DAY("res") " < " DAY("due") ")),"
	"  SUM(res >= f AND res < t AND apologies = 0 AND due > 0 AND " DAY("res") " = " DAY("due") "),"
	"  SUM(res >= f AND res < t AND (apologies > 0 OR (due > 0 AND " DAY("res") " > " DAY("due") "))),"
	"  SUM(r < t AND " OPEN_AT("t") " AND NOT (due > 0 AND due < t)),"
	"  SUM(r < t AND " OPEN_AT("t") " AND due > 0 AND due < t),"
	"  COALESCE((SELECT n FROM a WHERE a.agency = d.agency), 0),"
	"  SUM(apologies = 0 AND ((res >= f AND res < t AND due > 0 AND " DAY("res") " > " DAY("due") ")"
	"   OR (r < t AND " OPEN_AT("t") " AND due > 0 AND due < t))),"
	"  SUM(merged AND ((r >= f AND r < t) OR (res >= f AND res < t) OR (r < t AND " OPEN_AT("t") ")))"
	" FROM d, p WHERE r < t AND (r >= f OR " OPEN_AT("f") " OR (res >= f AND res < t))"
	" GROUP BY d.agency ORDER BY d.agency";

enum { C_AGENCY, C_CARRIED, C_DIRECT, C_ONLINE, C_POSTAL, C_RECEIVED, C_EARLY, C_ON_TIME, C_LATE, C_WITHIN,
       C_OVERDUE, C_APOLOGIES, C_NO_APOLOGY, C_MERGED, C_N };

static const char *const names[C_N] = {
	"agency", "carried_over", "direct", "online", "postal", "received", "resolved_early", "resolved_on_time",
	"resolved_late", "in_progress_on_time", "in_progress_overdue", "apologies", "late_without_apology",
	"from_merged_units",
};

/* YYYY-MM-DD or DD/MM/YYYY (a local day: its start, or with end set the next
 * day's) or RFC 3339; an error names what the user typed. */
static int parse_when(const char *opt, const char *s, int end, int64_t *out, struct lt_err *err)
{
	char full[40], day[16];
	int d, m, y, n = 0;
	if (sscanf(s, "%2d/%2d/%4d%n", &d, &m, &y, &n) == 3 && s[n] == '\0' && strlen(s) == 10)
		snprintf(day, sizeof day, "%04d-%02d-%02d", y, m, d);
	else
		snprintf(day, sizeof day, "%.10s", s);
	int rc;
	if (strlen(s) == 10) {
		snprintf(full, sizeof full, "%sT00:00:00" LT_TZ_OFFSET, day);
		rc = lt_date_parse_rfc3339(full, out, NULL);
		if (!rc)
			*out += end ? 86400 : 0;
	} else {
		rc = lt_date_parse_rfc3339(s, out, NULL);
	}
	if (rc)
		return lt_err_set(err, LT_EINVAL, "%s \"%.40s\" is not a date: write YYYY-MM-DD (2026-03-01), DD/MM/YYYY "
				  "(01/03/2026) or RFC 3339 (2026-03-01T08:00:00+07:00)", opt, s);
	return LT_OK;
}

static double share(int64_t part, int64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static void print_row(const char *format, const int64_t *v, const char *agency, FILE *out)
{
	double online = share(v[C_ONLINE], v[C_RECEIVED]);
	if (strcmp(format, "csv") == 0) {
		fprintf(out, "\"%s\"", agency);
		for (int c = 1; c < C_N; c++)
			fprintf(out, ",%lld", (long long)v[c]);
		fprintf(out, ",%.1f\n", online);
	} else {
		fprintf(out, "%-22s %7lld %6lld %6lld %6lld %6lld %6lld %6lld %8lld %7lld %6lld %9lld %6.1f%%%s\n", agency,
			(long long)v[C_CARRIED], (long long)v[C_DIRECT], (long long)v[C_ONLINE], (long long)v[C_POSTAL],
			(long long)v[C_EARLY], (long long)v[C_ON_TIME], (long long)v[C_LATE], (long long)v[C_WITHIN],
			(long long)v[C_OVERDUE], (long long)v[C_APOLOGIES], (long long)v[C_NO_APOLOGY], online,
			v[C_MERGED] ? "  *" : "");
	}
}

static json_t *json_row(const int64_t *v, const char *agency)
{
	json_t *o = json_pack("{s:s}", "agency", agency);
	for (int c = 1; c < C_N; c++)
		json_object_set_new(o, names[c], json_integer(v[c]));
	json_object_set_new(o, "online_share", json_real((double)(int)(share(v[C_ONLINE], v[C_RECEIVED]) * 10) / 10));
	return o;
}

static int run_report(const char *path, int64_t from, int64_t to, const char *format)
{
	sqlite3 *db = lt_cli_open_store(path);
	if (!db)
		return 1;
	sqlite3_stmt *s = lt_cli_query(db, "report", report_sql);
	if (!s)
		return 1;
	sqlite3_bind_int64(s, 1, from);
	sqlite3_bind_int64(s, 2, to);
	char a[32], b[32];
	lt_date_format_rfc3339(from, a);
	lt_date_format_rfc3339(to, b);
	int64_t total[C_N] = { 0 }, v[C_N];
	int merged = 0;
	json_t *rows = json_array();
	if (strcmp(format, "csv") == 0) {
		for (int c = 0; c < C_N; c++)
			printf("%s%s", c ? "," : "", names[c]);
		printf(",online_share\n");
	} else if (strcmp(format, "text") == 0) {
		printf("dossiers from %s up to %s\n", a, b);
		printf("%-22s %7s %6s %6s %6s %6s %6s %6s %8s %7s %6s %9s %7s\n", "agency", "carried", "direct",
		       "online", "postal", "early", "ontime", "late", "open-ok", "overdue", "apolog", "late-noap",
		       "online");
	}
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *agency = lt_cli_col(s, C_AGENCY);
		for (int c = 1; c < C_N; c++)
			total[c] += v[c] = sqlite3_column_int64(s, c);
		merged |= v[C_MERGED] > 0;
		if (strcmp(format, "json") == 0)
			json_array_append_new(rows, json_row(v, agency));
		else
			print_row(format, v, agency, stdout);
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "lienthong report: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (strcmp(format, "json") == 0) {
		json_t *doc = json_pack("{s:s,s:s,s:o,s:o}", "from", a, "to", b, "agencies", rows, "total",
					json_row(total, "total"));
		char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", text);
		free(text);
		json_decref(doc);
		return rc == SQLITE_DONE ? 0 : 1;
	}
	json_decref(rows);
	print_row(format, total, "total", stdout);
	if (merged && strcmp(format, "text") == 0)
		printf("* includes dossiers that came under a unit code since merged, counted under the new code\n");
	return rc == SQLITE_DONE ? 0 : 1;
}

int lt_cli_report(int argc, char **argv, const char *path)
{
	const char *from = NULL, *to = NULL, *format = "text";
	for (int i = 2; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--from") == 0 ? &from : strcmp(argv[i], "--to") == 0 ? &to
				    : strcmp(argv[i], "--format") == 0 ? &format
				    : strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0 ? &path : NULL;
		if (!slot || i + 1 >= argc) {
			fprintf(stderr, "lienthong report: %s \"%s\" (see lienthong report --help)\n",
				slot ? "a value is missing after" : "unknown option", argv[i]);
			return 2;
		}
		*slot = argv[++i];
	}
	struct lt_err err = { 0 };
	int64_t f, t;
	if (!from || !to) {
		fprintf(stderr, "lienthong report: give the period: --from DATE --to DATE\n");
		return 2;
	}
	if (parse_when("--from", from, 0, &f, &err) || parse_when("--to", to, 1, &t, &err)) {
		fprintf(stderr, "lienthong report: %s\n", err.msg);
		return 2;
	}
	if (t <= f) {
		fprintf(stderr, "lienthong report: --to must come after --from\n");
		return 2;
	}
	if (strcmp(format, "text") && strcmp(format, "csv") && strcmp(format, "json")) {
		fprintf(stderr, "lienthong report: --format is text, csv or json, not \"%s\"\n", format);
		return 2;
	}
	return run_report(path, f, t, format);
}
