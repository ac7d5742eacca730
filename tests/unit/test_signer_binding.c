/* test_signer_binding.c — who may sign for a peer (keys.c lt_cert_may_sign, the binding of
 * an XML trust and a JWS keyset to one peer, the gateway's own certificates refused).
 *
 * Needs the development PKI (make certs). Certificates with other key usages are issued
 * here by the PKI's own issuing CA, so only the usage differs from a good one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "keys.h"
#include "sign_jws.h"
#include "fixture_xmldsig.h"

/* ---- certificates made for a case ------------------------------------------------ */

/* A leaf issued by the RSA issuing CA for key, with subject CNs cns (NULL-ended) and the
 * given keyUsage / extendedKeyUsage values (NULL: no such extension). Caller frees. */
static X509 *issue(EVP_PKEY *key, const char *const *cns, const char *ku, const char *eku)
{
	struct lt_err err = { 0 };
	EVP_PKEY *ca_key = lt_key_load(path("rsa/issuing-ca.key"), NULL, &err);
	X509 *ca = lt_cert_load(path("rsa/issuing-ca.pem"), NULL, &err), *c = X509_new();
	assert_non_null(ca_key);
	assert_non_null(ca);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 4242);
	X509_gmtime_adj(X509_getm_notBefore(c), -60);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	for (; *cns; cns++)
		X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
					   (const unsigned char *)*cns, -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(ca));
	X509_set_pubkey(c, key);
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ca, c, NULL, NULL, 0);
	const struct { int nid; const char *value; } exts[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" }, { NID_key_usage, ku }, { NID_ext_key_usage, eku },
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		if (!exts[i].value)
			continue;
		X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, exts[i].nid, exts[i].value);
		assert_non_null(ex);
		X509_add_ext(c, ex, -1);
		X509_EXTENSION_free(ex);
	}
	assert_true(X509_sign(c, ca_key, EVP_sha256()) > 0);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return c;
}

/* cert written as PEM to a fresh temporary file; its path into out. */
static void cert_file(X509 *cert, char out[32])
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *pem;
	PEM_write_bio_X509(mem, cert);
	long n = BIO_get_mem_data(mem, &pem);
	tu_tmpfile_with(pem, (size_t)n, 0644, out);
	BIO_free(mem);
}

static X509 *pki_cert(const char *rel)
{
	struct lt_err err = { 0 };
	X509 *c = lt_cert_load(path(rel), NULL, &err);
	if (!c)
		fail_msg("%s: %s", rel, err.msg);
	return c;
}

static void assert_may_sign(X509 *c, int want, const char *words)
{
	char why[160] = "";
	assert_int_equal(lt_cert_may_sign(c, why, sizeof why), want);
	if (words && !strstr(why, words))
		fail_msg("reason \"%s\" lacks \"%s\"", why, words);
}

/* assert_verifies, then free xml. */
static void assert_verifies_and_free(const struct lt_xml_trust *t, char *xml, const char *cn)
{
	assert_verifies(t, xml, cn);
	free(xml);
}

/* ---- what may sign ----------------------------------------------------------------- */

