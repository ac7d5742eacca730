/* security.c — TLS context, signers, per-peer keys and trust, certificate expiry. */
#include "security.h"
#include "crl.h"
#include "log.h"
#include "token.h"
#include "keys.h"
#include "sign_jws.h"
#include "sign_xml.h"
#include "verify_xml.h"
#include "answer.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPIRY_WARN_DAYS 30

/* SSL_CTX ex_data slot of an outbound context: the peer's lt_peer_security. */
static int peer_ex_idx = -1;

/* A mistake of a [gateway] key's file, as FILE:LINE: key: why (the line where the key is set). */
/* A key that is not set at all is the configuration's own mistake, reported before this with
 * the peer that needs it (config.c): not reported twice, but never silent either. */
static void key_error(const struct lt_config *cfg, struct lt_buf *errors, const char *key, const char *why)
{
	int line = lt_config_line(cfg, key);
	if (line)
		lt_buf_printf(errors, "%s:%d: %s: %s\n", cfg->path, line, key, why);
	else if (!errors->len)
		lt_buf_printf(errors, "%s: %s (not set in [gateway]): %s\n", cfg->path, key, why);
}

/* tls_policy = intermediate (Mozilla's "intermediate" without DHE): TLS 1.2 offers only
 * ECDHE key exchange (forward secrecy) with AEAD ciphers; TLS 1.3's suites are all such. */
#define TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"

/* The one TLS policy, on the listener's context and on every outbound one: the versions
 * and ciphers of tls_policy, no compression, no renegotiation. 0, or -1 if OpenSSL
 * refused a part of it (the context must not be used then). */
int lt_tls_policy_apply(SSL_CTX *ctx, int policy)
{
	int ok = SSL_CTX_set_min_proto_version(ctx, policy == LT_TLS_MODERN ? TLS1_3_VERSION : TLS1_2_VERSION) == 1 &&
		 SSL_CTX_set_max_proto_version(ctx, 0) == 1 &&
		 SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) == 1 &&
		 SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) == 1 &&
		 SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) == 1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* Record every certificate of a file with its days to expiry. An expired
 * certificate of the gateway's own is an error; one a peer may sign with is
 * a warning (kept for a rollover; messages signed with it are refused). */
static void report_cert(struct lt_security *s, const char *what, const char *path, const char *pw,
			struct lt_buf *errors, struct lt_buf *warnings)
{
	struct lt_err err = { 0 };
	STACK_OF(X509) *certs = NULL;
	X509 *one = NULL;
	if (!path)
		return;     /* not set: the configuration's own mistake, reported there */
	if (strstr(path, ".p12") || strstr(path, ".pfx"))
		one = lt_cert_load(path, pw, &err);
	else
		certs = lt_certs_load(path, &err);
	if (!one && !certs) {
		if (!errors->data || !strstr(errors->data, path))    /* once per file */
			lt_buf_printf(errors, "%s: %s\n", what, err.msg);
		return;
	}
	int n = certs ? sk_X509_num(certs) : 1;
	for (int i = 0; i < n; i++) {
		X509 *c = certs ? sk_X509_value(certs, i) : one;
		s->certs = realloc(s->certs, (s->ncerts + 1) * sizeof *s->certs);
		struct lt_cert_report *r = &s->certs[s->ncerts++];
		snprintf(r->what, sizeof r->what, "%s", what);
		snprintf(r->path, sizeof r->path, "%s", path);
		lt_cert_cn(c, r->cn, sizeof r->cn);
		lt_cert_kid(c, r->kid);
		for (char *q = r->cn; *q; q++)
			if (*q == '"' || *q == '\\' || *q == '\n')
				*q = '_';   /* safe inside a Prometheus label */
		r->days_left = lt_cert_days_left(c);
		r->seconds_left = lt_cert_seconds_left(c);
		if (r->days_left < 0 && strncmp(what, "peer ", 5) == 0)
			lt_buf_printf(warnings, "%s: certificate %s (CN=%s) has expired; what it signs is refused\n",
				      what, path, r->cn);
		else if (r->days_left < 0)
			lt_buf_printf(errors, "%s: certificate %s (CN=%s) has expired\n", what, path, r->cn);
		else if (r->days_left < EXPIRY_WARN_DAYS)
			lt_buf_printf(warnings, "%s: certificate %s (CN=%s) expires in %d days\n", what, path, r->cn,
				      r->days_left);
	}
	if (certs)
		sk_X509_pop_free(certs, X509_free);
	X509_free(one);
}

