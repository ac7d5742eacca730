/* config_keys.h — the typed table of configuration keys (config_keys.c) and the
 * readers of configured numbers it uses, for whoever lists, documents or sets keys
 * one by one (config.c reads the file through it). */
#ifndef LT_CONFIG_KEYS_H
#define LT_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include "lt.h"

/* ---- the keys ----
 *
 * Every key of [gateway], [retry], [sla], [peer.NAME] and [route.NAME] is one
 * line of lt_config_keys (config_keys.c): its section, its type, the field it
 * sets, its limits and what a mistake says. Adding a key is adding a field
 * and a line. ([units] has no fixed keys: its keys are the old codes.) */
enum lt_config_section { LT_SECTION_GATEWAY, LT_SECTION_RETRY, LT_SECTION_SLA, LT_SECTION_PEER, LT_SECTION_ROUTE };

enum lt_key_type {
	LT_KEY_STRING,          /* char *; when `words` is set, it must start with one of them */
	LT_KEY_WORD,            /* char *; one of `words` */
	LT_KEY_ENUM,            /* int: the position of the value in `words` */
	LT_KEY_INT,             /* int in [min, max] */
	LT_KEY_DURATION,        /* int64_t milliseconds, at least min: "250ms", "30s", "10m", "72h", "2d" */
	LT_KEY_SIZE,            /* size_t bytes in [1, max]: "65536", "64k", "1m" */
	LT_KEY_RATE,            /* double, per second: "20/s", 0 or in [LT_RATE_MIN, LT_RATE_MAX] */
	LT_KEY_LIST,            /* char **, NULL-terminated, from words separated by spaces or commas */
	LT_KEY_CUSTOM,          /* set() reads and checks it */
};

#define LT_KEY_NO_FIELD ((size_t)-1)    /* checked, kept nowhere (timezone) */

struct lt_config_key {
	const char *name;       /* "max_body"; a name ending in "." takes every key under it ("param.") */
	enum lt_config_section section;
	enum lt_key_type type;
	size_t field;           /* offset in struct lt_config, or lt_peer / lt_route for those sections */
	int64_t min, max;       /* INT, DURATION (max: LT_DURATION_MAX_MS), SIZE (max, as the limit) */
	const char *words;      /* WORD, ENUM: the values, space-separated; STRING: the prefixes allowed;
				 * SIZE: the limit as written ("256m") */
	const char *rule;       /* what a mistake says after the name: "must be a duration like 30s"; NULL:
				 * "must be A, B or C" from words */
	const char *help;       /* one line: what it does (defaults in words) */
	/* CUSTOM: read value into obj (a config, peer or route); 0, or LT_ECONFIG with err
	 * saying what is wrong, starting with the key's name */
	int (*set)(const struct lt_config_key *key, void *obj, const char *name, const char *value, struct lt_err *err);
	size_t line_field;      /* an int field that keeps the line the key was on; 0 = none */
};

/* Every key, one section after the other; ends with a NULL name. */
extern const struct lt_config_key lt_config_keys[];

/* The key `name` of a section (a "param.X" finds "param."), or NULL. */
const struct lt_config_key *lt_config_key_find(enum lt_config_section section, const char *name);

/* Read `value` as the key's type into its field of obj (struct lt_config, or
 * the lt_peer / lt_route being read). 0, or LT_ECONFIG with err holding
 * "NAME RULE, not \"VALUE\"" (the caller adds the line and the peer or
 * route). A string-valued key keeps what it was given even when refused. */
int lt_config_key_set(const struct lt_config_key *key, void *obj, const char *name, const char *value,
		      struct lt_err *err);

/* The bounds of configured numbers: each is checked before it is converted or
 * multiplied, so that no later sum of times or sizes can wrap. */
#define LT_DURATION_MAX_MS (366LL * 86400000)  /* any duration: 366d */
#define LT_MAX_BODY_LIMIT (256ULL << 20)       /* max_body: 256m */
#define LT_MAX_HEADERS_LIMIT (1ULL << 20)      /* max_headers: 1m */
#define LT_MAX_BACKLOG_LIMIT 1000000000ULL     /* max_backlog: deliveries */
#define LT_RATE_MIN 0.001                      /* rate, per second: 0 (no limit) or this… */
#define LT_RATE_MAX 1000000.0                  /* …to this */

/* "1s", "250ms", "1.5s", "10m", "72h", "2d" (a bare number is seconds) →
 * milliseconds in [0, LT_DURATION_MAX_MS]: digits with an optional fraction,
 * then the unit. 0; LT_EINVAL when s is no duration, LT_ETOOBIG when it is
 * over the limit; err says which (the caller names the key). */
int lt_parse_duration(const char *s, int64_t *ms, struct lt_err *err);
/* "1048576", "64k", "1m", "64KiB", "1MB" (k, m: KiB, MiB) → bytes in [1, max].
 * 0; LT_EINVAL when s is no size, LT_ETOOBIG when it is 0 or over max; err
 * says which. */
int lt_parse_size(const char *s, uint64_t max, size_t *out, struct lt_err *err);

#endif
