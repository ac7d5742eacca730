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

struct lt_peer_security {
	struct lt_jws_keyset *jws_keys;     /* NULL unless verify = jws */
	struct lt_xml_trust *xml_trust;     /* NULL unless verify = xmldsig */
	const char *ca_file;                /* trust for its server certificate */
};

struct lt_cert_report {
	char what[96];                      /* "gateway tls", "peer hotich-tinh signing" */
	char path[256];
	char cn[128];
	int days_left;
	int64_t seconds_left;               /* at load time (negative: expired) */
};

struct lt_security {
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
};

/* Load everything the config names. Problems go to `errors` ("FILE: …"
 * lines, also: a private key readable by others, an expired certificate)
 * and `warnings` (a certificate expiring within 30 days); returns LT_ECONFIG
 * when there was any error. On success *out is owned by the caller. */
int lt_security_load(const struct lt_config *cfg, struct lt_security **out, struct lt_buf *errors,
		     struct lt_buf *warnings);
void lt_security_free(struct lt_security *s);

/* CURLOPT_SSL_CTX_FUNCTION: apply tls_policy (versions, ciphers, no compression or
 * renegotiation) and present the gateway's client certificate. */
int lt_tls_curl_ctx(void *curl, void *ssl_ctx, void *arg /* struct lt_security * */);

/* evhttp bufferevent callback: wrap an accepted socket in server TLS. */
struct bufferevent *lt_tls_bevcb(struct event_base *base, void *arg /* struct lt_security * */);
/* CN of the verified client certificate of a request into out ("" if none). */
void lt_tls_client_cn(struct evhttp_request *req, char *out, size_t n);

#endif