/* Add the CA certificates of a PEM file to issuers (a missing or broken file is
 * reported where it is loaded for its own purpose). */
static void add_cas(STACK_OF(X509) *issuers, const char *path)
{
	struct lt_err err = { 0 };
	STACK_OF(X509) *certs = path ? lt_certs_load(path, &err) : NULL;
	while (certs && sk_X509_num(certs) > 0) {
		X509 *c = sk_X509_shift(certs);
		X509_check_purpose(c, -1, 0);
		if ((X509_get_extension_flags(c) & EXFLAG_CA) && sk_X509_push(issuers, c))
			continue;
		X509_free(c);
	}
	sk_X509_free(certs);
}

/* Load the CRL files of `list` into set, each verified against the CAs of the trust files
 * and of the keys files (their intermediates); report each CRL, and warn of a stale one. */
static void load_crls(const struct lt_config *cfg, struct lt_security *s, struct lt_crls *set, const char *what,
		      const char *list,
		      const char *trust1, const char *trust2, const char *keys, struct lt_buf *errors,
		      struct lt_buf *warnings)
{
	struct lt_err err = { 0 };
	STACK_OF(X509) *issuers = sk_X509_new_null();
	add_cas(issuers, trust1);
	if (trust2 && (!trust1 || strcmp(trust1, trust2)))
		add_cas(issuers, trust2);
	char *copy = strdup(keys ? keys : ""), *save = NULL;
	for (char *f = strtok_r(copy, " ,", &save); f; f = strtok_r(NULL, " ,", &save))
		add_cas(issuers, f);
	free(copy);
	copy = strdup(list);
	save = NULL;
	time_t now = time(NULL);
	for (char *f = strtok_r(copy, " ,", &save); f; f = strtok_r(NULL, " ,", &save)) {
		size_t before = set->n;
		if (lt_crls_add_file(set, f, issuers, &err)) {
			if (strcmp(what, "gateway") == 0)
				key_error(cfg, errors, "crl", err.msg);
			else
				lt_buf_printf(errors, "%s crl: %s\n", what, err.msg);
			continue;
		}
		for (size_t i = before; i < set->n; i++) {
			const struct lt_crl *c = &set->v[i];
			struct lt_crl_report *r = realloc(s->crl_reports, (s->ncrl_reports + 1) * sizeof *r);
			if (!r)
				break;
			s->crl_reports = r;
			r = &s->crl_reports[s->ncrl_reports++];
			snprintf(r->path, sizeof r->path, "%s", c->path);
			snprintf(r->issuer_cn, sizeof r->issuer_cn, "%s", c->issuer_cn);
			r->next_update = c->next_update;
			r->revoked = c->revoked;
			if (c->next_update && c->next_update < (int64_t)now)
				lt_buf_printf(warnings, "%s crl: %s (CN=%s) is past its next update %lld s ago: what it covers "
					      "is %s (crl_stale = %s)\n", what, c->path, c->issuer_cn,
					      (long long)(now - c->next_update),
					      set->stale == LT_CRL_STALE_WARN ? "accepted" : "refused",
					      set->stale == LT_CRL_STALE_WARN ? "warn" : "refuse");
		}
	}
	free(copy);
	sk_X509_pop_free(issuers, X509_free);
}

