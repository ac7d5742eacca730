/* cli.c — `lienthong run|check-config|status|trail|dlq|report|audit|adapters|version`,
 * each with --help (dlq, report, audit and adapters in cli_dlq.c, cli_report.c,
 * cli_audit.c, cli_adapters.c). */
#include "cli.h"
#include "adapter.h"
#include "answer.h"
#include "config.h"
#include "http.h"
#include "mapped.h"
#include "security.h"
#include "dates.h"
#include "store_sqlite.h"

#include <jansson.h>
#include <sqlite3.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/lienthong/lienthong.conf"

static const char usage[] =
	"usage: lienthong COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  run [-c FILE]            start the gateway (default config " DEFAULT_CONFIG ")\n"
	"  check-config [-c FILE]   check the config file; report every mistake with its line\n"
	"  status [-c FILE]         ask the running gateway for its queues and counters\n"
	"  trail DOSSIER_CODE [-c FILE]  every event of a dossier and every hop it took\n"
	"  dlq list|show|replay|purge [filters] [-c FILE]\n"
	"                           dead letters: what could not be delivered, why, and what to do\n"
	"  report --from DATE --to DATE [--format text|csv|json] [-c FILE]\n"
	"                           the period's dossiers per agency: received, resolved early,\n"
	"                           on time or late, open, overdue, apologies\n"
	"  audit verify [-c FILE]   check the hash-chained trail of signed messages in and out\n"
	"  adapters [--json]        the adapters this build knows: directions, content types, params\n"
	"  version                  print the version\n"
	"\n"
	"Every command takes --help.\n";

struct cmd_help {
	const char *name;
	const char *text;
};

static const struct cmd_help helps[] = {
	{ "run", "usage: lienthong run [-c FILE]\n"
		 "Start the gateway in the foreground. Logs go to stderr as JSON lines\n"
		 "(log_format = text for text). SIGTERM or SIGINT stops it gracefully:\n"
		 "no new input, in-flight work finished, the store closed cleanly.\n" },
	{ "check-config", "usage: lienthong check-config [-c FILE]\n"
			  "Read the config and print every mistake as FILE:LINE: problem.\n"
			  "Exit status 0 when the file is good, 2 when it has mistakes.\n" },
	{ "status", "usage: lienthong status [--json] [-c FILE]\n"
		    "Ask the running gateway (its admin_listen) for each peer's queues, breaker and\n"
		    "counters, printed as a table (--json: the admin API's answer as it is).\n" },
	{ "trail", "usage: lienthong trail DOSSIER_CODE [-c FILE]\n"
		   "Print the dossier's state and, in order, each event (when, from whom, and what vouched\n"
		   "for it: the signature verified, or the TLS certificate it was trusted on) with each\n"
		   "delivery it caused (to whom, attempts, outcome, last answer). Reads the store.\n" },
	{ "dlq", LT_CLI_DLQ_HELP },
	{ "report", LT_CLI_REPORT_HELP },
	{ "audit", LT_CLI_AUDIT_HELP },
	{ "adapters", LT_CLI_ADAPTERS_HELP },
	{ "version", "usage: lienthong version\nPrint the version.\n" },
};

static const char *find_config(int argc, char **argv)
{
	for (int i = 2; i < argc - 1; i++)
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
			return argv[i + 1];
	const char *env = getenv("LIENTHONG_CONFIG");
	return env ? env : DEFAULT_CONFIG;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

static int has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return 1;
	return 0;
}

static int bad_option(int argc, char **argv, int positional)
{
	for (int i = 2 + positional; i < argc; i++) {
		if (strcmp(argv[1], "status") == 0 && strcmp(argv[i], "--json") == 0)
			continue;
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lienthong %s: %s needs a file name\n", argv[1], argv[i]);
				return 1;
			}
			i++;
			continue;
		}
		fprintf(stderr, "lienthong %s: unknown option \"%s\" (see lienthong %s --help)\n", argv[1], argv[i],
			argv[1]);
		return 1;
	}
	return 0;
}

