/* sign_xml.c — enveloped XML-DSig with xmlsec: process-wide set-up, the capture of xmlsec's
 * errors, hardened parsing, and signing for our peers. Checking a peer's signature is in
 * verify_xml.c.
 *
 * Threads: nothing here holds a lock. Each call has its own parser context, document,
 * xmlSecDSigCtx and its own copy of the key; a signer is only read after it is made.
 * xmlsec errors go to a thread-local buffer. */
#include "sign_xml.h"
#include "xml_internal.h"
#include "keys.h"
#include "token.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <libxml/valid.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/templates.h>
#include <xmlsec/errors.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>

/* A key on a PKCS#11 token is not one xmlsec (OpenSSL 3 build) takes for private: it finds
 * no private exponent. So xmlsec builds the signature with a throwaway key of the same type
 * (digests, SignedInfo, KeyInfo with the real certificate), and the SignatureValue is then
 * made again over the exclusive C14N of SignedInfo by the token (token_sign). */
struct lt_xml_signer {
	xmlSecKeyPtr key;          /* private key (or the stand-in) + its certificate (X509 key data) */
	xmlSecTransformId sign_alg;
	int on_token;              /* the key is on a PKCS#11 token: a failure waits for it */
	EVP_PKEY *token_key;       /* that key, which makes every SignatureValue */
};

static int initialized;

/* ---- errors from xmlsec: the first one of the current call, per thread ---- */

static _Thread_local char xmlsec_first[256];

static void xmlsec_capture(const char *file, int line, const char *func, const char *obj,
			   const char *subj, int reason, const char *msg)
{
	(void)file, (void)line, (void)reason;
	if (xmlsec_first[0])
		return;
	const char *what = subj ? subj : obj;
	snprintf(xmlsec_first, sizeof xmlsec_first, "%s%s%s%s%s", func ? func : "xmlsec",
		 what ? ": " : "", what ? what : "", msg ? ": " : "", msg ? msg : "");
}

void lt_xmlsec_error_clear(void)
{
	xmlsec_first[0] = '\0';
}

const char *lt_xmlsec_error_or(const char *fallback)
{
	return xmlsec_first[0] ? xmlsec_first : fallback;
}

/* No parser in this process may read anything outside the document it was given. */
static xmlParserInputPtr refuse_entity_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)url, (void)id, (void)ctxt;
	return NULL;
}

int lt_xml_init(struct lt_err *err)
{
	if (initialized)
		return LT_OK;
	xmlInitParser();
	LIBXML_TEST_VERSION
	xmlSetExternalEntityLoader(refuse_entity_loader);
	xmlSubstituteEntitiesDefault(0);
	xmlThrDefSubstituteEntitiesDefaultValue(0);
	xmlLoadExtDtdDefaultValue = 0;
	xmlThrDefLoadExtDtdDefaultValue(0);

	if (xmlSecInit() < 0)
		return lt_err_set(err, LT_ECONFIG, "xmlsec initialization failed");
	if (xmlSecCheckVersion() != 1) {
		xmlSecShutdown();
		return lt_err_set(err, LT_ECONFIG, "xmlsec library version is not compatible");
	}
	if (xmlSecCryptoAppInit(NULL) < 0) {
		xmlSecShutdown();
		return lt_err_set(err, LT_ECONFIG, "xmlsec crypto (OpenSSL) initialization failed");
	}
	if (xmlSecCryptoInit() < 0) {
		xmlSecCryptoAppShutdown();
		xmlSecShutdown();
		return lt_err_set(err, LT_ECONFIG, "xmlsec-openssl initialization failed");
	}
	xmlSecErrorsSetCallback(xmlsec_capture); /* after crypto init, which installs its own */
	initialized = 1;
	return LT_OK;
}

void lt_xml_shutdown(void)
{
	if (!initialized)
		return;
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	xmlCleanupParser();
	initialized = 0;
}

/* ---- hardened parsing ------------------------------------------------------------- */

/* Cheap scan of the raw bytes before the parser sees them: refuse any markup declaration
 * (<!DOCTYPE, <!ENTITY…) outside comments, CDATA and PIs, and nesting deeper than the
 * limit. Malformed input that the scan cannot follow is left to the parser to report. */
