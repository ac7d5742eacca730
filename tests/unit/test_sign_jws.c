/* test_sign_jws.c — detached JWS signing and verification, and key loading.
 *
 * Uses the dev PKI made by certs/gen-dev-pki.sh, found at $LT_TEST_PKI
 * (default build/certs, made by `make certs`). Hostile signatures are built
 * here with OpenSSL directly, independently of gateway/sign_jws.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keys.h"
#include "sign_jws.h"

static const char *pki;
static int64_t now;
static struct lt_jws_keyset *ks;       /* peer-a rsa + ec, rsa expired-sign */
static struct lt_jws_signer *rs, *ps, *es;
static char rsa_kid[LT_KID_MAX], ec_kid[LT_KID_MAX];
static EVP_PKEY *rsa_key, *ec_key, *untrusted_key;

static const char body[] = "{\"dossier_code\":\"000.00.12.H12-261122-0001\","
			   "\"applicant\":\"Nguyễn Thị Bích Ngọc\"}";
#define BODY body, strlen(body)

/* ---- helpers ------------------------------------------------------------ */

/* PKI-relative path; a few rotating buffers so several can be live at once. */
static const char *P(const char *rel)
{
	static char buf[8][512];
	static int i;
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof buf[i], "%s/%s", pki, rel);
	return buf[i];
}

/* base64url without padding, via OpenSSL's base64 (independent of the code under test). */
static char *b64u(const void *p, size_t n)
{
	char *out = malloc(n / 3 * 4 + 8);
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	int o = 0;
	for (int i = 0; i < len; i++) {
		if (out[i] == '=')
			break;
		out[o++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
	out[o] = '\0';
	return out;
}

enum mode { RS256, PS256, ES256, ES256_DER, HS256, NONE };

/* "b64(header_json)..b64(sig)" with sig computed over header + body in the given mode. */
static char *forge(const char *header_json, enum mode m, EVP_PKEY *key, const void *secret,
		   size_t secretlen, const void *b, size_t blen)
{
	char *h = b64u(header_json, strlen(header_json)), *bb = b64u(b, blen);
	size_t inlen = strlen(h) + 1 + strlen(bb), siglen = 0;
	char *input = malloc(inlen + 1);
	unsigned char sig[1024];
	snprintf(input, inlen + 1, "%s.%s", h, bb);

	if (m == HS256) {
		unsigned int n = 0;
		HMAC(EVP_sha256(), secret, (int)secretlen, (unsigned char *)input, inlen, sig, &n);
		siglen = n;
	} else if (m != NONE) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;
		siglen = sizeof sig;
		assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key), 1);
		if (m == PS256) {
			EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
		}
		assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)input, inlen), 1);
		EVP_MD_CTX_free(ctx);
		if (m == ES256) {
			const unsigned char *p = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
			const BIGNUM *r, *s;
			ECDSA_SIG_get0(es, &r, &s);
			BN_bn2binpad(r, sig, 32);
			BN_bn2binpad(s, sig + 32, 32);
			siglen = 64;
			ECDSA_SIG_free(es);
		}
	}
	char *s64 = b64u(sig, siglen);
	char *out = malloc(strlen(h) + strlen(s64) + 3);
	sprintf(out, "%s..%s", h, s64);
	free(h);
	free(bb);
	free(input);
	free(s64);
	return out;
}

/* A well-formed protected header. */
static char *header(const char *alg, const char *kid, int64_t iat, const char *jti)
{
	static char buf[4][1024];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "{\"alg\":\"%s\",\"kid\":\"%s\",\"iat\":%lld,\"jti\":\"%s\"}",
		 alg, kid, (long long)iat, jti);
	return buf[i];
}

static void expect_ok(const char *sig, const void *b, size_t len, struct lt_jws_info *info)
{
	struct lt_err err = { 0 };
	int rc = lt_jws_verify(ks, sig, b, len, now, info, &err);
	if (rc != 0)
		fail_msg("expected the signature to verify, got %d: %s", rc, err.msg);
}

