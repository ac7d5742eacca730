/* cli_audit.c — `lienthong audit verify`: check the hash-chained audit trail
 * of signed messages in and out (the `audit` table) against itself and
 * against the messages it vouches for. */
#include "cli.h"
#include "config.h"
#include "query.h"
#include "query_audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char LT_CLI_AUDIT_HELP[] =
	"usage: lienthong audit verify [--archive FILE] [-c FILE]\n"
	"       lienthong audit actions [-c FILE]\n"
	"Every message the gateway accepted (in), every signed message it sent (out) and every\n"
	"answer of a peer that carried events (answer) is a row of the audit trail: when, which\n"
	"peer, the message id, the SHA-256 of the body and of its detached signature, what\n"
	"vouched for it (trust: the signature verified, or the TLS certificate it was taken on),\n"
	"and a hash over all of that and the previous row's hash. verify recomputes the chain and\n"
	"checks each accepted message's stored digest against its row: a row changed, inserted or\n"
	"removed, or a message altered, breaks it. After retention pruned the oldest rows (lienthong\n"
	"prune), a checkpoint keeps the last pruned row's seq and hash: the chain is verified from it,\n"
	"and a changed checkpoint breaks it as a changed row does. Reads the store (SQLite or PostgreSQL), whether the\n"
	"gateway runs or not; the admin API answers the same at GET /v1/admin/audit/verify.\n"
	"An operator's replay or purge of a dead letter is a row too (replay, purge), with who\n"
	"asked in its trust: token:NAME, cert:SUBJECT, loopback or cli:USER. actions lists the\n"
	"latest 100 of them (also in GET /v1/admin/audit/verify, \"actions\").\n"
	"--archive FILE checks, too, the rows retention pruned and appended to retention_archive: each\n"
	"row's hash, their chain, and that it ends at the store's checkpoint.\n"
	"Exit status 0 intact, 1 broken or the store cannot be read, 2 a wrong command line.\n";

/* The archive of pruned rows: each line's hash, the chain, and its end at
 * the store's checkpoint (pruned: audit verify's "pruned", or null). A line
 * repeated whole (a batch whose commit failed was archived again) counts
 * once. 0 intact, 1 not (said on stdout), 2 unreadable. */
static int check_archive(const char *file, const json_t *pruned)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "lienthong audit: cannot read the archive %s: %s\n", file, strerror(errno));
		return 2;
	}
	char prev[65], *line = NULL, why[200] = "";
	size_t cap = 0;
	memset(prev, '0', 64);
	prev[64] = '\0';
	long long lineno = 0, rows = 0, first = 0, last = 0;
	int from_start = 1;
	json_t *seen = json_object();
	while (!why[0] && getline(&line, &cap, f) > 0) {
		lineno++;
		json_t *o = json_loads(line, 0, NULL);
		const char *hash = json_string_value(json_object_get(o, "hash"));
		long long seq = (long long)json_integer_value(json_object_get(o, "seq"));
		char key[24], mine[65];
		snprintf(key, sizeof key, "%lld", seq);
		if (!o || !hash || !seq) {
			snprintf(why, sizeof why, "line %lld is not an archived audit row", lineno);
		} else if (seq <= last) {
			const char *had = json_string_value(json_object_get(seen, key));
			if (!had || strcmp(had, hash))
				snprintf(why, sizeof why, "line %lld (row %lld) goes back, and differs from the row it repeats",
					 lineno, seq);
		} else {
#define F(k) (json_string_value(json_object_get(o, k)) ?: "")
			struct lt_audit_row r = { .at_ms = json_integer_value(json_object_get(o, "at")),
						  .direction = F("direction"), .peer = F("peer"), .message_id = F("message_id"),
						  .body_sha256 = F("body_sha256"), .sig_sha256 = F("sig_sha256"),
						  .trust = F("trust"), .prev = F("prev") };
			lt_audit_hash(&r, mine);
			if (strcmp(mine, hash))
				snprintf(why, sizeof why, "line %lld (row %lld): its content does not match its hash", lineno, seq);
			else if (rows && strcmp(r.prev, prev))
				snprintf(why, sizeof why, "line %lld (row %lld) does not follow the line before it", lineno, seq);
			else if (!rows && strcmp(r.prev, prev))
				from_start = 0;         /* archived since a later row: the chain is checked from there */
#undef F
			if (!why[0]) {
				snprintf(prev, sizeof prev, "%s", hash);
				json_object_set_new(seen, key, json_string(hash));
				first = first ? first : seq;
				last = seq;
				rows++;
			}
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	json_decref(seen);
	const char *cp_hash = json_string_value(json_object_get(pruned, "checkpoint_hash"));
	long long cp_seq = (long long)json_integer_value(json_object_get(pruned, "before_seq")) - 1;
	if (!why[0] && !cp_hash)
		snprintf(why, sizeof why, "the store has no checkpoint: nothing was pruned");
	else if (!why[0] && (last != cp_seq || strcmp(prev, cp_hash)))
		snprintf(why, sizeof why, "it ends at row %lld, the store's checkpoint is row %lld (hash %.16s…)", last, cp_seq,
			 cp_hash);
	if (why[0]) {
		printf("archive %s BROKEN: %s\n", file, why);
		return 1;
	}
	printf("archive %s intact: %lld rows (%lld to %lld)%s, ending at the store's checkpoint\n", file, rows, first,
	       last, from_start ? " from the trail's first row" : ", archived from a later row on");
	return 0;
}

int lt_cli_audit(int argc, char **argv, const char *path)
{
	const char *archive = NULL;
	int actions_only = strcmp(argv[2], "actions") == 0;
	if (strcmp(argv[2], "verify") && !actions_only) {
		fprintf(stderr, "lienthong audit: unknown subcommand \"%s\" (verify, actions)\n", argv[2]);
		return 2;
	}
	for (int i = 3; i < argc; i++)
		if (strcmp(argv[i], "--archive") == 0 && i + 1 < argc && !actions_only)
			archive = argv[++i];
		else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			i++;
		else {
			fprintf(stderr, "lienthong audit: unknown option \"%s\" (see lienthong audit --help)\n", argv[i]);
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
	const json_t *pruned = json_object_get(doc, "pruned");
	if (json_is_object(pruned))
		printf("%lld rows before %lld pruned by retention (the last on %s; checkpoint hash %s): the chain is "
		       "verified from there\n", (long long)json_integer_value(json_object_get(pruned, "rows")),
		       (long long)json_integer_value(json_object_get(pruned, "before_seq")), lt_cli_str(pruned, "last_at"),
		       lt_cli_str(pruned, "checkpoint_hash"));
	char extra[96] = "";
	if (answers)
		snprintf(extra, sizeof extra, ", %lld answer%s with events", answers, answers == 1 ? "" : "s");
	long long actions = json_integer_value(json_object_get(doc, "operator_actions"));
	if (actions)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %lld operator action%s", actions,
			 actions == 1 ? "" : "s");
	printf("audit trail intact: %lld rows (%lld messages in, %lld out%s), last hash %s\n", rows, in, out, extra,
	       lt_cli_str(doc, "last_hash"));
	int arc = archive ? check_archive(archive, json_object_get(doc, "pruned")) : 0;
	json_decref(doc);
	return arc ? 1 : 0;
}