/* The peer listener's context: tls_policy, the gateway's certificate (PEM
 * chain or PKCS#12, already loaded), client certificates required and
 * verified against `trust`. */
static SSL_CTX *server_ctx(const struct lt_config *cfg, const struct lt_security *sec, struct lt_buf *errors)
{
	if (!sec->client_cert || !sec->client_key)
		return NULL;    /* already reported */
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || lt_tls_policy_apply(ctx, cfg->tls_policy)) {
		lt_buf_printf(errors, "tls_policy: OpenSSL cannot set up the listener's versions and ciphers\n");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	int ok = SSL_CTX_use_certificate(ctx, sec->client_cert) == 1;
	for (int i = 0; ok && sec->client_chain && i < sk_X509_num(sec->client_chain); i++)
		ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(sec->client_chain, i)) == 1;
	if (ok && (SSL_CTX_use_PrivateKey(ctx, sec->client_key) != 1 || SSL_CTX_check_private_key(ctx) != 1)) {
		{
		char why[600];
		snprintf(why, sizeof why, "%s does not match tls_cert %s", cfg->tls_key, cfg->tls_cert);
		key_error(cfg, errors, "tls_key", why);
	}
		ok = 0;
	}
	if (ok && SSL_CTX_load_verify_locations(ctx, cfg->trust, NULL) != 1) {
		{
		char why[600];
		snprintf(why, sizeof why, "cannot load CA bundle %s", cfg->trust);
		key_error(cfg, errors, "trust", why);
	}
		ok = 0;
	}
	ERR_clear_error();
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(cfg->trust);
	if (cas)
		SSL_CTX_set_client_CA_list(ctx, cas);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	static const unsigned char sid[] = "lienthong";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
	return ctx;
}

/* A peer's signers: the keyset (JWS) or trust (XML-DSig) bound to it, with the gateway's
 * own certificates refused. Problems go to errors; LT_EAUTH when the peer takes signed
 * messages (inbound push or pull) but nothing binds a signer to it. A peer that sends
 * nothing and has no keys gets no verifier: whatever it might post is refused. */
static int peer_signers(const struct lt_config *cfg, struct lt_security *s, const struct lt_peer *p,
			struct lt_peer_security *ps, struct lt_buf *errors, struct lt_buf *warnings)
{
	struct lt_err err = { 0 };
	char what[96];
	int jws = strcmp(p->verify, "jws") == 0, xml = strcmp(p->verify, "xmldsig") == 0;
	int line = p->keys_line ? p->keys_line : p->line;
	if (!jws && !xml)
		return LT_OK;
	if (!p->keys && !(xml && p->signer))
		return strcmp(p->inbound, "none") || (p->url && lt_answer_signed(p)) ? LT_EAUTH : LT_OK;
	if (jws && (!(ps->jws_keys = lt_jws_keyset_new()) || lt_jws_keyset_bind(ps->jws_keys, p->name, &s->own, &err))) {
		lt_buf_printf(errors, "peer %s keys: out of memory\n", p->name);
		return LT_ENOMEM;
	}
	char *list = strdup(p->keys ? p->keys : ""), *save = NULL;
	int n = 0;
	for (char *f = strtok_r(list, " ,", &save); f; f = strtok_r(NULL, " ,", &save), n++) {
		int rc;
		if (jws)
			rc = lt_jws_keyset_add_file(ps->jws_keys, f, &err);
		else if (n == 0)
			rc = (ps->xml_trust = lt_xml_trust_new(p->trust ? p->trust : cfg->trust, f, &err)) ? LT_OK : err.code;
		else
			rc = ps->xml_trust ? lt_xml_trust_add_pins(ps->xml_trust, f, &err) : LT_OK;
		if (rc)
			lt_buf_printf(errors, "%s:%d: peer %s keys: %s\n", cfg->path, line, p->name, err.msg);
		snprintf(what, sizeof what, "peer %s signing", p->name);
		report_cert(s, what, f, NULL, errors, warnings);
	}
	free(list);
	if (xml && n == 0 && !(ps->xml_trust = lt_xml_trust_new(p->trust ? p->trust : cfg->trust, NULL, &err)))
		lt_buf_printf(errors, "peer %s trust for XML signatures: %s\n", p->name, err.msg);
	if (xml && ps->xml_trust && lt_xml_trust_bind(ps->xml_trust, p->name, p->signer, &s->own, &err))
		lt_buf_printf(errors, "%s:%d: %s\n", cfg->path, line, err.msg);
	return LT_OK;
}

