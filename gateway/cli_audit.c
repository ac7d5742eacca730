/* cli_audit.c — `lienthong audit verify`: check the hash-chained audit trail
 * of signed messages in and out (the `audit` table) against itself and
 * against the messages it vouches for. */
#include "cli.h"
#include "dates.h"

#include <stdio.h>
#include <string.h>

const char LT_CLI_AUDIT_HELP[] =
	"usage: lienthong audit verify [-c FILE]\n"
	"Every message the gateway accepted (in), every signed message it sent (out) and every\n"
	"answer of a peer that carried events (answer) is a row of the audit trail: when, which\n"
	"peer, the message id, the SHA-256 of the body and of its detached signature, what\n"
	"vouched for it (trust: the signature verified, or the TLS certificate it was taken on),\n"
	"and a hash over all of that and the previous row's hash. verify recomputes the chain and\n"
	"checks each accepted message's stored digest against its row: a row changed, inserted or\n"
	"removed, or a message altered, breaks it.\n"
	"Exit status 0 intact, 1 broken or the store cannot be read, 2 a wrong command line.\n";

#define MAX_SHOWN 10

int lt_cli_audit(int argc, char **argv, const char *path)
{
	(void)argc;
	if (strcmp(argv[2], "verify")) {
		fprintf(stderr, "lienthong audit: unknown subcommand \"%s\" (verify)\n", argv[2]);
		return 2;
	}
	sqlite3 *db = lt_cli_open_store(path);
	if (!db)
		return 1;
	char sql[600];
	snprintf(sql, sizeof sql, "SELECT a.seq, a.at, a.direction, a.peer, a.message_id, a.body_sha256,"
		 " a.sig_sha256, a.prev, a.hash, m.digest, m.peer IS NOT NULL, %s FROM audit a"
		 " LEFT JOIN messages m ON a.direction = 'in' AND m.peer = a.peer"
		 " AND m.message_id = a.message_id ORDER BY a.seq", lt_cli_audit_trust_col(db));
	sqlite3_stmt *s = lt_cli_query(db, "audit", sql);
	if (!s)
		return 1;
	char prev[65];
	memset(prev, '0', 64);
	prev[64] = '\0';
	long rows = 0, in = 0, answers = 0, broken = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct lt_audit_row r = { .at_ms = sqlite3_column_int64(s, 1), .direction = lt_cli_col(s, 2),
					  .peer = lt_cli_col(s, 3), .message_id = lt_cli_col(s, 4),
					  .body_sha256 = lt_cli_col(s, 5), .sig_sha256 = lt_cli_col(s, 6),
					  .trust = lt_cli_col(s, 11), .prev = lt_cli_col(s, 7) };
		char hash[65];
		lt_audit_hash(&r, hash);
		const char *why = NULL;
		if (strcmp(r.prev, prev))
			why = "it does not follow the row before it (a row was removed, inserted or changed)";
		else if (strcmp(hash, lt_cli_col(s, 8)))
			why = "its content does not match its hash (the row was changed)";
		else if (strcmp(r.direction, "in") == 0 && !sqlite3_column_int(s, 10))
			why = "the message it records is not in the store";
		else if (strcmp(r.direction, "in") == 0 && strcmp(lt_cli_col(s, 9), r.body_sha256))
			why = "the stored message's digest differs from the one recorded (the message was changed)";
		if (why && broken++ < MAX_SHOWN) {
			char when[32];
			lt_date_format_rfc3339(r.at_ms / 1000, when);
			printf("row %lld (%s, %s %s, message %s): %s\n", (long long)sqlite3_column_int64(s, 0), when,
			       r.direction, r.peer, r.message_id, why);
		}
		snprintf(prev, sizeof prev, "%s", lt_cli_col(s, 8));
		rows++;
		in += strcmp(r.direction, "in") == 0;
		answers += strcmp(r.direction, "answer") == 0;
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "lienthong audit: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (rc != SQLITE_DONE)
		return 1;
	if (broken) {
		printf("audit trail BROKEN: %ld of %ld rows fail%s\n", broken, rows,
		       broken > MAX_SHOWN ? " (the first shown)" : "");
		return 1;
	}
	char extra[48] = "";
	if (answers)
		snprintf(extra, sizeof extra, ", %ld answer%s with events", answers, answers == 1 ? "" : "s");
	printf("audit trail intact: %ld rows (%ld messages in, %ld out%s), last hash %s\n", rows, in,
	       rows - in - answers, extra, prev);
	return 0;
}