static int prescan(const char *xml, size_t len, int code, struct lt_err *err)
{
	static const char *const skip[][2] = { { "<!--", "-->" }, { "<![CDATA[", "]]>" }, { "<?", "?>" } };
	const char *p = xml, *end = xml + len;
	int depth = 0;

	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		size_t left = (size_t)(end - p), i, n;
		for (i = 0; i < 3; i++)
			if (left >= (n = strlen(skip[i][0])) && memcmp(p, skip[i][0], n) == 0)
				break;
		if (i < 3) {
			const char *close = memmem(p + n, left - n, skip[i][1], strlen(skip[i][1]));
			if (!close)
				return LT_OK;
			p = close + strlen(skip[i][1]);
		} else if (left >= 2 && p[1] == '!') {
			return lt_err_set(err, code, "document type declaration not allowed "
					  "(DTDs and entity declarations are refused)");
		} else if (left >= 2 && p[1] == '/') {
			depth--;
			if (!(p = memchr(p, '>', left)))
				return LT_OK;
			p++;
		} else {
			const char *q = p + 1;
			char quote = 0; /* a '>' inside an attribute value does not end the tag */
			for (; q < end && (quote || *q != '>'); q++)
				if (quote ? *q == quote : (*q == '"' || *q == '\''))
					quote = quote ? 0 : *q;
			if (q >= end)
				return LT_OK;
			if (q[-1] != '/' && ++depth > LT_XML_MAX_DEPTH)
				return lt_err_set(err, code, "document too deep (more than %d levels)",
						  LT_XML_MAX_DEPTH);
			p = q + 1;
		}
	}
	return LT_OK;
}

int lt_xml_tree_deeper_than(xmlNodePtr root, int max)
{
	xmlNodePtr n = root;
	int depth = 1;
	for (;;) {
		if (depth > max)
			return 1;
		xmlNodePtr c = xmlFirstElementChild(n);
		if (c) {
			n = c;
			depth++;
			continue;
		}
		while (n != root && !xmlNextElementSibling(n)) {
			n = n->parent;
			depth--;
		}
		if (n == root)
			return 0;
		n = xmlNextElementSibling(n);
	}
}

int lt_xml_parse_hardened(const char *xml, size_t len, int code, xmlDocPtr *docp, struct lt_err *err)
{
	*docp = NULL;
	if (len > INT_MAX)
		return lt_err_set(err, LT_ETOOBIG, "XML document too large");
	int rc = prescan(xml, len, code, err);
	if (rc)
		return rc;

	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return lt_err_set(err, LT_ENOMEM, "out of memory parsing XML");
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
					  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[200] = "not well-formed";
		if (e && e->message) {
			snprintf(msg, sizeof msg, "%s", e->message);
			msg[strcspn(msg, "\r\n")] = '\0';
		}
		rc = lt_err_set(err, code, "malformed XML: line %d: %s", e ? e->line : 0, msg);
		goto fail;
	}
	if (doc->intSubset || doc->extSubset) {
		rc = lt_err_set(err, code, "document type declaration not allowed "
				"(DTDs and entity declarations are refused)");
		goto fail;
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!root) {
		rc = lt_err_set(err, code, "malformed XML: no root element");
		goto fail;
	}
	if (lt_xml_tree_deeper_than(root, LT_XML_MAX_DEPTH)) {
		rc = lt_err_set(err, code, "document too deep (more than %d levels)", LT_XML_MAX_DEPTH);
		goto fail;
	}
	xmlFreeParserCtxt(ctxt);
	*docp = doc;
	return LT_OK;
fail:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return rc;
}

/* ---- XML-DSig elements ------------------------------------------------------------ */

int lt_xml_is_dsig(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, LT_DSIG_NS) == 0 &&
	       strcmp((const char *)n->name, name) == 0;
}

int lt_xml_count_signatures(xmlNodePtr root, xmlNodePtr *first)
{
	int count = 0;
	xmlNodePtr n = root;
	*first = NULL;
	while (n) {
		if (lt_xml_is_dsig(n, "Signature") && count++ == 0)
			*first = n;
		xmlNodePtr c = xmlFirstElementChild(n);
		if (c) {
			n = c;
			continue;
		}
		while (n && n != root && !xmlNextElementSibling(n))
			n = n->parent;
		n = (n && n != root) ? xmlNextElementSibling(n) : NULL;
	}
	return count;
}

/* ---- the signer ------------------------------------------------------------------ */