static int needs(const struct lt_config *cfg, const char *what, int inbound)
{
	for (size_t i = 0; i < cfg->npeers; i++) {
		const struct lt_peer *p = &cfg->peers[i];
		if (inbound ? strcmp(p->verify, what) == 0 : (p->url && strcmp(p->sign, what) == 0))
			return 1;
	}
	return 0;
}

int lt_security_load(const struct lt_config *cfg, struct lt_security **out, struct lt_buf *errors,
		     struct lt_buf *warnings)
{
	size_t before = errors->len;
	struct lt_security *s = calloc(1, sizeof *s);
	s->refs = 1;
	s->cfg = lt_config_ref(cfg);
	s->loaded_ms = lt_now_ms();
	s->peers = calloc(cfg->npeers ? cfg->npeers : 1, sizeof *s->peers);
	s->npeers = cfg->npeers;
	if (peer_ex_idx < 0)        /* first load: at start, before any other thread */
		peer_ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	enum lt_crl_stale stale = cfg->crl_stale_warn ? LT_CRL_STALE_WARN : LT_CRL_STALE_REFUSE;
	s->crls = lt_crls_new(stale);
	if (cfg->crl)
		load_crls(cfg, s, s->crls, "gateway", cfg->crl, cfg->trust, NULL, NULL, errors, warnings);
	lt_token_configure(cfg->pkcs11_module, cfg->token_pin_file);
	struct lt_err err = { 0 };

	if (cfg->tls_cert && cfg->tls_key) {
		s->client_key = lt_key_load(cfg->tls_key, cfg->key_password_file, &err);
		if (!s->client_key)
			key_error(cfg, errors, "tls_key", err.msg);
		if (strstr(cfg->tls_cert, ".p12") || strstr(cfg->tls_cert, ".pfx")) {
			s->client_cert = lt_cert_load(cfg->tls_cert, cfg->key_password_file, &err);
		} else {
			s->client_chain = lt_certs_load(cfg->tls_cert, &err);
			if (s->client_chain)
				s->client_cert = sk_X509_shift(s->client_chain);
		}
		if (!s->client_cert)
			key_error(cfg, errors, "tls_cert", err.msg);
	}
	s->tls_policy = cfg->tls_policy;
	s->own.tls = s->client_cert;
	if (cfg->sign_cert) {
		/* (a broken file is reported once, below, when a signer needs it) */
		s->own.sign = lt_cert_load(cfg->sign_cert, cfg->key_password_file, &err);
		if (!s->own.sign && !needs(cfg, "jws", 0) && !needs(cfg, "xmldsig", 0))
			key_error(cfg, errors, "sign_cert", err.msg);
	}
	if (s->own.tls)
		X509_up_ref(s->own.tls);
	if (cfg->tls) {
		s->server_ctx = server_ctx(cfg, s, errors);
		report_cert(s, "gateway tls", cfg->tls_cert, cfg->key_password_file, errors, warnings);
	}
	if (cfg->trust)
		report_cert(s, "gateway trust", cfg->trust, NULL, errors, warnings);
	if (needs(cfg, "jws", 0)) {
		s->jws = lt_jws_signer_new(cfg->sign_key, cfg->sign_cert, cfg->key_password_file, NULL, &err);
		if (!s->jws)
			key_error(cfg, errors, "sign_key", err.msg);
	}
	if (needs(cfg, "xmldsig", 0) || needs(cfg, "xmldsig", 1)) {
		if (lt_xml_init(&err))
			lt_buf_printf(errors, "xmlsec: %s\n", err.msg);
	}
	if (needs(cfg, "xmldsig", 0)) {
		s->xml = lt_xml_signer_new(cfg->sign_key, cfg->sign_cert, cfg->key_password_file, &err);
		if (!s->xml)
			key_error(cfg, errors, "sign_key", err.msg);
	}
	if (cfg->sign_cert && (s->jws || s->xml))
		report_cert(s, "gateway signing", cfg->sign_cert, cfg->key_password_file, errors, warnings);