static int cmd_check(const char *path)
{
	struct lt_buf errors = { 0 };
	struct lt_config *cfg;
	/* one pass: the file's mistakes and those of the keys and certificates it names */
	int bad = lt_config_load_all(path, &cfg, &errors);
	if (!cfg) {
		fprintf(stderr, "%s", errors.data);
		lt_buf_free(&errors);
		return 2;
	}
	struct lt_security *sec = NULL;
	struct lt_buf warnings = { 0 }, risks = { 0 };
	struct lt_codes *codes = NULL;
	struct lt_mappings *maps = NULL;
	if (lt_codes_load(NULL, cfg->codes_dir, &codes, &errors))   /* the code tables' mistakes too */
		bad = 1;
	else
		lt_codes_use(codes), codes = NULL;                    /* mapping files and peers are checked with them */
	if (lt_mappings_load(NULL, cfg->mappings_dir, &maps, &errors))
		bad = 1;
	else
		lt_mappings_use(maps), maps = NULL;
	if (lt_adapters_check_peers(cfg, &errors))
		bad = 1;
	int rc = lt_security_load(cfg, &sec, &errors, &warnings);
	if (bad) {
		if (warnings.len)
			fprintf(stderr, "warning: %s", warnings.data);
		fprintf(stderr, "%s", errors.data);
		size_t n = 0;
		for (const char *p = errors.data; p && *p; p++)
			n += *p == '\n';
		fprintf(stderr, "%s: %zu mistake%s\n", path, n, n == 1 ? "" : "s");
		lt_security_free(sec);
		lt_codes_free(codes);
		lt_mappings_free(maps);
		lt_codes_shutdown();
		lt_mappings_shutdown();
		lt_buf_free(&errors);
		lt_buf_free(&warnings);
		lt_config_free(cfg);
		return 2;
	}
	if (warnings.len)
		fprintf(stderr, "warning: %s", warnings.data);
	lt_config_warnings(cfg, &risks);
	for (char *line = risks.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
		fprintf(stderr, "warning: %.*s\n", (int)(nl - line), line);
	lt_buf_free(&risks);
	if (rc) {
		fprintf(stderr, "%s", errors.data);
		fprintf(stderr, "%s: keys or certificates are not usable\n", path);
	} else {
		for (size_t i = 0; i < sec->ncerts; i++)
			printf("  %-32s CN=%-36s %5d days left  %s\n", sec->certs[i].what, sec->certs[i].cn,
			       sec->certs[i].days_left, sec->certs[i].path);
		for (size_t i = 0; i < sec->ncrl_reports; i++) {
			const struct lt_crl_report *r = &sec->crl_reports[i];
			int64_t left = r->next_update ? r->next_update - lt_now_ms() / 1000 : 0;
			printf("  crl of CN=%-40s %d revoked, %s%lld days%s  %s\n", r->issuer_cn, r->revoked,
			       !r->next_update ? "no next update" : left < 0 ? "STALE: next update was " : "next update in ",
			       (long long)((left < 0 ? -left : left) / 86400), left < 0 ? " ago" : "", r->path);
		}
		for (size_t i = 0; i < cfg->npeers; i++) {   /* what the events its answers carry rest on */
			const struct lt_peer *p = &cfg->peers[i];
			if (!p->url && strcmp(p->inbound, "pull"))
				continue;
			if (lt_answer_signed(p))
				printf("  answers of %-21s signed (%s): verified against its keys before they are read\n",
				       p->name, p->verify);
			else
				printf("  answers of %-21s unsigned: trusted on its TLS server certificate%s\n", p->name,
				       p->url && strncmp(p->url, "http://", 7) == 0 ? " (none: its url is plain http)" : "");
		}
		for (size_t i = 0; i < cfg->npeers; i++)
			if (cfg->peers[i].signer)
				printf("  peer %-27s signer CN=%s%s\n", cfg->peers[i].name, cfg->peers[i].signer,
				       cfg->peers[i].keys ? " and one of its keys" : " (subject, chained to its trust)");
		printf("  tls_policy %s\n", cfg->tls_policy == LT_TLS_MODERN ?
		       "modern: TLS 1.3 only, listener and outbound" :
		       "intermediate: TLS 1.3, and TLS 1.2 with ECDHE + AES-GCM/ChaCha20-Poly1305 only, listener and outbound");
		char said[1024];
		lt_codes_describe(lt_codes_in_use(), said, sizeof said);
		printf("  codes %s\n", said);
		lt_mappings_describe(lt_mappings_in_use(), said, sizeof said);
		printf("  mappings %s\n", said);
		printf("%s: ok (%zu peers, %zu routes, store %s)\n", path, cfg->npeers, cfg->nroutes, cfg->store);
	}
	if (strncmp(cfg->store, "sqlite:", 7) == 0) {
		struct lt_buf notes = { 0 };
		lt_sq_private_files(cfg->store + 7, 0, &notes);
		for (char *line = notes.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
			fprintf(stderr, "warning: %.*s\n", (int)(nl - line), line);
		lt_buf_free(&notes);
	}
	lt_security_free(sec);
	lt_codes_shutdown();
	lt_mappings_shutdown();
	lt_buf_free(&errors);
	lt_buf_free(&warnings);
	lt_config_free(cfg);
	return rc ? 2 : 0;
}

static size_t write_buf(char *p, size_t size, size_t n, void *arg)
{
	lt_buf_append(arg, p, size * n);
	return size * n;
}

int lt_cli_admin(const char *path, const char *what, const char *url_path, const char *body, struct lt_buf *out,
		 long *status)
{
	struct lt_buf errors = { 0 };
	struct lt_config *cfg;
	if (lt_config_load(path, &cfg, &errors)) {
		fprintf(stderr, "%s", errors.data);
		lt_buf_free(&errors);
		return 2;
	}
	char url[512];
	snprintf(url, sizeof url, "http://%s%s", cfg->admin_listen, url_path);
	CURL *c = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* straight to the loopback listener: an http_proxy in the operator's
	 * environment would carry the request elsewhere (and be refused) */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	}
	CURLcode cc = curl_easy_perform(c);
	*status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	if (cc != CURLE_OK)
		fprintf(stderr, "lienthong %s: cannot reach the gateway at %s: %s\n", what, cfg->admin_listen,
			curl_easy_strerror(cc));
	lt_config_free(cfg);
	return cc == CURLE_OK ? 0 : 1;
}

/* "2h 03m", "45s": an age or uptime for people. */
static void human_age(json_int_t s, char *out, size_t n)
{
	if (s < 60)
		snprintf(out, n, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, n, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, n, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(out, n, "%lldd %02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* The status answer as a table: one line per peer, destinations first. */
static void print_status(const json_t *st)
{
	char up[32];
	human_age(json_integer_value(json_object_get(st, "uptime_s")), up, sizeof up);
	printf("lienthong %s, node %s: up %s, store %s, %lld events stored\n\n",
	       json_string_value(json_object_get(st, "version")), json_string_value(json_object_get(st, "node_id")), up,
	       json_is_true(json_object_get(st, "store_healthy")) ? "healthy" : "FAILING",
	       (long long)json_integer_value(json_object_get(st, "events_stored")));
	printf("%-24s %-11s %-8s %8s %9s %8s %6s %9s %8s %10s %9s\n", "PEER", "ADAPTER", "BREAKER", "PENDING",
	       "IN FLIGHT", "ORDERED", "DEAD", "OLDEST", "DONE", "RETRIED", "EVENTS IN");
	for (int dest = 1; dest >= 0; dest--) {
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(st, "peers"), i, p) {
			if (json_is_true(json_object_get(p, "destination")) != dest)
				continue;
			char oldest[32] = "-";
			json_int_t age = json_integer_value(json_object_get(p, "oldest_age_s"));
			if (json_object_get(p, "oldest_age_s") && !json_is_null(json_object_get(p, "oldest_age_s")))
				human_age(age, oldest, sizeof oldest);
#define N(k) (long long)json_integer_value(json_object_get(p, k))
			if (dest)
				printf("%-24s %-11s %-8s %8lld %9lld %8lld %6lld %9s %8lld %10lld %9lld\n",
				       json_string_value(json_object_get(p, "name")),
				       json_string_value(json_object_get(p, "adapter")),
				       json_string_value(json_object_get(p, "breaker")), N("pending"), N("inflight"),
				       N("waiting_for_order"), N("dead_letters"), oldest, N("delivered"), N("retried"),
				       N("events_in"));
			else
				printf("%-24s %-11s %-8s %8s %9s %8s %6s %9s %8s %10s %9lld\n",
				       json_string_value(json_object_get(p, "name")),
				       json_string_value(json_object_get(p, "adapter")), "-", "-", "-", "-", "-", "-", "-",
				       "-", N("events_in"));
#undef N
		}
	}
	printf("\nPENDING waits to be sent, ORDERED waits for an earlier event of its dossier, DEAD is a dead letter\n"
	       "(lienthong dlq list), OLDEST the age of the oldest delivery not yet done.\n");
}

static int cmd_status(const char *path, int as_json)
{
	struct lt_buf out = { 0 };
	long status;
	int rc = lt_cli_admin(path, "status", "/v1/admin/status", NULL, &out, &status);
	json_t *st = !rc && status == 200 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
	if (st && !as_json)
		print_status(st);
	else if (out.len)
		fwrite(out.data, 1, out.len, stdout);
	json_decref(st);
	lt_buf_free(&out);
	return rc ? rc : status == 200 ? 0 : 1;
}

/* Open the configured SQLite store read-only (WAL: safe beside the daemon). */
sqlite3 *lt_cli_open_store(const char *path)
{
	struct lt_buf errors = { 0 };
	struct lt_config *cfg;
	if (lt_config_load(path, &cfg, &errors)) {
		fprintf(stderr, "%s", errors.data);
		lt_buf_free(&errors);
		return NULL;
	}
	sqlite3 *db = NULL;
	if (strncmp(cfg->store, "sqlite:", 7)) {
		fprintf(stderr, "lienthong: this command reads a sqlite: store; %s is not one\n", cfg->store);
	} else if (sqlite3_open_v2(cfg->store + 7, &db, SQLITE_OPEN_READONLY, NULL)) {
		fprintf(stderr, "lienthong: cannot open the store %s: %s\n", cfg->store + 7, sqlite3_errmsg(db));
		sqlite3_close(db);
		db = NULL;
	} else {
		sqlite3_busy_timeout(db, 5000);
	}
	lt_config_free(cfg);
	return db;
}

sqlite3_stmt *lt_cli_query(sqlite3 *db, const char *what, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK)
		return s;
	fprintf(stderr, "lienthong %s: %s\n", what, sqlite3_errmsg(db));
	sqlite3_close(db);
	return NULL;
}

const char *lt_cli_col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? (const char *)t : "";
}

const char *lt_cli_audit_trust_col(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int has = sqlite3_prepare_v2(db, "SELECT trust FROM audit LIMIT 0", -1, &s, NULL) == SQLITE_OK;
	sqlite3_finalize(s);
	return has ? "a.trust" : "''";
}

static void print_time(int64_t unix_s, const char *label)
{
	if (!unix_s)
		return;
	char out[32];
	lt_date_format_rfc3339(unix_s, out);
	printf("  %-10s %s\n", label, out);
}

static int cmd_trail(const char *path, const char *code)
{
	sqlite3 *db = lt_cli_open_store(path);
	if (!db)
		return 1;
	static const char *const states[] = { "pending", "in flight", "delivered", "DEAD", "waiting for order" };
	sqlite3_stmt *s;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT status, channel, procedure, received_at, due_at, resolved_at, returned_at,"
				   " apologies, last_event FROM dossiers WHERE code = ?1", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, code, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			found = 1;
			printf("dossier %s: status %d, channel %s, procedure %s, %d apolog%s, last event %s\n", code,
			       sqlite3_column_int(s, 0), lt_cli_col(s, 1), lt_cli_col(s, 2), sqlite3_column_int(s, 7),
			       sqlite3_column_int(s, 7) == 1 ? "y" : "ies", lt_cli_col(s, 8));
			print_time(sqlite3_column_int64(s, 3), "received");
			print_time(sqlite3_column_int64(s, 4), "due");
			print_time(sqlite3_column_int64(s, 5), "resolved");
			print_time(sqlite3_column_int64(s, 6), "returned");
		}
		sqlite3_finalize(s);
	}
	/* what vouched for each event: the audit row of the message, page or answer it came in */
	char sql[700];
	snprintf(sql, sizeof sql, "SELECT e.seq, e.dossier_seq, e.type, e.source, e.received_at, e.event_id,"
		 " d.dest, d.state, d.attempts, d.last_status, d.last_error, e.body, e.message_id,"
		 " (SELECT %s FROM audit a WHERE a.message_id = e.message_id AND a.peer = e.source"
		 " AND a.direction IN ('in', 'answer') ORDER BY a.seq LIMIT 1)"
		 " FROM events e LEFT JOIN deliveries d ON d.event_seq = e.seq"
		 " WHERE e.dossier_code = ?1 ORDER BY e.seq, d.id", lt_cli_audit_trust_col(db));
	if (!(s = lt_cli_query(db, "trail", sql)))
		return 1;
	sqlite3_bind_text(s, 1, code, -1, SQLITE_STATIC);
	int64_t last = -1;
	while (sqlite3_step(s) == SQLITE_ROW) {
		found = 1;
		if (sqlite3_column_int64(s, 0) != last) {
			last = sqlite3_column_int64(s, 0);
			char when[32];
			lt_date_format_rfc3339(sqlite3_column_int64(s, 4) / 1000, when);
			printf("#%d %s  %-28s from %-22s event %s\n", sqlite3_column_int(s, 1), when, lt_cli_col(s, 2), lt_cli_col(s, 3),
			       lt_cli_col(s, 5));
			json_t *ev = json_loads(lt_cli_col(s, 11), 0, NULL);
			json_t *prev = json_object_get(json_object_get(ev, "detail"), "previous_codes");
			const char *k;
			json_t *v;
			json_object_foreach(prev, k, v)
				printf("      %s was %s (renamed or merged unit)\n", k, json_string_value(v));
			json_decref(ev);
			char phrase[300];
			lt_trust_phrase(lt_cli_col(s, 13), phrase, sizeof phrase);
			const char *mid = lt_cli_col(s, 12);
			if (phrase[0])
				printf("      %s %s, %s\n", strncmp(mid, "answer:", 7) == 0 ? "answer from"
					       : strncmp(mid, "poll:", 5) == 0 ? "polled from" : "sent by",
				       lt_cli_col(s, 3), phrase);
		}
		if (sqlite3_column_type(s, 6) == SQLITE_NULL)
			continue;
		int st = sqlite3_column_int(s, 7);
		printf("      -> %-22s %-17s %d attempt%s", lt_cli_col(s, 6), st >= 0 && st <= 4 ? states[st] : "?",
		       sqlite3_column_int(s, 8), sqlite3_column_int(s, 8) == 1 ? "" : "s");
		if (sqlite3_column_type(s, 9) != SQLITE_NULL)
			printf(", last answer %d", sqlite3_column_int(s, 9));
		if (st != 2 && sqlite3_column_type(s, 10) != SQLITE_NULL)
			printf(": %s", lt_cli_col(s, 10));
		printf("\n");
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (!found) {
		fprintf(stderr, "lienthong trail: no dossier %s in the store\n", code);
		return 1;
	}
	return 0;
}

