/* security.h — the key material a running gateway holds: the TLS server
 * context, its signing identities, and per peer the keys and trust its
 * messages are checked against. Loaded once at start (and by check-config). */
#ifndef LT_SECURITY_H
#define LT_SECURITY_H

#include <openssl/ssl.h>
#include "config.h"
#include "keys.h"

struct lt_jws_signer;
struct lt_jws_keyset;
struct lt_xml_signer;
struct lt_xml_trust;
struct evhttp_request;
struct event_base;
struct bufferevent;

struct lt_crls;

struct lt_peer_security {
	struct lt_jws_keyset *jws_keys;     /* NULL unless verify = jws */
	struct lt_xml_trust *xml_trust;     /* NULL unless verify = xmldsig */
	const char *ca_file;                /* trust for its server certificate */
	struct lt_crls *crls;               /* the gateway's CRLs and its own: its client, server
					     * and signing certificates are checked against them */
	int ocsp;                           /* enum lt_ocsp: its server's stapled OCSP response */
	const struct lt_security *sec;      /* the generation it belongs to */
};

struct lt_crl_report {
	char path[256];
	char issuer_cn[128];
	int64_t next_update;                /* unix seconds; 0: none */
	int revoked;
};

struct lt_cert_report {
	char what[96];                      /* "gateway tls", "peer hotich-tinh signing" */
	char path[256];
	char cn[128];
	char kid[LT_KID_MAX];               /* BASE64URL(SHA-256(DER)): how JWS names it */
	int days_left;
	int64_t seconds_left;               /* at load time (negative: expired) */
};

/* One generation of the security material. Loaded at start and again on SIGHUP or when a
 * CRL file changes (secreload.c); whoever uses one across threads or callbacks (a request
 * being verified, a delivery being signed and sent) holds a reference, so a reload never
 * frees what is in use. */
struct lt_security {
	int refs;                           /* lt_security_ref / lt_security_free */
	struct lt_config *cfg;              /* the configuration it was loaded from (a reference): who
					     * holds the generation reads its peers and limits there */
	int64_t loaded_ms;                  /* wall clock */
	SSL_CTX *server_ctx;                /* NULL when tls = off */
	struct lt_jws_signer *jws;          /* NULL when no peer needs JWS */
	struct lt_xml_signer *xml;          /* NULL when no peer needs XML-DSig */
	struct lt_peer_security *peers;     /* cfg->npeers entries */
	size_t npeers;
	X509 *client_cert;                  /* what the gateway presents to peers (its TLS cert) */
	STACK_OF(X509) *client_chain;
	EVP_PKEY *client_key;
	struct lt_own_certs own;            /* its signing and TLS certificates: never a peer's signer */
	int tls_policy;                     /* cfg->tls_policy, for outbound contexts */
	struct lt_cert_report *certs;
	size_t ncerts;
	struct lt_crls *crls;               /* the gateway's ([gateway] crl) */
	struct lt_crl_report *crl_reports;  /* every CRL loaded, for check-config and /metrics */
	size_t ncrl_reports;
};

/* Load everything the config names. Problems go to `errors` ("FILE: …"
 * lines, also: a private key readable by others, an expired certificate)
 * and `warnings` (a certificate expiring within 30 days); returns LT_ECONFIG
 * when there was any error. On success *out is owned by the caller. */
/* tls_policy's versions and ciphers, no compression, no renegotiation, on a
 * context (the peer listener's, the admin listener's, every outbound one).
 * 0, or -1 if OpenSSL refused a part of it: the context must not be used. */
int lt_tls_policy_apply(SSL_CTX *ctx, int policy);

int lt_security_load(const struct lt_config *cfg, struct lt_security **out, struct lt_buf *errors,
		     struct lt_buf *warnings);
/* Log (security.keys) each certificate the generation holds, by kid, with its days left:
 * which signing certificates each peer may use (old and new during a rollover), and the
 * gateway's own. Loop thread. */
void lt_security_log_keys(const struct lt_security *s);

/* Take one more reference to s (NULL-safe); any thread. */
struct lt_security *lt_security_ref(struct lt_security *s);
/* Drop a reference; the last one frees everything. NULL-safe; any thread. */
void lt_security_free(struct lt_security *s);

/* Whether the verified client certificate of a request (and its chain) is revoked by the
 * CRLs of peer `peer_index`: LT_OK, or LT_EAUTH with a sentence naming it ("certificate
 * revoked: CN=…", or "revocation unknown: …" for a stale CRL under crl_stale = refuse). */
int lt_tls_client_revoked(const struct lt_security *s, int peer_index, struct evhttp_request *req,
			  struct lt_err *err);

/* One outbound connection's TLS: what lt_tls_curl_ctx gets. `why` is filled when a check
 * OpenSSL's error cannot explain refused the server (its OCSP staple), else left "". */
struct lt_tls_conn {
	const struct lt_peer_security *ps;  /* the peer's material (its generation held by the caller) */
	const char *peer;                   /* the peer's name, for the reason */
	char why[256];
};

/* CURLOPT_SSL_CTX_FUNCTION: apply tls_policy (versions, ciphers, no compression or
 * renegotiation), present the gateway's client certificate, refuse a server certificate
 * the peer's CRLs revoke, and check the server's stapled OCSP response as the peer's
 * `ocsp` says (a revoked or invalid staple is refused; with require, so is none). arg is
 * a struct lt_tls_conn that must outlive the transfer. */
int lt_tls_curl_ctx(void *curl, void *ssl_ctx, void *arg /* struct lt_tls_conn * */);

/* evhttp bufferevent callback: wrap an accepted socket in server TLS. */
struct bufferevent *lt_tls_bevcb(struct event_base *base, void *arg /* struct lt_security * */);
/* CN of the verified client certificate of a request into out ("" if none). */
void lt_tls_client_cn(struct evhttp_request *req, char *out, size_t n);

#endif
