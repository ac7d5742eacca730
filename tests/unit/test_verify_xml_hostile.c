/* test_verify_xml_hostile.c — enveloped XML-DSig: the hostile corpus. Signature
 * wrapping, off-profile algorithms and hostile XML (DTDs, entities, depth, malformed
 * input) must each be refused with its own reason. Signing, round trips and trust are in
 * test_sign_xml.c.
 *
 * Needs the development PKI: env LT_TEST_PKI, default build/certs ("make certs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture_xmldsig.h"

/* ---- helpers ----------------------------------------------------------- */

/* s as UTF-16LE with a byte order mark (malloc'd, *n bytes): the byte scan cannot read it. */
static char *utf16le(const char *s, size_t *n)
{
	size_t len = strlen(s);
	char *u = calloc(2 * len + 2, 1);
	assert_non_null(u);
	u[0] = (char)0xff;
	u[1] = (char)0xfe;
	for (size_t i = 0; i < len; i++)
		u[2 + 2 * i] = s[i];
	*n = 2 * len + 2;
	return u;
}

/* ---- signature wrapping ------------------------------------------------ */

static void test_signed_content_moved_under_a_fake_root_is_refused(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	char *sig = element(xml, "Signature");
	/* a fake root with the attacker's content, the signed original tucked inside it */
	char *fake_head = concat3("<HoSoDangKyKhaiSinh xmlns=\"urn:lienthong:civilreg:1\" maHoSoLT=\"LT-2026-0001\" "
				  "thoiGian=\"2026-11-24T09:00:00+07:00\"><maDonVi>EVIL</maDonVi><Wrapper>",
				  DOC, "</Wrapper>");
	assert_refused(rsa_trust, concat3(fake_head, sig, ROOT_END), "bad digest");
	/* the whole signed document inside another root */
	assert_refused(rsa_trust, concat3("<Envelope>", strstr(xml, "<HoSo"), "</Envelope>"),
		       "signature must be the last child of the root");
	free(fake_head);
	free(sig);
	free(xml);
}

static void test_reference_to_a_nested_element_is_refused(void **state)
{
	(void)state;
	char *doc = replace(DOC, "<nksHoTen>", "<nksHoTen Id=\"ks1\">");
	assert_refused(rsa_trust, signed_by_reference(doc, "#ks1"),
		       "reference URI must be empty or the root id");
	free(doc);
}

static void test_root_id_shadowed_by_a_nested_xml_id_is_refused(void **state)
{
	(void)state;
	char *doc = replace(DOC, "maHoSoLT=", "Id=\"LT1\" maHoSoLT=");
	char *doc2 = replace(doc, "<module>", "<module xml:id=\"LT1\">");
	assert_refused(rsa_trust, signed_by_reference(doc2, "#LT1"),
		       "reference URI must be empty or the root id");
	free(doc2);
	free(doc);
}

static void test_external_and_xpointer_reference_uris_are_refused(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	assert_refused(rsa_trust, replace(xml, "URI=\"\"", "URI=\"file:///etc/passwd\""),
		       "reference URI must be empty or the root id");
	assert_refused(rsa_trust, replace(xml, "URI=\"\"", "URI=\"#xpointer(/)\""),
		       "reference URI must be empty or the root id");
	free(xml);
}

static void test_two_signatures_are_refused(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	char *sig = element(xml, "Signature");
	char *before = concat3(sig, "<maDonVi>", "");
	assert_refused(rsa_trust, replace(xml, "<maDonVi>", before), "more than one signature");
	free(before);
	char *two = concat3(sig, sig, ROOT_END);
	assert_refused(rsa_trust, replace(xml, ROOT_END, two), "more than one signature");
	free(two);
	free(sig);
	free(xml);
}

static void test_signature_not_last_is_refused(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	char *sig = element(xml, "Signature");
	char *without = replace(xml, sig, "");
	char *moved = concat3(sig, "<maDonVi>", "");
	assert_refused(rsa_trust, replace(without, "<maDonVi>", moved),
		       "signature must be the last child of the root");
	assert_refused(rsa_trust, replace(xml, "</Signature>", "</Signature><ghiChu>x</ghiChu>"),
		       "signature must be the last child of the root");
	free(moved);
	free(without);
	free(sig);
	free(xml);
}

