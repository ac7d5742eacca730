/* verify_xml.c — checking a peer's enveloped XML-DSig: the trust (CA certificates and pins)
 * and the verification.
 *
 * Verification never trusts xmlsec alone: the document is scanned before parsing (DTD,
 * depth), parsed hardened, the Signature's shape is checked against the one profile of
 * DESIGN.md §3, the signer certificate is checked against the trust here (so each refusal
 * names its reason), and only then does xmlsec run, restricted to the same transforms and
 * URIs; afterwards the reference and the signing certificate are confirmed to be the ones
 * checked.
 *
 * Threads: nothing here holds a lock. Each call has its own document and xmlSecDSigCtx; a
 * trust is only read after it is made (the xmlsec keys manager is only searched, the
 * X509_STOREs only verified against). */
#include "verify_xml.h"
#include "xml_internal.h"
#include "crl.h"
#include "keys.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/valid.h>
#include <openssl/x509v3.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>

#define ALG_EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define ALG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ALG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define ALG_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"

struct lt_xml_trust {
	xmlSecKeysMngrPtr mngr;    /* CA certs as trusted; NULL store when only pins */
	X509_STORE *store;         /* the same CAs, for our own check with exact reasons */
	STACK_OF(X509) *pins;      /* may be NULL */
	STACK_OF(X509) *chain;     /* CA certificates of the pinned files: intermediates, never anchors */
	char *peer;                /* named in refusals once bound; NULL before */
	char *signer_cn;           /* the signer's subject CN must be this; NULL: no subject rule */
	struct lt_own_certs own;   /* never a signer */
	const struct lt_crls *crls; /* not owned: revoked signers are refused */
};

/* ---- the trust ------------------------------------------------------------------- */

/* Offer a configured intermediate to xmlsec's chain building too (as untrusted). */
static int adopt_intermediate(struct lt_xml_trust *t, X509 *ca)
{
	xmlSecKeyDataStorePtr xs = t->mngr ? xmlSecKeysMngrGetDataStore(t->mngr, xmlSecOpenSSLX509StoreId) : NULL;
	X509 *copy = xs ? X509_dup(ca) : NULL;
	if (!xs)
		return 0;
	if (copy)
		X509_check_purpose(copy, -1, 0);
	if (!copy || xmlSecOpenSSLX509StoreAdoptCert(xs, copy, xmlSecKeyDataTypeNone) < 0) {
		X509_free(copy);
		return -1;
	}
	return 0;
}

struct lt_xml_trust *lt_xml_trust_new(const char *ca_pem_path, const char *pinned_pem_path,
				      struct lt_err *err)
{
	STACK_OF(X509) *cas = NULL;
	struct lt_xml_trust *t = NULL;

	if (!ca_pem_path && !pinned_pem_path) {
		lt_err_set(err, LT_ECONFIG, "XML signature trust needs CA certificates or pinned certificates");
		return NULL;
	}
	if (!(t = calloc(1, sizeof *t))) {
		lt_err_set(err, LT_ENOMEM, "out of memory");
		return NULL;
	}
	if (pinned_pem_path && lt_xml_trust_add_pins(t, pinned_pem_path, err))
		goto fail;
	if (ca_pem_path && !(cas = lt_certs_load(ca_pem_path, err)))
		goto fail;
	if (!(t->mngr = xmlSecKeysMngrCreate()) || xmlSecCryptoAppDefaultKeysMngrInit(t->mngr) < 0) {
		lt_err_set(err, LT_ENOMEM, "cannot create the xmlsec keys manager");
		goto fail;
	}
	if (cas) {
		xmlSecKeyDataStorePtr xs = xmlSecKeysMngrGetDataStore(t->mngr, xmlSecOpenSSLX509StoreId);
		if (!xs || !(t->store = X509_STORE_new())) {
			lt_err_set(err, LT_ENOMEM, "cannot create the X.509 store");
			goto fail;
		}
		for (int i = 0; i < sk_X509_num(cas); i++) {
			X509 *ca = sk_X509_value(cas, i);
			X509 *copy = X509_dup(ca);
			/* Fill OpenSSL's per-certificate extension cache now, while no other thread
			 * can see these certificates, instead of lazily during concurrent verifies. */
			X509_check_purpose(ca, -1, 0);
			if (copy)
				X509_check_purpose(copy, -1, 0);
			if (!copy || xmlSecOpenSSLX509StoreAdoptCert(xs, copy, xmlSecKeyDataTypeTrusted) < 0) {
				X509_free(copy);
				lt_err_set(err, LT_ECONFIG, "cannot trust certificate %d of %s", i + 1, ca_pem_path);
				goto fail;
			}
			if (X509_STORE_add_cert(t->store, ca) != 1) {
				lt_err_set(err, LT_ECONFIG, "cannot trust certificate %d of %s", i + 1, ca_pem_path);
				goto fail;
			}
		}
	}
	for (int i = 0; i < sk_X509_num(t->chain); i++)
		if (adopt_intermediate(t, sk_X509_value(t->chain, i))) {
			lt_err_set(err, LT_ENOMEM, "cannot add an intermediate CA of %s", pinned_pem_path);
			goto fail;
		}
	sk_X509_pop_free(cas, X509_free);
	return t;
fail:
	sk_X509_pop_free(cas, X509_free);
	lt_xml_trust_free(t);
	return NULL;
}

