/* test_sign_xml.c — enveloped XML-DSig: signing, round trips, tampering and trust.
 * The hostile corpus (signature wrapping, off-profile algorithms, hostile XML) is in
 * test_verify_xml_hostile.c.
 *
 * Needs the development PKI: env LT_TEST_PKI, default build/certs ("make certs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "fixture_xmldsig.h"

/* ---- round trips ------------------------------------------------------- */

static void test_rsa_signed_document_verifies_and_names_the_signer(void **state)
{
	struct lt_err err = { 0 };
	struct lt_xml_info info;
	xmlDocPtr doc = NULL;
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	assert_int_equal(lt_xml_verify(rsa_trust, xml, strlen(xml), 0, &info, &doc, &err), 0);
	assert_string_equal(info.signer_cn, "lienthong-gateway-signing");
	X509 *cert = lt_cert_load(path("rsa/gateway/sign.pem"), NULL, &err);
	char kid[LT_KID_MAX];
	lt_cert_kid(cert, kid);
	X509_free(cert);
	assert_string_equal(info.signer_kid, kid);
	assert_int_equal(strlen(kid), 43);
	/* the caller gets the parsed document, content intact */
	assert_non_null(doc);
	xmlChar *name = xmlNodeGetContent(xmlLastElementChild(xmlDocGetRootElement(doc))->prev);
	assert_string_equal((char *)name, "Nguyễn Văn An");
	xmlFree(name);
	xmlFreeDoc(doc);
	free(xml);
}

static void test_ec_signed_document_verifies(void **state)
{
	(void)state;
	char *xml = sign_with(ec_signer, DOC);
	assert_non_null(strstr(xml, "xmldsig-more#ecdsa-sha256"));
	assert_verifies(ec_trust, xml, "lienthong-gateway-signing");
	free(xml);
}

static void test_signature_has_the_profile_and_is_the_last_child(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	const char *must[] = { "<Reference URI=\"\">", "Algorithm=\"" ENV "\"", "Algorithm=\"" EXC "\"",
			       "Algorithm=\"" RSA256 "\"", "Algorithm=\"" SHA256 "\"",
			       "<KeyInfo>\n<X509Data>\n<X509Certificate>", ("</Signature>" ROOT_END) };
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
		if (!strstr(xml, must[i]))
			fail_msg("signed document lacks %s:\n%s", must[i], xml);
	assert_null(strstr(xml, "-----BEGIN"));
	free(xml);
}

static void test_ds_prefixed_signature_made_by_xmlsec_verifies(void **state)
{
	(void)state;
	char *xml = signed_off_profile(EXC, RSA256, PROFILE_TRANSFORMS, SHA256);
	assert_verifies(rsa_trust, xml, "lienthong-gateway-signing");
	free(xml);
}

static void test_reference_to_the_root_id_verifies(void **state)
{
	(void)state;
	char *doc = replace(DOC, "maHoSoLT=", "Id=\"LT1\" maHoSoLT=");
	char *xml = signed_by_reference(doc, "#LT1");
	assert_verifies(rsa_trust, xml, "lienthong-gateway-signing");
	free(xml);
	free(doc);
}

static void test_comment_mentioning_doctype_is_not_a_dtd(void **state)
{
	(void)state;
	char *signed_doc = sign_with(rsa_signer, DOC);
	char *xml = replace(signed_doc, "<HoSo", "<!-- no <!DOCTYPE here --><HoSo");
	assert_verifies(rsa_trust, xml, "lienthong-gateway-signing");
	free(xml);
	free(signed_doc);
}

static void test_signer_loads_pkcs12_with_a_password_file(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	char pw[] = "/tmp/lt-pw-XXXXXX";
	int fd = mkstemp(pw);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "changeit\n", 9), 9);
	close(fd);
	struct lt_xml_signer *s = lt_xml_signer_new(path("ec/peers/hotich-tinh/sign.p12"),
						    path("ec/peers/hotich-tinh/sign.p12"), pw, &err);
	unlink(pw);
	if (!s)
		fail_msg("%s", err.msg);
	char *xml = sign_with(s, DOC);
	assert_verifies(ec_trust, xml, "hotich-tinh-signing");
	free(xml);
	lt_xml_signer_free(s);
}

static void test_signer_refuses_a_certificate_that_is_not_the_keys(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	assert_null(lt_xml_signer_new(path("rsa/gateway/sign.key"), path("rsa/peers/peer-a/sign.pem"), NULL, &err));
	assert_int_equal(err.code, LT_ECONFIG);
	assert_non_null(strstr(err.msg, "does not match"));
}