static void test_dev_pki_signing_certificates_may_sign_and_tls_and_ca_ones_may_not(void **state)
{
	(void)state;
	const char *cases[][3] = {
		{ "rsa/peers/hotich-tinh/sign.pem", "1", NULL },
		{ "ec/gateway/sign.pem", "1", NULL },
		{ "rsa/peers/hotich-tinh/tls.pem", "0", "TLS certificate" },
		{ "ec/gateway/tls.pem", "0", "TLS certificate" },
		{ "rsa/issuing-ca.pem", "0", "CA certificate" },
		{ "rsa/root-ca.pem", "0", "CA certificate" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		X509 *c = pki_cert(cases[i][0]);
		assert_may_sign(c, cases[i][1][0] == '1', cases[i][2]);
		X509_free(c);
	}
}

static void test_key_usage_and_extended_key_usage_decide_who_may_sign(void **state)
{
	(void)state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	const char *cn[] = { "usage-case", NULL };
	const struct { const char *ku, *eku; int want; const char *words; } cases[] = {
		{ "critical,nonRepudiation", NULL, 1, NULL },
		{ "critical,digitalSignature", "emailProtection", 1, NULL },
		{ "critical,digitalSignature", "serverAuth,emailProtection", 1, NULL },
		{ "critical,digitalSignature", "1.3.6.1.5.5.7.3.36", 1, NULL },   /* documentSigning */
		{ "critical,digitalSignature", "serverAuth", 0, "TLS certificate" },
		{ "critical,digitalSignature", "clientAuth", 0, "TLS certificate" },
		{ "critical,digitalSignature,keyEncipherment", "serverAuth,clientAuth", 0, "TLS certificate" },
		{ "critical,keyEncipherment", NULL, 0, "neither digitalSignature nor nonRepudiation" },
		{ "critical,keyAgreement", "emailProtection", 0, "neither digitalSignature nor nonRepudiation" },
		{ NULL, NULL, 0, "without key usage" },
		{ NULL, "emailProtection", 0, "without key usage" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		X509 *c = issue(k, cn, cases[i].ku, cases[i].eku);
		assert_may_sign(c, cases[i].want, cases[i].words);
		X509_free(c);
	}
	EVP_PKEY_free(k);
}

/* ---- XML-DSig ------------------------------------------------------------------------ */

static struct lt_xml_trust *bound_trust(const char *pins, const char *signer_cn, const struct lt_own_certs *own)
{
	struct lt_err err = { 0 };
	struct lt_xml_trust *t = lt_xml_trust_new(path("rsa/trust.pem"), pins ? path(pins) : NULL, &err);
	if (!t || lt_xml_trust_bind(t, "hotich-tinh", signer_cn, own, &err))
		fail_msg("trust: %s", err.msg);
	return t;
}

static void test_xml_signed_with_a_tls_key_is_refused_whatever_the_trust(void **state)
{
	(void)state;
	struct lt_xml_signer *tls = signer_of("rsa/peers/hotich-tinh/tls");
	struct lt_xml_trust *bound = bound_trust(NULL, "hotich-tinh", NULL);
	assert_refused(rsa_trust, sign_with(tls, DOC), "TLS certificate");
	/* even a signer rule naming the TLS certificate's own subject */
	assert_refused(bound, sign_with(tls, DOC), "signer certificate not accepted for peer hotich-tinh: "
		       "CN=hotich-tinh is a TLS certificate");
	lt_xml_trust_free(bound);
	lt_xml_signer_free(tls);
}

static void test_xml_trust_bound_to_keys_refuses_another_peers_signing_key(void **state)
{
	(void)state;
	struct lt_xml_trust *t = bound_trust("rsa/peers/hotich-tinh/sign-chain.pem", NULL, NULL);
	struct lt_xml_signer *own = signer_of("rsa/peers/hotich-tinh/sign");
	struct lt_xml_signer *other = signer_of("rsa/peers/peer-a/sign");
	assert_verifies_and_free(t, sign_with(own, DOC), "hotich-tinh-signing");
	assert_refused(t, sign_with(other, DOC), "signer certificate not accepted for peer hotich-tinh: "
		       "CN=peer-a-signing is not one of its keys");
	lt_xml_signer_free(own);
	lt_xml_signer_free(other);
	lt_xml_trust_free(t);
}

static void test_xml_trust_bound_to_a_signer_accepts_only_that_subject(void **state)
{
	(void)state;
	struct lt_xml_trust *t = bound_trust(NULL, "hotich-tinh-signing", NULL);
	struct lt_xml_signer *own = signer_of("rsa/peers/hotich-tinh/sign");
	struct lt_xml_signer *other = signer_of("rsa/peers/peer-a/sign");
	assert_verifies_and_free(t, sign_with(own, DOC), "hotich-tinh-signing");
	assert_refused(t, sign_with(other, DOC), "CN=peer-a-signing is not its signer (signer = CN=hotich-tinh-signing)");
	lt_xml_signer_free(own);
	lt_xml_signer_free(other);
	lt_xml_trust_free(t);
}

static void test_xml_signer_with_a_second_cn_does_not_match_the_signer_rule(void **state)
{
	(void)state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	const char *cns[] = { "hotich-tinh-signing", "somebody-else", NULL };
	X509 *c = issue(k, cns, "critical,digitalSignature,nonRepudiation", NULL);
	char cert[32], key[32];
	cert_file(c, cert);
	BIO *mem = BIO_new(BIO_s_mem());
	char *pem;
	PEM_write_bio_PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL);
	long n = BIO_get_mem_data(mem, &pem);
	tu_tmpfile_with(pem, (size_t)n, 0600, key);
	BIO_free(mem);
	struct lt_err err = { 0 };
	struct lt_xml_signer *s = lt_xml_signer_new(key, cert, NULL, &err);
	assert_non_null(s);
	struct lt_xml_trust *t = bound_trust(NULL, "hotich-tinh-signing", NULL);
	assert_refused(t, sign_with(s, DOC), "is not its signer");
	lt_xml_trust_free(t);
	lt_xml_signer_free(s);
	unlink(cert);
	unlink(key);
	X509_free(c);
	EVP_PKEY_free(k);
}

static void test_xml_trust_never_accepts_the_gateways_own_certificates(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	struct lt_own_certs own = { pki_cert("rsa/gateway/sign.pem"), pki_cert("rsa/gateway/tls.pem") };
	/* a signer rule naming the gateway's own signing certificate still refuses it */
	struct lt_xml_trust *t = bound_trust(NULL, "lienthong-gateway-signing", &own);
	assert_refused(t, sign_with(rsa_signer, DOC), "CN=lienthong-gateway-signing has the key of the "
		       "gateway's own signing certificate");
	lt_xml_trust_free(t);
	/* and pinning it as a peer's key is a configuration mistake */
	t = lt_xml_trust_new(path("rsa/trust.pem"), path("rsa/gateway/sign.pem"), &err);
	assert_non_null(t);
	assert_int_equal(lt_xml_trust_bind(t, "hotich-tinh", NULL, &own, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "gateway's own signing certificate"));
	lt_xml_trust_free(t);
	lt_own_certs_clear(&own);
}

static void test_xml_trust_with_neither_keys_nor_signer_cannot_be_bound(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	struct lt_xml_trust *t = lt_xml_trust_new(path("rsa/trust.pem"), NULL, &err);
	assert_int_equal(lt_xml_trust_bind(t, "hotich-tinh", NULL, NULL, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "peer hotich-tinh"));
	lt_xml_trust_free(t);
	/* no trust at all (a peer that sends nothing) refuses every document */
	assert_refused(NULL, sign_with(rsa_signer, DOC), "signer certificate not accepted");
}

static void test_xml_keys_file_holding_a_tls_certificate_is_refused(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	assert_null(lt_xml_trust_new(path("rsa/trust.pem"), path("rsa/peers/hotich-tinh/tls.pem"), &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_non_null(strstr(err.msg, "CN=hotich-tinh"));
	assert_non_null(strstr(err.msg, "TLS certificate"));
	assert_null(lt_xml_trust_new(path("rsa/trust.pem"), path("rsa/trust.pem"), &err));
	assert_non_null(strstr(err.msg, "only CA certificates"));
}

/* ---- JWS ------------------------------------------------------------------------------ */

static void test_jws_keys_file_holding_a_tls_certificate_is_refused(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	struct lt_jws_keyset *ks = lt_jws_keyset_new();
	assert_int_equal(lt_jws_keyset_add_file(ks, path("rsa/peers/peer-a/tls.pem"), &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "CN=peer-a"));
	assert_non_null(strstr(err.msg, "TLS certificate"));
	assert_int_equal(lt_jws_keyset_count(ks), 0);
	lt_jws_keyset_free(ks);
}

static void test_jws_keyset_never_holds_the_gateways_own_certificate(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	struct lt_own_certs own = { pki_cert("rsa/gateway/sign.pem"), pki_cert("rsa/gateway/tls.pem") };
	struct lt_jws_keyset *ks = lt_jws_keyset_new();
	assert_int_equal(lt_jws_keyset_bind(ks, "peer-a", &own, &err), 0);
	assert_int_equal(lt_jws_keyset_add_file(ks, path("rsa/gateway/sign.pem"), &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "gateway's own signing certificate"));
	assert_int_equal(lt_jws_keyset_add_file(ks, path("rsa/peers/peer-a/sign.pem"), &err), 0);
	assert_int_equal(lt_jws_keyset_count(ks), 1);
	lt_jws_keyset_free(ks);
	lt_own_certs_clear(&own);
}

static void test_jws_without_a_keyset_is_refused(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	assert_int_equal(lt_jws_verify(NULL, "e30..AA", "{}", 2, 0, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "signer certificate not accepted"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dev_pki_signing_certificates_may_sign_and_tls_and_ca_ones_may_not),
		cmocka_unit_test(test_key_usage_and_extended_key_usage_decide_who_may_sign),
		cmocka_unit_test(test_xml_signed_with_a_tls_key_is_refused_whatever_the_trust),
		cmocka_unit_test(test_xml_trust_bound_to_keys_refuses_another_peers_signing_key),
		cmocka_unit_test(test_xml_trust_bound_to_a_signer_accepts_only_that_subject),
		cmocka_unit_test(test_xml_signer_with_a_second_cn_does_not_match_the_signer_rule),
		cmocka_unit_test(test_xml_trust_never_accepts_the_gateways_own_certificates),
		cmocka_unit_test(test_xml_trust_with_neither_keys_nor_signer_cannot_be_bound),
		cmocka_unit_test(test_xml_keys_file_holding_a_tls_certificate_is_refused),
		cmocka_unit_test(test_jws_keys_file_holding_a_tls_certificate_is_refused),
		cmocka_unit_test(test_jws_keyset_never_holds_the_gateways_own_certificate),
		cmocka_unit_test(test_jws_without_a_keyset_is_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
