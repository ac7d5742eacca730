/* cli_dlq.c — `lienthong dlq list|show|replay|purge`: the dead letters.
 *
 * list and show read the store through its queries (query.h: SQLite or
 * PostgreSQL, read-only, with the gateway running or not); replay and purge
 * ask the running gateway (POST /v1/admin/dlq/...), so that its dispatcher
 * learns at once of what came back to its queues. */
#include "cli.h"
#include "config.h"
#include "mapping.h"
#include "query.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char LT_CLI_DLQ_HELP[] =
	"usage: lienthong dlq list [--peer PEER] [--dossier CODE] [-c FILE]\n"
	"       lienthong dlq show ID [-c FILE]\n"
	"       lienthong dlq replay ID... | FILTERS [-c FILE]\n"
	"       lienthong dlq purge ID... | FILTERS [-c FILE]\n"
	"Dead letters are deliveries the gateway gave up on: a peer refused them for good\n"
	"(a 4xx other than 408/425/429), or retry.max_age passed.\n"
	"  list     one line each: id, dossier, event type, destination, attempts, last answer\n"
	"  show     one dead letter whole: the event, every attempt, the peer's last answer\n"
	"  replay   put them back in their destination's queue, behind any delivery of the same\n"
	"           dossier still waiting there; retry.max_age counts again from now\n"
	"  purge    delete them (the delivery and its attempts; the event stays in the trail)\n"
	"FILTERS (all given must match; replay and purge need at least one):\n"
	"  --peer PEER       the destination      --dossier CODE    the dossier\n"
	"  --before TIME     dead before TIME (RFC 3339, e.g. 2026-11-24T00:00:00+07:00)\n"
	"  --all             every dead letter\n"
	"replay and purge ask the running gateway (admin_listen) and print what they did.\n"
	"Exit status 0 done, 1 the gateway or the store cannot be reached or nothing matched\n"
	"(show), 2 a wrong command line.\n";

struct dlq_args {
	const char *sub;
	json_t *ids;                    /* array of delivery ids given */
	const char *peer, *dossier, *before;
	int all;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "lienthong dlq: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see lienthong dlq --help)\n");
	return 2;
}

static int parse_args(int argc, char **argv, struct dlq_args *a)
{
	a->sub = argv[2];
	a->ids = json_array();
	for (int i = 3; i < argc; i++) {
		const char *o = argv[i];
		const char **slot = strcmp(o, "--peer") == 0 ? &a->peer : strcmp(o, "--dossier") == 0 ? &a->dossier
				    : strcmp(o, "--before") == 0 ? &a->before : NULL;
		if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) {
			if (++i >= argc)
				return usage_error("%s needs a file name", o);
		} else if (slot) {
			if (++i >= argc)
				return usage_error("%s needs a value", o);
			*slot = argv[i];
		} else if (strcmp(o, "--all") == 0) {
			a->all = 1;
		} else if (o[0] != '-' && strspn(o, "0123456789") == strlen(o) && strlen(o) < 19) {
			json_array_append_new(a->ids, json_integer(strtoll(o, NULL, 10)));
		} else {
			return usage_error(o[0] == '-' ? "unknown option \"%s\"" : "\"%s\" is not a dead letter's id", o);
		}
	}
	int lists = strcmp(a->sub, "list") == 0, shows = strcmp(a->sub, "show") == 0;
	if (!lists && !shows && strcmp(a->sub, "replay") && strcmp(a->sub, "purge"))
		return usage_error("unknown subcommand \"%s\" (list, show, replay, purge)", a->sub);
	if (lists && (json_array_size(a->ids) || a->before || a->all))
		return usage_error("%s takes only --peer and --dossier", "list");
	if (shows && (json_array_size(a->ids) != 1 || a->peer || a->dossier || a->before || a->all))
		return usage_error("%s takes one dead letter's id", "show");
	if (!lists && !shows && !json_array_size(a->ids) && !a->peer && !a->dossier && !a->before && !a->all)
		return usage_error("%s what? give ids, --peer, --dossier, --before or --all", a->sub);
	if (a->before) {
		int64_t t;
		struct lt_err err = { 0 };
		if (lt_date_parse_rfc3339(a->before, &t, &err))
			return usage_error("--before: %s", err.msg);
	}
	return 0;
}

