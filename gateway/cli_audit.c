/* cli_audit.c — `lienthong audit verify`: check the hash-chained audit trail
 * of signed messages in and out (the `audit` table) against itself and
 * against the messages it vouches for. */
#include "cli.h"
#include "config.h"
#include "query.h"

#include <stdio.h>
#include <string.h>

const char LT_CLI_AUDIT_HELP[] =
	"usage: lienthong audit verify|actions [-c FILE]\n"
	"Every message the gateway accepted (in), every signed message it sent (out) and every\n"
	"answer of a peer that carried events (answer) is a row of the audit trail: when, which\n"
	"peer, the message id, the SHA-256 of the body and of its detached signature, what\n"
	"vouched for it (trust: the signature verified, or the TLS certificate it was taken on),\n"
	"and a hash over all of that and the previous row's hash. verify recomputes the chain and\n"
	"checks each accepted message's stored digest against its row: a row changed, inserted or\n"
	"removed, or a message altered, breaks it. Reads the store (SQLite or PostgreSQL), whether the\n"
	"gateway runs or not; the admin API answers the same at GET /v1/admin/audit/verify.\n"
	"An operator's replay or purge of a dead letter is a row too (replay, purge), with who\n"
	"asked in its trust: token:NAME, cert:SUBJECT, loopback or cli:USER. actions lists the\n"
	"latest 100 of them (also in GET /v1/admin/audit/verify, \"actions\").\n"
	"Exit status 0 intact, 1 broken or the store cannot be read, 2 a wrong command line.\n";

int lt_cli_audit(int argc, char **argv, const char *path)
{
	(void)argc;
	int actions_only = strcmp(argv[2], "actions") == 0;
	if (strcmp(argv[2], "verify") && !actions_only) {
		fprintf(stderr, "lienthong audit: unknown subcommand \"%s\" (verify, actions)\n", argv[2]);
		return 2;
	}
	struct lt_config *cfg;
	struct lt_query *q = lt_cli_open_query(path, "audit", &cfg);
	if (!q)
		return 1;
	json_t *doc = NULL;
	struct lt_err err = { 0 };
	int rc = lt_query_audit_verify(q, &doc, &err);
	lt_query_close(q);
	lt_config_free(cfg);
	if (rc) {
		fprintf(stderr, "lienthong audit: %s\n", err.msg);
		return 1;
	}
	size_t i;
	json_t *b;
	if (actions_only) {
		json_array_foreach(json_object_get(doc, "actions"), i, b)
			printf("row %-6lld %s  %-6s %-20s %-40s by %s\n", (long long)json_integer_value(json_object_get(b, "row")),
			       lt_cli_str(b, "at"), lt_cli_str(b, "action"), lt_cli_str(b, "peer"),
			       lt_cli_str(b, "message_id"), lt_cli_str(b, "by"));
		printf("%lld operator action%s in the audit trail%s\n",
		       (long long)json_integer_value(json_object_get(doc, "operator_actions")),
		       json_integer_value(json_object_get(doc, "operator_actions")) == 1 ? "" : "s",
		       json_is_true(json_object_get(doc, "intact")) ? " (intact)" : " (BROKEN: see lienthong audit verify)");
		int intact = json_is_true(json_object_get(doc, "intact"));
		json_decref(doc);
		return intact ? 0 : 1;
	}
	json_array_foreach(json_object_get(doc, "broken"), i, b)
		printf("row %lld (%s, %s %s, message %s): %s\n", (long long)json_integer_value(json_object_get(b, "row")),
		       lt_cli_str(b, "at"), lt_cli_str(b, "direction"), lt_cli_str(b, "peer"), lt_cli_str(b, "message_id"),
		       lt_cli_str(b, "reason"));
	long long rows = json_integer_value(json_object_get(doc, "rows")), in = json_integer_value(json_object_get(doc, "in"));
	long long out = json_integer_value(json_object_get(doc, "out")), answers = json_integer_value(json_object_get(doc, "answers"));
	long long broken = json_integer_value(json_object_get(doc, "broken_count"));
	if (broken) {
		printf("audit trail BROKEN: %lld of %lld rows fail%s\n", broken, rows,
		       broken > (long long)json_array_size(json_object_get(doc, "broken")) ? " (the first shown)" : "");
		json_decref(doc);
		return 1;
	}
	char extra[96] = "";
	if (answers)
		snprintf(extra, sizeof extra, ", %lld answer%s with events", answers, answers == 1 ? "" : "s");
	long long actions = json_integer_value(json_object_get(doc, "operator_actions"));
	if (actions)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %lld operator action%s", actions,
			 actions == 1 ? "" : "s");
	printf("audit trail intact: %lld rows (%lld messages in, %lld out%s), last hash %s\n", rows, in, out, extra,
	       lt_cli_str(doc, "last_hash"));
	json_decref(doc);
	return 0;
}
