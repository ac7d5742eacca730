/* sign_jws.c — detached JWS signing and verification with OpenSSL EVP.
 *
 * The crypto is done with EVP directly rather than cjose: cjose 0.6.2 cannot
 * take an EVP_PKEY or a certificate (only JWK components), and it needs the
 * payload inside the compact serialization, which would mean base64url-copying
 * every body. Here the body is base64url-encoded in small chunks straight into
 * the digest, and the header bytes signed are exactly the ones sent. */
#include "sign_jws.h"
#include "crl.h"
#include "keys.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

enum alg { ALG_RS256, ALG_PS256, ALG_ES256, ALG_COUNT };
enum kind { KIND_RSA, KIND_EC };

static const char *const alg_names[ALG_COUNT] = { "RS256", "PS256", "ES256" };

struct lt_jws_signer {
	int on_token;           /* the key is on a PKCS#11 token: a failure waits for it */
	EVP_PKEY *key;
	X509 *cert;
	enum alg alg;
	char kid[LT_KID_MAX];
};

struct ks_entry {
	char kid[LT_KID_MAX];
	X509 *cert;
	EVP_PKEY *pub;      /* decoded once here, so verifying threads only read it */
	enum kind kind;
	char cn[128];
};

struct lt_jws_keyset {
	struct ks_entry *v;
	size_t n, cap;
	char *peer;                 /* named in refusals once bound */
	struct lt_own_certs own;    /* never accepted in the set */
	const struct lt_crls *crls; /* not owned: revoked keys are refused */
	STACK_OF(X509) *cas;        /* the CA certificates of the keys files (chain files): the
				     * intermediates a key's revocation is checked through */
};

/* ---- base64url ------------------------------------------------------------ */

static const char b64al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode n bytes into out (room for (n+2)/3*4+1), no padding; returns the length. */
static size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64al[v >> 18 & 63];
		out[o++] = b64al[v >> 12 & 63];
		out[o++] = b64al[v >> 6 & 63];
		out[o++] = b64al[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64al[v >> 18 & 63];
		out[o++] = b64al[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64al[v >> 18 & 63];
		out[o++] = b64al[v >> 12 & 63];
		out[o++] = b64al[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '-') return 62;
	if (c == '_') return 63;
	return -1;
}

/* Strict decode: base64url alphabet only, no padding, zero trailing bits, so
 * each byte string has exactly one accepted encoding. *out is malloc'd. */
static int b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *p;
	size_t o = 0, i;
	unsigned acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	p = malloc(n / 4 * 3 + 3);
	if (!p)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64val((unsigned char)in[i]);
		if (v < 0)
			goto bad;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	if (bits && (acc & ((1u << bits) - 1)))
		goto bad;
	*out = p;
	*outlen = o;
	return 0;
bad:
	free(p);
	return -1;
}

/* ---- keys ------------------------------------------------------------------- */

/* KIND_RSA (>= 2048 bits), KIND_EC (P-256), or -1 with why filled. */
static int key_kind(EVP_PKEY *k, char *why, size_t n)
{
	char group[64] = "";
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(k) < 2048) {
			snprintf(why, n, "RSA key of %d bits (at least 2048 needed)", EVP_PKEY_get_bits(k));
			return -1;
		}
		return KIND_RSA;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(k, group, sizeof group, &glen) ||
		    OBJ_sn2nid(group) != NID_X9_62_prime256v1) {
			snprintf(why, n, "EC key on curve %s (only P-256 is accepted)", *group ? group : "(unnamed)");
			return -1;
		}
		return KIND_EC;
	default:
		snprintf(why, n, "%s key (only RSA and EC P-256 are accepted)",
			 OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
		return -1;
	}
}

static int alg_parse(const char *s)
{
	for (int i = 0; i < ALG_COUNT; i++)
		if (strcmp(s, alg_names[i]) == 0)
			return i;
	return -1;
}

static int alg_fits(enum alg a, enum kind k)
{
	return a == ALG_ES256 ? k == KIND_EC : k == KIND_RSA;
}

/* Copy peer-supplied text for a message: printable ASCII only, at most max bytes. */
static void sanitize(const char *in, size_t inlen, char *out, size_t max)
{
	size_t i, o = 0;
	for (i = 0; i < inlen && o + 1 < max; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < inlen && o >= 4)
		memcpy(out + o - 3, "...", 3);
	out[o] = '\0';
}

