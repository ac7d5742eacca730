/* cli.h — command-line front: parses the command and its options. */
#ifndef LT_CLI_H
#define LT_CLI_H

/* Dispatch argv to a command; `run` starts the daemon with a config path. */
int lt_cli_main(int argc, char **argv, int (*run)(const char *config_path));

/* ---- shared by the commands (cli.c, cli_dlq.c, cli_report.c, cli_audit.c) ---- */
#include <jansson.h>
#include <stdint.h>
#include "lt.h"

struct lt_config;
struct lt_query;

/* Open the configured store read-only through the store's own queries
 * (query.h: SQLite or PostgreSQL, beside the running gateway or without it),
 * or print why not (as `lienthong WHAT: ...`) and return NULL. *cfg is the
 * loaded config, to free with lt_config_free after lt_query_close. */
struct lt_query *lt_cli_open_query(const char *config_path, const char *what, struct lt_config **cfg);
/* "2h 03m", "45s": an age or a duration for people. */
void lt_cli_human_age(int64_t s, char *out, size_t n);
/* A JSON string member, "" when absent or null. */
const char *lt_cli_str(const json_t *o, const char *key);
/* GET (body NULL) or POST a JSON body to the running gateway's admin
 * listener; the answer's body in `out`, its HTTP status in `status`.
 * Returns 0, 1 (gateway unreachable, said on stderr) or 2 (bad config). */
int lt_cli_admin(const char *config_path, const char *what, const char *url_path, const char *body,
		 struct lt_buf *out, long *status);

int lt_cli_dlq(int argc, char **argv, const char *config_path);
extern const char LT_CLI_DLQ_HELP[];
int lt_cli_report(int argc, char **argv, const char *config_path);
extern const char LT_CLI_REPORT_HELP[];
int lt_cli_audit(int argc, char **argv, const char *config_path);
extern const char LT_CLI_AUDIT_HELP[];
int lt_cli_prune(int argc, char **argv, const char *config_path);
extern const char LT_CLI_PRUNE_HELP[];
int lt_cli_adapters(int argc, char **argv);
extern const char LT_CLI_ADAPTERS_HELP[];

#endif
