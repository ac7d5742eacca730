/* test_sign_xml.c — enveloped XML-DSig: round trips and a hostile corpus.
 *
 * Needs the development PKI: env LT_TEST_PKI, default build/certs ("make certs").
 * Off-profile but correctly signed documents are made here with xmlsec directly from a
 * template, so that each refusal is proven to come from the profile check, not from a
 * broken signature. */
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

#include <libxml/parser.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/crypto.h>

#include "keys.h"
#include "sign_xml.h"

#define DOC "<HoSoDangKyKhaiSinh xmlns=\"urn:lienthong:civilreg:1\" maHoSoLT=\"LT-2026-0001\" " \
	"thoiGian=\"2026-11-24T09:00:00+07:00\"><maDonVi>H12.01957</maDonVi><module>LTKS</module>" \
	"<maHoSoMCDT>000.00.12.H12-261124-0001</maHoSoMCDT><nksHoTen>Nguyễn Văn An</nksHoTen>" \
	"</HoSoDangKyKhaiSinh>"
#define ROOT_END "</HoSoDangKyKhaiSinh>"

#define DSIG "http://www.w3.org/2000/09/xmldsig#"
#define EXC "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ENV DSIG "enveloped-signature"
#define RSA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define PROFILE_TRANSFORMS "<ds:Transform Algorithm=\"" ENV "\"/><ds:Transform Algorithm=\"" EXC "\"/>"

static char pki[400];
static struct lt_xml_signer *rsa_signer, *ec_signer;
static struct lt_xml_trust *rsa_trust, *ec_trust;

static const char *path(const char *rel)
{
	static _Thread_local char buf[4][512];
	static _Thread_local int next;
	char *p = buf[next++ % 4];
	snprintf(p, 512, "%s/%s", pki, rel);
	return p;
}

static int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	const char *env = getenv("LT_TEST_PKI");
	snprintf(pki, sizeof pki, "%s", env && *env ? env : "build/certs");
	if (access(path("rsa/trust.pem"), R_OK) != 0 || access(path("ec/trust.pem"), R_OK) != 0) {
		fprintf(stderr, "test PKI missing at %s: run make certs (or set LT_TEST_PKI)\n", pki);
		return -1;
	}
	if (lt_xml_init(&err) != 0 ||
	    !(rsa_signer = lt_xml_signer_new(path("rsa/gateway/sign.key"), path("rsa/gateway/sign.pem"), NULL, &err)) ||
	    !(ec_signer = lt_xml_signer_new(path("ec/gateway/sign.key"), path("ec/gateway/sign.pem"), NULL, &err)) ||
	    !(rsa_trust = lt_xml_trust_new(path("rsa/trust.pem"), NULL, &err)) ||
	    !(ec_trust = lt_xml_trust_new(path("ec/trust.pem"), NULL, &err))) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lt_xml_signer_free(rsa_signer);
	lt_xml_signer_free(ec_signer);
	lt_xml_trust_free(rsa_trust);
	lt_xml_trust_free(ec_trust);
	rsa_signer = ec_signer = NULL;
	rsa_trust = ec_trust = NULL;
	lt_xml_shutdown();
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* The signer whose files are BASE.key and BASE.pem in the PKI. */
static struct lt_xml_signer *signer_of(const char *base)
{
	struct lt_err err = { 0 };
	char key[300], cert[300];
	snprintf(key, sizeof key, "%s.key", base);
	snprintf(cert, sizeof cert, "%s.pem", base);
	struct lt_xml_signer *s = lt_xml_signer_new(path(key), path(cert), NULL, &err);
	if (!s)
		fail_msg("%s: %s", base, err.msg);
	return s;
}

static char *sign_with(const struct lt_xml_signer *s, const char *xml)
{
	struct lt_err err = { 0 };
	char *out = NULL;
	size_t len = 0;
	if (lt_xml_sign(s, xml, strlen(xml), &out, &len, &err) != 0)
		fail_msg("signing failed: %s", err.msg);
	assert_int_equal(strlen(out), len);
	return out;
}

static int verify_with(const struct lt_xml_trust *t, const char *xml, int64_t now,
		       struct lt_xml_info *info, struct lt_err *err)
{
	memset(err, 0, sizeof *err);
	return lt_xml_verify(t, xml, strlen(xml), now, info, NULL, err);
}

static void assert_verifies(const struct lt_xml_trust *t, const char *xml, const char *cn)
{
	struct lt_err err;
	struct lt_xml_info info;
	if (verify_with(t, xml, 0, &info, &err) != 0)
		fail_msg("should verify but: %s\n%s", err.msg, xml);
	assert_string_equal(info.signer_cn, cn);
}

