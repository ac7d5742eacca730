/* fixture_xmldsig.h — what the XML-DSig unit tests share (test_sign_xml.c and
 * test_verify_xml_hostile.c): the test PKI's signers and trusts, a document to sign, and
 * ways to sign, verify, cut and splice documents. Header-only; include after cmocka.h.
 *
 * Needs the development PKI: env LT_TEST_PKI, default build/certs ("make certs").
 * Off-profile but correctly signed documents are made with xmlsec directly from a
 * template, so that each refusal is proven to come from the profile check, not from a
 * broken signature. */
#ifndef LT_FIXTURE_XMLDSIG_H
#define LT_FIXTURE_XMLDSIG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/crypto.h>

#include "sign_xml.h"
#include "verify_xml.h"
#include "testutil.h"

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

static struct lt_xml_signer *rsa_signer, *ec_signer;
static struct lt_xml_trust *rsa_trust, *ec_trust;

/* rel inside the test PKI; the last four answers stay valid (per thread). */
static inline const char *path(const char *rel)
{
	static _Thread_local char buf[4][512];
	static _Thread_local int next;
	return tu_pki(buf[next++ % 4], sizeof buf[0], rel);
}

static inline int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	if (access(path("rsa/trust.pem"), R_OK) != 0 || access(path("ec/trust.pem"), R_OK) != 0) {
		fprintf(stderr, "test PKI missing at %s: run make certs (or set LT_TEST_PKI)\n", path(""));
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

static inline int teardown(void **state)
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

/* The signer made of base.key and base.pem inside the test PKI ("rsa/peers/peer-a/sign"). */
static __attribute__((unused)) struct lt_xml_signer *signer_of(const char *base)
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

/* xml signed by s (malloc'd). Not inline: inlined, it makes GCC 12 report a dangling
 * pointer where there is none (-Wdangling-pointer). */
static __attribute__((unused)) char *sign_with(const struct lt_xml_signer *s, const char *xml)
{
	struct lt_err err = { 0 };
	char *out = NULL;
	size_t len = 0;
	if (lt_xml_sign(s, xml, strlen(xml), &out, &len, &err) != 0)
		fail_msg("signing failed: %s", err.msg);
	assert_int_equal(strlen(out), len);
	return out;
}

static inline int verify_with(const struct lt_xml_trust *t, const char *xml, int64_t now,
			      struct lt_xml_info *info, struct lt_err *err)
{
	memset(err, 0, sizeof *err);
	return lt_xml_verify(t, xml, strlen(xml), now, info, NULL, err);
}

static inline void assert_verifies(const struct lt_xml_trust *t, const char *xml, const char *cn)
{
	struct lt_err err;
	struct lt_xml_info info;
	if (verify_with(t, xml, 0, &info, &err) != 0)
		fail_msg("should verify but: %s\n%s", err.msg, xml);
	assert_string_equal(info.signer_cn, cn);
}

/* Refused with LT_EAUTH and a message containing words; returns nothing, frees xml. */
static inline void assert_refused(const struct lt_xml_trust *t, char *xml, const char *words)
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
static inline char *replace(const char *s, const char *from, const char *to)
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

static inline char *concat3(const char *a, const char *b, const char *c)
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
static inline char *element(const char *s, const char *tag)
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
static inline char *tmpl(const char *c14n, const char *alg, const char *uri, const char *transforms,
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
static inline char *xmlsec_sign(char *xml)
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
static inline char *xmlsec_signed(const char *doc, const char *uri, const char *c14n, const char *alg,
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

#endif