int lt_xml_trust_add_pins(struct lt_xml_trust *t, const char *pem_path, struct lt_err *err)
{
	char why[128], cn[128];
	STACK_OF(X509) *certs = lt_certs_load(pem_path, err);
	if (!certs)
		return err ? err->code : LT_ECONFIG;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);
		/* Fill OpenSSL's per-certificate extension cache before other threads read it. */
		X509_check_purpose(c, -1, 0);
		if (X509_get_extension_flags(c) & EXFLAG_CA) {
			/* the issuers of a chain file: not keys, and not anchors either (the CA bundle
			 * is the trust), but intermediates a signer's chain may go through */
			if (!t->chain && !(t->chain = sk_X509_new_null())) {
				sk_X509_pop_free(certs, X509_free);
				return lt_err_set(err, LT_ENOMEM, "out of memory reading %s", pem_path);
			}
			X509 *ca = sk_X509_delete(certs, i--);
			if (!sk_X509_push(t->chain, ca) || adopt_intermediate(t, ca)) {
				X509_free(ca);
				sk_X509_pop_free(certs, X509_free);
				return lt_err_set(err, LT_ENOMEM, "out of memory reading %s", pem_path);
			}
			continue;
		}
		if (!lt_cert_may_sign(c, why, sizeof why)) {
			lt_cert_cn(c, cn, sizeof cn);
			sk_X509_pop_free(certs, X509_free);
			return lt_err_set(err, LT_ECONFIG, "certificate %d (CN=%s) in %s is %s: keys must be "
					  "signing certificates", i + 1, cn, pem_path, why);
		}
	}
	if (sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		return lt_err_set(err, LT_ECONFIG, "%s holds only CA certificates, no signing certificate",
				  pem_path);
	}
	if (!t->pins) {
		t->pins = certs;
		return LT_OK;
	}
	while (sk_X509_num(certs) > 0) {
		X509 *c = sk_X509_shift(certs);
		if (!sk_X509_push(t->pins, c)) {
			X509_free(c);
			sk_X509_pop_free(certs, X509_free);
			return lt_err_set(err, LT_ENOMEM, "out of memory reading %s", pem_path);
		}
	}
	sk_X509_free(certs);
	return LT_OK;
}

int lt_xml_trust_bind(struct lt_xml_trust *t, const char *peer, const char *signer_cn,
		      const struct lt_own_certs *own, struct lt_err *err)
{
	char cn[128];
	if (!t->pins && !signer_cn)
		return lt_err_set(err, LT_ECONFIG, "peer %s: XML signatures are accepted only from its keys "
				  "or its signer; neither is set", peer);
	for (int i = 0; own && i < sk_X509_num(t->pins); i++) {
		const char *which = lt_own_cert_match(own, sk_X509_value(t->pins, i));
		if (which) {
			lt_cert_cn(sk_X509_value(t->pins, i), cn, sizeof cn);
			return lt_err_set(err, LT_ECONFIG, "peer %s: key CN=%s is the gateway's own %s "
					  "certificate, never a peer's", peer, cn, which);
		}
	}
	free(t->peer);
	free(t->signer_cn);
	t->peer = strdup(peer);
	t->signer_cn = signer_cn ? strdup(signer_cn) : NULL;
	lt_own_certs_clear(&t->own);
	lt_own_certs_copy(&t->own, own);
	if (!t->peer || (signer_cn && !t->signer_cn))
		return lt_err_set(err, LT_ENOMEM, "out of memory");
	return LT_OK;
}

