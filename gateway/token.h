/* token.h — private keys on a PKCS#11 token (a USB token, an HSM), through OpenSSL's
 * pkcs11 engine (Debian's libengine-pkcs11-openssl, libp11).
 *
 * A key is named by an RFC 7512 URI ("pkcs11:token=…;object=…;type=private") wherever a
 * key file is accepted (sign_key, tls_key). The token's PIN comes from a file
 * ([gateway] token_pin_file, mode 0600, its first line); it is never in the URI, in a
 * log line or in an error message. The key never leaves the token: the engine signs
 * there. One PKCS#11 module per process ([gateway] pkcs11_module, or the URI's
 * module-path, else p11-kit's proxy).
 *
 * A signature the token cannot make (removed, locked, logged out) is reported with
 * lt_token_failed: deliveries then wait and retry, and /readyz says why, until a
 * signature works again (lt_token_ok).
 *
 * A token pulled out and put back (or an HSM restarted) loses every session and login: the
 * keys handed out here are stand-ins whose private operations go to the engine's key of the
 * moment, so the token is re-opened under them. While a signature has failed, a signer's
 * next attempt on a worker (lt_token_retry, at most once a second; a thread of token.c
 * tries too, so that a token holding only tls_key, whose handshakes run on the loop, comes
 * back) drops the engine's keys (waiting for the operations under way), finishes and
 * initialises the engine again (libp11
 * then opens new sessions), logs in with the PIN file read again and loads the keys again;
 * JWS, XML-DSig and TLS (the contexts hold the stand-ins) all sign with the new ones. It
 * logs token.reopened (and how long the token was away) or token.reopen_failed (why). */
#ifndef LT_TOKEN_H
#define LT_TOKEN_H

#include <stddef.h>
#include <openssl/evp.h>
#include "lt.h"

/* Whether a key setting names a token key. */
int lt_token_is_uri(const char *s);

/* The module and PIN file for the next loads (either may be NULL). Loop thread, before
 * keys are loaded. */
void lt_token_configure(const char *module, const char *pin_file);

/* Load the private key that uri names. LT_ECONFIG (naming the URI without any PIN, and
 * what failed: the engine, the module, the PIN file, the login, no such key) or the key (a
 * stand-in: the same one for the same URI, loaded once); caller owns a reference
 * (EVP_PKEY_free). Serialized: any thread. */
EVP_PKEY *lt_token_key_load(const char *uri, struct lt_err *err);

/* A signature with a token key failed (why: OpenSSL's reason) / worked. Any thread. */
void lt_token_failed(const char *why);
void lt_token_ok(void);
/* Before a signature with a token key, on a worker: while the last one failed, re-open the
 * token (at most once a second, one thread at a time; never on the loop's thread). */
void lt_token_retry(void);
/* 1 and why (since when, the reason) while the last token signature failed. */
int lt_token_unavailable(char *why, size_t n);

#endif
