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
 * signature works again (lt_token_ok). */
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
 * what failed: the engine, the module, the PIN file, the login, no such key) or the key;
 * caller owns it (EVP_PKEY_free). Serialized: any thread. */
EVP_PKEY *lt_token_key_load(const char *uri, struct lt_err *err);

/* A signature with a token key failed (why: OpenSSL's reason) / worked. Any thread. */
void lt_token_failed(const char *why);
void lt_token_ok(void);
/* 1 and why (since when, the reason) while the last token signature failed. */
int lt_token_unavailable(char *why, size_t n);

#endif