void lt_xml_trust_set_crls(struct lt_xml_trust *t, const struct lt_crls *crls)
{
	if (t)
		t->crls = crls;
}

void lt_xml_trust_free(struct lt_xml_trust *t)
{
	if (!t)
		return;
	if (t->mngr)
		xmlSecKeysMngrDestroy(t->mngr);
	t->mngr = NULL;
	X509_STORE_free(t->store);
	t->store = NULL;
	sk_X509_pop_free(t->pins, X509_free);
	t->pins = NULL;
	sk_X509_pop_free(t->chain, X509_free);
	t->chain = NULL;
	free(t->peer);
	free(t->signer_cn);
	lt_own_certs_clear(&t->own);
	free(t);
}

/* ---- small tree helpers ----------------------------------------------------------- */

static xmlNodePtr dsig_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = xmlFirstElementChild(parent); c; c = xmlNextElementSibling(c))
		if (lt_xml_is_dsig(c, name))
			return c;
	return NULL;
}

/* Only whitespace text and comments may follow the Signature inside the root. */
static int is_last_child(xmlNodePtr sig, xmlNodePtr root)
{
	if (sig->parent != root)
		return 0;
	for (xmlNodePtr n = sig->next; n; n = n->next) {
		if (n->type == XML_COMMENT_NODE)
			continue;
		if (n->type == XML_TEXT_NODE && xmlIsBlankNode(n))
			continue;
		return 0;
	}
	return 1;
}

/* The root's Id/ID/id attribute whose value is id, or NULL. */
static xmlAttrPtr root_id_attr(xmlNodePtr root, const char *id)
{
	static const char *const names[] = { "Id", "ID", "id" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		xmlAttrPtr a = xmlHasNsProp(root, BAD_CAST names[i], NULL);
		if (!a)
			continue;
		xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
		int same = v && strcmp((const char *)v, id) == 0;
		xmlFree(v);
		if (same)
			return a;
	}
	return NULL;
}

/* ---- verification ---------------------------------------------------------------- */

/* DER certificate from the base64 text of an X509Certificate element. */
static X509 *cert_from_node(xmlNodePtr n)
{
	xmlChar *text = xmlNodeGetContent(n);
	if (!text)
		return NULL;
	size_t len = 0, pad = 0;
	for (xmlChar *r = text; *r; r++)
		if (*r != ' ' && *r != '\t' && *r != '\r' && *r != '\n')
			text[len++] = *r;
	text[len] = '\0';
	X509 *cert = NULL;
	unsigned char *der = len ? malloc(len) : NULL;
	int n_der = der && len % 4 == 0 && len <= INT_MAX ? EVP_DecodeBlock(der, text, (int)len) : -1;
	while (pad < 2 && pad < len && text[len - 1 - pad] == '=')
		pad++;
	if (n_der > (int)pad) {
		const unsigned char *p = der;
		cert = d2i_X509(NULL, &p, n_der - (long)pad);
	}
	free(der);
	xmlFree(text);
	return cert;
}

static int is_pinned(const struct lt_xml_trust *t, X509 *cert)
{
	for (int i = 0; i < sk_X509_num(t->pins); i++)
		if (X509_cmp(sk_X509_value(t->pins, i), cert) == 0)
			return 1;
	return 0;
}

/* The subject's only CN is exactly cn (UTF-8, byte for byte): a second CN could make one
 * name say two things. */
static int subject_cn_is(X509 *cert, const char *cn)
{
	X509_NAME *name = X509_get_subject_name(cert);
	unsigned char *utf8 = NULL;
	int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return 0;
	int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	int same = len >= 0 && (size_t)len == strlen(cn) && memcmp(utf8, cn, (size_t)len) == 0;
	OPENSSL_free(utf8);
	return same;
}

