/* admin_auth.c — who may use the admin listener, and who asked.
 *
 * On loopback with nothing configured the listener is plain HTTP and trusts
 * whoever reaches it (admin.c's gate keeps other origins' pages out). With
 * admin_token_file or admin_trust it is HTTPS (admin_tls_cert/admin_tls_key,
 * else the peer listener's tls_cert/tls_key) and every route but /healthz and
 * the static /ui page needs a credential: a client certificate verified
 * against admin_trust (and one of admin_clients' CNs when that is set), or
 * Authorization: Bearer with one of the token file's secrets. A wrong or
 * missing credential is answered by the gate (401/403, admin.refused), not
 * by the TLS handshake, so every refusal is logged and counted. */
#include "admin.h"
#include "keys.h"
#include "security.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_TOKENS 64
#define MIN_SECRET 16           /* a plain secret shorter than this is refused */

struct admin_token {
	char name[64];
	unsigned char sha256[32];       /* of the secret: compared in constant time */
};

struct lt_admin_auth {
	SSL_CTX *ctx;                   /* NULL: plain HTTP, no credentials asked */
	int certs;                      /* admin_trust: client certificates are taken */
	char **cns;                     /* admin_clients: the CNs allowed, NULL-terminated; NULL = any */
	struct admin_token tokens[MAX_TOKENS];
	size_t ntokens;
};

