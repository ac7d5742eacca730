/* cli.c — `lienthong run|check-config|status|trail|dlq|report|audit|adapters|version`,
 * each with --help (dlq, report, audit and adapters in cli_dlq.c, cli_report.c,
 * cli_audit.c, cli_adapters.c). */
#include "cli.h"
#include "admin.h"
#include "adapter.h"
#include "answer.h"
#include "codes.h"
#include "config.h"
#include "http.h"
#include "mapped.h"
#include "security.h"
#include "mapping.h"
#include "query.h"
#include "store_sqlite.h"

#include <jansson.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/lienthong/lienthong.conf"

static const char usage[] =
	"usage: lienthong COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  run [-c FILE]            start the gateway (default config " DEFAULT_CONFIG ")\n"
	"  check-config [-c FILE]   check the config file; report every mistake with its line\n"
	"  status [-c FILE]         ask the running gateway for its queues and counters\n"
	"  trail DOSSIER_CODE [--json] [-c FILE]  a dossier's journey: every event, every hop and its\n"
	"                           delay, the agencies it waited at, where it went late\n"
	"  dlq list|show|replay|purge [filters] [-c FILE]\n"
	"                           dead letters: what could not be delivered, why, and what to do\n"
	"  report --from DATE --to DATE [--format text|csv|json] [-c FILE]\n"
	"                           the period's dossiers per agency: received, resolved early,\n"
	"                           on time or late, open, overdue, apologies\n"
	"  audit verify [--archive FILE] [-c FILE]\n"
	"                           check the hash-chained trail of signed messages in and out\n"
	"  prune [--before TIME] [--dry-run] [-c FILE]\n"
	"                           prune finished dossiers' events older than TIME (or retention)\n"
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
	{ "trail", "usage: lienthong trail DOSSIER_CODE [--json] [-c FILE]\n"
		   "Print the dossier's journey: its state; the agency holding it now and, when it went past\n"
		   "its appointment, the agency that held it then; each agency it waited at and for how long;\n"
		   "each event (when it happened and reached the gateway, from whom, what vouched for it: the\n"
		   "signature verified, or the TLS certificate it was trusted on) with each delivery it caused\n"
		   "(to whom, attempts, outcome, last answer, when delivered and the hop's delay); then every\n"
		   "event and attempt in time order. --json: the admin API's document\n"
		   "(GET /v1/admin/dossiers/CODE/trail). Reads the store (SQLite or PostgreSQL) read-only,\n"
		   "whether the gateway runs or not.\n" },
	{ "dlq", LT_CLI_DLQ_HELP },
	{ "report", LT_CLI_REPORT_HELP },
	{ "audit", LT_CLI_AUDIT_HELP },
	{ "prune", LT_CLI_PRUNE_HELP },
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
		if ((strcmp(argv[1], "status") == 0 || strcmp(argv[1], "trail") == 0) && strcmp(argv[i], "--json") == 0)
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
	lt_codes_try(codes);            /* with mistakes: what was read, so that only the mistakes are reported */
	if (lt_mappings_load(NULL, cfg->mappings_dir, &maps, &errors))
		bad = 1;
	else
		lt_mappings_use(maps), maps = NULL;
	if (lt_adapters_check_peers(cfg, &errors))
		bad = 1;
	lt_codes_try(NULL);
	int rc = lt_security_load(cfg, &sec, &errors, &warnings);
	struct lt_admin_auth *admin = NULL;
	if (lt_admin_auth_new(cfg, sec, &admin, &errors))   /* its certificate, key, trust and token file */
		bad = 1;
	if (bad) {
		if (warnings.len)
			fprintf(stderr, "warning: %s", warnings.data);
		fprintf(stderr, "%s", errors.data);
		size_t n = 0;
		for (const char *p = errors.data; p && *p; p++)
			n += *p == '\n';
		fprintf(stderr, "%s: %zu mistake%s\n", path, n, n == 1 ? "" : "s");
		lt_security_free(sec);
		lt_admin_auth_free(admin);
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
		for (size_t i = 0; i < cfg->npeers; i++)
			if (cfg->peers[i].ocsp != LT_OCSP_OFF)
				printf("  peer %-27s ocsp %s\n", cfg->peers[i].name, cfg->peers[i].ocsp == LT_OCSP_REQUIRE ?
				       "require: its server must staple a good OCSP response" :
				       "if-stapled: its server's OCSP staple, when it sends one, must say good");
		printf("  tls_policy %s\n", cfg->tls_policy == LT_TLS_MODERN ?
		       "modern: TLS 1.3 only, listener and outbound" :
		       "intermediate: TLS 1.3, and TLS 1.2 with ECDHE + AES-GCM/ChaCha20-Poly1305 only, listener and outbound");
		char said[1024];
		lt_codes_describe(lt_codes_in_use(), said, sizeof said);
		printf("  codes %s\n", said);
		lt_mappings_describe(lt_mappings_in_use(), said, sizeof said);
		printf("  mappings %s\n", said);
		if (cfg->retention_ms > 0)
			printf("  retention %lldd%s: finished dossiers older are pruned hourly; their audit rows %s\n",
			       (long long)(cfg->retention_ms / 86400000),
			       cfg->retention_ms % 86400000 ? " (and part of a day)" : "",
			       cfg->retention_archive ? "appended to retention_archive" : "not archived");
		else
			printf("  retention off: everything is kept (lienthong prune --before TIME prunes on demand)\n");
		if (cfg->agencies)
			printf("  [agencies] %zu agency names for the report, the trail and the console\n",
			       json_object_size(cfg->agencies));
		struct lt_buf said_admin = { 0 };
		lt_admin_auth_describe(admin, cfg, &said_admin);
		printf("  admin %s\n", said_admin.data);
		lt_buf_free(&said_admin);
		printf("  console %s://%s/ui (trail, dead letters, report: also lienthong trail|dlq|report)\n",
		       admin ? "https" : "http", cfg->admin_listen);
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
	lt_admin_auth_free(admin);
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

/* The bearer secret the CLI sends: LIENTHONG_ADMIN_TOKEN, else the first
 * NAME:SECRET line of admin_token_file when this user can read it; "" when none. */
static void cli_admin_token(const struct lt_config *cfg, char *out, size_t n)
{
	out[0] = '\0';
	if (getenv("LIENTHONG_ADMIN_TOKEN")) {
		snprintf(out, n, "%s", getenv("LIENTHONG_ADMIN_TOKEN"));
		return;
	}
	FILE *f = cfg->admin_token_file ? fopen(cfg->admin_token_file, "re") : NULL;
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		for (char *e = line + strlen(line); e > line && (e[-1] == ' ' || e[-1] == '\t'); )
			*--e = '\0';
		char *p = line + strspn(line, " \t"), *colon = strchr(p, ':');
		if (*p && *p != '#' && colon && strncmp(colon + 1, "sha256:", 7)) {
			snprintf(out, n, "%s", colon + 1);
			break;
		}
	}
	OPENSSL_cleanse(line, sizeof line);
	if (f)
		fclose(f);
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
	char url[512], host[256], auth[600] = "", op[80];
	int port = 0, tls = cfg->admin_token_file || cfg->admin_trust;
	lt_split_hostport(cfg->admin_listen, host, sizeof host, &port);
	/* a listener on every address is reached here on loopback */
	const char *to = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(host, "::") == 0 ? "[::1]" : NULL;
	if (to)
		snprintf(url, sizeof url, "%s://%s:%d%s", tls ? "https" : "http", to, port, url_path);
	else
		snprintf(url, sizeof url, "%s://%s%s", tls ? "https" : "http", cfg->admin_listen, url_path);
	CURL *c = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* who runs the command, for the audit trail of what it changes */
	struct passwd *pw = getpwuid(geteuid());
	snprintf(op, sizeof op, "X-Lienthong-Operator: cli:%.32s", pw ? pw->pw_name : "unknown");
	headers = curl_slist_append(headers, op);
	if (tls) {
		/* the listener's own certificate is the one trusted; the credential is
		 * LIENTHONG_ADMIN_TOKEN, else the token file's first plain secret when
		 * readable, or the client certificate LIENTHONG_ADMIN_CERT and _KEY */
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->admin_tls_cert ? cfg->admin_tls_cert : cfg->tls_cert);
		char secret[512] = "";
		cli_admin_token(cfg, secret, sizeof secret);
		if (secret[0]) {
			snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret);
			headers = curl_slist_append(headers, auth);
			OPENSSL_cleanse(secret, sizeof secret);
			OPENSSL_cleanse(auth, sizeof auth);
		}
		if (getenv("LIENTHONG_ADMIN_CERT"))
			curl_easy_setopt(c, CURLOPT_SSLCERT, getenv("LIENTHONG_ADMIN_CERT"));
		if (getenv("LIENTHONG_ADMIN_KEY"))
			curl_easy_setopt(c, CURLOPT_SSLKEY, getenv("LIENTHONG_ADMIN_KEY"));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* straight to the loopback listener: an http_proxy in the operator's
	 * environment would carry the request elsewhere (and be refused) */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
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