/* A refusal of a certificate that may be genuine but is not this peer's signer. */
static int not_accepted(const struct lt_xml_trust *t, struct lt_err *err, const char *cn, const char *why)
{
	return lt_err_set(err, LT_EAUTH, "signer certificate not accepted%s%s: CN=%s %s",
			  t->peer ? " for peer " : "", t->peer ? t->peer : "", cn, why);
}

/* Our own check of the signer certificate, before xmlsec: gives the exact reason. In
 * order: what the certificate is for (its key usage; never the gateway's own), its chain
 * or validity, then the binding to the peer (one of its keys, its signer's CN). */
static int check_signer_cert(const struct lt_xml_trust *t, X509 *leaf, STACK_OF(X509) *extra,
			     time_t now, struct lt_err *err)
{
	char cn[128], why[160];
	lt_cert_cn(leaf, cn, sizeof cn);
	if (!lt_cert_may_sign(leaf, why, sizeof why)) {
		char what[200];
		snprintf(what, sizeof what, "is %s", why);
		return not_accepted(t, err, cn, what);
	}
	const char *own = lt_own_cert_match(&t->own, leaf);
	if (own) {
		char what[80];
		snprintf(what, sizeof what, "has the key of the gateway's own %s certificate", own);
		return not_accepted(t, err, cn, what);
	}
	if (!t->store) {
		if (X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0)
			return lt_err_set(err, LT_EAUTH, "certificate expired: CN=%s", cn);
		if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0)
			return lt_err_set(err, LT_EAUTH, "certificate not yet valid: CN=%s", cn);
		if (lt_crls_check(t->crls, leaf, extra, now, err))
			return LT_EAUTH;
	} else {
		X509_STORE_CTX *vctx = X509_STORE_CTX_new();
		for (int i = 0; i < sk_X509_num(t->chain); i++) {  /* configured intermediates */
			X509 *ca = sk_X509_value(t->chain, i);
			if (sk_X509_push(extra, ca))
				X509_up_ref(ca);
		}
		if (!vctx || X509_STORE_CTX_init(vctx, t->store, leaf, extra) != 1) {
			X509_STORE_CTX_free(vctx);
			return lt_err_set(err, LT_ENOMEM, "out of memory verifying the signer certificate");
		}
		X509_STORE_CTX_set_time(vctx, 0, now);
		int ok = X509_verify_cert(vctx) == 1;
		int e = X509_STORE_CTX_get_error(vctx);
		STACK_OF(X509) *chain = ok ? X509_STORE_CTX_get1_chain(vctx) : NULL;
		X509_STORE_CTX_free(vctx);
		int revoked = ok && lt_crls_check(t->crls, leaf, chain, now, err);
		sk_X509_pop_free(chain, X509_free);
		if (revoked)
			return LT_EAUTH;
		if (!ok && e == X509_V_ERR_CERT_HAS_EXPIRED)
			return lt_err_set(err, LT_EAUTH, "certificate expired: CN=%s or its issuer", cn);
		if (!ok && e == X509_V_ERR_CERT_NOT_YET_VALID)
			return lt_err_set(err, LT_EAUTH, "certificate not yet valid: CN=%s or its issuer", cn);
		if (!ok)
			return lt_err_set(err, LT_EAUTH, "signer certificate not trusted: CN=%s: %s", cn,
					  X509_verify_cert_error_string(e));
	}
	if (t->pins && !is_pinned(t, leaf))
		return not_accepted(t, err, cn, "is not one of its keys");
	if (t->signer_cn && !subject_cn_is(leaf, t->signer_cn)) {
		char what[200];
		snprintf(what, sizeof what, "is not its signer (signer = CN=%.100s)", t->signer_cn);
		return not_accepted(t, err, cn, what);
	}
	return LT_OK;
}

/* 1 when n's Algorithm is one of allowed (NULL-terminated); else 0 and the value in out. */
static int alg_allowed(xmlNodePtr n, const char *const *allowed, char out[160])
{
	xmlChar *a = n ? xmlGetNoNsProp(n, BAD_CAST "Algorithm") : NULL;
	snprintf(out, 160, "%s", a ? (const char *)a : "(none)");
	xmlFree(a);
	for (; *allowed; allowed++)
		if (strcmp(out, *allowed) == 0)
			return 1;
	return 0;
}