/* Verification must fail with LT_EAUTH and a message starting with words. */
static void expect_refused_at(const char *sig, const void *b, size_t len, int64_t at, const char *words)
{
	struct lt_err err = { 0 };
	struct lt_jws_info info;
	int rc = lt_jws_verify(ks, sig, b, len, at, &info, &err);
	if (rc != LT_EAUTH || strncmp(err.msg, words, strlen(words)) != 0)
		fail_msg("expected LT_EAUTH \"%s...\", got %d \"%s\"", words, rc, err.msg);
}

static void expect_refused(const char *sig, const void *b, size_t len, const char *words)
{
	expect_refused_at(sig, b, len, now, words);
}

static char *sign_with(const struct lt_jws_signer *s, const void *b, size_t len, const char *jti)
{
	struct lt_err err = { 0 };
	char *out = NULL;
	if (lt_jws_sign(s, b, len, jti, now, &out, &err) != 0)
		fail_msg("lt_jws_sign: %s", err.msg);
	return out;
}

static struct lt_jws_signer *signer(const char *key, const char *cert, const char *alg)
{
	struct lt_err err = { 0 };
	struct lt_jws_signer *s = lt_jws_signer_new(P(key), P(cert), NULL, alg, &err);
	if (!s)
		fprintf(stderr, "signer %s: %s\n", key, err.msg);
	return s;
}

static EVP_PKEY *key(const char *rel)
{
	struct lt_err err = { 0 };
	EVP_PKEY *k = lt_key_load(P(rel), NULL, &err);
	if (!k)
		fprintf(stderr, "key %s: %s\n", rel, err.msg);
	return k;
}

static int setup(void **state)
{
	struct lt_err err = { 0 };
	char manifest[600];
	(void)state;
	pki = getenv("LT_TEST_PKI") ? getenv("LT_TEST_PKI") : "build/certs";
	snprintf(manifest, sizeof manifest, "%s/manifest.json", pki);
	if (access(manifest, R_OK) != 0) {
		fprintf(stderr, "dev PKI not found (%s): run `make certs` from the repository root, "
			"or set LT_TEST_PKI to a directory made by certs/gen-dev-pki.sh\n", manifest);
		return -1;
	}
	now = (int64_t)time(NULL);
	ks = lt_jws_keyset_new();
	if (lt_jws_keyset_add_file(ks, P("rsa/peers/peer-a/sign.pem"), &err) ||
	    lt_jws_keyset_add_file(ks, P("ec/peers/peer-a/sign.pem"), &err) ||
	    lt_jws_keyset_add_file(ks, P("rsa/hostile/expired-sign.pem"), &err)) {
		fprintf(stderr, "keyset: %s\n", err.msg);
		return -1;
	}
	rs = signer("rsa/peers/peer-a/sign.key", "rsa/peers/peer-a/sign.pem", NULL);
	ps = signer("rsa/peers/peer-a/sign.key", "rsa/peers/peer-a/sign.pem", "PS256");
	es = signer("ec/peers/peer-a/sign.key", "ec/peers/peer-a/sign.pem", NULL);
	rsa_key = key("rsa/peers/peer-a/sign.key");
	ec_key = key("ec/peers/peer-a/sign.key");
	untrusted_key = key("rsa/hostile/untrusted-peer-sign.key");
	if (!rs || !ps || !es || !rsa_key || !ec_key || !untrusted_key)
		return -1;
	snprintf(rsa_kid, sizeof rsa_kid, "%s", lt_jws_signer_kid(rs));
	snprintf(ec_kid, sizeof ec_kid, "%s", lt_jws_signer_kid(es));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lt_jws_keyset_free(ks);
	lt_jws_signer_free(rs);
	lt_jws_signer_free(ps);
	lt_jws_signer_free(es);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(untrusted_key);
	return 0;
}

/* ---- round trips ------------------------------------------------------------ */