/* Refused with LT_EAUTH and a message containing words; returns nothing, frees xml. */
static void assert_refused(const struct lt_xml_trust *t, char *xml, const char *words)
{
	struct lt_err err;
	xmlDocPtr doc = (xmlDocPtr)1;
	memset(&err, 0, sizeof err);
	int rc = lt_xml_verify(t, xml, strlen(xml), 0, NULL, &doc, &err);
	if (rc != LT_EAUTH)
		fail_msg("should be refused (\"%s\") but rc=%d: %s\n%s", words, rc, err.msg, xml);
	if (!strstr(err.msg, words))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, words);
	assert_null(doc);
	free(xml);
}

/* s with the first occurrence of from replaced by to (malloc'd); from must occur. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	if (!at)
		fail_msg("\"%s\" not found in test document", from);
	size_t head = (size_t)(at - s), fl = strlen(from), tl = strlen(to), rest = strlen(at + fl);
	char *r = malloc(head + tl + rest + 1);
	assert_non_null(r);
	memcpy(r, s, head);
	memcpy(r + head, to, tl);
	memcpy(r + head + tl, at + fl, rest + 1);
	return r;
}

static char *concat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *r = malloc(la + lb + lc + 1);
	assert_non_null(r);
	memcpy(r, a, la);
	memcpy(r + la, b, lb);
	memcpy(r + la + lb, c, lc + 1);
	return r;
}

/* The text from the first "<tag" to the end of "</tag>" in s (malloc'd). */
static char *element(const char *s, const char *tag)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	const char *a = strstr(s, open), *b = a ? strstr(a, close) : NULL;
	if (!b)
		fail_msg("no <%s> in test document", tag);
	return strndup(a, (size_t)(b + strlen(close) - a));
}

/* A Signature template (ds: prefix) for xmlsec, with the algorithms given. */
static char *tmpl(const char *c14n, const char *alg, const char *uri, const char *transforms,
		  const char *digest)
{
	char *t = malloc(2048);
	assert_non_null(t);
	snprintf(t, 2048, "<ds:Signature xmlns:ds=\"" DSIG "\"><ds:SignedInfo>"
		 "<ds:CanonicalizationMethod Algorithm=\"%s\"/><ds:SignatureMethod Algorithm=\"%s\"/>"
		 "<ds:Reference URI=\"%s\"><ds:Transforms>%s</ds:Transforms>"
		 "<ds:DigestMethod Algorithm=\"%s\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>"
		 "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data>"
		 "</ds:KeyInfo></ds:Signature>", c14n, alg, uri, transforms, digest);
	return t;
}

/* Sign xml (which holds a template) with xmlsec directly and the RSA gateway key; Id
 * attributes are registered as IDs, as a sloppy signer would. Frees xml. */
static char *xmlsec_sign(char *xml)
{
	static const xmlChar *ids[] = { BAD_CAST "Id", NULL };
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	free(xml);
	xmlSecAddIDs(doc, xmlDocGetRootElement(doc), ids);
	xmlNodePtr sig = xmlSecFindNode(xmlDocGetRootElement(doc), xmlSecNodeSignature, xmlSecDSigNs);
	assert_non_null(sig);
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
	assert_non_null(ctx);
	ctx->signKey = xmlSecCryptoAppKeyLoad(path("rsa/gateway/sign.key"), xmlSecKeyDataFormatPem,
					      NULL, NULL, NULL);
	assert_non_null(ctx->signKey);
	assert_int_equal(xmlSecCryptoAppKeyCertLoad(ctx->signKey, path("rsa/gateway/sign.pem"),
						    xmlSecKeyDataFormatPem), 0);
	if (xmlSecDSigCtxSign(ctx, sig) < 0)
		fail_msg("xmlsec could not sign the template");
	xmlChar *buf = NULL;
	int n = 0;
	xmlDocDumpMemoryEnc(doc, &buf, &n, "UTF-8");
	char *out = strndup((const char *)buf, (size_t)n);
	xmlFree(buf);
	xmlSecDSigCtxDestroy(ctx);
	xmlFreeDoc(doc);
	return out;
}

/* doc signed by xmlsec with a Reference to uri and the given SignedInfo choices. */
static char *xmlsec_signed(const char *doc, const char *uri, const char *c14n, const char *alg,
			   const char *transforms, const char *digest)
{
	char *t = tmpl(c14n, alg, uri, transforms, digest);
	char *sigend = concat3(t, ROOT_END, "");
	char *xml = xmlsec_sign(replace(doc, ROOT_END, sigend));
	free(sigend);
	free(t);
	return xml;
}

#define signed_off_profile(c14n, alg, transforms, digest) \
	xmlsec_signed(DOC, "", c14n, alg, transforms, digest)
#define signed_by_reference(doc, uri) xmlsec_signed(doc, uri, EXC, RSA256, PROFILE_TRANSFORMS, SHA256)

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
	assert_refused(ca_and_pin, sign_with(rsa_signer, DOC), "signer certificate not trusted");
	assert_refused(pin_only, sign_with(rsa_signer, DOC), "signer certificate not trusted");
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
		cmocka_unit_test(test_concurrent_sign_and_verify_share_signers_and_trusts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