/* ---- algorithms -------------------------------------------------------- */

static void test_disallowed_transforms_are_refused(void **state)
{
	(void)state;
	const char *xpath = "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">"
			    "<ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"
			    "<ds:Transform Algorithm=\"" EXC "\"/>";
	assert_refused(rsa_trust, signed_off_profile(EXC, RSA256, xpath, SHA256),
		       "transform not allowed: http://www.w3.org/TR/1999/REC-xpath-19991116");
	const char *comments = "<ds:Transform Algorithm=\"" ENV "\"/>"
			       "<ds:Transform Algorithm=\"" EXC "WithComments\"/>";
	assert_refused(rsa_trust, signed_off_profile(EXC, RSA256, comments, SHA256),
		       "transform not allowed: " EXC "WithComments");
	const char *c14n10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
	assert_refused(rsa_trust, signed_off_profile(c14n10, RSA256, PROFILE_TRANSFORMS, SHA256),
		       "transform not allowed: http://www.w3.org/TR/2001/REC-xml-c14n-20010315");
}

static void test_rsa_sha1_and_sha1_digest_are_refused(void **state)
{
	(void)state;
	assert_refused(rsa_trust, signed_off_profile(EXC, DSIG "rsa-sha1", PROFILE_TRANSFORMS, SHA256),
		       "signature algorithm not allowed: " DSIG "rsa-sha1");
	assert_refused(rsa_trust, signed_off_profile(EXC, RSA256, PROFILE_TRANSFORMS, DSIG "sha1"),
		       "digest algorithm not allowed: " DSIG "sha1");
}

static void test_two_references_are_refused(void **state)
{
	(void)state;
	char *xml = signed_off_profile(EXC, RSA256, PROFILE_TRANSFORMS, SHA256);
	char *ref = element(xml, "ds:Reference");
	char *two = concat3(ref, ref, "");
	assert_refused(rsa_trust, replace(xml, ref, two), "exactly one Reference required");
	free(two);
	free(ref);
	free(xml);
}

/* ---- hostile XML ------------------------------------------------------- */

static void test_document_with_a_dtd_is_refused(void **state)
{
	(void)state;
	char *xml = sign_with(rsa_signer, DOC);
	assert_refused(rsa_trust, concat3("<?xml version=\"1.0\"?><!DOCTYPE HoSoDangKyKhaiSinh "
					  "[<!ATTLIST maDonVi x CDATA \"1\">]>", strstr(xml, "<HoSo"), ""),
		       "document type declaration not allowed");
	free(xml);
}

static void test_external_entity_is_never_loaded(void **state)
{
	struct lt_err err;
	xmlDocPtr doc = NULL;
	(void)state;
	const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">"
			  "<!ENTITY web SYSTEM \"http://127.0.0.1:9/x\">]><r>&xxe;&web;</r>";
	memset(&err, 0, sizeof err);
	assert_int_equal(lt_xml_verify(rsa_trust, xxe, strlen(xxe), 0, NULL, &doc, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "document type declaration not allowed"));
	assert_null(strstr(err.msg, "root:"));
	assert_null(doc);

	/* the same in UTF-16 gets past the byte scan; the parsed-document check refuses it */
	size_t n;
	char *u16 = utf16le(strstr(xxe, "<!DOCTYPE"), &n);
	assert_int_equal(lt_xml_verify(rsa_trust, u16, n, 0, NULL, &doc, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "document type declaration not allowed"));
	free(u16);

	/* and even a careless parser elsewhere in the process cannot load it (NOENT, DTDLOAD) */
	xmlDocPtr careless = xmlReadMemory(xxe, (int)strlen(xxe), NULL, NULL,
					   XML_PARSE_NOENT | XML_PARSE_DTDLOAD | XML_PARSE_NOERROR |
					   XML_PARSE_NOWARNING);
	if (careless) {
		xmlChar *text = xmlNodeGetContent(xmlDocGetRootElement(careless));
		assert_null(strstr((char *)text, "root:"));
		xmlFree(text);
		xmlFreeDoc(careless);
	}
}