/* Sign, check the wire form (the header is exactly the documented JSON), verify, check info. */
static void round_trip(const struct lt_jws_signer *s, const char *alg, size_t sig_chars)
{
	struct lt_jws_info info;
	char *sig = sign_with(s, BODY, "msg-2025-0001");
	const char *hj = header(alg, lt_jws_signer_kid(s), now, "msg-2025-0001");
	char *h = b64u(hj, strlen(hj));
	const char *dots = strstr(sig, "..");

	assert_non_null(dots);
	assert_int_equal(dots - sig, strlen(h));
	assert_memory_equal(sig, h, strlen(h));
	assert_int_equal(strlen(dots + 2), sig_chars);
	expect_ok(sig, BODY, &info);
	assert_string_equal(info.alg, alg);
	assert_string_equal(info.kid, lt_jws_signer_kid(s));
	assert_int_equal(info.iat, now);
	assert_string_equal(info.jti, "msg-2025-0001");
	assert_string_equal(info.signer_cn, "peer-a-signing");
	free(h);
	free(sig);
}

static void test_rs256_signature_round_trips(void **state)
{
	(void)state;
	round_trip(rs, "RS256", 342); /* 256 bytes */
}

static void test_ps256_signature_round_trips(void **state)
{
	(void)state;
	round_trip(ps, "PS256", 342);
}

static void test_es256_signature_is_64_byte_jose_form_and_round_trips(void **state)
{
	(void)state;
	round_trip(es, "ES256", 86); /* 64 bytes: r||s, not DER */
}

static void test_independently_forged_valid_signatures_verify(void **state)
{
	(void)state;
	struct lt_jws_info info;
	char *a = forge(header("RS256", rsa_kid, now, "m1"), RS256, rsa_key, NULL, 0, BODY);
	char *b = forge(header("PS256", rsa_kid, now, "m2"), PS256, rsa_key, NULL, 0, BODY);
	char *c = forge(header("ES256", ec_kid, now, "m3"), ES256, ec_key, NULL, 0, BODY);
	expect_ok(a, BODY, &info);
	expect_ok(b, BODY, &info);
	expect_ok(c, BODY, &info);
	assert_string_equal(info.jti, "m3");
	free(a);
	free(b);
	free(c);
}

static void test_every_body_size_round_trips(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 2, 3, 4, 3071, 3072, 3073, 6145, 100001 };
	unsigned char *b = malloc(100001);
	for (size_t i = 0; i < 100001; i++)
		b[i] = (unsigned char)(i * 131 + 7);
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		char *sig = sign_with(i % 2 ? es : rs, b, sizes[i], "sized");
		char *ind = forge(header("RS256", rsa_kid, now, "sized"), RS256, rsa_key, NULL, 0, b, sizes[i]);
		expect_ok(sig, b, sizes[i], NULL);
		expect_ok(ind, b, sizes[i], NULL); /* the body's base64url agrees with OpenSSL's */
		free(ind);
		if (sizes[i])
			expect_refused(sig, b, sizes[i] - 1, "bad signature");
		free(sig);
	}
	free(b);
}

static void test_default_alg_follows_key_type(void **state)
{
	(void)state;
	assert_string_equal(lt_jws_signer_alg(rs), "RS256");
	assert_string_equal(lt_jws_signer_alg(ps), "PS256");
	assert_string_equal(lt_jws_signer_alg(es), "ES256");
	assert_int_equal(strlen(lt_jws_signer_kid(rs)), 43);
}