struct lt_xml_signer *lt_xml_signer_new(const char *key_path, const char *cert_path,
					const char *password_file, struct lt_err *err)
{
	struct lt_xml_signer *s = NULL;
	X509 *cert = NULL;
	EVP_PKEY *pkey = lt_key_load(key_path, password_file, err);
	if (!pkey)
		return NULL;
	if (!(cert = lt_cert_load(cert_path, password_file, err)))
		goto fail;
	if (X509_check_private_key(cert, pkey) != 1) {
		lt_err_set(err, LT_ECONFIG, "signing certificate %s does not match the key %s",
			   cert_path, key_path);
		goto fail;
	}
	xmlSecTransformId alg;
	switch (EVP_PKEY_base_id(pkey)) {
	case EVP_PKEY_RSA: alg = xmlSecTransformRsaSha256Id; break;
	case EVP_PKEY_EC: alg = xmlSecTransformEcdsaSha256Id; break;
	default:
		lt_err_set(err, LT_ECONFIG, "signing key %s is neither RSA nor EC", key_path);
		goto fail;
	}
	if (!(s = calloc(1, sizeof *s)) || !(s->key = xmlSecKeyCreate())) {
		lt_err_set(err, LT_ENOMEM, "out of memory loading the XML signing key");
		goto fail;
	}
	s->sign_alg = alg;
	s->on_token = lt_token_is_uri(key_path);
	if (s->on_token) {
		s->token_key = pkey;
		pkey = alg == xmlSecTransformRsaSha256Id ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
		if (!pkey) {
			lt_err_set(err, LT_ENOMEM, "cannot make the stand-in key for XML signing with %s", key_path);
			goto fail;
		}
	}
	xmlSecKeyDataPtr value = xmlSecOpenSSLEvpKeyAdopt(pkey);
	if (!value) {
		lt_err_set(err, LT_ECONFIG, "xmlsec cannot use the signing key %s", key_path);
		goto fail;
	}
	pkey = NULL; /* owned by value */
	if (xmlSecKeySetValue(s->key, value) < 0) {
		xmlSecKeyDataDestroy(value);
		lt_err_set(err, LT_ECONFIG, "xmlsec cannot use the signing key %s", key_path);
		goto fail;
	}
	/* The key certificate identifies the key; the listed certificate is what KeyInfo carries. */
	xmlSecKeyDataPtr x509 = xmlSecKeyEnsureData(s->key, xmlSecOpenSSLKeyDataX509Id);
	X509 *listed = X509_dup(cert);
	if (!x509 || !listed || xmlSecOpenSSLKeyDataX509AdoptCert(x509, listed) < 0) {
		X509_free(listed);
		lt_err_set(err, LT_ECONFIG, "xmlsec cannot attach the certificate %s", cert_path);
		goto fail;
	}
	if (xmlSecOpenSSLKeyDataX509AdoptKeyCert(x509, cert) < 0) {
		lt_err_set(err, LT_ECONFIG, "xmlsec cannot attach the certificate %s", cert_path);
		goto fail;
	}
	return s;
fail:
	EVP_PKEY_free(pkey);
	X509_free(cert);
	lt_xml_signer_free(s);
	return NULL;
}

void lt_xml_signer_free(struct lt_xml_signer *s)
{
	if (!s)
		return;
	if (s->key)
		xmlSecKeyDestroy(s->key);
	s->key = NULL;
	EVP_PKEY_free(s->token_key);
	s->token_key = NULL;
	free(s);
}

/* Exclusive C14N: what is inside the subtree rooted at arg. */
static int in_subtree(void *arg, xmlNodePtr node, xmlNodePtr parent)
{
	xmlNodePtr n = node && (node->type == XML_NAMESPACE_DECL || node->type == XML_ATTRIBUTE_NODE) ? parent : node;
	for (; n; n = n->parent)
		if (n == arg)
			return 1;
	return 0;
}

/* Make the SignatureValue of sig again with the token's key, over the exclusive C14N of
 * its SignedInfo (RSA PKCS#1 v1.5 or ECDSA, SHA-256; ECDSA as r||s). */
