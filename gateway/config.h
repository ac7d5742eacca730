/* config.h — the one INI file: [gateway], [retry], [peer.NAME], [route.NAME]. */
#ifndef LT_CONFIG_H
#define LT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lt.h"

struct lt_adapter;

/* The source name of events the gateway makes itself (dossier.overdue);
 * routes may say `from = lienthong`. */
#define LT_GATEWAY_SOURCE "lienthong"

/* [gateway] tls_policy: the one TLS policy of the peer listener and every outbound
 * connection (security.c). intermediate: TLS 1.2 with ECDHE key exchange and AEAD ciphers
 * only, and TLS 1.3; modern: TLS 1.3 only. */
enum { LT_TLS_INTERMEDIATE, LT_TLS_MODERN };

/* A peer's `ocsp`: the positions of its words in the key table. */
enum lt_ocsp { LT_OCSP_OFF, LT_OCSP_IF_STAPLED, LT_OCSP_REQUIRE };

struct lt_peer {
	char *name;
	char *adapter_name;
	const struct lt_adapter *adapter;
	char *inbound;          /* push | pull | none */
	char *url;              /* where deliveries go; NULL = receive only */
	char *identity;         /* required client-certificate CN (default: the peer name) */
	char *keys;             /* PEM files of the signing certificates accepted from it */
	int keys_line;
	char *signer;           /* verify = xmldsig: its signer certificate's subject CN (besides or instead of keys) */
	char *trust;            /* CA bundle for its server certificate and XML signers (default: gateway trust) */
	char *crl;              /* CRL files of its trust (besides the gateway's): "a.crl b.crl" */
	char *pin;              /* optional sha256//BASE64 public-key pin of its server certificate */
	int ocsp;               /* its server's stapled OCSP response: LT_OCSP_OFF | _IF_STAPLED | _REQUIRE */
	int ocsp_line;
	char *verify;           /* inbound signatures: jws | xmldsig | none (default by adapter) */
	char *sign;             /* outbound signatures: jws | xmldsig | none (default by adapter) */
	char *answers;          /* its answers to deliveries and polls: signed (verified the `verify`
				 * way before they are read) | tls (trusted on its TLS server
				 * certificate); default by adapter (lt_adapter.answers_signed) */
	int concurrency;        /* deliveries in flight at once */
	double rate;            /* deliveries per second; 0 = unlimited */
	int64_t timeout_ms;     /* one delivery attempt */
	int64_t poll_interval_ms; /* inbound = pull: pause between polls that found nothing */
	int accept_unbound_xml; /* accept signed XML that carries no signed time or message id */
	int accept_unbound_xml_line;
	json_t *params;         /* `param.NAME = value` lines: adapter-specific settings */
	int index;              /* position in lt_config.peers */
	int line;
};

/* One renamed or merged unit (agency, province, commune): events carrying
 * the old code are read with the new one from `since` on (unix s; 0 = always). */
struct lt_unit_map {
	char *old_code;
	char *new_code;
	int64_t since;
	int line;
};

struct lt_route {
	char *name;
	char *from;             /* peer name or "*" */
	char **events;          /* event types; NULL-terminated; empty = all */
	char **procedures;      /* procedure codes; empty = all */
	char **agencies;        /* handling (else receiving) agency codes; empty = all */
	char **to;              /* destination peer names */
	int line;
};

/* Where a [gateway] key was set, for errors found after parsing (its file). */
struct lt_key_line {
	const char *key;          /* static: the key table's name */
	int line;
};