static void test_signer_refuses_key_that_does_not_match_certificate(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	assert_null(lt_jws_signer_new(P("rsa/peers/peer-a/sign.key"), P("rsa/peers/peer-b/sign.pem"),
				      NULL, NULL, &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_non_null(strstr(err.msg, "does not match"));
}

static void test_signer_refuses_alg_that_does_not_fit_key(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	static const char *const bad[][3] = {
		{ "ec/peers/peer-a/sign.key", "ec/peers/peer-a/sign.pem", "RS256" },
		{ "ec/peers/peer-a/sign.key", "ec/peers/peer-a/sign.pem", "PS256" },
		{ "rsa/peers/peer-a/sign.key", "rsa/peers/peer-a/sign.pem", "ES256" },
		{ "rsa/peers/peer-a/sign.key", "rsa/peers/peer-a/sign.pem", "HS256" },
		{ "rsa/peers/peer-a/sign.key", "rsa/peers/peer-a/sign.pem", "none" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_null(lt_jws_signer_new(P(bad[i][0]), P(bad[i][1]), NULL, bad[i][2], &err));
		assert_int_equal(err.code, LT_ECONFIG);
	}
}

static void test_sign_refuses_empty_or_overlong_message_id(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	char *out = NULL, jti[140];
	memset(jti, 'x', 129);
	jti[129] = 0;
	assert_int_equal(lt_jws_sign(rs, BODY, "", now, &out, &err), LT_EINVAL);
	assert_int_equal(lt_jws_sign(rs, BODY, jti, now, &out, &err), LT_EINVAL);
	assert_int_equal(lt_jws_sign(rs, BODY, "has space", now, &out, &err), LT_EINVAL);
	assert_null(out);
}

/* ---- key material --------------------------------------------------------------- */

static void test_key_file_readable_by_others_is_refused(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	size_t n;
	char path[32], *pem = tu_slurp(P("rsa/peers/peer-a/sign.key"), &n);
	tu_tmpfile_with(pem, n, 0644, path);

	assert_null(lt_key_load(path, NULL, &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "readable by others (mode 0644); chmod 600 it"));
	assert_null(strstr(err.msg, "PRIVATE"));
	assert_null(lt_jws_signer_new(path, P("rsa/peers/peer-a/sign.pem"), NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "readable by others"));

	chmod(path, 0640);
	assert_null(lt_key_load(path, NULL, &err));
	chmod(path, 0600);
	tu_assert_key_file_is(path, NULL, rsa_key);
	free(pem);
}

static void test_pkcs12_key_and_cert_load_with_password_file(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	struct lt_jws_info info;
	char pw[32];
	tu_tmpfile_with("changeit\n", 9, 0600, pw);

	EVP_PKEY *k = lt_key_load(P("ec/peers/peer-a/sign.p12"), pw, &err);
	X509 *c = lt_cert_load(P("ec/peers/peer-a/sign.p12"), pw, &err);
	assert_non_null(k);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_eq(k, ec_key), 1);
	char kid[LT_KID_MAX];
	lt_cert_kid(c, kid);
	assert_string_equal(kid, ec_kid);

	struct lt_jws_signer *s = lt_jws_signer_new(P("rsa/peers/peer-a/sign.p12"),
						    P("rsa/peers/peer-a/sign.p12"), pw, "PS256", &err);
	assert_non_null(s);
	char *sig = sign_with(s, BODY, "from-p12");
	expect_ok(sig, BODY, &info);
	assert_string_equal(info.kid, rsa_kid);
	free(sig);
	lt_jws_signer_free(s);
	EVP_PKEY_free(k);
	X509_free(c);
	unlink(pw);
}

/* A self-signed certificate for key k, PEM-appended to bio. */
static void add_self_signed(BIO *bio, EVP_PKEY *k)
{
	X509 *c = X509_new();
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 7);
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC, (unsigned char *)"weak", -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(c));
	X509_set_pubkey(c, k);
	assert_true(X509_sign(c, k, EVP_sha256()) > 0);
	PEM_write_bio_X509(bio, c);
	X509_free(c);
}

