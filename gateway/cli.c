/* cli.c — `lienthong run|check-config|status|version`, each with --help. */
#include "cli.h"
#include "adapter.h"
#include "config.h"
#include "http.h"
#include "security.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/lienthong/lienthong.ini"

static const char usage[] =
	"usage: lienthong COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  run [-c FILE]            start the gateway (default config " DEFAULT_CONFIG ")\n"
	"  check-config [-c FILE]   check the config file; report every mistake with its line\n"
	"  status [-c FILE]         ask the running gateway for its queues and counters\n"
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
	{ "status", "usage: lienthong status [-c FILE]\n"
		    "Ask the running gateway (its admin_listen) for queue depths and counters.\n" },
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

static int bad_option(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
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
	if (lt_config_load(path, &cfg, &errors)) {
		fprintf(stderr, "%s", errors.data);
		size_t n = 0;
		for (const char *p = errors.data; p && *p; p++)
			n += *p == '\n';
		fprintf(stderr, "%s: %zu mistake%s\n", path, n, n == 1 ? "" : "s");
		lt_buf_free(&errors);
		return 2;
	}
	struct lt_security *sec = NULL;
	struct lt_buf warnings = { 0 };
	int rc = lt_security_load(cfg, &sec, &errors, &warnings);
	if (warnings.len)
		fprintf(stderr, "warning: %s", warnings.data);
	if (rc) {
		fprintf(stderr, "%s", errors.data);
		fprintf(stderr, "%s: keys or certificates are not usable\n", path);
	} else {
		for (size_t i = 0; i < sec->ncerts; i++)
			printf("  %-32s CN=%-36s %5d days left  %s\n", sec->certs[i].what, sec->certs[i].cn,
			       sec->certs[i].days_left, sec->certs[i].path);
		printf("%s: ok (%zu peers, %zu routes, store %s)\n", path, cfg->npeers, cfg->nroutes, cfg->store);
	}
	lt_security_free(sec);
	lt_buf_free(&errors);
	lt_buf_free(&warnings);
	lt_config_free(cfg);
	return rc ? 2 : 0;
}

static size_t write_out(char *p, size_t size, size_t n, void *arg)
{
	fwrite(p, size, n, (FILE *)arg);
	return size * n;
}

static int cmd_status(const char *path)
{
	struct lt_buf errors = { 0 };
	struct lt_config *cfg;
	if (lt_config_load(path, &cfg, &errors)) {
		fprintf(stderr, "%s", errors.data);
		lt_buf_free(&errors);
		return 2;
	}
	char url[512];
	snprintf(url, sizeof url, "http://%s/v1/admin/status", cfg->admin_listen);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_out);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, stdout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		fprintf(stderr, "lienthong status: cannot reach the gateway at %s: %s\n", cfg->admin_listen,
			curl_easy_strerror(cc));
		lt_config_free(cfg);
		return 1;
	}
	lt_config_free(cfg);
	return status == 200 ? 0 : 1;
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
	if (bad_option(argc, argv))
		return 2;
	const char *path = find_config(argc, argv);
	if (strcmp(cmd, "run") == 0)
		return run(path);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check(path);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(path);
	fprintf(stderr, "lienthong: unknown command \"%s\"\n\n%s", cmd, usage);
	return 2;
}