struct lt_config {
	int refs;               /* lt_config_ref / lt_config_free: a generation in use stays until its last user ends */
	int64_t loaded_ms;      /* wall clock of its load */
	char *path;
	struct lt_key_line *key_lines;
	size_t nkey_lines;
	char *node_id;
	char *listen;
	char *admin_listen;
	char *admin_tls_cert, *admin_tls_key;   /* the admin listener's TLS (else tls_cert, tls_key) */
	char *admin_trust;        /* CAs of operators' client certificates: the admin listener takes them */
	char *admin_clients;      /* "CN=a CN=b": the operators' CNs allowed; NULL = any under admin_trust */
	char *admin_token_file;   /* operators' bearer tokens (admin_auth.c); TLS whenever this or admin_trust is set */
	char *store;            /* sqlite:PATH or postgresql://… */
	char *log_format;       /* json | text */
	char *log_level;
	char *tls_cert, *tls_key, *trust, *sign_key, *sign_cert;
	char *key_password_file;  /* for PKCS#12 or encrypted PEM keys */
	char *codes_dir;          /* the deployment's code tables replacing shipped ones (codes.h);
				   * default: codes/ beside the config file when it exists, else NULL */
	char *mappings_dir;       /* the deployment's mapping files (mapped.h); default: mappings/
				   * beside the config file when it exists, else NULL */
	char *crl;                /* CRL files of the gateway's trust: "a.crl b.crl" (security.c, crl.c) */
	char *token_pin_file;     /* the PIN of the token holding a pkcs11: key (token.c) */
	char *pkcs11_module;      /* the PKCS#11 module of that token (default: p11-kit's proxy) */
	int crl_stale_warn;       /* a CRL past its next update: 0 refuse what it covers, 1 accept and warn */
	int tls;                  /* 1 (default): peer listener is HTTPS with client certificates */
	int tls_policy;           /* LT_TLS_INTERMEDIATE (default) | LT_TLS_MODERN: listener and outbound */
	int64_t replay_window_ms; /* signed messages whose timestamp is further off are refused */
	int64_t retention_ms;     /* finished dossiers older than it are pruned; 0 = off (prune.h) */
	char *retention_archive;  /* the pruned audit rows are appended there (JSON lines); NULL = not kept */
	int64_t lease_ms;         /* PostgreSQL store: a claim this node stops renewing returns to the queue after it */
	size_t max_body;        /* bytes */
	size_t max_headers;     /* bytes */
	int64_t read_timeout_ms;  /* a whole request (TLS handshake, head, body) must arrive within it */
	int max_json_depth;     /* nesting levels of arrays and objects a JSON body may have */
	size_t max_backlog;     /* pending deliveries before 503 */
	int workers;            /* worker threads; 0 = one per CPU */
	int64_t retry_initial_ms, retry_max_delay_ms, retry_max_age_ms;
	int breaker_failures;           /* attempts in a row that find a peer down before its breaker opens */
	char *holidays;         /* [sla] holidays: days off besides weekends */
	int64_t sla_interval_ms; /* [sla] check_interval: how often the overdue watchdog looks */
	struct lt_unit_map *units;  /* [units]: administrative-unit codes that changed */
	size_t nunits;
	json_t *agencies;       /* [agencies] CODE = name, or NULL: names in reports and trails */
	struct lt_peer *peers;
	size_t npeers;
	struct lt_route *routes;
	size_t nroutes;
};

/* ---- the keys ----
 *
 * Every key of [gateway], [retry], [sla], [peer.NAME] and [route.NAME] is one
 * line of lt_config_keys (config.c): its section, its type, the field it
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

/* Load and check a config file. On success *out owns a config (free with
 * lt_config_free). On failure returns LT_ECONFIG and `errors` holds one line
 * "FILE:LINE: problem" per mistake found — every mistake, not just the first. */
int lt_config_load(const char *path, struct lt_config **out, struct lt_buf *errors);
/* Take one more reference (NULL-safe, any thread): whoever uses a configuration across
 * threads or callbacks holds one, so a reload (SIGHUP) never frees what is in use. */
struct lt_config *lt_config_ref(const struct lt_config *c);
/* Drop a reference; the last one frees it. NULL-safe; any thread. */
void lt_config_free(struct lt_config *c);
/* As lt_config_load, but *out is the configuration as far as it could be
 * read even when there were mistakes (NULL only when the file could not be
 * opened), so that check-config can check its keys and certificates in the
 * same pass. The caller frees it. */
/* The line where [gateway] key was set (its last setting), 0 when not set. */
int lt_config_line(const struct lt_config *c, const char *key);
int lt_config_load_all(const char *path, struct lt_config **out, struct lt_buf *errors);

const struct lt_peer *lt_config_peer(const struct lt_config *c, const char *name);

/* Settings of a loaded config that knowingly weaken a check (a peer's
 * accept_unbound_xml = yes): one line each, "FILE:LINE: peer P: what and the
 * risk", appended to out. check-config prints them, run logs them. */
void lt_config_warnings(const struct lt_config *c, struct lt_buf *out);

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