/* "FILE:LINE: key: why" (the line where the key is set), as security.c says it. */
static void key_error(const struct lt_config *cfg, struct lt_buf *errors, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void key_error(const struct lt_config *cfg, struct lt_buf *errors, const char *key, const char *fmt, ...)
{
	char why[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	int line = lt_config_line(cfg, key);
	if (line)
		lt_buf_printf(errors, "%s:%d: %s: %s\n", cfg->path, line, key, why);
	else
		lt_buf_printf(errors, "%s: %s: %s\n", cfg->path, key, why);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One line of the token file: NAME:SECRET or NAME:sha256:HEX. 0, or a sentence in why. */
static int token_line(struct lt_admin_auth *a, char *line, char *why, size_t n)
{
	char *colon = strchr(line, ':');
	if (!colon)
		return snprintf(why, n, "expected NAME:SECRET or NAME:sha256:HEX"), -1;
	*colon = '\0';
	const char *name = line, *secret = colon + 1;
	size_t len = strlen(name);
	if (!len || len >= sizeof a->tokens[0].name || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							   "0123456789._@-") != len)
		return snprintf(why, n, "the name must be 1 to 63 letters, digits or ._@-"), -1;
	for (size_t i = 0; i < a->ntokens; i++)
		if (strcmp(a->tokens[i].name, name) == 0)
			return snprintf(why, n, "token %s is named twice", name), -1;
	if (a->ntokens == MAX_TOKENS)
		return snprintf(why, n, "more than %d tokens", MAX_TOKENS), -1;
	struct admin_token *t = &a->tokens[a->ntokens];
	if (strncmp(secret, "sha256:", 7) == 0) {
		const char *hex = secret + 7;
		if (strlen(hex) != 64)
			return snprintf(why, n, "token %s: sha256: needs 64 hex digits", name), -1;
		for (int i = 0; i < 32; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return snprintf(why, n, "token %s: sha256: needs 64 hex digits", name), -1;
			t->sha256[i] = (unsigned char)(hi << 4 | lo);
		}
	} else {
		if (strlen(secret) < MIN_SECRET)
			return snprintf(why, n, "token %s: the secret is shorter than %d characters", name, MIN_SECRET), -1;
		EVP_Digest(secret, strlen(secret), t->sha256, NULL, EVP_sha256(), NULL);
	}
	snprintf(t->name, sizeof t->name, "%s", name);
	a->ntokens++;
	return 0;
}

/* Read admin_token_file: a regular file no one else may read, one token a
 * line ('#' comments and blank lines aside), at least one. */
static int tokens_load(struct lt_admin_auth *a, const struct lt_config *cfg, struct lt_buf *errors)
{
	const char *path = cfg->admin_token_file;
	FILE *f = fopen(path, "re");
	struct stat st;
	if (!f) {
		key_error(cfg, errors, "admin_token_file", "cannot open %s: %s", path, strerror(errno));
		return LT_ECONFIG;
	}
	int rc = LT_OK;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		key_error(cfg, errors, "admin_token_file", "%s is not a regular file", path);
		rc = LT_ECONFIG;
	} else if (st.st_mode & 077) {
		key_error(cfg, errors, "admin_token_file", "%s is readable by others (mode %04o); chmod 600 it", path,
			  (unsigned)(st.st_mode & 07777));
		rc = LT_ECONFIG;
	}
	char line[512], why[200];
	for (int no = 1; !rc && fgets(line, sizeof line, f); no++) {
		line[strcspn(line, "\r\n")] = '\0';
		char *p = line + strspn(line, " \t");
		for (char *e = p + strlen(p); e > p && (e[-1] == ' ' || e[-1] == '\t'); )
			*--e = '\0';
		if (!*p || *p == '#')
			continue;
		if (token_line(a, p, why, sizeof why)) {
			key_error(cfg, errors, "admin_token_file", "%s:%d: %s", path, no, why);
			rc = LT_ECONFIG;
		}
	}
	OPENSSL_cleanse(line, sizeof line);
	fclose(f);
	if (!rc && !a->ntokens) {
		key_error(cfg, errors, "admin_token_file", "%s holds no token (NAME:SECRET or NAME:sha256:HEX a line)", path);
		rc = LT_ECONFIG;
	}
	return rc;
}

/* The handshake takes any client certificate (or none): admin_auth_check
 * reads the verification's result, so that a refusal is an answer, logged. */
static int verify_later(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

/* The listener's context: tls_policy, its certificate, and admin_trust's CAs
 * offered to clients when set. */
static int tls_ctx(struct lt_admin_auth *a, const struct lt_config *cfg, const struct lt_security *sec,
		   struct lt_buf *errors)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	struct lt_err err = { 0 };
	int rc = LT_ECONFIG, own = cfg->admin_tls_cert != NULL;
	if (own) {
		if (!(chain = lt_certs_load(cfg->admin_tls_cert, &err))) {
			key_error(cfg, errors, "admin_tls_cert", "%s", err.msg);
			goto out;
		}
		leaf = sk_X509_shift(chain);
		if (!(key = lt_key_load(cfg->admin_tls_key, cfg->key_password_file, &err))) {
			key_error(cfg, errors, "admin_tls_key", "%s", err.msg);
			goto out;
		}
	} else if (!sec || !sec->client_cert || !sec->client_key) {
		key_error(cfg, errors, cfg->admin_token_file ? "admin_token_file" : "admin_trust",
			  "the admin listener uses TLS: set admin_tls_cert and admin_tls_key (tls_cert and tls_key are not loaded)");
		goto out;
	}
	a->ctx = SSL_CTX_new(TLS_server_method());
	if (!a->ctx || lt_tls_policy_apply(a->ctx, cfg->tls_policy)) {
		lt_buf_printf(errors, "tls_policy: OpenSSL cannot set up the admin listener's versions and ciphers\n");
		goto out;
	}
	SSL_CTX_set_options(a->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	X509 *use_leaf = own ? leaf : sec->client_cert;
	STACK_OF(X509) *use_chain = own ? chain : sec->client_chain;
	int ok = SSL_CTX_use_certificate(a->ctx, use_leaf) == 1;
	for (int i = 0; ok && use_chain && i < sk_X509_num(use_chain); i++)
		ok = SSL_CTX_add1_chain_cert(a->ctx, sk_X509_value(use_chain, i)) == 1;
	if (!ok || SSL_CTX_use_PrivateKey(a->ctx, own ? key : sec->client_key) != 1 ||
	    SSL_CTX_check_private_key(a->ctx) != 1) {
		key_error(cfg, errors, own ? "admin_tls_key" : "tls_key", "%s does not match %s",
			  own ? cfg->admin_tls_key : cfg->tls_key, own ? cfg->admin_tls_cert : cfg->tls_cert);
		goto out;
	}
	if (cfg->admin_trust) {
		if (SSL_CTX_load_verify_locations(a->ctx, cfg->admin_trust, NULL) != 1) {
			key_error(cfg, errors, "admin_trust", "cannot load CA bundle %s", cfg->admin_trust);
			goto out;
		}
		STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(cfg->admin_trust);
		if (cas)
			SSL_CTX_set_client_CA_list(a->ctx, cas);
		SSL_CTX_set_verify(a->ctx, SSL_VERIFY_PEER, verify_later);
		SSL_CTX_set_verify_depth(a->ctx, 4);
		a->certs = 1;
	}
	static const unsigned char sid[] = "lienthong-admin";
	SSL_CTX_set_session_id_context(a->ctx, sid, sizeof sid - 1);
	rc = LT_OK;
out:
	ERR_clear_error();
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return rc;
}

/* Split "CN=a CN=b" (the config checked its form). */
static char **clients_list(const char *v)
{
	size_t n = 0;
	char **out = calloc(strlen(v) / 2 + 2, sizeof *out);
	char *copy = strdup(v), *save = NULL;
	for (char *t = strtok_r(copy, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save))
		out[n++] = strdup(strncmp(t, "CN=", 3) == 0 ? t + 3 : t);
	free(copy);
	return out;
}

int lt_admin_auth_new(const struct lt_config *cfg, const struct lt_security *sec, struct lt_admin_auth **out,
		      struct lt_buf *errors)
{
	*out = NULL;
	if (!cfg->admin_token_file && !cfg->admin_trust)
		return LT_OK;
	struct lt_admin_auth *a = calloc(1, sizeof *a);
	int rc = cfg->admin_token_file ? tokens_load(a, cfg, errors) : LT_OK;
	if (tls_ctx(a, cfg, sec, errors))
		rc = LT_ECONFIG;
	if (cfg->admin_clients)
		a->cns = clients_list(cfg->admin_clients);
	if (rc) {
		lt_admin_auth_free(a);
		return rc;
	}
	*out = a;
	return LT_OK;
}

void lt_admin_auth_free(struct lt_admin_auth *a)
{
	if (!a)
		return;
	SSL_CTX_free(a->ctx);
	for (char **p = a->cns; p && *p; p++)
		free(*p);
	free(a->cns);
	OPENSSL_cleanse(a->tokens, sizeof a->tokens);
	free(a);
}

void lt_admin_auth_describe(const struct lt_admin_auth *a, const struct lt_config *cfg, struct lt_buf *out)
{
	if (!a) {
		lt_buf_printf(out, "http://%s, loopback, no credentials (whoever reaches it)", cfg->admin_listen);
		return;
	}
	lt_buf_printf(out, "https://%s (%s), credentials:", cfg->admin_listen,
		      cfg->admin_tls_cert ? cfg->admin_tls_cert : cfg->tls_cert);
	if (a->ntokens)
		lt_buf_printf(out, " %zu bearer token%s (%s)", a->ntokens, a->ntokens == 1 ? "" : "s", cfg->admin_token_file);
	if (a->certs)
		lt_buf_printf(out, "%s client certificates of %s%s%s", a->ntokens ? " or" : "", cfg->admin_trust,
			      a->cns ? " with CN in " : "", a->cns ? cfg->admin_clients : "");
}

struct bufferevent *lt_admin_auth_bevcb(struct event_base *base, void *arg)
{
	struct lt_admin_auth *a = arg;
	SSL *ssl = SSL_new(a->ctx);
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

int lt_admin_auth_tls(const struct lt_admin_auth *a)
{
	return a != NULL;
}

void lt_admin_auth_names(const struct lt_admin_auth *a, void (*add)(void *arg, const char *name), void *arg)
{
	X509 *leaf = a ? SSL_CTX_get0_certificate(a->ctx) : NULL;
	GENERAL_NAMES *names = leaf ? X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL) : NULL;
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		char name[INET6_ADDRSTRLEN + 2], ip[INET6_ADDRSTRLEN];
		if (g->type == GEN_DNS && ASN1_STRING_length(g->d.dNSName) < 250 && !strchr((const char *)
		    ASN1_STRING_get0_data(g->d.dNSName), '*')) {
			snprintf(name, sizeof name, "%.*s", ASN1_STRING_length(g->d.dNSName),
				 (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			add(arg, name);
		} else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 4 &&
			   inet_ntop(AF_INET, ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof ip)) {
			add(arg, ip);
		} else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 16 &&
			   inet_ntop(AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof ip)) {
			snprintf(name, sizeof name, "[%s]", ip);
			add(arg, name);
		}
	}
	GENERAL_NAMES_free(names);
}

/* A verified client certificate's subject, as "cert:CN=…,O=…" (RFC 2253). */
static void cert_who(X509 *cert, char who[LT_TRUST_MAX])
{
	BIO *b = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	char *p;
	long n = BIO_get_mem_data(b, &p);
	snprintf(who, LT_TRUST_MAX, "cert:%.*s", (int)(n < LT_TRUST_MAX - 6 ? n : LT_TRUST_MAX - 6), p);
	BIO_free(b);
	lt_utf8_clean(who);
}

static int cert_allowed(const struct lt_admin_auth *a, X509 *cert, char *cn, size_t n)
{
	lt_cert_cn(cert, cn, n);
	if (!a->cns)
		return 1;
	for (char **p = a->cns; *p; p++)
		if (strcmp(*p, cn) == 0)
			return 1;
	return 0;
}

/* The token whose secret this is, or NULL: every token compared, in constant time. */
static const struct admin_token *token_of(const struct lt_admin_auth *a, const char *secret)
{
	unsigned char md[32];
	const struct admin_token *found = NULL;
	EVP_Digest(secret, strlen(secret), md, NULL, EVP_sha256(), NULL);
	for (size_t i = 0; i < a->ntokens; i++)
		if (CRYPTO_memcmp(md, a->tokens[i].sha256, sizeof md) == 0)
			found = &a->tokens[i];
	OPENSSL_cleanse(md, sizeof md);
	return found;
}

int lt_admin_auth_check(const struct lt_admin_auth *a, struct evhttp_request *req, char who[LT_TRUST_MAX],
			int *status, char *why, size_t n)
{
	snprintf(who, LT_TRUST_MAX, "loopback");
	if (!a)
		return 0;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *cert = a->certs && ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	char cn[128];
	*status = 403;
	if (cert) {     /* a certificate offered must be good, whatever else comes with it */
		long v = SSL_get_verify_result(ssl);
		lt_cert_cn(cert, cn, sizeof cn);
		if (v != X509_V_OK)
			return snprintf(why, n, "the client certificate CN=%.100s is not one of admin_trust's: %s", cn,
					X509_verify_cert_error_string(v)), -1;
		if (!cert_allowed(a, cert, cn, sizeof cn))
			return snprintf(why, n, "the client certificate CN=%.100s is not in admin_clients", cn), -1;
		cert_who(cert, who);
		return 0;
	}
	*status = 401;
	if (a->ntokens && auth) {
		if (strncasecmp(auth, "Bearer ", 7))
			return snprintf(why, n, "Authorization must be Bearer TOKEN (one of admin_token_file's)"), -1;
		const struct admin_token *t = token_of(a, auth + 7 + strspn(auth + 7, " "));
		if (!t)
			return snprintf(why, n, "the bearer token is not one of admin_token_file's"), -1;
		snprintf(who, LT_TRUST_MAX, "token:%s", t->name);
		return 0;
	}
	return snprintf(why, n, "the admin listener needs %s%s%s", a->ntokens ? "Authorization: Bearer TOKEN" : "",
			a->ntokens && a->certs ? " or " : "", a->certs ? "a client certificate of admin_trust" : ""), -1;
}
