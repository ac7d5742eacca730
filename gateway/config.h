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

#endif
