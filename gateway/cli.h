/* cli.h — command-line front: parses the command and its options. */
#ifndef LT_CLI_H
#define LT_CLI_H

/* Dispatch argv to a command; `run` starts the daemon with a config path. */
int lt_cli_main(int argc, char **argv, int (*run)(const char *config_path));

/* ---- shared by the commands (cli.c, cli_dlq.c) ---- */
#include <sqlite3.h>
#include "lt.h"

/* Open the configured SQLite store read-only (WAL: safe beside the daemon),
 * or print why not and return NULL. */
sqlite3 *lt_cli_open_store(const char *config_path);
/* Prepare a read of the store, or print why not (as `lienthong WHAT: ...`),
 * close db and return NULL. */
sqlite3_stmt *lt_cli_query(sqlite3 *db, const char *what, const char *sql);
/* A text column, "" for NULL. */
const char *lt_cli_col(sqlite3_stmt *s, int i);
/* "a.trust" when the audit table has the column, else "''": a store written by
 * a gateway from before audit rows recorded what vouched for a message. */
const char *lt_cli_audit_trust_col(sqlite3 *db);
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
int lt_cli_adapters(int argc, char **argv);
extern const char LT_CLI_ADAPTERS_HELP[];

#endif