/* jti: 1..128 printable ASCII characters, no space. */
static int jti_ok(const char *s, size_t n)
{
	if (n < 1 || n > LT_JWS_MAX_JTI)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* ---- signing input ------------------------------------------------------------ */

typedef int (*update_fn)(EVP_MD_CTX *, const void *, size_t);

/* Feed BASE64URL(header) "." BASE64URL(body) to ctx; the body is encoded in chunks. */
static int feed_input(EVP_MD_CTX *ctx, update_fn update, const char *h64, size_t h64len,
		      const unsigned char *body, size_t len)
{
	char chunk[4096 + 1];
	if (update(ctx, h64, h64len) != 1 || update(ctx, ".", 1) != 1)
		return -1;
	while (len > 0) {
		size_t take = len > 3072 ? 3072 : len; /* a multiple of 3 until the last */
		size_t n = b64url_encode(body, take, chunk);
		if (update(ctx, chunk, n) != 1)
			return -1;
		body += take;
		len -= take;
	}
	return 0;
}

/* Set up ctx for alg over key; sign != 0 for signing. */
static int md_init(EVP_MD_CTX *ctx, enum alg alg, EVP_PKEY *key, int sign)
{
	EVP_PKEY_CTX *pctx = NULL;
	int ok = sign ? EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key)
		      : EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key);
	if (ok != 1)
		return -1;
	if (alg == ALG_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0))
		return -1;
	return 0;
}

/* ---- signer ------------------------------------------------------------------- */

struct lt_jws_signer *lt_jws_signer_new(const char *key_path, const char *cert_path,
					const char *password_file, const char *alg, struct lt_err *err)
{
	struct lt_jws_signer *s = calloc(1, sizeof *s);
	char why[160];
	int kind, a;

	if (!s) {
		lt_err_set(err, LT_ENOMEM, "out of memory loading the signing key");
		return NULL;
	}
	if (!(s->key = lt_key_load(key_path, password_file, err)))
		goto fail;
	s->on_token = lt_token_is_uri(key_path);
	if (!(s->cert = lt_cert_load(cert_path, password_file, err)))
		goto fail;
	if ((kind = key_kind(s->key, why, sizeof why)) < 0) {
		lt_err_set(err, LT_ECONFIG, "signing key %s: %s", key_path, why);
		goto fail;
	}
	if (EVP_PKEY_eq(s->key, X509_get0_pubkey(s->cert)) != 1) {
		lt_err_set(err, LT_ECONFIG, "signing key %s does not match certificate %s", key_path, cert_path);
		goto fail;
	}
	a = alg ? alg_parse(alg) : (kind == KIND_EC ? ALG_ES256 : ALG_RS256);
	if (a < 0) {
		lt_err_set(err, LT_ECONFIG, "signing algorithm %s is not one of RS256, PS256, ES256", alg);
		goto fail;
	}
	if (!alg_fits((enum alg)a, (enum kind)kind)) {
		lt_err_set(err, LT_ECONFIG, "signing algorithm %s does not fit the %s key in %s",
			   alg_names[a], kind == KIND_EC ? "EC P-256" : "RSA", key_path);
		goto fail;
	}
	s->alg = (enum alg)a;
	lt_cert_kid(s->cert, s->kid);
	ERR_clear_error();
	return s;
fail:
	lt_jws_signer_free(s);
	ERR_clear_error();
	return NULL;
}

void lt_jws_signer_free(struct lt_jws_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	free(s);
}

const char *lt_jws_signer_kid(const struct lt_jws_signer *s)
{
	return s->kid;
}

const char *lt_jws_signer_alg(const struct lt_jws_signer *s)
{
	return alg_names[s->alg];
}