void lt_cli_human_age(int64_t s, char *out, size_t n)
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
	lt_cli_human_age(json_integer_value(json_object_get(st, "uptime_s")), up, sizeof up);
	printf("lienthong %s, node %s: up %s, store %s, %lld events stored\n\n",
	       json_string_value(json_object_get(st, "version")), json_string_value(json_object_get(st, "node_id")), up,
	       json_is_true(json_object_get(st, "store_healthy")) ? "healthy" : "FAILING",
	       (long long)json_integer_value(json_object_get(st, "events_stored")));
	const json_t *cfg = json_object_get(st, "config");
	if (cfg)        /* which configuration runs: a reload (SIGHUP) makes the next generation */
		printf("config %s: generation %lld, loaded %s; reloads %lld ok, %lld refused\n\n",
		       json_string_value(json_object_get(cfg, "file")),
		       (long long)json_integer_value(json_object_get(cfg, "generation")),
		       json_string_value(json_object_get(cfg, "loaded_at")),
		       (long long)json_integer_value(json_object_get(cfg, "reloads_ok")),
		       (long long)json_integer_value(json_object_get(cfg, "reloads_refused")));
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
				lt_cli_human_age(age, oldest, sizeof oldest);
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

struct lt_query *lt_cli_open_query(const char *path, const char *what, struct lt_config **cfg)
{
	struct lt_buf errors = { 0 };
	struct lt_err err = { 0 };
	struct lt_query *q = NULL;
	*cfg = NULL;
	if (lt_config_load(path, cfg, &errors)) {
		fprintf(stderr, "%s", errors.data);
		lt_buf_free(&errors);
		return NULL;
	}
	struct lt_codes *codes = NULL;     /* the deployment's tables (agency names), else the shipped ones */
	if (lt_codes_load(NULL, (*cfg)->codes_dir, &codes, &errors) == 0)
		lt_codes_use(codes);
	else
		lt_codes_free(codes);
	lt_buf_free(&errors);
	if (lt_query_open((*cfg)->store, &q, &err)) {
		fprintf(stderr, "lienthong %s: %s\n", what, err.msg);
		lt_config_free(*cfg);
		*cfg = NULL;
		return NULL;
	}
	lt_query_set_config(q, *cfg);
	return q;
}

