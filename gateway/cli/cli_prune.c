/* cli_prune.c — `lienthong prune [--before TIME] [--dry-run]`: retention run
 * now, by the running gateway (POST /v1/admin/prune), on its store thread
 * in small batches like its hourly runs; for operators who prefer cron. */
#include "cli.h"
#include "dates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char LT_CLI_PRUNE_HELP[] =
	"usage: lienthong prune [--before TIME] [--dry-run] [-c FILE]\n"
	"Prune what the gateway is finished with and is older than TIME (default: now minus\n"
	"[gateway] retention): each dossier whose every event arrived before TIME and whose every\n"
	"delivery was done before it loses its events, deliveries and attempts (its state, used by\n"
	"the report, stays); then the oldest audit rows up to the first one still needed, with the\n"
	"messages they record, are replaced by a checkpoint that `lienthong audit verify` starts from.\n"
	"Never pruned: anything queued, in flight, waiting for order or dead-lettered (and the rest of\n"
	"its dossier), a message received within replay_window, the audit trail's last row.\n"
	"  --before TIME   RFC 3339 (2026-01-01T00:00:00+07:00) or a local day (2026-01-01)\n"
	"  --dry-run       count what would go, change nothing (in one transaction: on a large\n"
	"                  store it holds the gateway's commits for as long as it takes)\n"
	"Asks the running gateway (admin_listen) and prints the counts. Exit status 0 done, 1 the\n"
	"gateway or its store failed, 2 a wrong command line.\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "lienthong prune: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see lienthong prune --help)\n");
	return 2;
}

int lt_cli_prune(int argc, char **argv, const char *path)
{
	const char *before = NULL;
	int dry = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--before") == 0) {
			if (++i >= argc)
				return usage_error("%s needs a value", argv[i - 1]);
			if (argv[i - 1][2] == 'b')
				before = argv[i];
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			dry = 1;
		} else {
			return usage_error("unknown option \"%s\"", argv[i]);
		}
	}
	char when[40] = "";
	if (before) {
		int64_t t;
		struct lt_err err = { 0 };
		if (strlen(before) == 10 && lt_date_parse_day(before, 10, &t, &err) == 0)
			lt_date_format_rfc3339(t, when);
		else if (lt_date_parse_rfc3339(before, &t, &err) == 0)
			snprintf(when, sizeof when, "%s", before);
		else
			return usage_error("--before: \"%s\" is neither an RFC 3339 time nor a day YYYY-MM-DD", before);
	}
	json_t *req = json_pack("{s:b}", "dry_run", dry);
	if (before)
		json_object_set_new(req, "before", json_string(when));
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	struct lt_buf out = { 0 };
	long status = 0;
	int rc = lt_cli_admin(path, "prune", "/v1/admin/prune", body, &out, &status);
	free(body);
	json_t *doc = rc ? NULL : json_loadb(out.data ? out.data : "", out.len, 0, NULL);
	lt_buf_free(&out);
	if (!rc && status != 200) {
		fprintf(stderr, "lienthong prune: the gateway answered %ld: %s\n", status,
			json_string_value(json_object_get(doc, "detail")) ?: "(no detail)");
		rc = status == 400 ? 2 : 1;
	} else if (!rc) {
#define N(k) (long long)json_integer_value(json_object_get(doc, k))
		printf("%s before %s: %lld dossiers (%lld events, %lld deliveries, %lld attempts), %lld messages, "
		       "%lld audit rows\n", dry ? "would prune" : "pruned", lt_cli_str(doc, "before"), N("dossiers"),
		       N("events"), N("deliveries"), N("attempts"), N("messages"), N("audit"));
		const json_t *cp = json_object_get(doc, "checkpoint");
		if (json_is_object(cp))
			printf("audit checkpoint: rows up to %lld, hash %s\n",
			       (long long)json_integer_value(json_object_get(cp, "seq")), lt_cli_str(cp, "hash"));
		if (json_is_string(json_object_get(doc, "audit_held_by")))
			printf("the audit trail is kept from the %s\n", lt_cli_str(doc, "audit_held_by"));
#undef N
	}
	json_decref(doc);
	return rc;
}
