/* test_keys.c — loading keys and certificates (gateway/keys.c).
 *
 * Uses the dev PKI made by certs/gen-dev-pki.sh, found at $LT_TEST_PKI
 * (default build/certs, made by `make certs`). The signing paths built on
 * these (PKCS#12 signer, mode 0644 refusal) are in test_sign_jws.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keys.h"
#include "testutil.h"

static const char *pki;

static const char *P(const char *rel)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", pki, rel);
	return buf[i];
}

static int setup(void **state)
{
	char manifest[600];
	(void)state;
	pki = getenv("LT_TEST_PKI") ? getenv("LT_TEST_PKI") : "build/certs";
	snprintf(manifest, sizeof manifest, "%s/manifest.json", pki);
	if (access(manifest, R_OK) != 0) {
		fprintf(stderr, "dev PKI not found (%s): run `make certs` from the repository root, "
			"or set LT_TEST_PKI to a directory made by certs/gen-dev-pki.sh\n", manifest);
		return -1;
	}
	return 0;
}

static void test_missing_key_file_is_not_found(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	assert_null(lt_key_load("/nonexistent/lt-sign.key", NULL, &err));
	assert_int_equal(err.code, LT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/lt-sign.key"));
}

static void test_pem_key_in_pkcs8_form_loads(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	EVP_PKEY *k = lt_key_load(P("ec/gateway/sign.key"), NULL, &err);
	X509 *c = lt_cert_load(P("ec/gateway/sign.pem"), NULL, &err);
	assert_non_null(k);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_eq(k, X509_get0_pubkey(c)), 1);
	EVP_PKEY_free(k);
	X509_free(c);
}

static void test_pkcs12_with_wrong_or_no_password_is_refused(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	char pw[32];
	tu_tmpfile_with("wrong\n", 6, 0600, pw);
	assert_null(lt_key_load(P("rsa/gateway/sign.p12"), pw, &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_non_null(strstr(err.msg, "wrong password"));
	assert_null(lt_key_load(P("rsa/gateway/sign.p12"), NULL, &err));
	assert_non_null(strstr(err.msg, "needs a password file"));
	unlink(pw);
}

static void test_password_file_readable_by_others_is_refused(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	char pw[32];
	tu_tmpfile_with("changeit\n", 9, 0644, pw);
	assert_null(lt_key_load(P("rsa/gateway/sign.p12"), pw, &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_non_null(strstr(err.msg, "password file"));
	assert_non_null(strstr(err.msg, "readable by others (mode 0644)"));
	assert_null(strstr(err.msg, "changeit"));
	unlink(pw);
}

static void test_encrypted_pem_key_needs_its_password_file(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	char path[32], pw[32], *pem;
	EVP_PKEY *plain = lt_key_load(P("ec/peers/peer-b/sign.key"), NULL, &err);
	BIO *mem = BIO_new(BIO_s_mem());
	assert_non_null(plain);
	assert_int_equal(PEM_write_bio_PrivateKey(mem, plain, EVP_aes_256_cbc(), NULL, 0, NULL, "s3cret"), 1);
	long n = BIO_get_mem_data(mem, &pem);
	tu_tmpfile_with(pem, (size_t)n, 0600, path);
	tu_tmpfile_with("s3cret\r\n", 8, 0600, pw);
	BIO_free(mem);

	assert_null(lt_key_load(path, NULL, &err));
	assert_non_null(strstr(err.msg, "encrypted and no password file"));
	tu_assert_key_file_is(path, pw, plain);
	EVP_PKEY_free(plain);
}

static void test_certificate_file_is_not_a_key(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	char path[32];
	FILE *f = fopen(P("rsa/peers/peer-a/sign.pem"), "rb");
	char buf[8192];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	tu_tmpfile_with(buf, n, 0600, path);
	assert_null(lt_key_load(path, NULL, &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_non_null(strstr(err.msg, "holds no PEM private key"));
	unlink(path);
}

static void test_kid_is_base64url_sha256_of_certificate_der(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	X509 *c = lt_cert_load(P("rsa/peers/peer-a/sign.pem"), NULL, &err);
	unsigned char *der = NULL, md[32], b64[64];
	char kid[LT_KID_MAX], want[64];
	int n = i2d_X509(c, &der), o = 0;
	EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL);
	n = EVP_EncodeBlock(b64, md, 32);
	for (int i = 0; i < n && b64[i] != '='; i++)
		want[o++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	want[o] = 0;
	lt_cert_kid(c, kid);
	assert_int_equal(strlen(kid), 43);
	assert_string_equal(kid, want);
	OPENSSL_free(der);
	X509_free(c);
}

static void test_cert_cn_and_days_left(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	char cn[128];
	X509 *gw = lt_cert_load(P("rsa/gateway/sign.pem"), NULL, &err);
	X509 *old = lt_cert_load(P("ec/hostile/expired-sign.pem"), NULL, &err);
	X509 *soon = lt_cert_load(P("ec/hostile/expiring-soon-sign.pem"), NULL, &err);
	assert_true(gw && old && soon);
	lt_cert_cn(gw, cn, sizeof cn);
	assert_string_equal(cn, "lienthong-gateway-signing");
	lt_cert_cn(gw, cn, 5);
	assert_string_equal(cn, "lien");
	assert_in_range(lt_cert_days_left(gw), 700, 825);
	assert_true(lt_cert_days_left(old) < 0 && lt_cert_days_left(old) >= -11);
	assert_in_range(lt_cert_days_left(soon), 4, 10);
	X509_free(gw);
	X509_free(old);
	X509_free(soon);
}

static void test_cert_of_a_pkcs12_is_its_leaf(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	char pw[32], cn[128];
	tu_tmpfile_with("changeit", 8, 0600, pw);
	X509 *c = lt_cert_load(P("rsa/peers/peer-c/tls.p12"), pw, &err);
	assert_non_null(c);
	lt_cert_cn(c, cn, sizeof cn);
	assert_string_equal(cn, "peer-c");
	X509_free(c);
	unlink(pw);
}

static void test_certs_load_reads_every_certificate_of_a_bundle(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	STACK_OF(X509) *sk = lt_certs_load(P("rsa/trust.pem"), &err);
	assert_non_null(sk);
	assert_int_equal(sk_X509_num(sk), 2);
	sk_X509_pop_free(sk, X509_free);
	assert_null(lt_certs_load(P("manifest.json"), &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_null(lt_certs_load("/nonexistent/bundle.pem", &err));
	assert_int_equal(err.code, LT_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_key_file_is_not_found),
		cmocka_unit_test(test_pem_key_in_pkcs8_form_loads),
		cmocka_unit_test(test_pkcs12_with_wrong_or_no_password_is_refused),
		cmocka_unit_test(test_password_file_readable_by_others_is_refused),
		cmocka_unit_test(test_encrypted_pem_key_needs_its_password_file),
		cmocka_unit_test(test_certificate_file_is_not_a_key),
		cmocka_unit_test(test_kid_is_base64url_sha256_of_certificate_der),
		cmocka_unit_test(test_cert_cn_and_days_left),
		cmocka_unit_test(test_cert_of_a_pkcs12_is_its_leaf),
		cmocka_unit_test(test_certs_load_reads_every_certificate_of_a_bundle),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
