/* crl.h — certificate revocation lists of a trust store ([gateway] crl, [peer.NAME] crl).
 *
 * A set holds CRLs whose signatures were verified when they were loaded, each against a CA
 * certificate of the trust it belongs to. Checking a certificate looks up the CRLs of its
 * issuer (and those of each intermediate's issuer): no signature is verified then, so a
 * check is cheap enough for the event loop. A certificate whose issuer has no CRL in the
 * set is not checked (revocation is checked where the office configured a CRL).
 *
 * A set is read-only once built and may be shared by any number of threads. */
#ifndef LT_CRL_H
#define LT_CRL_H

#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>
#include "lt.h"

/* What to do with a certificate whose issuer's CRL is past its nextUpdate. */
enum lt_crl_stale { LT_CRL_STALE_REFUSE, LT_CRL_STALE_WARN };

struct lt_crl {
	X509_CRL *crl;
	char path[256];
	char issuer_cn[128];
	int64_t next_update;        /* unix seconds; 0 when the CRL has none */
	int revoked;                /* entries */
};

struct lt_crls {
	struct lt_crl *v;
	size_t n;
	enum lt_crl_stale stale;
};

/* An empty set with the given policy; NULL when out of memory. */
struct lt_crls *lt_crls_new(enum lt_crl_stale stale);
/* Free a set; NULL-safe. */
void lt_crls_free(struct lt_crls *s);

/* Add every CRL of a file (PEM, one or more; or one DER). Each must be signed by one of
 * `issuers` (CA certificates: the trust and its configured intermediates), else the whole
 * file is refused (LT_ECONFIG, naming the file and the CRL's issuer). */
int lt_crls_add_file(struct lt_crls *s, const char *path, STACK_OF(X509) *issuers, struct lt_err *err);
/* Add the CRLs of another set (shared references). */
int lt_crls_add_set(struct lt_crls *s, const struct lt_crls *from, struct lt_err *err);

/* Check cert, and each certificate of chain (its intermediates; may be NULL), against the
 * CRLs of their issuers at `now`. LT_OK; or LT_EAUTH with err->msg starting
 * "certificate revoked: CN=… (serial …)" and naming the CRL, the date and the reason;
 * or, when an issuer's CRL is past its nextUpdate and the policy is refuse, LT_EAUTH with
 * "revocation unknown: the CRL of CN=… (FILE) is past its next update …". */
int lt_crls_check(const struct lt_crls *s, X509 *cert, STACK_OF(X509) *chain, time_t now, struct lt_err *err);

#endif