/* DER ECDSA-Sig-Value -> 64-byte r||s. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int rc = -1;
	if (!sig)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
		rc = 0;
	ECDSA_SIG_free(sig);
	return rc;
}

int lt_jws_sign(const struct lt_jws_signer *s, const void *body, size_t len, const char *jti,
		int64_t iat, char **out, struct lt_err *err)
{
	json_t *h = NULL;
	char *hjson = NULL, *h64 = NULL, *res = NULL;
	unsigned char *sig = NULL, raw[64];
	size_t siglen = 0, hlen, h64len;
	EVP_MD_CTX *ctx = NULL;
	int rc = LT_OK;

	*out = NULL;
	if (!jti || !jti_ok(jti, strlen(jti)))
		return lt_err_set(err, LT_EINVAL, "cannot sign: message id must be 1 to %d printable "
				  "ASCII characters", LT_JWS_MAX_JTI);
	if (s->on_token)
		lt_token_retry();       /* after a failure: the token may be back */
	h = json_pack("{s:s, s:s, s:I, s:s}", "alg", alg_names[s->alg], "kid", s->kid,
		      "iat", (json_int_t)iat, "jti", jti);
	hjson = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (!hjson) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory building the JWS header");
		goto out;
	}
	hlen = strlen(hjson);
	h64 = malloc((hlen + 2) / 3 * 4 + 1);
	ctx = EVP_MD_CTX_new();
	if (!h64 || !ctx) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory signing");
		goto out;
	}
	h64len = b64url_encode((const unsigned char *)hjson, hlen, h64);
	if (md_init(ctx, s->alg, s->key, 1) < 0 ||
	    feed_input(ctx, EVP_DigestSignUpdate, h64, h64len, body, len) < 0 ||
	    EVP_DigestSignFinal(ctx, NULL, &siglen) != 1 || !(sig = malloc(siglen)) ||
	    EVP_DigestSignFinal(ctx, sig, &siglen) != 1) {
		const char *why = ERR_reason_error_string(ERR_peek_last_error());
		if (s->on_token) {      /* removed, locked, logged out: wait for it */
			lt_token_failed(why ? why : "the token did not sign");
			rc = lt_err_set(err, LT_EBUSY, "the signing key's token did not sign (%s); waiting for it",
					why ? why : "no reason given");
		} else {
			rc = lt_err_set(err, LT_EIO, "signing with %s failed (OpenSSL: %s)", alg_names[s->alg],
					why ? why : "unknown error");
		}
		goto out;
	}
	if (s->on_token)
		lt_token_ok();
	if (s->alg == ALG_ES256) {
		if (ecdsa_der_to_raw(sig, siglen, raw) < 0) {
			rc = lt_err_set(err, LT_EIO, "signing with ES256 failed: unreadable ECDSA signature");
			goto out;
		}
		memcpy(sig, raw, 64); /* a DER P-256 signature is always longer than 64 bytes */
		siglen = 64;
	}
	res = malloc(h64len + 2 + (siglen + 2) / 3 * 4 + 1);
	if (!res) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory signing");
		goto out;
	}
	memcpy(res, h64, h64len);
	res[h64len] = res[h64len + 1] = '.';
	b64url_encode(sig, siglen, res + h64len + 2);
	*out = res;
out:
	EVP_MD_CTX_free(ctx);
	free(sig);
	free(h64);
	free(hjson);
	json_decref(h);
	ERR_clear_error();
	return rc;
}

/* ---- keyset ------------------------------------------------------------------- */

struct lt_jws_keyset *lt_jws_keyset_new(void)
{
	return calloc(1, sizeof(struct lt_jws_keyset));
}

static const struct ks_entry *ks_find(const struct lt_jws_keyset *ks, const char *kid)
{
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->v[i].kid, kid) == 0)
			return &ks->v[i];
	return NULL;
}