static void test_keyset_refuses_weak_or_unsupported_keys_all_or_nothing(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	EVP_PKEY *weak[2] = { EVP_RSA_gen(1024), EVP_EC_gen("P-384") };
	struct lt_jws_keyset *set = lt_jws_keyset_new();
	for (int i = 0; i < 2; i++) {
		BIO *mem = BIO_new(BIO_s_mem());
		char path[32], *pem;
		size_t good;
		char *g = tu_slurp(P("rsa/peers/peer-b/sign.pem"), &good);
		BIO_write(mem, g, (int)good);
		free(g);
		add_self_signed(mem, weak[i]);
		long n = BIO_get_mem_data(mem, &pem);
		tu_tmpfile_with(pem, (size_t)n, 0644, path);
		BIO_free(mem);
		assert_int_equal(lt_jws_keyset_add_file(set, path, &err), LT_ECONFIG);
		assert_non_null(strstr(err.msg, i == 0 ? "1024 bits" : "P-256"));
		assert_non_null(strstr(err.msg, "CN=weak"));
		assert_int_equal(lt_jws_keyset_count(set), 0);
		unlink(path);
		EVP_PKEY_free(weak[i]);
	}
	/* a chain file's CA certificate is not a key; the leaf in it is the same as sign.pem */
	assert_int_equal(lt_jws_keyset_add_file(set, P("rsa/peers/peer-b/sign-chain.pem"), &err), 0);
	assert_int_equal(lt_jws_keyset_add_file(set, P("rsa/peers/peer-b/sign.pem"), &err), 0);
	assert_int_equal(lt_jws_keyset_count(set), 1);
	lt_jws_keyset_free(set);
}

/* ---- hostile corpus --------------------------------------------------------------- */

static void test_missing_signature_is_refused(void **state)
{
	(void)state;
	expect_refused(NULL, BODY, "no signature");
	expect_refused("", BODY, "no signature");
}

static void test_tampered_body_is_bad_signature(void **state)
{
	(void)state;
	char *sig = sign_with(rs, BODY, "m-tamper");
	char copy[sizeof body];
	memcpy(copy, body, sizeof body);
	copy[20] ^= 1;
	expect_refused(sig, copy, strlen(copy), "bad signature");
	expect_refused(sig, body, strlen(body) - 1, "bad signature");
	free(sig);
	sig = sign_with(es, BODY, "m-tamper");
	expect_refused(sig, copy, strlen(copy), "bad signature");
	free(sig);
}

static void test_tampered_header_iat_is_bad_signature(void **state)
{
	(void)state;
	char *sig = sign_with(rs, BODY, "m-iat"), forged[2048];
	const char *hj = header("RS256", rsa_kid, now + 1, "m-iat");
	char *h = b64u(hj, strlen(hj));
	snprintf(forged, sizeof forged, "%s%s", h, strstr(sig, ".."));
	expect_refused(forged, BODY, "bad signature");
	free(h);
	free(sig);
}

static void test_untrusted_key_with_its_own_kid_is_unknown_key(void **state)
{
	(void)state;
	struct lt_jws_signer *u = signer("rsa/hostile/untrusted-peer-sign.key",
					 "rsa/hostile/untrusted-peer-sign.pem", NULL);
	assert_non_null(u);
	char *sig = sign_with(u, BODY, "m-untrusted");
	char words[80];
	snprintf(words, sizeof words, "unknown key: %s", lt_jws_signer_kid(u));
	expect_refused(sig, BODY, words);
	free(sig);
	lt_jws_signer_free(u);
}

static void test_untrusted_key_claiming_trusted_kid_is_bad_signature(void **state)
{
	(void)state;
	char *sig = forge(header("RS256", rsa_kid, now, "m-forged"), RS256, untrusted_key, NULL, 0, BODY);
	expect_refused(sig, BODY, "bad signature");
	free(sig);
	sig = forge(header("PS256", rsa_kid, now, "m-forged"), PS256, untrusted_key, NULL, 0, BODY);
	expect_refused(sig, BODY, "bad signature");
	free(sig);
}

static void test_alg_none_is_not_allowed(void **state)
{
	(void)state;
	char *sig = forge(header("none", rsa_kid, now, "m-none"), NONE, NULL, NULL, 0, BODY);
	assert_int_equal(sig[strlen(sig) - 1], '.');
	expect_refused(sig, BODY, "algorithm not allowed: none");
	free(sig);
}

