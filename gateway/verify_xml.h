/* verify_xml.h — checking a peer's enveloped XML-DSig (verify_xml.c): the trust a signer
 * certificate must meet and the verification, in the one profile sign_xml.h describes.
 * lt_xml_init (sign_xml.h) must have run first. */
#ifndef LT_VERIFY_XML_H
#define LT_VERIFY_XML_H

#include <stddef.h>
#include <stdint.h>
#include <libxml/tree.h>
#include "lt.h"

/* What a peer's signer certificate must be: it must chain to one of the CA certificates
 * (a PEM bundle; the bundle must contain the self-signed root) and, when a pinned file is
 * given, also be one of the pinned certificates. With only pins, the certificate must be
 * pinned and within its validity period. At least one of the two paths is required.
 * Whatever the trust, a signer certificate must be one that may sign (lt_cert_may_sign:
 * not a CA, key usage digitalSignature or nonRepudiation, not a TLS-only certificate); a
 * pinned file holding one that may not is refused (LT_ECONFIG). CA certificates in a
 * pinned file (a chain file) are not pinned: they are intermediates a signer's chain to
 * the CA bundle may go through (never anchors), besides those the document carries. */
struct lt_xml_trust;
struct lt_own_certs;
struct lt_xml_trust *lt_xml_trust_new(const char *ca_pem_path, const char *pinned_pem_path,
				      struct lt_err *err);
/* Pin the certificates of one more PEM file (a peer's keys may be several files); the
 * same checks as a pinned file of lt_xml_trust_new. Not thread-safe: build, then share. */
int lt_xml_trust_add_pins(struct lt_xml_trust *t, const char *pem_path, struct lt_err *err);
/* Bind a trust to the peer whose messages it checks: refusals then name the peer; when
 * signer_cn is given the signer's subject must have exactly that one CN (besides the
 * pins, if any); certificates with the public key of one of own (the gateway's own
 * signing and TLS certificates; may be NULL) are never accepted. A trust with neither
 * pins nor signer_cn is refused (LT_ECONFIG: it would accept anyone its CAs certify), and
 * so is a pin that is one of own. Not thread-safe: bind, then share. */
int lt_xml_trust_bind(struct lt_xml_trust *t, const char *peer, const char *signer_cn,
		      const struct lt_own_certs *own, struct lt_err *err);
/* Check signer certificates (and their chains) against crls (not owned; may be NULL): a
 * revoked one is refused with "certificate revoked: …". NULL-safe on t. */
struct lt_crls;
void lt_xml_trust_set_crls(struct lt_xml_trust *t, const struct lt_crls *crls);
void lt_xml_trust_free(struct lt_xml_trust *t);

struct lt_xml_info {
	char signer_cn[128];
	char signer_kid[48]; /* BASE64URL(SHA-256(DER of the signer certificate)) */
	/* SHA-256 (hex) of what the signature covers: the exclusive C14N of the document
	 * without its Signature (the verified Reference's digest). The same for every
	 * serialization of the same signed content (white space outside the root, the XML
	 * declaration, attribute quotes and order, comments), so it, not the bytes, is what
	 * a replay is recognised by. */
	char content_sha256[65];
};

/* Verify a signed document before anything in it is trusted. now is unix seconds used for
 * certificate validity (0 = the current time). On success fills info (may be NULL) and,
 * when doc_out is not NULL, hands over the parsed document (caller frees it with
 * xmlFreeDoc; the Signature is still in it). Every refusal is LT_EAUTH with a message that
 * starts with one of:
 *   "document type declaration not allowed", "malformed XML", "document too deep",
 *   "no signature", "more than one signature", "signature must be the last child of the root",
 *   "exactly one Reference required", "reference URI must be empty or the root id",
 *   "transform not allowed: URI" (Reference transforms and SignedInfo's canonicalization),
 *   "signature algorithm not allowed: URI", "digest algorithm not allowed: URI",
 *   "no signer certificate", "signer certificate not trusted", "certificate expired",
 *   "certificate not yet valid", "certificate revoked", "revocation unknown" (a stale CRL),
 *   "bad digest" (content changed), "bad signature",
 *   "signer certificate not accepted" (a certificate that may not sign, one with the key
 *   of the gateway's own, or — once bound — not one of the peer's keys or not its signer;
 *   also a NULL trust: a peer with neither keys nor signer).
 * The signer certificate is the KeyInfo certificate that issued none of the others there;
 * the others may serve as intermediates. Resource failures are LT_ENOMEM.
 * Safe to call from several threads at once with one trust. */
int lt_xml_verify(const struct lt_xml_trust *t, const char *xml, size_t len, int64_t now,
		  struct lt_xml_info *info, xmlDocPtr *doc_out, struct lt_err *err);

#endif
