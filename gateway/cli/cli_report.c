/* cli_report.c — `lienthong report`: the one-stop office's figures for a
 * period (lt_query_report, query_report.c says what each one counts), printed as
 * the offices write them, or as CSV or JSON (the admin API's document). */
#include "cli.h"
#include "config.h"
#include "query.h"
#include "query_report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char LT_CLI_REPORT_HELP[] =
	"usage: lienthong report --from DATE --to DATE [--format text|csv|json] [-c FILE]\n"
	"The period's figures per receiving agency (current unit codes, names from [agencies]),\n"
	"per handling agency (a late dossier under the agency that held it when it went late),\n"
	"and in total:\n"
	"  carried_over      received before the period, still open when it began\n"
	"  direct, online, postal, not_stated   received in the period, by channel\n"
	"  received          received in the period; received_total adds carried_over\n"
	"  resolved          resolved in the period: resolved_early, resolved_on_time,\n"
	"                    resolved_late by appointment day (a dossier that needed an apology\n"
	"                    counts as late)\n"
	"  in_progress       open at the end: in_progress_on_time, in_progress_overdue\n"
	"  apologies         apology letters issued in the period\n"
	"  late_without_apology   late or overdue dossiers with no apology (should be 0)\n"
	"  online_share      online / received in the period, in percent\n"
	"  inter_agency, exchanged_electronically, electronic_share   dossiers handled by\n"
	"                    another agency than the receiving one, and the share of them\n"
	"                    transferred through the gateway\n"
	"  from_merged_units dossiers that came under a unit code since merged (the figure\n"
	"                    includes them under the new code)\n"
	"Dossiers first seen through a later event (no received date: in progress on go-live day)\n"
	"are counted apart as \"unknown start\", never guessed into a category.\n"
	"DATE is YYYY-MM-DD or DD/MM/YYYY (a whole local day; --to includes that day) or an RFC 3339 time\n"
	"(--to excludes it). Reads the store (SQLite or PostgreSQL), whether the gateway runs or not.\n";

#define N(row, k) ((long long)json_integer_value(json_object_get(row, k)))

/* s cut or padded to `width` characters (not bytes: names are Vietnamese). */
static void cell(char *out, size_t n, const char *s, int width)
{
	size_t o = 0;
	int chars = 0;
	for (; *s && o + 4 < n; s++) {
		if ((*s & 0xC0) != 0x80 && chars++ == width)
			break;
		out[o++] = *s;
	}
	for (; chars < width && o + 1 < n; chars++)
		out[o++] = ' ';
	out[o] = '\0';
}

static void text_row(const json_t *row)
{
	char who[160];
	const char *name = lt_cli_str(row, "name");
	cell(who, sizeof who, *name ? name : lt_cli_str(row, "agency"), 30);
	printf("%s %7lld %6lld %6lld %6lld %6lld %6lld %7lld %6lld %6lld %6lld %6lld %7lld %7lld %6lld %9lld "
	       "%6.1f%% %6.1f%%%s\n", who, N(row, "carried_over"), N(row, "direct"), N(row, "online"), N(row, "postal"),
	       N(row, "not_stated"), N(row, "received_total"), N(row, "resolved"), N(row, "resolved_early"),
	       N(row, "resolved_on_time"), N(row, "resolved_late"), N(row, "in_progress_on_time"),
	       N(row, "in_progress_overdue"), N(row, "apologies"), N(row, "inter_agency"), N(row, "late_without_apology"),
	       json_real_value(json_object_get(row, "online_share")),
	       json_real_value(json_object_get(row, "electronic_share")), N(row, "from_merged_units") ? "  *" : "");
}

static void text_header(const char *first)
{
	printf("%-30s %7s %6s %6s %6s %6s %6s %7s %6s %6s %6s %6s %7s %7s %6s %9s %7s %7s\n", first, "carried", "direct",
	       "online", "postal", "nostat", "total", "resolvd", "early", "ontime", "late", "open", "overdue", "apolog",
	       "inter", "late-noap", "online", "electr");
}

static void print_text(const json_t *doc)
{
	size_t i;
	json_t *row;
	int merged = 0;
	printf("dossiers from %s up to %s\n\nper receiving agency\n", lt_cli_str(doc, "from"), lt_cli_str(doc, "to"));
	text_header("agency");
	json_array_foreach(json_object_get(doc, "agencies"), i, row) {
		text_row(row);
		merged |= N(row, "from_merged_units") > 0;
	}
	text_row(json_object_get(doc, "total"));
	printf("\nper handling agency (a late dossier under the agency where it went late)\n");
	text_header("agency");
	json_array_foreach(json_object_get(doc, "handling_agencies"), i, row)
		text_row(row);
	json_array_foreach(json_object_get(doc, "late_at"), i, row) {
		const json_t *a = json_object_get(row, "agency");
		printf("late at %s%s%s%s: %lld\n", lt_cli_str(a, "code"), *lt_cli_str(a, "name") ? " (" : "",
		       lt_cli_str(a, "name"), *lt_cli_str(a, "name") ? ")" : "", N(row, "late"));
	}
	const json_t *u = json_object_get(doc, "unknown_start");
	if (N(u, "seen"))
		printf("\nunknown start (first seen through a later event, counted apart): %lld dossiers, %lld resolved in "
		       "the period, %lld in progress at its end\n", N(u, "seen"), N(u, "resolved"), N(u, "in_progress"));
	if (merged)
		printf("* includes dossiers that came under a unit code since merged, counted under the new code\n");
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
	if (lt_query_parse_day("--from", from, 0, &f, &err) || lt_query_parse_day("--to", to, 1, &t, &err)) {
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
	struct lt_config *cfg;
	struct lt_query *q = lt_cli_open_query(path, "report", &cfg);
	if (!q)
		return 1;
	json_t *doc = NULL;
	int rc = lt_query_report(q, f, t, &doc, &err);
	lt_query_close(q);
	lt_config_free(cfg);
	if (rc) {
		fprintf(stderr, "lienthong report: %s\n", err.msg);
		return 1;
	}
	if (strcmp(format, "json") == 0) {
		char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", text);
		free(text);
	} else if (strcmp(format, "csv") == 0) {
		struct lt_buf csv = { 0 };
		lt_query_report_csv(doc, &csv);
		fwrite(csv.data, 1, csv.len, stdout);
		lt_buf_free(&csv);
	} else {
		print_text(doc);
	}
	json_decref(doc);
	return 0;
}