static void test_hs256_with_public_key_as_secret_is_not_allowed(void **state)
{
	(void)state;
	size_t n;
	char *pem = tu_slurp(P("rsa/peers/peer-a/sign.pem"), &n);
	char *sig = forge(header("HS256", rsa_kid, now, "m-hs"), HS256, NULL, pem, n, BODY);
	expect_refused(sig, BODY, "algorithm not allowed: HS256");
	free(sig);
	free(pem);
}

static void test_other_algorithms_and_case_variants_are_not_allowed(void **state)
{
	(void)state;
	static const char *const algs[] = { "rs256", "Rs256", "es256", "ps256", "RS512", "ES384",
					    "PS384", "HS512", "EdDSA", "NONE", "", "RS256 " };
	for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
		char *sig = forge(header(algs[i], rsa_kid, now, "m-alg"), RS256, rsa_key, NULL, 0, BODY);
		expect_refused(sig, BODY, "algorithm not allowed");
		free(sig);
	}
	char hj[256];
	snprintf(hj, sizeof hj, "{\"kid\":\"%s\",\"iat\":%lld,\"jti\":\"x\"}", rsa_kid, (long long)now);
	char *sig = forge(hj, RS256, rsa_key, NULL, 0, BODY);
	expect_refused(sig, BODY, "algorithm not allowed");
	free(sig);
}

static void test_crit_header_is_not_supported(void **state)
{
	(void)state;
	char hj[256];
	snprintf(hj, sizeof hj, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"iat\":%lld,\"jti\":\"m\","
		 "\"b64\":false,\"crit\":[\"b64\"]}", rsa_kid, (long long)now);
	char *sig = forge(hj, RS256, rsa_key, NULL, 0, BODY);
	expect_refused(sig, BODY, "crit not supported");
	free(sig);
}