int lt_cli_main(int argc, char **argv, int (*run)(const char *config_path))
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	for (size_t i = 0; i < sizeof helps / sizeof *helps; i++)
		if (strcmp(cmd, helps[i].name) == 0 && wants_help(argc, argv)) {
			fputs(helps[i].text, stdout);
			return 0;
		}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("lienthong %s\n", LT_VERSION);
		return 0;
	}
	int positional = strcmp(cmd, "trail") == 0 || strcmp(cmd, "dlq") == 0 || strcmp(cmd, "audit") == 0;
	if (positional && (argc < 3 || argv[2][0] == '-')) {
		fprintf(stderr, "lienthong %s: %s (see lienthong %s --help)\n", cmd,
			cmd[0] == 't' ? "which dossier? give its code"
			: cmd[0] == 'a' ? "expected: audit verify" : "expected: dlq list|show|replay|purge", cmd);
		return 2;
	}
	if (strcmp(cmd, "adapters") == 0)
		return lt_cli_adapters(argc, argv);
	if (strcmp(cmd, "dlq") && strcmp(cmd, "report") && bad_option(argc, argv, positional))
		return 2;
	const char *path = find_config(argc, argv);
	if (strcmp(cmd, "run") == 0)
		return run(path);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check(path);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(path, has_flag(argc, argv, "--json"));
	if (strcmp(cmd, "trail") == 0)
		return cmd_trail(path, argv[2]);
	if (strcmp(cmd, "dlq") == 0)
		return lt_cli_dlq(argc, argv, path);
	if (strcmp(cmd, "report") == 0)
		return lt_cli_report(argc, argv, path);
	if (strcmp(cmd, "audit") == 0)
		return lt_cli_audit(argc, argv, path);
	fprintf(stderr, "lienthong: unknown command \"%s\"\n\n%s", cmd, usage);
	return 2;
}