	for (size_t i = 0; i < cfg->npeers; i++) {
		const struct lt_peer *p = &cfg->peers[i];
		struct lt_peer_security *ps = &s->peers[i];
		char what[96];
		ps->ca_file = p->trust ? p->trust : cfg->trust;
		ps->sec = s;
		ps->ocsp = p->ocsp;
		ps->crls = lt_crls_new(stale);
		if (lt_crls_add_set(ps->crls, s->crls, &err))
			lt_buf_printf(errors, "peer %s crl: %s\n", p->name, err.msg);
		if (p->crl) {
			snprintf(what, sizeof what, "peer %s", p->name);
			load_crls(cfg, s, ps->crls, what, p->crl, p->trust, cfg->trust, p->keys, errors, warnings);
		}
		if (p->trust) {
			snprintf(what, sizeof what, "peer %s trust", p->name);
			report_cert(s, what, p->trust, NULL, errors, warnings);
		}
		/* LT_EAUTH: no signer bound to a peer that signs to us — a mistake the configuration's
		 * own check reports (config.c, with its line); the peer gets no verifier here, so
		 * whatever it might post is refused. Not reported twice. */
		(void)peer_signers(cfg, s, p, ps, errors, warnings);
		lt_jws_keyset_set_crls(ps->jws_keys, ps->crls);
		lt_xml_trust_set_crls(ps->xml_trust, ps->crls);
	}
	if (errors->len > before) {
		lt_security_free(s);
		*out = NULL;
		return LT_ECONFIG;
	}
	*out = s;
	return LT_OK;
}

void lt_security_log_keys(const struct lt_security *s)
{
	for (size_t i = 0; s && i < s->ncerts; i++) {
		const struct lt_cert_report *r = &s->certs[i];
		if (strstr(r->what, "trust"))
			continue;       /* CA certificates: listed by check-config */
		lt_log(LT_INFO, "security.keys",
		       json_pack("{s:s,s:s,s:s,s:i,s:s}", "what", r->what, "kid", r->kid, "cn", r->cn, "days_left",
				 r->days_left, "file", r->path),
		       "%s: CN=%s kid=%s, %d days left (%s)", r->what, r->cn, r->kid, r->days_left, r->path);
	}
}

struct lt_security *lt_security_ref(struct lt_security *s)
{
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void lt_security_free(struct lt_security *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	SSL_CTX_free(s->server_ctx);
	for (size_t i = 0; i < s->npeers; i++) {
		lt_jws_keyset_free(s->peers[i].jws_keys);
		lt_xml_trust_free(s->peers[i].xml_trust);
		lt_crls_free(s->peers[i].crls);
	}
	lt_crls_free(s->crls);
	free(s->crl_reports);
	lt_own_certs_clear(&s->own);
	X509_free(s->client_cert);
	if (s->client_chain)
		sk_X509_pop_free(s->client_chain, X509_free);
	EVP_PKEY_free(s->client_key);
	lt_jws_signer_free(s->jws);
	lt_xml_signer_free(s->xml);
	free(s->certs);
	free(s->peers);
	lt_config_free(s->cfg);
	free(s);
}

/* Outbound: after OpenSSL verified the server's chain, its leaf and intermediates are
 * checked against the peer's CRLs. */
static int outbound_verify(int ok, X509_STORE_CTX *x)
{
	if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
		return ok;
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	const struct lt_peer_security *ps = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), peer_ex_idx) : NULL;
	struct lt_err err = { 0 };
	if (!ps || !lt_crls_check(ps->crls, X509_STORE_CTX_get_current_cert(x), X509_STORE_CTX_get0_chain(x),
				  time(NULL), &err))
		return 1;
	X509_STORE_CTX_set_error(x, strncmp(err.msg, "certificate revoked", 19) == 0 ? X509_V_ERR_CERT_REVOKED
											   : X509_V_ERR_CRL_HAS_EXPIRED);
	return 0;
}