int lt_jws_keyset_add_file(struct lt_jws_keyset *ks, const char *pem_path, struct lt_err *err)
{
	STACK_OF(X509) *sk = lt_certs_load(pem_path, err);
	char why[160], cn[128];
	int i, num, ncas = 0, rc = LT_OK;

	if (!sk)
		return err ? err->code : LT_ECONFIG;
	num = sk_X509_num(sk);
	/* Check every certificate first, so a refused file adds nothing. */
	for (i = 0; i < num; i++) {
		X509 *c = sk_X509_value(sk, i);
		EVP_PKEY *pub = X509_get0_pubkey(c);
		const char *own;
		lt_cert_cn(c, cn, sizeof cn);
		/* Fill OpenSSL's per-certificate extension cache before other threads read it. */
		X509_check_purpose(c, -1, 0);
		if (X509_get_extension_flags(c) & EXFLAG_CA) {
			ncas++;     /* the issuer of a chain file: not a key, skipped below */
			continue;
		}
		if (!pub || key_kind(pub, why, sizeof why) < 0) {
			rc = lt_err_set(err, LT_ECONFIG, "signing certificate %d (CN=%s) in %s: %s", i + 1, cn,
					pem_path, pub ? why : "unreadable public key");
			goto out;
		}
		if (!lt_cert_may_sign(c, why, sizeof why)) {
			rc = lt_err_set(err, LT_ECONFIG, "certificate %d (CN=%s) in %s is %s: keys must be "
					"signing certificates", i + 1, cn, pem_path, why);
			goto out;
		}
		if ((own = lt_own_cert_match(&ks->own, c)) != NULL) {
			rc = lt_err_set(err, LT_ECONFIG, "certificate %d (CN=%s) in %s has the key of the gateway's "
					"own %s certificate, never a peer's", i + 1, cn, pem_path, own);
			goto out;
		}
	}
	if (ncas == num) {
		rc = lt_err_set(err, LT_ECONFIG, "%s holds only CA certificates, no signing certificate", pem_path);
		goto out;
	}
	if (ks->n + (size_t)num > ks->cap) {
		size_t cap = ks->cap ? ks->cap : 4;
		while (cap < ks->n + (size_t)num)
			cap *= 2;
		struct ks_entry *v = realloc(ks->v, cap * sizeof *v);
		if (!v) {
			rc = lt_err_set(err, LT_ENOMEM, "out of memory loading %s", pem_path);
			goto out;
		}
		ks->v = v;
		ks->cap = cap;
	}
	for (i = 0; i < num; i++) {
		X509 *c = sk_X509_value(sk, i);
		struct ks_entry *e = &ks->v[ks->n];
		if (X509_get_extension_flags(c) & EXFLAG_CA) {
			if (!ks->cas)
				ks->cas = sk_X509_new_null();
			if (!ks->cas || !sk_X509_push(ks->cas, c)) {
				rc = lt_err_set(err, LT_ENOMEM, "out of memory loading %s", pem_path);
				goto out;
			}
			X509_up_ref(c);
			continue;
		}
		lt_cert_kid(c, e->kid);
		if (ks_find(ks, e->kid))
			continue;
		e->cert = c;
		X509_up_ref(c);
		e->pub = X509_get_pubkey(c);
		e->kind = (enum kind)key_kind(e->pub, why, sizeof why);
		lt_cert_cn(c, e->cn, sizeof e->cn);
		ks->n++;
	}
out:
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	return rc;
}

int lt_jws_keyset_bind(struct lt_jws_keyset *ks, const char *peer, const struct lt_own_certs *own,
		       struct lt_err *err)
{
	free(ks->peer);
	ks->peer = strdup(peer);
	lt_own_certs_clear(&ks->own);
	lt_own_certs_copy(&ks->own, own);
	if (!ks->peer)
		return lt_err_set(err, LT_ENOMEM, "out of memory");
	return LT_OK;
}

void lt_jws_keyset_set_crls(struct lt_jws_keyset *ks, const struct lt_crls *crls)
{
	if (ks)
		ks->crls = crls;
}

size_t lt_jws_keyset_count(const struct lt_jws_keyset *ks)
{
	return ks->n;
}

void lt_jws_keyset_free(struct lt_jws_keyset *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->v[i].pub);
		X509_free(ks->v[i].cert);
	}
	free(ks->v);
	sk_X509_pop_free(ks->cas, X509_free);
	free(ks->peer);
	lt_own_certs_clear(&ks->own);
	free(ks);
}

/* ---- verification --------------------------------------------------------------- */

/* The issuers of cert among the set's CA certificates, nearest first, up to a self-signed
 * root or the first one missing: what its revocation is checked through. NULL when there
 * are none; the stack holds no references (free it with sk_X509_free). */
static STACK_OF(X509) *key_chain(const struct lt_jws_keyset *ks, X509 *cert)
{
	STACK_OF(X509) *chain = NULL;
	for (int depth = 0; depth < 8 && X509_check_issued(cert, cert) != X509_V_OK; depth++) {
		X509 *up = NULL;
		for (int i = 0; !up && i < sk_X509_num(ks->cas); i++)
			if (X509_check_issued(sk_X509_value(ks->cas, i), cert) == X509_V_OK)
				up = sk_X509_value(ks->cas, i);
		if (!up || (!chain && !(chain = sk_X509_new_null())) || !sk_X509_push(chain, up))
			break;
		cert = up;
	}
	return chain;
}