const char *lt_cli_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* "CODE (name)" of an agency object, or CODE alone. */
static void agency_text(const json_t *a, char *out, size_t n)
{
	const char *name = lt_cli_str(a, "name");
	snprintf(out, n, "%s%s%s%s", lt_cli_str(a, "code"), *name ? " (" : "", name, *name ? ")" : "");
}

static void print_when(const json_t *o, const char *key, const char *label)
{
	if (json_is_string(json_object_get(o, key)))
		printf("  %-10s %s\n", label, lt_cli_str(o, key));
}

/* The trail for people: the dossier, who holds it and where it went late,
 * the agencies it passed, each event with its deliveries, then every event
 * and attempt in time order. */
static void print_trail(const json_t *t)
{
	const json_t *d = json_object_get(t, "dossier");
	char a[300], age[32];
	if (json_is_object(d)) {
		int apologies = (int)json_integer_value(json_object_get(d, "apologies"));
		printf("dossier %s: status %d, channel %s, procedure %s, %d apolog%s, last event %s\n",
		       lt_cli_str(t, "dossier_code"), (int)json_integer_value(json_object_get(d, "status")),
		       lt_cli_str(d, "channel"), lt_cli_str(d, "procedure"), apologies, apologies == 1 ? "y" : "ies",
		       lt_cli_str(d, "last_event"));
		print_when(d, "received_at", "received");
		print_when(d, "due_at", "due");
		print_when(d, "resolved_at", "resolved");
		print_when(d, "returned_at", "returned");
	} else {
		printf("dossier %s (no state yet)\n", lt_cli_str(t, "dossier_code"));
	}
	const json_t *pruned = json_object_get(t, "pruned");
	if (json_is_object(pruned))
		printf("  %-10s its first %lld events (received %s to %s), their %lld deliveries and %lld attempts, by "
		       "retention on %s; the holders and delays below count from the events kept\n", "pruned",
		       (long long)json_integer_value(json_object_get(pruned, "events")),
		       lt_cli_str(pruned, "first_received_at"), lt_cli_str(pruned, "last_received_at"),
		       (long long)json_integer_value(json_object_get(pruned, "deliveries")),
		       (long long)json_integer_value(json_object_get(pruned, "attempts")), lt_cli_str(pruned, "pruned_at"));
	const json_t *now = json_object_get(t, "holder_now"), *late = json_object_get(t, "late");
	if (json_is_object(now)) {
		agency_text(now, a, sizeof a);
		printf("  %-10s %s\n", "held by", a);
	}
	if (json_is_object(late)) {
		agency_text(json_object_get(late, "agency"), a, sizeof a);
		lt_cli_human_age(json_integer_value(json_object_get(late, "late_by_s")), age, sizeof age);
		printf("  %-10s %s: its appointment %s passed there; %s by %s\n", "late at", *a ? a : "(unknown agency)",
		       lt_cli_str(late, "due_at"), json_is_true(json_object_get(late, "resolved")) ? "resolved late" : "overdue",
		       age);
	}
	size_t i, k;
	const json_t *h, *e, *v;
	if (json_array_size(json_object_get(t, "holders")))
		printf("agencies it waited at:\n");
	json_array_foreach(json_object_get(t, "holders"), i, h) {
		agency_text(json_object_get(h, "agency"), a, sizeof a);
		lt_cli_human_age(json_integer_value(json_object_get(h, "held_s")), age, sizeof age);
		printf("  %-40s from %s %s%s %s (%d working day%s)\n", a, lt_cli_str(h, "from"),
		       json_is_string(json_object_get(h, "to")) ? "to " : "until now", lt_cli_str(h, "to"), age,
		       (int)json_integer_value(json_object_get(h, "working_days")),
		       json_integer_value(json_object_get(h, "working_days")) == 1 ? "" : "s");
	}
	json_array_foreach(json_object_get(t, "events"), i, e) {
		printf("#%d %s  %-28s from %-22s event %s\n", (int)json_integer_value(json_object_get(e, "n")),
		       json_is_string(json_object_get(e, "occurred_at")) ? lt_cli_str(e, "occurred_at") : lt_cli_str(e, "received_at"),
		       lt_cli_str(e, "type"), lt_cli_str(e, "source"), lt_cli_str(e, "event_id"));
		if (json_is_integer(json_object_get(e, "lag_s")) && json_integer_value(json_object_get(e, "lag_s")) > 0) {
			lt_cli_human_age(json_integer_value(json_object_get(e, "lag_s")), age, sizeof age);
			printf("      reached the gateway %s, %s after it happened\n", lt_cli_str(e, "received_at"), age);
		}
		const char *key;
		json_t *was;
		json_object_foreach(json_object_get(e, "previous_codes"), key, was)
			printf("      %s was %s (renamed or merged unit)\n", key, json_string_value(was));
		json_t *filled = json_object_get(e, "filled_from_dossier"), *f;
		size_t m;
		json_array_foreach(filled, m, f)
			printf("%s%s%s", m ? ", " : "      filled from the dossier's stored state: ", json_string_value(f),
			       m + 1 == json_array_size(filled) ? "\n" : "");
		if (*lt_cli_str(e, "vouched"))
			printf("      %s %s, %s\n", lt_cli_str(e, "via"), lt_cli_str(e, "source"), lt_cli_str(e, "vouched"));
		json_array_foreach(json_object_get(e, "deliveries"), k, v) {
			const char *state = lt_cli_str(v, "state");
			int n = (int)json_integer_value(json_object_get(v, "attempts"));
			printf("      -> %-22s %-17s %d attempt%s", lt_cli_str(v, "dest"), strcmp(state, "dead") ? state : "DEAD",
			       n, n == 1 ? "" : "s");
			if (json_is_integer(json_object_get(v, "last_status")))
				printf(", last answer %d", (int)json_integer_value(json_object_get(v, "last_status")));
			if (json_is_string(json_object_get(v, "last_error")))
				printf(": %s", lt_cli_str(v, "last_error"));
			if (json_is_number(json_object_get(v, "delay_s")))
				printf(", delivered %s, %.3f s after it reached the gateway", lt_cli_str(v, "delivered_at"),
				       json_number_value(json_object_get(v, "delay_s")));
			printf("\n");
		}
	}
	if (json_array_size(json_object_get(t, "timeline")))
		printf("in time order:\n");
	json_array_foreach(json_object_get(t, "timeline"), i, e) {
		if (strcmp(lt_cli_str(e, "what"), "event") == 0) {
			printf("  %s  event #%d %s from %s\n", lt_cli_str(e, "at"), (int)json_integer_value(json_object_get(e, "n")),
			       lt_cli_str(e, "type"), lt_cli_str(e, "source"));
			continue;
		}
		printf("  %s  attempt %d of #%d to %s: %s", lt_cli_str(e, "at"), (int)json_integer_value(json_object_get(e, "attempt")),
		       (int)json_integer_value(json_object_get(e, "n")), lt_cli_str(e, "dest"), lt_cli_str(e, "outcome"));
		if (json_is_integer(json_object_get(e, "status")))
			printf(", answer %d", (int)json_integer_value(json_object_get(e, "status")));
		printf(" in %lld ms", (long long)json_integer_value(json_object_get(e, "duration_ms")));
		if (json_is_string(json_object_get(e, "error")))
			printf(" (%s)", lt_cli_str(e, "error"));
		printf("\n");
	}
}