static void test_missing_or_mistyped_kid_iat_jti_are_refused(void **state)
{
	(void)state;
	char kid[80], iat[40], longjti[140];
	snprintf(kid, sizeof kid, "\"%s\"", rsa_kid);
	snprintf(iat, sizeof iat, "%lld", (long long)now);
	memset(longjti, 'j', 131);
	longjti[0] = longjti[130] = '"';
	longjti[131] = 0; /* a 129-character string */
	/* kid, iat, jti as JSON text (NULL: absent) and the words expected */
	const char *const cases[][4] = {
		{ NULL, iat, "\"m\"", "missing kid" },
		{ "7", iat, "\"m\"", "missing kid" },
		{ "\"\"", iat, "\"m\"", "missing kid" },
		{ kid, NULL, "\"m\"", "missing iat" },
		{ kid, "\"1700000000\"", "\"m\"", "missing iat" },
		{ kid, "1700000000.5", "\"m\"", "missing iat" },
		{ kid, iat, NULL, "missing jti" },
		{ kid, iat, "\"\"", "missing jti" },
		{ kid, iat, "42", "missing jti" },
		{ kid, iat, longjti, "missing jti" },
		{ kid, iat, "\"a\\nb\"", "missing jti" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char hj[512];
		int n = snprintf(hj, sizeof hj, "{\"alg\":\"RS256\"");
		static const char *const names[] = { "kid", "iat", "jti" };
		for (int f = 0; f < 3; f++)
			if (cases[i][f])
				n += snprintf(hj + n, sizeof hj - (size_t)n, ",\"%s\":%s", names[f], cases[i][f]);
		snprintf(hj + n, sizeof hj - (size_t)n, "}");
		char *sig = forge(hj, RS256, rsa_key, NULL, 0, BODY);
		expect_refused(sig, BODY, cases[i][3]);
		free(sig);
	}
}

static void test_key_type_that_does_not_match_algorithm_is_refused(void **state)
{
	(void)state;
	char *a = forge(header("ES256", rsa_kid, now, "m"), ES256, ec_key, NULL, 0, BODY);
	char *b = forge(header("RS256", ec_kid, now, "m"), RS256, rsa_key, NULL, 0, BODY);
	char *c = forge(header("PS256", ec_kid, now, "m"), PS256, rsa_key, NULL, 0, BODY);
	expect_refused(a, BODY, "key type does not match algorithm");
	expect_refused(b, BODY, "key type does not match algorithm");
	expect_refused(c, BODY, "key type does not match algorithm");
	free(a);
	free(b);
	free(c);
}

static void test_expired_or_not_yet_valid_certificate_is_refused(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	struct tm tm;
	struct lt_jws_signer *x = signer("rsa/hostile/expired-sign.key", "rsa/hostile/expired-sign.pem", NULL);
	assert_non_null(x);
	char *sig = sign_with(x, BODY, "m-expired");
	expect_refused(sig, BODY, "certificate expired");
	/* the same signature verifies inside the certificate's validity: only the date is wrong */
	X509 *c = lt_cert_load(P("rsa/hostile/expired-sign.pem"), NULL, &err);
	ASN1_TIME_to_tm(X509_get0_notAfter(c), &tm);
	assert_int_equal(lt_jws_verify(ks, sig, BODY, (int64_t)timegm(&tm) - 60, NULL, &err), 0);
	free(sig);
	X509_free(c);
	lt_jws_signer_free(x);

	sig = sign_with(rs, BODY, "m-early");
	expect_refused_at(sig, BODY, now - 3650LL * 86400, "certificate not yet valid");
	free(sig);
}

static void test_es256_der_signature_is_bad_signature(void **state)
{
	(void)state;
	char *sig = forge(header("ES256", ec_kid, now, "m-der"), ES256_DER, ec_key, NULL, 0, BODY);
	expect_refused(sig, BODY, "bad signature");
	free(sig);
	/* raw r||s of the wrong length (66 and 63 bytes), and r = s = 0 */
	char *good = forge(header("ES256", ec_kid, now, "m-len"), ES256, ec_key, NULL, 0, BODY);
	char *dots = strstr(good, ".."), zeros[87];
	memset(zeros, 'A', 86);
	zeros[86] = 0;
	const char *const tails[][2] = { { dots + 2, "AAAA" }, { dots + 2, "" }, { zeros, "" } };
	for (int i = 0; i < 3; i++) {
		char buf[512];
		snprintf(buf, sizeof buf, "%.*s..%.*s%s", (int)(dots - good), good, i == 2 ? 86 : 84,
			 tails[i][0], tails[i][1]);
		expect_refused(buf, BODY, "bad signature");
	}
	free(good);
}

static void test_garbage_is_malformed_signature(void **state)
{
	(void)state;
	static const char *const garbage[] = {
		"abc", "a.b.c", "a...b", "..", "..AAAA", ".AAAA", "!!!!..AAAA", "eyJhbGciOiJSUzI1NiJ9=..AAAA",
		"eyJhbGciOiJSUzI1NiJ9..AA==", "eyJhbGciOiJSUzI1NiJ9..A", "eyJhbGciOiJSUzI1NiJ9..AB",
		"bm90IGpzb24..AAAA", /* "not json" */
		"WzFd..AAAA",        /* [1] */
		"IjEi..AAAA",        /* "1" */
		"eyJhbGciOiJSUzI1NiJ9 ..AAAA", "eyJhbGciOiJSUzI1NiJ9..AA AA", "eyJhbGciOiJSUzI1NiJ9..AAAA.",
	};
	for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++)
		expect_refused(garbage[i], BODY, "malformed signature");
}

static void test_huge_header_is_malformed_signature(void **state)
{
	(void)state;
	char *huge = malloc(100000);
	memset(huge, 'A', 99990);
	strcpy(huge + 99990, "..AAAA");
	expect_refused(huge, BODY, "malformed signature");
	strcpy(huge + LT_JWS_MAX_HEADER - 5, "..AAAA"); /* 8193 bytes */
	expect_refused(huge, BODY, "malformed signature");
	free(huge);
}

static void test_duplicate_header_key_is_malformed_signature(void **state)
{
	(void)state;
	char hj[256];
	snprintf(hj, sizeof hj, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"iat\":%lld,\"jti\":\"m\",\"alg\":\"none\"}",
		 rsa_kid, (long long)now);
	char *sig = forge(hj, RS256, rsa_key, NULL, 0, BODY);
	expect_refused(sig, BODY, "malformed signature");
	free(sig);
}