/* A --peer that names no destination of this configuration is a mistake, not "0 dead letters". */
static int known_destination(const char *path, const char *peer)
{
	struct lt_buf errors = { 0 }, names = { 0 };
	struct lt_config *cfg = NULL;
	int ok = 1;
	if (peer && lt_config_load(path, &cfg, &errors) == 0) {
		const struct lt_peer *p = lt_config_peer(cfg, peer);
		ok = p && p->url;
		for (size_t i = 0; !ok && i < cfg->npeers; i++)
			if (cfg->peers[i].url)
				lt_buf_printf(&names, "%s%s", names.len ? ", " : "", cfg->peers[i].name);
		if (!ok)
			fprintf(stderr, "lienthong dlq: %s \"%s\" in %s (its destinations: %s)\n",
				p ? "deliveries only go to destinations, and not to" : "no peer named", peer, path,
				names.len ? names.data : "none");
	}
	lt_config_free(cfg);
	lt_buf_free(&errors);
	lt_buf_free(&names);
	return ok;
}

static int cmd_list(const char *path, const struct dlq_args *a)
{
	if (!known_destination(path, a->peer))
		return 2;
	struct lt_config *cfg;
	struct lt_query *q = lt_cli_open_query(path, "dlq", &cfg);
	if (!q)
		return 1;
	json_t *doc = NULL;
	struct lt_err err = { 0 };
	int rc = lt_query_dlq_list(q, a->peer, a->dossier, 100000, &doc, &err);
	lt_query_close(q);
	lt_config_free(cfg);
	if (rc) {
		fprintf(stderr, "lienthong dlq: %s\n", err.msg);
		return 1;
	}
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(doc, "dead_letters"), i, d) {
		int n = (int)json_integer_value(json_object_get(d, "attempts"));
		printf("%-6lld %-28s %-24s -> %-20s %d attempt%s, last %d: %s  (message %s)\n",
		       (long long)json_integer_value(json_object_get(d, "id")), lt_cli_str(d, "dossier_code"),
		       lt_cli_str(d, "type"), lt_cli_str(d, "dest"), n, n == 1 ? "" : "s",
		       (int)json_integer_value(json_object_get(d, "last_status")), lt_cli_str(d, "last_error"),
		       lt_cli_str(d, "message_id"));
	}
	long n = (long)json_integer_value(json_object_get(doc, "count"));
	printf("%ld dead letter%s\n", n, n == 1 ? "" : "s");
	json_decref(doc);
	return 0;
}

