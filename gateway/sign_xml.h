/* sign_xml.h — enveloped XML-DSig for the civil registry and edXML peers (DESIGN.md §3):
 * the process-wide setup and signing; checking a peer's signature is verify_xml.h.
 *
 * The one profile lienthong signs and accepts: a Signature that is the last child of the
 * root element, exactly one Reference with URI="" (or "#id" naming the root), transforms
 * enveloped-signature + exclusive C14N, SignedInfo canonicalized with exclusive C14N,
 * RSA-SHA256 or ECDSA-SHA256 over SHA-256 digests, the signer's certificate in
 * KeyInfo/X509Data. Anything else is refused before any content is trusted.
 *
 * Every document is parsed hardened: no DTD (internal or external subset), no entity
 * expansion, no network, no external entity ever loaded, at most LT_XML_MAX_DEPTH levels.
 * The caller bounds the size. */
#ifndef LT_SIGN_XML_H
#define LT_SIGN_XML_H

#include <stddef.h>
#include <stdint.h>
#include <libxml/tree.h>
#include "lt.h"

#define LT_XML_MAX_DEPTH 64

/* Process-wide init of libxml2 and xmlsec; call once at start, from the main thread,
 * before any other thread uses libxml2. Also makes every libxml2 parser in the process
 * refuse external entities and DTDs (an entity loader that loads nothing, no entity
 * substitution, no external DTD by default). A second call is a no-op. */
int lt_xml_init(struct lt_err *err);

/* Whether a parsed tree nests elements deeper than max levels (iterative; any
 * thread). Used by the verifier and by the XML adapters. */
int lt_xml_tree_deeper_than(xmlNodePtr root, int max);
/* Release what lt_xml_init set up; no signer, trust or document may be in use. */
void lt_xml_shutdown(void);

/* The gateway's signing identity: key + certificate (only the certificate goes into
 * KeyInfo). key_path is PEM or PKCS#12; cert_path may be the same PKCS#12; password_file
 * may be NULL. Refuses (LT_ECONFIG) a key that is not RSA or EC, a certificate that does
 * not match the key, and key files readable by others (see keys.h). */
struct lt_xml_signer;
struct lt_xml_signer *lt_xml_signer_new(const char *key_path, const char *cert_path,
					const char *password_file, struct lt_err *err);
void lt_xml_signer_free(struct lt_xml_signer *s);

/* Parse xml (hardened), append an enveloped Signature as the last child of the root with
 * the profile above (RSA-SHA256 for an RSA key, ECDSA-SHA256 for EC) and serialize it as
 * UTF-8. *out is malloc'd and NUL-terminated (caller frees). Refuses (LT_EINVAL) input
 * that is malformed, has a DTD, is too deep or already carries a Signature. Safe to call
 * from several threads at once with one signer. */
int lt_xml_sign(const struct lt_xml_signer *s, const char *xml, size_t len, char **out,
		size_t *outlen, struct lt_err *err);

#endif