static int cmd_trail(const char *path, const char *code, int as_json)
{
	struct lt_config *cfg;
	struct lt_query *q = lt_cli_open_query(path, "trail", &cfg);
	if (!q)
		return 1;
	json_t *t = NULL;
	struct lt_err err = { 0 };
	int rc = lt_query_trail(q, code, lt_now_ms(), &t, &err);
	lt_query_close(q);
	lt_config_free(cfg);
	if (rc) {
		fprintf(stderr, "lienthong trail: %s\n", err.msg);
		return 1;
	}
	if (as_json) {
		char *text = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", text);
		free(text);
	} else {
		print_trail(t);
	}
	json_decref(t);
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
	if (strcmp(cmd, "dlq") && strcmp(cmd, "report") && strcmp(cmd, "prune") && strcmp(cmd, "audit") &&
	    bad_option(argc, argv, positional))
		return 2;
	const char *path = find_config(argc, argv);
	if (strcmp(cmd, "run") == 0)
		return run(path);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check(path);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(path, has_flag(argc, argv, "--json"));
	if (strcmp(cmd, "trail") == 0)
		return cmd_trail(path, argv[2], has_flag(argc, argv, "--json"));
	if (strcmp(cmd, "dlq") == 0)
		return lt_cli_dlq(argc, argv, path);
	if (strcmp(cmd, "report") == 0)
		return lt_cli_report(argc, argv, path);
	if (strcmp(cmd, "audit") == 0)
		return lt_cli_audit(argc, argv, path);
	if (strcmp(cmd, "prune") == 0)
		return lt_cli_prune(argc, argv, path);
	fprintf(stderr, "lienthong: unknown command \"%s\"\n\n%s", cmd, usage);
	return 2;
}