static void test_signing_refuses_an_already_signed_document(void **state)
{
	struct lt_err err = { 0 };
	char *out = NULL;
	size_t n = 0;
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	assert_int_equal(lt_xml_sign(rsa_signer, xml, strlen(xml), &out, &n, &err), LT_EINVAL);
	assert_null(out);
	assert_non_null(strstr(err.msg, "already carries a Signature"));
	free(xml);
}

/* ---- tampering and trust ----------------------------------------------- */

static void test_tampered_content_is_a_bad_digest(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	assert_refused(rsa_trust, replace(xml, "Nguyễn Văn An", "Nguyễn Văn Bình"), "bad digest");
	assert_refused(rsa_trust, replace(xml, "maHoSoLT=\"LT-2026-0001\"", "maHoSoLT=\"LT-2026-0002\""),
		       "bad digest");
	free(xml);
}

static void test_tampered_signed_info_is_a_bad_signature(void **state)
{
	(void)state;
	char *xml = sign_with(ec_signer, DOC);
	assert_refused(ec_trust, replace(xml, "<SignedInfo>", "<SignedInfo> "), "bad signature");
	assert_refused(ec_trust, replace(xml, "<Reference URI=\"\">", "<Reference URI=\"\" Type=\"x\">"),
		       "bad signature");
	free(xml);
}

static void test_tampered_signature_value_is_a_bad_signature(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	char *v = strstr(xml, "<SignatureValue>") + strlen("<SignatureValue>");
	v[0] = v[0] == 'A' ? 'B' : 'A';
	assert_refused(rsa_trust, xml, "bad signature");
}

static void test_signer_from_an_untrusted_ca_is_refused(void **state)
{
	(void)state;
	struct lt_xml_signer *s = signer_of("rsa/hostile/untrusted-peer-sign");
	assert_refused(rsa_trust, sign_with(s, DOC), "signer certificate not trusted");
	lt_xml_signer_free(s);
	/* and an RSA signer is nobody the EC trust knows */
	assert_refused(ec_trust, sign_with(rsa_signer, DOC), "signer certificate not trusted");
}

static void test_expired_certificate_is_refused(void **state)
{
	(void)state;
	struct lt_xml_signer *s = signer_of("ec/hostile/expired-sign");
	assert_refused(ec_trust, sign_with(s, DOC), "certificate expired");
	lt_xml_signer_free(s);
}

static void test_validity_is_judged_at_the_given_time(void **state)
{
	struct lt_err err = { 0 };
	struct lt_xml_info info;
	struct tm tm;
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	X509 *cert = lt_cert_load(path("rsa/gateway/sign.pem"), NULL, &err);
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm), 1);
	X509_free(cert);
	int64_t not_after = (int64_t)timegm(&tm);
	assert_int_equal(verify_with(rsa_trust, xml, not_after - 60, &info, &err), 0);
	assert_int_equal(verify_with(rsa_trust, xml, not_after + 60, &info, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "certificate expired"));
	assert_int_equal(verify_with(rsa_trust, xml, 1000000000 /* 2001 */, &info, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "certificate not yet valid"));
	free(xml);
}

static void test_pinned_trust_accepts_only_the_pinned_signer(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	struct lt_xml_trust *ca_and_pin = lt_xml_trust_new(path("rsa/trust.pem"),
							   path("rsa/peers/hotich-tinh/sign.pem"), &err);
	struct lt_xml_trust *pin_only = lt_xml_trust_new(NULL, path("rsa/peers/hotich-tinh/sign.pem"), &err);
	struct lt_xml_signer *peer = signer_of("rsa/peers/hotich-tinh/sign");
	assert_non_null(ca_and_pin);
	assert_non_null(pin_only);
	char *xml = sign_with(peer, DOC);
	assert_verifies(ca_and_pin, xml, "hotich-tinh-signing");
	assert_verifies(pin_only, xml, "hotich-tinh-signing");
	free(xml);
	/* same CA, another certificate: not the pinned one */
	assert_refused(ca_and_pin, sign_with(rsa_signer, DOC), "is not one of its keys");
	assert_refused(pin_only, sign_with(rsa_signer, DOC), "is not one of its keys");
	lt_xml_signer_free(peer);
	lt_xml_trust_free(ca_and_pin);
	lt_xml_trust_free(pin_only);
}