/* The issuer of cert among the certificates of a chain, or NULL. */
static X509 *issuer_in(STACK_OF(X509) *chain, X509 *cert)
{
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		if (c != cert && X509_check_issued(c, cert) == X509_V_OK)
			return c;
	}
	return NULL;
}

/* Check a stapled OCSP response for the server's leaf: signed by its issuer (or a
 * responder it delegated to) chaining to the peer's trust, about this certificate,
 * current, and "good". 0, or -1 with the reason in c->why. */
static int ocsp_staple_check(SSL *ssl, struct lt_tls_conn *c, const unsigned char *der, long len)
{
	OCSP_RESPONSE *rsp = d2i_OCSP_RESPONSE(NULL, &der, len);
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
	X509 *issuer = NULL;
	char cn[128] = "?";
	int status = -1, reason = -1, rc = -1;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;

	if (leaf)
		lt_cert_cn(leaf, cn, sizeof cn);
	issuer = leaf ? issuer_in(chain, leaf) : NULL;
	if (!issuer && leaf)
		issuer = issuer_in(SSL_get_peer_cert_chain(ssl), leaf);
	if (!rsp) {
		snprintf(c->why, sizeof c->why, "peer %s: the server's stapled OCSP response is not DER OCSP", c->peer);
		goto out;
	}
	if (OCSP_response_status(rsp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(c->why, sizeof c->why, "peer %s: the server's stapled OCSP response is an error (%s)", c->peer,
			 OCSP_response_status_str(OCSP_response_status(rsp)));
		goto out;
	}
	if (!leaf || !issuer || !(bs = OCSP_response_get1_basic(rsp)) ||
	    !(id = OCSP_cert_to_id(NULL, leaf, issuer))) {
		snprintf(c->why, sizeof c->why, "peer %s: the server's stapled OCSP response cannot be read against "
			 "its certificate CN=%s (no issuer in its chain)", c->peer, cn);
		goto out;
	}
	if (OCSP_basic_verify(bs, SSL_get_peer_cert_chain(ssl), SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)), 0) <= 0) {
		snprintf(c->why, sizeof c->why, "peer %s: the server's stapled OCSP response for CN=%s is not signed "
			 "by its CA or a responder of it that the peer's trust accepts", c->peer, cn);
		goto out;
	}
	if (OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd) != 1) {
		snprintf(c->why, sizeof c->why, "peer %s: the server's stapled OCSP response is not about its "
			 "certificate CN=%s", c->peer, cn);
		goto out;
	}
	if (status == V_OCSP_CERTSTATUS_REVOKED) {
		char when[32] = "?";
		struct tm tm;
		if (rev && ASN1_TIME_to_tm(rev, &tm) == 1)
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(c->why, sizeof c->why, "peer %s: server certificate CN=%s is revoked (OCSP, its stapled "
			 "response): since %s, reason %s", c->peer, cn, when,
			 reason >= 0 ? OCSP_crl_reason_str(reason) : "unspecified");
		goto out;
	}
	if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
		snprintf(c->why, sizeof c->why, "peer %s: the server's stapled OCSP response for CN=%s is out of date "
			 "(or not yet valid)", c->peer, cn);
		goto out;
	}
	if (status != V_OCSP_CERTSTATUS_GOOD) {
		snprintf(c->why, sizeof c->why, "peer %s: the server's stapled OCSP response says its certificate "
			 "CN=%s is unknown to its CA", c->peer, cn);
		goto out;
	}
	rc = 0;