/* 64-byte r||s -> DER for EVP; *der malloc'd. */
static int ecdsa_raw_to_der(const unsigned char raw[64], unsigned char **der, size_t *len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	int n = -1;
	*der = NULL;
	if (sig && r && s && ECDSA_SIG_set0(sig, r, s)) {
		r = s = NULL; /* owned by sig now */
		n = i2d_ECDSA_SIG(sig, der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

static int crypto_verify(const struct ks_entry *e, enum alg alg, const char *h64, size_t h64len,
			 const unsigned char *sig, size_t siglen, const void *body, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int ok = 0;

	if (!ctx)
		return 0;
	if (alg == ALG_ES256) {
		/* JOSE form only: a DER signature (or anything else) is not 64 bytes */
		if (siglen != 64 || ecdsa_raw_to_der(sig, &der, &siglen) < 0)
			goto out;
		sig = der;
	}
	if (md_init(ctx, alg, e->pub, 0) == 0 &&
	    feed_input(ctx, EVP_DigestVerifyUpdate, h64, h64len, body, len) == 0)
		ok = EVP_DigestVerifyFinal(ctx, sig, siglen) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return ok;
}

int lt_jws_verify(const struct lt_jws_keyset *ks, const char *sig_header, const void *body,
		  size_t len, int64_t now, struct lt_jws_info *info, struct lt_err *err)
{
	unsigned char *hdr = NULL, *sig = NULL;
	size_t n, hdrlen = 0, siglen = 0, h64len;
	const char *dot, *s64;
	char shown[72];
	json_t *h = NULL, *v;
	json_error_t jerr;
	const struct ks_entry *e;
	const char *kid, *jti;
	int a, rc;
	time_t t = (time_t)now;

	if (!ks)
		return lt_err_set(err, LT_EAUTH, "signer certificate not accepted: no keys are configured for "
				  "this peer");
	if (!sig_header || !*sig_header)
		return lt_err_set(err, LT_EAUTH, "no signature: the X-Signature header is missing or empty");
	n = strnlen(sig_header, LT_JWS_MAX_HEADER + 1);
	if (n > LT_JWS_MAX_HEADER)
		return lt_err_set(err, LT_EAUTH, "malformed signature: longer than %d bytes", LT_JWS_MAX_HEADER);
	dot = memchr(sig_header, '.', n);
	if (!dot || dot == sig_header || dot[1] != '.' || memchr(dot + 2, '.', n - (size_t)(dot + 2 - sig_header)))
		return lt_err_set(err, LT_EAUTH, "malformed signature: expected BASE64URL(header)..BASE64URL(signature) "
				  "(detached compact JWS, empty payload part)");
	h64len = (size_t)(dot - sig_header);
	s64 = dot + 2;
	if (b64url_decode(sig_header, h64len, &hdr, &hdrlen) < 0) {
		rc = lt_err_set(err, LT_EAUTH, "malformed signature: the header part is not base64url");
		goto out;
	}
	if (b64url_decode(s64, n - h64len - 2, &sig, &siglen) < 0) {
		rc = lt_err_set(err, LT_EAUTH, "malformed signature: the signature part is not base64url");
		goto out;
	}
	h = json_loadb((const char *)hdr, hdrlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!h || !json_is_object(h)) {
		rc = lt_err_set(err, LT_EAUTH, "malformed signature: %s",
				!h && strstr(jerr.text, "duplicate") ? "duplicate key in the header"
								     : "the header is not a JSON object");
		goto out;
	}
	v = json_object_get(h, "alg");
	if (!json_is_string(v) || (a = alg_parse(json_string_value(v))) < 0) {
		if (json_is_string(v) && json_string_length(v) > 0)
			sanitize(json_string_value(v), json_string_length(v), shown, 24);
		else
			strcpy(shown, json_is_string(v) ? "(empty)" : v ? "(not a string)" : "(missing)");
		rc = lt_err_set(err, LT_EAUTH, "algorithm not allowed: %s (only RS256, PS256, ES256)", shown);
		goto out;
	}
	if (json_object_get(h, "crit")) {
		rc = lt_err_set(err, LT_EAUTH, "crit not supported: the header has a crit member");
		goto out;
	}
	v = json_object_get(h, "kid");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		rc = lt_err_set(err, LT_EAUTH, "missing kid: the header needs a kid string");
		goto out;
	}
	kid = json_string_value(v);
	if (!json_is_integer(json_object_get(h, "iat"))) {
		rc = lt_err_set(err, LT_EAUTH, "missing iat: the header needs iat as an integer (unix seconds)");
		goto out;
	}
	v = json_object_get(h, "jti");
	if (!json_is_string(v) || !jti_ok(json_string_value(v), json_string_length(v))) {
		rc = lt_err_set(err, LT_EAUTH, "missing jti: the header needs jti, 1 to %d printable ASCII "
				"characters (the message id)", LT_JWS_MAX_JTI);
		goto out;
	}
	jti = json_string_value(v);
	if (!(e = strlen(kid) < LT_KID_MAX ? ks_find(ks, kid) : NULL)) {
		sanitize(kid, strlen(kid), shown, 64);
		rc = lt_err_set(err, LT_EAUTH, "unknown key: %s", shown);
		goto out;
	}
	/* Checked when the set was built too; again here so that no path into the set skips it. */
	const char *own = lt_own_cert_match(&ks->own, e->cert);
	char why[160];
	if (own || !lt_cert_may_sign(e->cert, why, sizeof why)) {
		if (own)
			snprintf(why, sizeof why, "has the key of the gateway's own %s certificate", own);
		rc = lt_err_set(err, LT_EAUTH, "signer certificate not accepted%s%s: key %s (CN=%s) %s%s",
				ks->peer ? " for peer " : "", ks->peer ? ks->peer : "", e->kid, e->cn,
				own ? "" : "is ", why);
		goto out;
	}
	if (!alg_fits((enum alg)a, e->kind)) {
		rc = lt_err_set(err, LT_EAUTH, "key type does not match algorithm: %s needs %s, key %s (CN=%s) is %s",
				alg_names[a], a == ALG_ES256 ? "EC P-256" : "RSA", e->kid, e->cn,
				e->kind == KIND_EC ? "EC P-256" : "RSA");
		goto out;
	}
	if (X509_cmp_time(X509_get0_notBefore(e->cert), &t) >= 0) {
		rc = lt_err_set(err, LT_EAUTH, "certificate not yet valid: key %s (CN=%s)", e->kid, e->cn);
		goto out;
	}
	if (X509_cmp_time(X509_get0_notAfter(e->cert), &t) <= 0) {
		rc = lt_err_set(err, LT_EAUTH, "certificate expired: key %s (CN=%s)", e->kid, e->cn);
		goto out;
	}
	struct lt_err crl_err = { 0 };
	STACK_OF(X509) *chain = ks->crls && ks->cas ? key_chain(ks, e->cert) : NULL;
	int revoked = lt_crls_check(ks->crls, e->cert, chain, t, &crl_err);
	sk_X509_free(chain);
	if (revoked) {
		rc = lt_err_set(err, LT_EAUTH, "%s (signing key %s%s%s)", crl_err.msg, e->kid,
				ks->peer ? " of peer " : "", ks->peer ? ks->peer : "");
		goto out;
	}
	if (!crypto_verify(e, (enum alg)a, sig_header, h64len, sig, siglen, body, len)) {
		rc = lt_err_set(err, LT_EAUTH, "bad signature: the %s signature does not verify with key %s (CN=%s)",
				alg_names[a], e->kid, e->cn);
		goto out;
	}
	if (info) {
		memset(info, 0, sizeof *info);
		snprintf(info->alg, sizeof info->alg, "%s", alg_names[a]);
		snprintf(info->kid, sizeof info->kid, "%s", e->kid);
		info->iat = (int64_t)json_integer_value(json_object_get(h, "iat"));
		snprintf(info->jti, sizeof info->jti, "%s", jti);
		snprintf(info->signer_cn, sizeof info->signer_cn, "%s", e->cn);
	}
	rc = LT_OK;
out:
	json_decref(h);
	free(hdr);
	free(sig);
	ERR_clear_error();
	return rc;
}