static void test_intermediate_in_key_info_completes_the_chain_to_a_root_only_trust(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	struct lt_xml_trust *root_only = lt_xml_trust_new(path("rsa/root-ca.pem"), NULL, &err);
	assert_non_null(root_only);
	char *xml = sign_with(rsa_signer, DOC);
	assert_refused(root_only, strdup(xml), "signer certificate not trusted");
	/* the issuing CA's certificate, put before the signer's in X509Data */
	FILE *f = fopen(path("rsa/issuing-ca.pem"), "r");
	char pem[4096], b64[4096] = "<X509Certificate>";
	assert_non_null(f);
	while (fgets(pem, sizeof pem, f))
		if (strncmp(pem, "-----", 5) != 0)
			strcat(b64, pem);
	fclose(f);
	strcat(b64, "</X509Certificate><X509Certificate>");
	char *with_ca = replace(xml, "<X509Certificate>", b64);
	assert_verifies(root_only, with_ca, "lienthong-gateway-signing");
	free(with_ca);
	free(xml);
	lt_xml_trust_free(root_only);
}

static void test_missing_certificate_is_refused(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	char *ki = element(xml, "KeyInfo");
	assert_refused(rsa_trust, replace(xml, ki, ""), "no signer certificate");
	free(ki);
	free(xml);
}

static void test_unsigned_document_is_refused(void **state)
{
	(void)state;
	assert_refused(rsa_trust, strdup(DOC), "no signature");
}

/* ---- threads ----------------------------------------------------------- */

static void *sign_verify_loop(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < 20; i++) {
		struct lt_err err = { 0 };
		struct lt_xml_info info;
		int ec = (id + i) % 2;
		char *out = NULL;
		size_t n = 0;
		if (lt_xml_sign(ec ? ec_signer : rsa_signer, DOC, strlen(DOC), &out, &n, &err) != 0)
			return strdup(err.msg);
		int rc = lt_xml_verify(ec ? ec_trust : rsa_trust, out, n, 0, &info, NULL, &err);
		if (rc == 0 && (rc = lt_xml_verify(ec ? rsa_trust : ec_trust, out, n, 0, &info, NULL, &err)) == 0)
			rc = -100;
		else if (rc == LT_EAUTH && strstr(err.msg, "signer certificate not trusted"))
			rc = 0;
		free(out);
		if (rc)
			return strdup(rc == -100 ? "verified against the wrong trust" : err.msg);
	}
	return NULL;
}

static void test_concurrent_sign_and_verify_share_signers_and_trusts(void **state)
{
	pthread_t th[4];
	(void)state;
	for (long i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, sign_verify_loop, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		void *res = NULL;
		pthread_join(th[i], &res);
		if (res)
			fail_msg("thread %d: %s", i, (char *)res);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_signed_document_verifies_and_names_the_signer),
		cmocka_unit_test(test_ec_signed_document_verifies),
		cmocka_unit_test(test_signature_has_the_profile_and_is_the_last_child),
		cmocka_unit_test(test_ds_prefixed_signature_made_by_xmlsec_verifies),
		cmocka_unit_test(test_reference_to_the_root_id_verifies),
		cmocka_unit_test(test_comment_mentioning_doctype_is_not_a_dtd),
		cmocka_unit_test(test_signer_loads_pkcs12_with_a_password_file),
		cmocka_unit_test(test_signer_refuses_a_certificate_that_is_not_the_keys),
		cmocka_unit_test(test_signing_refuses_an_already_signed_document),
		cmocka_unit_test(test_tampered_content_is_a_bad_digest),
		cmocka_unit_test(test_tampered_signed_info_is_a_bad_signature),
		cmocka_unit_test(test_tampered_signature_value_is_a_bad_signature),
		cmocka_unit_test(test_signer_from_an_untrusted_ca_is_refused),
		cmocka_unit_test(test_expired_certificate_is_refused),
		cmocka_unit_test(test_validity_is_judged_at_the_given_time),
		cmocka_unit_test(test_pinned_trust_accepts_only_the_pinned_signer),
		cmocka_unit_test(test_intermediate_in_key_info_completes_the_chain_to_a_root_only_trust),
		cmocka_unit_test(test_missing_certificate_is_refused),
		cmocka_unit_test(test_unsigned_document_is_refused),
		cmocka_unit_test(test_concurrent_sign_and_verify_share_signers_and_trusts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