/* ---- threads ------------------------------------------------------------------- */

struct worker { char *sigs[3]; int ok; };

static void *verify_many(void *arg)
{
	struct worker *w = arg;
	struct lt_err err;
	struct lt_jws_info info;
	for (int i = 0; i < 1000; i++) {
		if (lt_jws_verify(ks, w->sigs[i % 3], BODY, now, &info, &err) == 0 &&
		    strcmp(info.jti, i % 3 == 2 ? "m-es" : "m-rsa") == 0)
			w->ok++;
		if (i % 100 == 0) { /* signing shares its signer across threads too */
			char *s = NULL;
			if (lt_jws_sign(i % 200 ? es : rs, BODY, "m-thread", now, &s, &err) == 0 &&
			    lt_jws_verify(ks, s, BODY, now, NULL, &err) == 0)
				w->ok++;
			free(s);
		}
	}
	return NULL;
}

static void test_four_threads_verify_concurrently(void **state)
{
	(void)state;
	pthread_t t[4];
	struct worker w[4];
	char *sigs[3] = { sign_with(rs, BODY, "m-rsa"), sign_with(ps, BODY, "m-rsa"), sign_with(es, BODY, "m-es") };
	for (int i = 0; i < 4; i++) {
		memcpy(w[i].sigs, sigs, sizeof sigs);
		w[i].ok = 0;
		assert_int_equal(pthread_create(&t[i], NULL, verify_many, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 1000 + 10);
	}
	for (int i = 0; i < 3; i++)
		free(sigs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rs256_signature_round_trips),
		cmocka_unit_test(test_ps256_signature_round_trips),
		cmocka_unit_test(test_es256_signature_is_64_byte_jose_form_and_round_trips),
		cmocka_unit_test(test_independently_forged_valid_signatures_verify),
		cmocka_unit_test(test_every_body_size_round_trips),
		cmocka_unit_test(test_default_alg_follows_key_type),
		cmocka_unit_test(test_signer_refuses_key_that_does_not_match_certificate),
		cmocka_unit_test(test_signer_refuses_alg_that_does_not_fit_key),
		cmocka_unit_test(test_sign_refuses_empty_or_overlong_message_id),
		cmocka_unit_test(test_key_file_readable_by_others_is_refused),
		cmocka_unit_test(test_pkcs12_key_and_cert_load_with_password_file),
		cmocka_unit_test(test_keyset_refuses_weak_or_unsupported_keys_all_or_nothing),
		cmocka_unit_test(test_missing_signature_is_refused),
		cmocka_unit_test(test_tampered_body_is_bad_signature),
		cmocka_unit_test(test_tampered_header_iat_is_bad_signature),
		cmocka_unit_test(test_untrusted_key_with_its_own_kid_is_unknown_key),
		cmocka_unit_test(test_untrusted_key_claiming_trusted_kid_is_bad_signature),
		cmocka_unit_test(test_alg_none_is_not_allowed),
		cmocka_unit_test(test_hs256_with_public_key_as_secret_is_not_allowed),
		cmocka_unit_test(test_other_algorithms_and_case_variants_are_not_allowed),
		cmocka_unit_test(test_crit_header_is_not_supported),
		cmocka_unit_test(test_missing_or_mistyped_kid_iat_jti_are_refused),
		cmocka_unit_test(test_key_type_that_does_not_match_algorithm_is_refused),
		cmocka_unit_test(test_expired_or_not_yet_valid_certificate_is_refused),
		cmocka_unit_test(test_es256_der_signature_is_bad_signature),
		cmocka_unit_test(test_garbage_is_malformed_signature),
		cmocka_unit_test(test_huge_header_is_malformed_signature),
		cmocka_unit_test(test_duplicate_header_key_is_malformed_signature),
		cmocka_unit_test(test_four_threads_verify_concurrently),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
