/* keys.h — loading private keys and certificates (shared by JWS, XML-DSig and TLS).
 *
 * Private keys come from PEM (PKCS#8 or traditional, optionally encrypted) or
 * from PKCS#12 (a path ending .p12 or .pfx). A file holding a private key, and
 * a password file, must not be readable or writable by group or others.
 * Errors name the file and the problem, never key material or passwords. */
#ifndef LT_KEYS_H
#define LT_KEYS_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "lt.h"

/* Room for a kid: 43 base64url characters of a SHA-256 digest + NUL. */
#define LT_KID_MAX 48

/* Load a private key from PEM (PKCS#8 or traditional) or PKCS#12 (.p12/.pfx), or from a
 * PKCS#11 token when path is a "pkcs11:" URI (token.h).
 * password_file (may be NULL) holds the password on its first line; it is
 * used for PKCS#12 and encrypted PEM (there is never a terminal prompt).
 * Refuses with LT_ECONFIG a key file or password file whose mode has any of
 * 077; LT_ENOTFOUND if the file is missing; LT_ECONFIG if it holds no usable
 * key. Caller owns the result (EVP_PKEY_free). */
EVP_PKEY *lt_key_load(const char *path, const char *password_file, struct lt_err *err);

/* The first line of a secret file (a password, a token PIN) into out (n bytes): the file
 * must be a regular file with none of the 077 mode bits (LT_ECONFIG names it, and `what`,
 * never its content). The caller cleanses out. */
int lt_secret_line(const char *path, const char *what, char *out, size_t n, struct lt_err *err);

/* Load a certificate: the first PEM certificate of a file, or the leaf
 * certificate of a PKCS#12 (which, holding a key, gets the same mode check
 * as lt_key_load). Caller owns the result (X509_free). */
X509 *lt_cert_load(const char *path, const char *password_file, struct lt_err *err);

/* Load every certificate of a PEM bundle, in file order. A file with no
 * certificate is an error (LT_ECONFIG). Caller frees with
 * sk_X509_pop_free(s, X509_free). */
STACK_OF(X509) *lt_certs_load(const char *path, struct lt_err *err);

/* kid of a certificate: BASE64URL(SHA-256(DER)), no padding — the JWS
 * "x5t#S256" value, 43 characters. */
void lt_cert_kid(X509 *cert, char out[LT_KID_MAX]);

/* Whole days until notAfter; negative once expired (-1 for expired today). */
int lt_cert_days_left(X509 *cert);
/* Seconds until the certificate's notAfter (negative once expired). */
int64_t lt_cert_seconds_left(X509 *cert);

/* Subject CN as UTF-8 into out (n bytes, truncated, always NUL-terminated;
 * "" when there is none). */
void lt_cert_cn(X509 *cert, char *out, size_t n);

/* Whether cert may sign messages (XML-DSig, JWS): it is not a CA, its key usage is
 * present and allows digitalSignature or nonRepudiation, and its extended key usage, if
 * any, is not only TLS (serverAuth, clientAuth). 1 if it may; else 0 and why (a phrase
 * like "a TLS certificate (extended key usage serverAuth/clientAuth only)"). */
int lt_cert_may_sign(X509 *cert, char *why, size_t n);

/* The gateway's own certificates (each may be NULL): never accepted as a peer's signer,
 * however the peer is configured. A holder owns one reference to each. */
struct lt_own_certs {
	X509 *sign;     /* sign_cert */
	X509 *tls;      /* tls_cert: the listener's and outbound client certificate */
};

/* Copy `from` (may be NULL) into `to`, taking a reference to each certificate, and
 * decoding their public keys now so that later matches only read them. */
void lt_own_certs_copy(struct lt_own_certs *to, const struct lt_own_certs *from);
/* Drop the references of lt_own_certs_copy; NULL-safe. */
void lt_own_certs_clear(struct lt_own_certs *own);
/* "signing" or "TLS" when cert has the public key of one of own's certificates (another
 * certificate for the same key counts too), else NULL. Thread-safe. */
const char *lt_own_cert_match(const struct lt_own_certs *own, X509 *cert);

#endif