/* SignedInfo's algorithms and its one Reference against the profile; *ref_out the Reference. */
static int check_algorithms(xmlNodePtr sig, xmlNodePtr *ref_out, struct lt_err *err)
{
	static const char *const c14n[] = { ALG_EXC_C14N, NULL };
	static const char *const sign[] = { ALG_RSA_SHA256, ALG_ECDSA_SHA256, NULL };
	static const char *const transforms[] = { ALG_ENVELOPED, ALG_EXC_C14N, NULL };
	static const char *const digest[] = { ALG_SHA256, NULL };
	char alg[160];
	xmlNodePtr si = dsig_child(sig, "SignedInfo"), ref = NULL;
	if (!si || xmlFirstElementChild(sig) != si)
		return lt_err_set(err, LT_EAUTH, "bad signature: SignedInfo missing");
	if (!alg_allowed(dsig_child(si, "CanonicalizationMethod"), c14n, alg))
		return lt_err_set(err, LT_EAUTH, "transform not allowed: %s (SignedInfo must use "
				  "exclusive C14N)", alg);
	if (!alg_allowed(dsig_child(si, "SignatureMethod"), sign, alg))
		return lt_err_set(err, LT_EAUTH, "signature algorithm not allowed: %s", alg);
	int nref = 0;
	for (xmlNodePtr c = xmlFirstElementChild(si); c; c = xmlNextElementSibling(c))
		if (lt_xml_is_dsig(c, "Reference") && nref++ == 0)
			ref = c;
	if (nref != 1)
		return lt_err_set(err, LT_EAUTH, "exactly one Reference required (found %d)", nref);
	xmlNodePtr tr = dsig_child(ref, "Transforms");
	for (xmlNodePtr c = tr ? xmlFirstElementChild(tr) : NULL; c; c = xmlNextElementSibling(c))
		if (!alg_allowed(c, transforms, alg) || !lt_xml_is_dsig(c, "Transform"))
			return lt_err_set(err, LT_EAUTH, "transform not allowed: %s", alg);
	if (!alg_allowed(dsig_child(ref, "DigestMethod"), digest, alg))
		return lt_err_set(err, LT_EAUTH, "digest algorithm not allowed: %s", alg);
	*ref_out = ref;
	return LT_OK;
}

/* The signature-wrapping check: the Reference covers the whole document (URI="") or the
 * root element by its Id/ID/id. *uri_id is that id (malloc'd) or NULL for URI="". */
static int check_reference_uri(xmlNodePtr root, xmlNodePtr ref, char **uri_id, struct lt_err *err)
{
	int rc = LT_OK;
	xmlChar *a = xmlGetNoNsProp(ref, BAD_CAST "URI");
	*uri_id = NULL;
	if (!a || (*a && (a[0] != '#' || !a[1] || !root_id_attr(root, (char *)a + 1))))
		rc = lt_err_set(err, LT_EAUTH, "reference URI must be empty or the root id (got \"%.100s\")",
				a ? (char *)a : "no URI");
	else if (*a && !(*uri_id = strdup((char *)a + 1)))
		rc = lt_err_set(err, LT_ENOMEM, "out of memory");
	xmlFree(a);
	return rc;
}

/* The certificates in KeyInfo/X509Data: *leaf the signer's (the one that issued none of the
 * others, normally the first), *extra the rest, offered as intermediates. */
static int collect_certs(xmlNodePtr sig, X509 **leaf, STACK_OF(X509) **extra, struct lt_err *err)
{
	if (!(*extra = sk_X509_new_null()))
		return lt_err_set(err, LT_ENOMEM, "out of memory");
	xmlNodePtr ki = dsig_child(sig, "KeyInfo");
	for (xmlNodePtr xd = ki ? xmlFirstElementChild(ki) : NULL; xd; xd = xmlNextElementSibling(xd)) {
		for (xmlNodePtr c = xmlFirstElementChild(xd); lt_xml_is_dsig(xd, "X509Data") && c;
		     c = xmlNextElementSibling(c)) {
			if (!lt_xml_is_dsig(c, "X509Certificate"))
				continue;
			X509 *cert = cert_from_node(c);
			if (!cert)
				return lt_err_set(err, LT_EAUTH, "no signer certificate (an X509Certificate "
						  "is not a DER certificate)");
			if (!sk_X509_push(*extra, cert)) {
				X509_free(cert);
				return lt_err_set(err, LT_ENOMEM, "out of memory");
			}
		}
	}
	int n = sk_X509_num(*extra);
	for (int i = 0; i < n && !*leaf; i++) {
		int issuer = 0;
		for (int j = 0; j < n && !issuer; j++)
			issuer = j != i && X509_check_issued(sk_X509_value(*extra, i),
							     sk_X509_value(*extra, j)) == X509_V_OK;
		if (!issuer)
			*leaf = sk_X509_delete(*extra, i);
	}
	if (!*leaf)
		return lt_err_set(err, LT_EAUTH, "no signer certificate (KeyInfo/X509Data/X509Certificate)");
	return LT_OK;
}