out:
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(rsp);
	ERR_clear_error();
	return rc;
}

/* Client side of the status_request extension, after the server's chain was verified:
 * 1 lets the handshake go on, 0 ends it (a reason in the lt_tls_conn). A resumed TLS 1.3
 * session brings no staple; there is none here, since xfer.c turns curl's session cache off
 * (CURLOPT_SSL_SESSIONID_CACHE = 0: its easy handles are reused; a shared or kept session
 * cache would need this to change). */
static int ocsp_status_cb(SSL *ssl, void *arg)
{
	struct lt_tls_conn *c = arg;
	const unsigned char *der = NULL;
	long len = SSL_get_tlsext_status_ocsp_resp(ssl, &der);
	if (!der || len <= 0) {
		if (c->ps->ocsp != LT_OCSP_REQUIRE)
			return 1;
		snprintf(c->why, sizeof c->why, "peer %s: the server stapled no OCSP response, and the peer has "
			 "ocsp = require", c->peer);
		return 0;
	}
	return ocsp_staple_check(ssl, c, der, len) == 0;
}

int lt_tls_curl_ctx(void *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	struct lt_tls_conn *conn = arg;
	const struct lt_peer_security *ps = conn->ps;
	const struct lt_security *s = ps->sec;
	SSL_CTX *ctx = ssl_ctx;
	if (lt_tls_policy_apply(ctx, s->tls_policy))
		return 1;   /* the attempt fails (and is retried) rather than go out below the policy */
	if (ps->crls && ps->crls->n) {
		SSL_CTX_set_ex_data(ctx, peer_ex_idx, (void *)ps);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, outbound_verify);
	}
	if (ps->ocsp != LT_OCSP_OFF) {
		conn->why[0] = '\0';
		if (SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp) != 1 ||
		    SSL_CTX_set_tlsext_status_cb(ctx, ocsp_status_cb) != 1 || SSL_CTX_set_tlsext_status_arg(ctx, conn) != 1)
			return 1;
	}
	if (!s->client_cert || !s->client_key)
		return 0;
	if (SSL_CTX_use_certificate(ctx, s->client_cert) != 1 || SSL_CTX_use_PrivateKey(ctx, s->client_key) != 1)
		return 1;   /* CURLE_ABORTED_BY_CALLBACK-like: the attempt fails and is retried */
	for (int i = 0; s->client_chain && i < sk_X509_num(s->client_chain); i++)
		SSL_CTX_add1_chain_cert(ctx, sk_X509_value(s->client_chain, i));
	return 0;
}

struct bufferevent *lt_tls_bevcb(struct event_base *base, void *arg)
{
	struct lt_security *s = arg;
	SSL *ssl = SSL_new(s->server_ctx);
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

void lt_tls_client_cn(struct evhttp_request *req, char *out, size_t n)
{
	out[0] = '\0';
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	if (!conn)
		return;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK)
		return;
	X509 *cert = SSL_get1_peer_certificate(ssl);
	if (cert) {
		lt_cert_cn(cert, out, n);
		X509_free(cert);
	}
}

int lt_tls_client_revoked(const struct lt_security *s, int peer_index, struct evhttp_request *req,
			  struct lt_err *err)
{
	const struct lt_crls *crls = s->peers[peer_index].crls;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *leaf = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	if (!crls || !crls->n || !leaf)
		return LT_OK;
	STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
	return lt_crls_check(crls, leaf, chain ? chain : SSL_get_peer_cert_chain(ssl), time(NULL), err);
}