static int token_sign(const struct lt_xml_signer *s, xmlDocPtr doc, xmlNodePtr sig, struct lt_err *err)
{
	xmlNodePtr si = NULL, sv = NULL;
	for (xmlNodePtr c = xmlFirstElementChild(sig); c; c = xmlNextElementSibling(c)) {
		if (lt_xml_is_dsig(c, "SignedInfo"))
			si = c;
		else if (lt_xml_is_dsig(c, "SignatureValue"))
			sv = c;
	}
	xmlOutputBufferPtr buf = si && sv ? xmlAllocOutputBuffer(NULL) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL, raw[64];
	size_t len = 0;
	char *b64 = NULL;
	int rc = LT_OK;
	if (!buf || !md || xmlC14NExecute(doc, in_subtree, si, XML_C14N_EXCLUSIVE_1_0, NULL, 0, buf) < 0) {
		rc = lt_err_set(err, LT_ENOMEM, "cannot canonicalize SignedInfo for the token's signature");
		goto out;
	}
	const unsigned char *in = xmlOutputBufferGetContent(buf);
	size_t inlen = xmlOutputBufferGetSize(buf);
	lt_token_retry();       /* after a failure: the token may be back */
	ERR_clear_error();
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, s->token_key) != 1 ||
	    EVP_DigestSign(md, NULL, &len, in, inlen) != 1 || !(der = OPENSSL_malloc(len)) ||
	    EVP_DigestSign(md, der, &len, in, inlen) != 1) {
		const char *why = ERR_reason_error_string(ERR_peek_last_error());
		lt_token_failed(why ? why : "the token did not sign");
		rc = lt_err_set(err, LT_EBUSY, "the signing key's token did not sign (%s); waiting for it",
				why ? why : "no reason given");
		goto out;
	}
	const unsigned char *value = der;
	if (s->sign_alg == xmlSecTransformEcdsaSha256Id) {
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
		const BIGNUM *r, *ss;
		if (es)
			ECDSA_SIG_get0(es, &r, &ss);
		int ok = es && BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(ss, raw + 32, 32) == 32;
		ECDSA_SIG_free(es);
		if (!ok) {
			rc = lt_err_set(err, LT_EIO, "the token's ECDSA signature is unreadable");
			goto out;
		}
		value = raw;
		len = 64;
	}
	if (!(b64 = malloc((len + 2) / 3 * 4 + 1))) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory");
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, value, (int)len);
	xmlNodeSetContent(sv, BAD_CAST b64);
	lt_token_ok();
out:
	free(b64);
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	if (buf)
		xmlOutputBufferClose(buf);
	ERR_clear_error();
	return rc;
}

/* Append the profile's Signature template as the last child of the root. */
static xmlNodePtr add_template(xmlDocPtr doc, xmlSecTransformId sign_alg)
{
	xmlNodePtr sig = xmlSecTmplSignatureCreate(doc, xmlSecTransformExclC14NId, sign_alg, NULL);
	if (!sig)
		return NULL;
	xmlAddChild(xmlDocGetRootElement(doc), sig);
	xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL,
							 BAD_CAST "", NULL);
	xmlNodePtr ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
	xmlNodePtr x5 = ki ? xmlSecTmplKeyInfoAddX509Data(ki) : NULL;
	if (!ref || !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) ||
	    !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) || !x5 ||
	    !xmlSecTmplX509DataAddCertificate(x5))
		return NULL;
	return sig;
}

int lt_xml_sign(const struct lt_xml_signer *s, const char *xml, size_t len, char **out,
		size_t *outlen, struct lt_err *err)
{
	xmlDocPtr doc = NULL;
	xmlSecDSigCtxPtr ctx = NULL;
	xmlChar *buf = NULL;
	int size = 0, rc;

	*out = NULL;
	*outlen = 0;
	lt_xmlsec_error_clear();
	if ((rc = lt_xml_parse_hardened(xml, len, LT_EINVAL, &doc, err)) != 0)
		return rc;
	xmlNodePtr first;
	if (lt_xml_count_signatures(xmlDocGetRootElement(doc), &first) > 0) {
		rc = lt_err_set(err, LT_EINVAL, "document to sign already carries a Signature");
		goto done;
	}
	xmlNodePtr sig = add_template(doc, s->sign_alg);
	if (!sig || !(ctx = xmlSecDSigCtxCreate(NULL))) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory building the XML signature");
		goto done;
	}
	/* A copy per call: xmlsec attaches state to the key it signs with. */
	if (!(ctx->signKey = xmlSecKeyDuplicate(s->key))) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory copying the XML signing key");
		goto done;
	}
	if (xmlSecDSigCtxSign(ctx, sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
		const char *why = lt_xmlsec_error_or("xmlsec reported no reason");
		if (s->on_token) {      /* removed, locked, logged out: wait for it */
			lt_token_failed(why);
			rc = lt_err_set(err, LT_EBUSY, "the signing key's token did not sign (%s); waiting for it", why);
		} else {
			rc = lt_err_set(err, LT_EIO, "XML signing failed: %s", why);
		}
		goto done;
	}
	if (s->on_token && (rc = token_sign(s, doc, sig, err)) != LT_OK)
		goto done;
	xmlDocDumpMemoryEnc(doc, &buf, &size, "UTF-8");
	if (!buf || size <= 0 || !(*out = malloc((size_t)size + 1))) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory serializing the signed XML");
		goto done;
	}
	memcpy(*out, buf, (size_t)size);
	(*out)[size] = '\0';
	*outlen = (size_t)size;
	rc = LT_OK;
done:
	xmlFree(buf);
	if (ctx)
		xmlSecDSigCtxDestroy(ctx);
	xmlFreeDoc(doc);
	return rc;
}