static void test_billion_laughs_returns_quickly_without_expansion(void **state)
{
	struct lt_err err;
	struct timespec a, b;
	(void)state;
	char bomb[2048] = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol0 \"lol\">";
	for (int i = 1; i <= 9; i++) {
		size_t n = strlen(bomb);
		n += (size_t)snprintf(bomb + n, sizeof bomb - n, "<!ENTITY lol%d \"", i);
		for (int k = 0; k < 10; k++)
			n += (size_t)snprintf(bomb + n, sizeof bomb - n, "&lol%d;", i - 1);
		snprintf(bomb + n, sizeof bomb - n, "\">");
	}
	strcat(bomb, "]><lolz>&lol9;</lolz>");
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(verify_with(rsa_trust, bomb, 0, NULL, &err), LT_EAUTH);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_non_null(strstr(err.msg, "document type declaration not allowed"));
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 1000);

	/* in UTF-16 the byte scan cannot see it: the parser must still stop at once */
	size_t n;
	char *u16 = utf16le(strstr(bomb, "<!DOCTYPE"), &n);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(lt_xml_verify(rsa_trust, u16, n, 0, NULL, NULL, &err), LT_EAUTH);
	clock_gettime(CLOCK_MONOTONIC, &b);
	free(u16);
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 1000);
}

static char *nested(int levels)
{
	char *s = malloc((size_t)levels * 7 + 64);
	size_t n = 0;
	assert_non_null(s);
	for (int i = 0; i < levels; i++)
		n += (size_t)sprintf(s + n, "<a>");
	for (int i = 0; i < levels; i++)
		n += (size_t)sprintf(s + n, "</a>");
	return s;
}

static void test_deep_nesting_is_refused(void **state)
{
	struct lt_err err = { 0 };
	char *out = NULL;
	size_t n = 0;
	(void)state;
	assert_refused(rsa_trust, nested(1000), "document too deep");
	assert_refused(rsa_trust, nested(LT_XML_MAX_DEPTH + 1), "document too deep");
	char *deep = nested(1000);
	assert_int_equal(lt_xml_sign(rsa_signer, deep, strlen(deep), &out, &n, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "document too deep"));
	free(deep);
	/* the limit itself is fine (the Signature adds levels under the root, not above it) */
	char *ok = nested(LT_XML_MAX_DEPTH - 4);
	char *xml = sign_with(rsa_signer, ok);
	assert_verifies(rsa_trust, xml, "lienthong-gateway-signing");
	free(xml);
	free(ok);
}

static void test_malformed_xml_is_refused_with_its_line(void **state)
{
	(void)state;
	assert_refused(rsa_trust, strdup("<a>\n<b></a>"), "malformed XML: line 2");
	assert_refused(rsa_trust, strdup("<a><x:b/></a>"), "malformed XML");
	assert_refused(rsa_trust, strdup(""), "malformed XML");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_content_moved_under_a_fake_root_is_refused),
		cmocka_unit_test(test_reference_to_a_nested_element_is_refused),
		cmocka_unit_test(test_root_id_shadowed_by_a_nested_xml_id_is_refused),
		cmocka_unit_test(test_external_and_xpointer_reference_uris_are_refused),
		cmocka_unit_test(test_two_signatures_are_refused),
		cmocka_unit_test(test_signature_not_last_is_refused),
		cmocka_unit_test(test_disallowed_transforms_are_refused),
		cmocka_unit_test(test_rsa_sha1_and_sha1_digest_are_refused),
		cmocka_unit_test(test_two_references_are_refused),
		cmocka_unit_test(test_document_with_a_dtd_is_refused),
		cmocka_unit_test(test_external_entity_is_never_loaded),
		cmocka_unit_test(test_billion_laughs_returns_quickly_without_expansion),
		cmocka_unit_test(test_deep_nesting_is_refused),
		cmocka_unit_test(test_malformed_xml_is_refused_with_its_line),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