/* Let xmlsec verify, restricted to the profile. */
static int run_xmlsec(const struct lt_xml_trust *t, xmlNodePtr sig, time_t now,
		      xmlSecDSigCtxPtr *ctxp, struct lt_err *err)
{
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(t->mngr);
	*ctxp = ctx;
	if (!ctx)
		return lt_err_set(err, LT_ENOMEM, "out of memory verifying the XML signature");
	ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
	ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
	ctx->keyInfoReadCtx.certsVerificationTime = now;
	if (!t->store) /* pins only: checked above, and the key is confirmed to be the pin's */
		ctx->keyInfoReadCtx.flags |= XMLSEC_KEYINFO_FLAGS_X509DATA_DONT_VERIFY_CERTS;
	if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha256Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha256Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha256Id) < 0 ||
	    xmlSecPtrListAdd(&ctx->keyInfoReadCtx.enabledKeyData,
			     (const xmlSecPtr)xmlSecOpenSSLKeyDataX509Id) < 0)
		return lt_err_set(err, LT_ENOMEM, "out of memory configuring the XML signature check");

	if (xmlSecDSigCtxVerify(ctx, sig) < 0)
		return lt_err_set(err, LT_EAUTH, "bad signature: %s",
				  lt_xmlsec_error_or("xmlsec could not verify it"));
	if (ctx->status == xmlSecDSigStatusSucceeded)
		return LT_OK;
	xmlSecSize n = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
	for (xmlSecSize i = 0; i < n; i++) {
		xmlSecDSigReferenceCtxPtr r = xmlSecPtrListGetItem(&ctx->signedInfoReferences, i);
		if (r && r->status != xmlSecDSigStatusSucceeded)
			return lt_err_set(err, LT_EAUTH, "bad digest: the signed content was changed");
	}
	return lt_err_set(err, LT_EAUTH, "bad signature: SignatureValue does not match SignedInfo");
}

/* After xmlsec succeeded: what it covered is the root, and it used the certificate we checked. */
static int confirm(xmlSecDSigCtxPtr ctx, xmlDocPtr doc, const char *uri_id, X509 *leaf,
		   struct lt_err *err)
{
	if (xmlSecPtrListGetSize(&ctx->signedInfoReferences) != 1)
		return lt_err_set(err, LT_EAUTH, "exactly one Reference required");
	xmlSecDSigReferenceCtxPtr r = xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0);
	const char *uri = r && r->uri ? (const char *)r->uri : "";
	if (r == NULL || r->status != xmlSecDSigStatusSucceeded ||
	    (uri_id ? (uri[0] != '#' || strcmp(uri + 1, uri_id) != 0) : uri[0] != '\0'))
		return lt_err_set(err, LT_EAUTH, "reference URI must be empty or the root id");
	if (uri_id) {
		xmlAttrPtr id = xmlGetID(doc, BAD_CAST uri_id);
		if (!id || id->parent != xmlDocGetRootElement(doc))
			return lt_err_set(err, LT_EAUTH, "reference URI must be empty or the root id");
	}
	xmlSecKeyDataPtr x509 = ctx->signKey ? xmlSecKeyGetData(ctx->signKey, xmlSecOpenSSLKeyDataX509Id) : NULL;
	X509 *used = x509 ? xmlSecOpenSSLKeyDataX509GetKeyCert(x509) : NULL;
	if (!used || X509_cmp(used, leaf) != 0)
		return lt_err_set(err, LT_EAUTH, "signer certificate not trusted: the signing key is "
				  "not the signer certificate's");
	return LT_OK;
}