static int cmd_show(const char *path, const struct dlq_args *a)
{
	struct lt_config *cfg;
	struct lt_query *q = lt_cli_open_query(path, "dlq", &cfg);
	if (!q)
		return 1;
	int64_t id = json_integer_value(json_array_get(a->ids, 0));
	json_t *d = NULL;
	struct lt_err err = { 0 };
	int rc = lt_query_dlq_show(q, id, &d, &err);
	lt_query_close(q);
	lt_config_free(cfg);
	if (rc) {
		fprintf(stderr, "lienthong dlq show: %s\n", err.msg);
		return 1;
	}
	int n = (int)json_integer_value(json_object_get(d, "attempts"));
	printf("dead letter %lld: %s of dossier %s to %s, %d attempt%s\n", (long long)id, lt_cli_str(d, "type"),
	       lt_cli_str(d, "dossier_code"), lt_cli_str(d, "dest"), n, n == 1 ? "" : "s");
	printf("  %-13s %s (from %s)\n", "message id", lt_cli_str(d, "message_id"), lt_cli_str(d, "source"));
	printf("  %-13s %s\n", "queued", lt_cli_str(d, "queued_at"));
	printf("  %-13s %s\n", "given up", lt_cli_str(d, "dead_at"));
	json_t *st = json_object_get(d, "last_status");
	printf("  %-13s ", "last answer");
	if (json_is_integer(st))
		printf("%d", (int)json_integer_value(st));
	else
		printf("none");
	printf("%s%s\n", json_is_string(json_object_get(d, "last_error")) ? ": " : "", lt_cli_str(d, "last_error"));
	if (json_is_string(json_object_get(d, "last_response")))
		printf("  %-13s %.2000s\n", "its body", lt_cli_str(d, "last_response"));
	json_t *ev = json_object_get(d, "event");
	char *pretty = json_is_object(ev) ? json_dumps(ev, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	printf("event:\n%s\n", pretty ? pretty : lt_cli_str(d, "event"));
	free(pretty);
	printf("attempts:\n");
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(d, "attempt_list"), i, t) {
		char status[16] = "-";
		if (json_is_integer(json_object_get(t, "status")))
			snprintf(status, sizeof status, "%d", (int)json_integer_value(json_object_get(t, "status")));
		printf("  #%-3d %s  %5lld ms  %-5s %-6s %s\n", (int)json_integer_value(json_object_get(t, "n")),
		       lt_cli_str(t, "at"), (long long)json_integer_value(json_object_get(t, "duration_ms")), status,
		       lt_cli_str(t, "outcome"), lt_cli_str(t, "error"));
	}
	json_decref(d);
	return 0;
}

/* replay or purge through the gateway, a batch at a time until none is left. */
static int cmd_act(const char *path, const struct dlq_args *a)
{
	json_t *filters = json_object();
	if (json_array_size(a->ids))
		json_object_set(filters, "ids", a->ids);
	if (a->peer)
		json_object_set_new(filters, "peer", json_string(a->peer));
	if (a->dossier)
		json_object_set_new(filters, "dossier_code", json_string(a->dossier));
	if (a->before)
		json_object_set_new(filters, "before", json_string(a->before));
	if (a->all)
		json_object_set_new(filters, "all", json_true());
	char *body = json_dumps(filters, JSON_COMPACT);
	json_decref(filters);
	char url[64];
	snprintf(url, sizeof url, "/v1/admin/dlq/%s", a->sub);
	const char *verb = strcmp(a->sub, "replay") == 0 ? "replayed" : "purged";
	long total = 0;
	int rc = 0;
	for (int round = 0; round < 10000; round++) {      /* LT_DLQ_BATCH each: bounded */
		struct lt_buf out = { 0 };
		long status;
		if ((rc = lt_cli_admin(path, "dlq", url, body, &out, &status))) {
			lt_buf_free(&out);
			break;
		}
		json_t *doc = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
		lt_buf_free(&out);
		if (status != 200) {
			fprintf(stderr, "lienthong dlq %s: the gateway answered %ld: %s\n", a->sub, status,
				json_string_value(json_object_get(doc, "detail")) ?: "(no detail)");
			json_decref(doc);
			rc = 1;
			break;
		}
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(doc, "deliveries"), i, d)
			printf("%s %-6lld %-28s -> %-20s (message %s)\n", verb,
			       (long long)json_integer_value(json_object_get(d, "delivery_id")),
			       json_string_value(json_object_get(d, "dossier_code")),
			       json_string_value(json_object_get(d, "peer")),
			       json_string_value(json_object_get(d, "message_id")));
		total += (long)json_integer_value(json_object_get(doc, "count"));
		int more = json_is_true(json_object_get(doc, "more"));
		json_decref(doc);
		if (!more)
			break;
	}
	free(body);
	if (!rc)
		printf("%ld dead letter%s %s\n", total, total == 1 ? "" : "s", verb);
	return rc;
}

int lt_cli_dlq(int argc, char **argv, const char *path)
{
	struct dlq_args a = { 0 };
	int rc = parse_args(argc, argv, &a);
	if (!rc)
		rc = strcmp(a.sub, "list") == 0 ? cmd_list(path, &a)
		     : strcmp(a.sub, "show") == 0 ? cmd_show(path, &a) : cmd_act(path, &a);
	json_decref(a.ids);
	return rc;
}
