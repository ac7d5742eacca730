/* mapped_int.h — what the mapped adapter's own files share, apart from its
 * public face (mapped.h): the parsed form of a mapping file, the parser
 * (mapped_parse.c) that mapped_load.c runs on each rule, and the evaluation
 * (mapped_eval.c) that the adapter (mapped.c) runs on each message. Included
 * by adapters/mapped*.c only.
 *
 * A mapping is a list of rules `target = expression`, in blocks: [decode]
 * builds a canonical event from one peer item, [encode] builds the peer's
 * request body from a canonical event; a block `[decode when TYPE…]` applies
 * to those event types only. Rules run in file order; one whose value is
 * nothing (absent, null, "") sets nothing, unless its target is marked `!`
 * (required: then the message is refused naming the field). Empty objects
 * and arrays are left out of what is built; `a | b` is the first that has a
 * value, but a mistake in a (a code the table does not know, a date that is
 * no date) refuses the message rather than falling to b. Everything a file says is checked
 * when it is loaded, so a mapping that loads can only fail on a message. */
#ifndef LT_MAPPED_INT_H
#define LT_MAPPED_INT_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include "lt.h"
#include "mapped.h"

struct lt_code_table;
struct lt_schema;

#define LT_MAP_MAX_ARGS 8

/* ---- the parsed form ---------------------------------------------------- */

enum lt_map_seg_kind { SEG_KEY, SEG_INDEX, SEG_EACH };

struct lt_map_seg {
	enum lt_map_seg_kind kind;
	char *key;
	long index;
};

struct lt_map_path {
	struct lt_map_seg *s;
	size_t n;
	int each;                  /* it has a [] */
};

enum lt_map_ex_kind { EX_PATH, EX_OUT, EX_TEXT, EX_FIRST, EX_CALL };
enum lt_map_fn { FN_DATE, FN_CODE, FN_INT, FN_NUM, FN_NAMED, FN_EVENT, FN_WHEN, FN_DIFFERS, FN_CONCAT, FN_SPLIT, FN_OUT };
enum lt_map_date_fmt { D_ISO, D_RFC3339, D_COMPACT, D_VN, D_VN_DAY, D_DAY };

struct lt_map_expr {
	enum lt_map_ex_kind kind;
	struct lt_map_path path;   /* EX_PATH, EX_OUT */
	char *text;                /* EX_TEXT */
	enum lt_map_fn fn;         /* EX_CALL */
	enum lt_map_date_fmt fmt;
	const struct lt_code_table *table;
	long n;
	struct lt_map_expr *args[LT_MAP_MAX_ARGS];   /* EX_CALL's, EX_FIRST's alternatives */
	size_t nargs;
};

struct lt_map_rule {
	struct lt_map_path target;
	int required;
	struct lt_map_expr *e;
	char *text;                /* the target as written, for messages */
	int line;
};

struct lt_map_block {
	int encode;
	char **types;              /* when: NULL-terminated; NULL = every type */
	struct lt_map_rule *rules;
	size_t n;
};

struct lt_mapping {
	char name[64];
	char *file;
	char *inbound_schema, *outbound_schema, *batch, *path, *refusal, *refusal_message;
	struct lt_schema *in_schema, *out_schema;
	json_t *out_doc;           /* the outbound schema as JSON, while the file is checked */
	struct lt_map_block *blocks;
	size_t nblocks;
	char *requires;            /* what encode needs (adapter.h rules), from the `!` rules of [encode] */
};

struct lt_mappings {
	struct lt_mapping **m;
	size_t n;
	char dir[PATH_MAX], override_dir[PATH_MAX];
	struct lt_mappings *retired;
	struct lt_files_mark read_from; /* the files it was read from (a reload of the same keeps the set) */
};

/* ---- parsing (mapped_parse.c) ------------------------------------------- */

struct lt_map_parser {
	const char *s;             /* where we are */
	char why[300];             /* the first syntax mistake */
};

/* The names of enum lt_map_date_fmt as a mapping file writes them. */
extern const char *const lt_map_date_names[];

void lt_map_path_free(struct lt_map_path *p);
void lt_map_expr_free(struct lt_map_expr *e);
void lt_map_skip_blanks(struct lt_map_parser *p);
/* a.b[0].c[] → out; -1 with p->why set. */
int lt_map_parse_path(struct lt_map_parser *p, struct lt_map_path *out);
/* atom ('|' atom)*, each atom "text" | name(args) | path; NULL with p->why set. */
struct lt_map_expr *lt_map_parse_expr(struct lt_map_parser *p);
/* 1 when some source path of e (not under out()) has a []. */
int lt_map_has_each(const struct lt_map_expr *e);

/* ---- evaluation (mapped_eval.c) ----------------------------------------- */

struct lt_map_run {
	const json_t *in;          /* the peer item (decode) or the canonical event (encode) */
	json_t *out;               /* what is being built */
	const char *base;          /* JSON pointer of `in` in the message: "" or "/events/2" */
	long each;                 /* the current [] element */
	int encode;
	struct lt_err err;         /* the first mistake */
};

/* 1 when a block whose `when` lists types applies to type (NULL types: every type). */
int lt_map_type_in(char *const *types, const char *type);
/* Runs every block of r's direction into r->out; -1 with r->err set. */
int lt_map_run_blocks(struct lt_map_run *r, const struct lt_mapping *m);
/* Drops null members and elements, and objects and arrays left empty. */
void lt_map_prune(json_t *v);

#endif