/* The verified Reference's DigestValue (base64 of a SHA-256) as hex: xmlsec found it equal
 * to the digest of the canonical form of what the Reference covered. */
static int content_digest(xmlNodePtr ref, char out[65], struct lt_err *err)
{
	xmlNodePtr dv = dsig_child(ref, "DigestValue");
	xmlChar *text = dv ? xmlNodeGetContent(dv) : NULL;
	unsigned char b64[48], raw[36];
	size_t n = 0;
	int ok = text != NULL;
	for (xmlChar *r = text; ok && *r; r++)
		if (*r != ' ' && *r != '\t' && *r != '\r' && *r != '\n')
			ok = n < 44 ? (b64[n++] = *r, 1) : 0;
	xmlFree(text);
	/* 32 bytes are 44 base64 characters, the last one padding */
	if (!ok || n != 44 || b64[43] != '=' || b64[42] == '=' || EVP_DecodeBlock(raw, b64, 44) != 33)
		return lt_err_set(err, LT_EAUTH, "bad digest: DigestValue is not a SHA-256 value");
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[64] = '\0';
	return LT_OK;
}

int lt_xml_verify(const struct lt_xml_trust *t, const char *xml, size_t len, int64_t now,
		  struct lt_xml_info *info, xmlDocPtr *doc_out, struct lt_err *err)
{
	xmlDocPtr doc = NULL;
	xmlSecDSigCtxPtr ctx = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *extra = NULL;
	char *uri_id = NULL;
	int rc;
	time_t when = now > 0 ? (time_t)now : time(NULL);

	if (doc_out)
		*doc_out = NULL;
	if (!t)
		return lt_err_set(err, LT_EAUTH, "signer certificate not accepted: no keys or signer are "
				  "configured for this peer");
	lt_xmlsec_error_clear();
	if ((rc = lt_xml_parse_hardened(xml, len, LT_EAUTH, &doc, err)) != 0)
		return rc;
	xmlNodePtr root = xmlDocGetRootElement(doc), sig;
	int nsig = lt_xml_count_signatures(root, &sig);
	if (nsig == 0) {
		rc = lt_err_set(err, LT_EAUTH, "no signature (no ds:Signature element)");
		goto done;
	}
	if (nsig > 1) {
		rc = lt_err_set(err, LT_EAUTH, "more than one signature (%d ds:Signature elements)", nsig);
		goto done;
	}
	if (!is_last_child(sig, root)) {
		rc = lt_err_set(err, LT_EAUTH, "signature must be the last child of the root");
		goto done;
	}
	xmlNodePtr ref = NULL;
	if ((rc = check_algorithms(sig, &ref, err)) != 0 ||
	    (rc = check_reference_uri(root, ref, &uri_id, err)) != 0 ||
	    (rc = collect_certs(sig, &leaf, &extra, err)) != 0)
		goto done;
	if ((rc = check_signer_cert(t, leaf, extra, when, err)) != 0)
		goto done;
	if (uri_id) {
		/* Only the root's id may resolve; an id already taken elsewhere (xml:id) is a trap. */
		xmlAttrPtr attr = root_id_attr(root, uri_id), known = xmlGetID(doc, BAD_CAST uri_id);
		if ((known && known->parent != root) ||
		    (!known && !xmlAddID(NULL, doc, BAD_CAST uri_id, attr))) {
			rc = lt_err_set(err, LT_EAUTH, "reference URI must be empty or the root id "
					"(id \"%.100s\" is not unique)", uri_id);
			goto done;
		}
	}
	if ((rc = run_xmlsec(t, sig, when, &ctx, err)) != 0)
		goto done;
	if ((rc = confirm(ctx, doc, uri_id, leaf, err)) != 0)
		goto done;
	if (info) {
		if ((rc = content_digest(ref, info->content_sha256, err)) != 0)
			goto done;
		lt_cert_cn(leaf, info->signer_cn, sizeof info->signer_cn);
		lt_cert_kid(leaf, info->signer_kid);
	}
	if (doc_out) {
		*doc_out = doc;
		doc = NULL;
	}
	rc = LT_OK;
done:
	if (ctx)
		xmlSecDSigCtxDestroy(ctx);
	free(uri_id);
	X509_free(leaf);
	sk_X509_pop_free(extra, X509_free);
	xmlFreeDoc(doc);
	return rc;
}
