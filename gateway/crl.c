/* crl.c — CRLs: loaded and verified once, looked up per certificate. */
#include "crl.h"
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define MAX_CRL_FILE (64 << 20)

struct lt_crls *lt_crls_new(enum lt_crl_stale stale)
{
	struct lt_crls *s = calloc(1, sizeof *s);
	if (s)
		s->stale = stale;
	return s;
}

void lt_crls_free(struct lt_crls *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		X509_CRL_free(s->v[i].crl);
	free(s->v);
	free(s);
}

static void name_cn(const X509_NAME *name, char *out, size_t n)
{
	unsigned char *utf8 = NULL;
	int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	out[0] = '\0';
	if (i < 0)
		return;
	int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (len < 0)
		return;
	snprintf(out, n, "%.*s", len, (const char *)utf8);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
			*p = '_';
	OPENSSL_free(utf8);
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static int push(struct lt_crls *s, X509_CRL *crl, const char *path, struct lt_err *err)
{
	struct lt_crl *v = realloc(s->v, (s->n + 1) * sizeof *v);
	if (!v)
		return lt_err_set(err, LT_ENOMEM, "out of memory reading CRL file %s", path);
	s->v = v;
	struct lt_crl *c = &s->v[s->n++];
	memset(c, 0, sizeof *c);
	c->crl = crl;
	snprintf(c->path, sizeof c->path, "%s", path);
	name_cn(X509_CRL_get_issuer(crl), c->issuer_cn, sizeof c->issuer_cn);
	c->next_update = asn1_unix(X509_CRL_get0_nextUpdate(crl));
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
	c->revoked = rev ? sk_X509_REVOKED_num(rev) : 0;
	return LT_OK;
}

/* The CA of issuers that signed crl, or NULL. */
static X509 *crl_signer(X509_CRL *crl, STACK_OF(X509) *issuers)
{
	for (int i = 0; i < sk_X509_num(issuers); i++) {
		X509 *ca = sk_X509_value(issuers, i);
		EVP_PKEY *pub = X509_get0_pubkey(ca);
		if (X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 && pub &&
		    X509_CRL_verify(crl, pub) == 1)
			return ca;
	}
	return NULL;
}

int lt_crls_add_file(struct lt_crls *s, const char *path, STACK_OF(X509) *issuers, struct lt_err *err)
{
	FILE *f = fopen(path, "rb");
	STACK_OF(X509_CRL) *got = sk_X509_CRL_new_null();
	X509_CRL *crl;
	int rc = LT_OK;
	char cn[128];

	if (!f) {
		sk_X509_CRL_free(got);
		return lt_err_set(err, LT_ENOTFOUND, "CRL file %s cannot be opened", path);
	}
	ERR_clear_error();
	while (got && (crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_CRL_push(got, crl))
			X509_CRL_free(crl);
	if (got && sk_X509_CRL_num(got) == 0) {     /* one DER CRL */
		rewind(f);
		if ((crl = d2i_X509_CRL_fp(f, NULL)) != NULL && !sk_X509_CRL_push(got, crl))
			X509_CRL_free(crl);
	}
	fclose(f);
	ERR_clear_error();
	if (!got || sk_X509_CRL_num(got) == 0) {
		rc = lt_err_set(err, LT_ECONFIG, "CRL file %s holds no CRL (PEM or DER)", path);
		goto out;
	}
	for (int i = 0; i < sk_X509_CRL_num(got); i++) {
		crl = sk_X509_CRL_value(got, i);
		if (!crl_signer(crl, issuers)) {
			name_cn(X509_CRL_get_issuer(crl), cn, sizeof cn);
			rc = lt_err_set(err, LT_ECONFIG, "CRL file %s: CRL %d (issuer CN=%s) is not signed by a CA of its "
					"trust (add the CA that issued it to trust, or its chain to keys)", path, i + 1, cn);
			goto out;
		}
	}
	while (sk_X509_CRL_num(got) > 0) {
		crl = sk_X509_CRL_shift(got);
		if ((rc = push(s, crl, path, err)) != LT_OK) {
			X509_CRL_free(crl);
			goto out;
		}
	}
out:
	sk_X509_CRL_pop_free(got, X509_CRL_free);
	ERR_clear_error();
	return rc;
}

int lt_crls_add_set(struct lt_crls *s, const struct lt_crls *from, struct lt_err *err)
{
	for (size_t i = 0; from && i < from->n; i++) {
		X509_CRL_up_ref(from->v[i].crl);
		if (push(s, from->v[i].crl, from->v[i].path, err)) {
			X509_CRL_free(from->v[i].crl);
			return LT_ENOMEM;
		}
	}
	return LT_OK;
}

static const char *reason_name(const X509_REVOKED *r)
{
	static const char *const names[] = { "unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
					     "superseded", "cessationOfOperation", "certificateHold", "(7)",
					     "removeFromCRL", "privilegeWithdrawn", "aACompromise" };
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
	long v = e ? ASN1_ENUMERATED_get(e) : 0;
	ASN1_ENUMERATED_free(e);
	return v >= 0 && v < (long)(sizeof names / sizeof *names) ? names[v] : "unspecified";
}

static void iso_date(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One certificate against the CRLs of its issuer. */
static int check_one(const struct lt_crls *s, X509 *cert, time_t now, struct lt_err *err)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct lt_crl *c = &s->v[i];
		if (X509_NAME_cmp(X509_CRL_get_issuer(c->crl), X509_get_issuer_name(cert)) != 0)
			continue;
		X509_REVOKED *r = NULL;
		if (X509_CRL_get0_by_cert(c->crl, &r, cert) == 1 && r) {
			char cn[128], when[32], serial[80] = "?";
			lt_cert_cn(cert, cn, sizeof cn);
			BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			if (hex)
				snprintf(serial, sizeof serial, "%s", hex);
			OPENSSL_free(hex);
			BN_free(bn);
			iso_date(asn1_unix(X509_REVOKED_get0_revocationDate(r)), when);
			return lt_err_set(err, LT_EAUTH, "certificate revoked: CN=%s (serial %s) is revoked by the CRL of "
					  "CN=%s (%s) since %s, reason %s", cn, serial, c->issuer_cn, c->path, when,
					  reason_name(r));
		}
		if (c->next_update && c->next_update < (int64_t)now && s->stale == LT_CRL_STALE_REFUSE) {
			char when[32];
			iso_date(c->next_update, when);
			return lt_err_set(err, LT_EAUTH, "revocation unknown: the CRL of CN=%s (%s) is past its next update "
					  "(%s); put a fresh one in place, or set crl_stale = warn", c->issuer_cn, c->path,
					  when);
		}
	}
	return LT_OK;
}

int lt_crls_check(const struct lt_crls *s, X509 *cert, STACK_OF(X509) *chain, time_t now, struct lt_err *err)
{
	if (!s || !s->n)
		return LT_OK;
	int rc = check_one(s, cert, now, err);
	for (int i = 0; !rc && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		if (c != cert && X509_check_issued(c, c) != X509_V_OK)    /* not a self-signed root */
			rc = check_one(s, c, now, err);
	}
	return rc;
}
