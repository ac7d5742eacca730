/* sign_jws.h — detached JWS (RFC 7515 compact form, appendix F) for JSON bodies.
 *
 * Wire form (header X-Signature): BASE64URL(header) ".." BASE64URL(signature);
 * the signing input is BASE64URL(header) "." BASE64URL(body) over the exact
 * body bytes. Protected header: alg (RS256, PS256 or ES256 only), kid
 * (BASE64URL(SHA-256(DER of the signing certificate))), iat (unix seconds),
 * jti (the message id). ES256 signatures are the 64-byte JOSE r||s form.
 *
 * Signers and keysets are read-only once built: one may be shared by any
 * number of threads signing or verifying at once. */
#ifndef LT_SIGN_JWS_H
#define LT_SIGN_JWS_H

#include <stddef.h>
#include <stdint.h>
#include "lt.h"

/* Longest X-Signature value accepted, in bytes. */
#define LT_JWS_MAX_HEADER 8192
/* Longest jti (message id), in bytes. */
#define LT_JWS_MAX_JTI 128

struct lt_jws_signer;   /* the gateway's signing key: key + certificate + kid + alg */
struct lt_jws_keyset;   /* the certificates a peer may sign with, by kid */

struct lt_jws_info {
	char alg[8];            /* "RS256" | "PS256" | "ES256" */
	char kid[64];
	int64_t iat;            /* unix seconds, as sent: the caller checks the window */
	char jti[129];          /* 1..128 printable ASCII characters */
	char signer_cn[128];    /* subject CN of the keyset certificate that verified */
};

/* Load the signing identity. key_path: PEM or PKCS#12 (see lt_key_load);
 * cert_path: PEM or the same PKCS#12. alg NULL picks RS256 for RSA and ES256
 * for EC P-256; "PS256" is allowed for RSA. Refuses (LT_ECONFIG) keys other
 * than RSA >= 2048 bits or EC P-256, an alg that does not fit the key, and a
 * certificate that does not match the key. Does not refuse an expired
 * certificate (check-config warns about that). */
struct lt_jws_signer *lt_jws_signer_new(const char *key_path, const char *cert_path,
					const char *password_file, const char *alg, struct lt_err *err);
/* Free a signer; NULL-safe. */
void lt_jws_signer_free(struct lt_jws_signer *s);
/* The signer's kid (x5t#S256 of its certificate); owned by s. */
const char *lt_jws_signer_kid(const struct lt_jws_signer *s);
/* The signer's alg ("RS256", "PS256" or "ES256"); owned by s. */
const char *lt_jws_signer_alg(const struct lt_jws_signer *s);

/* Sign body (len bytes, may be 0) detached: *out is a malloc'd "HEADER..SIG"
 * NUL-terminated string for X-Signature, the caller frees it. jti must be 1..128
 * printable ASCII characters (LT_EINVAL otherwise). Thread-safe. */
int lt_jws_sign(const struct lt_jws_signer *s, const void *body, size_t len, const char *jti,
		int64_t iat, char **out, struct lt_err *err);

/* An empty keyset; NULL only when out of memory. */
struct lt_jws_keyset *lt_jws_keyset_new(void);
/* Add every certificate of a PEM file (a bundle is fine; a certificate
 * already present is skipped, and so are CA certificates, as in a chain
 * file; a file of CA certificates only is refused). All or nothing: refuses the whole file
 * (LT_ECONFIG, naming the file and the certificate's CN) if any key is not
 * RSA >= 2048 bits or EC P-256, if any certificate may not sign
 * (lt_cert_may_sign: a CA, a TLS-only certificate, a key usage without
 * digitalSignature or nonRepudiation) or has the key of one of the gateway's
 * own certificates (lt_jws_keyset_bind). Not thread-safe: build the set,
 * then share it. */
int lt_jws_keyset_add_file(struct lt_jws_keyset *ks, const char *pem_path, struct lt_err *err);
/* Bind a keyset to its peer, before adding files: refusals then name the peer, and a
 * certificate with the public key of one of own (the gateway's own signing and TLS
 * certificates; may be NULL) is refused by lt_jws_keyset_add_file (LT_ECONFIG) and by
 * lt_jws_verify. */
struct lt_own_certs;
int lt_jws_keyset_bind(struct lt_jws_keyset *ks, const char *peer, const struct lt_own_certs *own,
		       struct lt_err *err);
/* Check the set's certificates against crls (not owned; may be NULL) when verifying:
 * a revoked key is refused with "certificate revoked: …". NULL-safe on ks. */
struct lt_crls;
void lt_jws_keyset_set_crls(struct lt_jws_keyset *ks, const struct lt_crls *crls);
/* Number of certificates in the set. */
size_t lt_jws_keyset_count(const struct lt_jws_keyset *ks);
/* Free a keyset; NULL-safe. */
void lt_jws_keyset_free(struct lt_jws_keyset *ks);

/* Verify a detached JWS over body before anything decodes the body; now is
 * unix seconds, for the certificate's validity. Returns 0 and fills info
 * (may be NULL), or LT_EAUTH with err->msg starting with the name of the
 * first failed check, in this order:
 *   "signer certificate not accepted"   ks is NULL (a peer without keys)
 *   "no signature"                      NULL or empty sig_header
 *   "malformed signature"               > LT_JWS_MAX_HEADER bytes, not HEADER..SIG,
 *                                       not base64url, header not a JSON object,
 *                                       duplicate header keys
 *   "algorithm not allowed: X"          alg not exactly RS256, PS256 or ES256
 *   "crit not supported"                a crit header is present
 *   "missing kid" / "missing iat" / "missing jti"   absent or of the wrong type
 *                                       (kid string, iat integer, jti 1..128
 *                                       printable ASCII)
 *   "unknown key: KID"                  kid not in ks
 *   "signer certificate not accepted"   the key's certificate may not sign, or
 *                                       has the key of the gateway's own
 *   "key type does not match algorithm" RS256/PS256 need RSA, ES256 EC P-256
 *   "certificate expired" / "certificate not yet valid"   at now
 *   "certificate revoked" / "revocation unknown"           by the set's CRLs
 *   "bad signature"                     the cryptographic check fails
 * Text from the peer (alg, kid) appears in messages only as printable ASCII,
 * truncated. Thread-safe. */
int lt_jws_verify(const struct lt_jws_keyset *ks, const char *sig_header, const void *body,
		  size_t len, int64_t now, struct lt_jws_info *info, struct lt_err *err);

#endif
