/* keys.c — private keys and certificates from PEM and PKCS#12 files.
 *
 * Files are read whole into memory (bounded) and parsed from there, so the
 * mode check and the parse see the same open file. Buffers that held key
 * material or a password are cleansed before they are freed. */
#include "keys.h"
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#define MAX_KEY_FILE (1 << 20)       /* a key or a PKCS#12 file */
#define MAX_CERT_FILE (16 << 20)     /* a certificate bundle */
#define MAX_PASSWORD 1024

struct file_data {
	unsigned char *p;
	size_t len;
	int secret; /* cleanse on release */
};

static void file_release(struct file_data *f)
{
	if (f->p && f->secret)
		OPENSSL_cleanse(f->p, f->len);
	free(f->p);
	f->p = NULL;
	f->len = 0;
}

/* Read path whole. what names the file in messages ("private key", "certificate").
 * A secret file must be a regular file with none of the 077 mode bits. */
static int file_read(const char *path, const char *what, int secret, size_t max,
		     struct file_data *f, struct lt_err *err)
{
	struct stat st;
	int rc = LT_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	f->p = NULL;
	f->len = 0;
	f->secret = secret;
	if (fd < 0) {
		if (errno == ENOENT)
			return lt_err_set(err, LT_ENOTFOUND, "%s file %s does not exist", what, path);
		return lt_err_set(err, LT_EIO, "cannot open %s file %s: %s", what, path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		rc = lt_err_set(err, LT_EIO, "cannot stat %s file %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = lt_err_set(err, LT_ECONFIG, "%s file %s is not a regular file", what, path);
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		rc = lt_err_set(err, LT_ECONFIG, "%s file %s is readable by others (mode %04o); chmod 600 it",
				what, path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((size_t)st.st_size > max) {
		rc = lt_err_set(err, LT_ECONFIG, "%s file %s is too large (%lld bytes; at most %zu)",
				what, path, (long long)st.st_size, max);
		goto out;
	}
	f->p = malloc((size_t)st.st_size + 1);
	if (!f->p) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory reading %s file %s", what, path);
		goto out;
	}
	while (f->len < (size_t)st.st_size) {
		ssize_t n = read(fd, f->p + f->len, (size_t)st.st_size - f->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lt_err_set(err, LT_EIO, "cannot read %s file %s: %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		f->len += (size_t)n;
	}
	f->p[f->len] = '\0';
out:
	if (rc != LT_OK)
		file_release(f);
	close(fd);
	return rc;
}

/* The first line of password_file into pw (cleansed by the caller). */
static int password_read(const char *password_file, char pw[MAX_PASSWORD], struct lt_err *err)
{
	struct file_data f;
	int rc = file_read(password_file, "password", 1, 64 * 1024, &f, err);
	if (rc != LT_OK)
		return rc;
	size_t n = strcspn((char *)f.p, "\r\n");
	if (n >= MAX_PASSWORD) {
		file_release(&f);
		return lt_err_set(err, LT_ECONFIG, "password file %s: first line is longer than %d bytes",
				  password_file, MAX_PASSWORD - 1);
	}
	memcpy(pw, f.p, n);
	pw[n] = '\0';
	file_release(&f);
	return LT_OK;
}

int lt_secret_line(const char *path, const char *what, char *out, size_t n, struct lt_err *err)
{
	struct file_data f;
	int rc = file_read(path, what, 1, 64 * 1024, &f, err);
	if (rc != LT_OK)
		return rc;
	size_t len = strcspn((char *)f.p, "\r\n");
	if (len >= n) {
		file_release(&f);
		return lt_err_set(err, LT_ECONFIG, "%s file %s: first line is longer than %zu bytes", what, path, n - 1);
	}
	memcpy(out, f.p, len);
	out[len] = '\0';
	file_release(&f);
	return LT_OK;
}

static int is_pkcs12_path(const char *path)
{
	size_t n = strlen(path);
	return n > 4 && (strcasecmp(path + n - 4, ".p12") == 0 || strcasecmp(path + n - 4, ".pfx") == 0);
}

/* Parse a PKCS#12 file; either output may be NULL. */
static int pkcs12_load(const char *path, const char *password_file, EVP_PKEY **pkey, X509 **cert,
		       struct lt_err *err)
{
	char pw[MAX_PASSWORD] = "";
	struct file_data f;
	PKCS12 *p12 = NULL;
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	const char *pass = NULL;
	int rc = file_read(path, "private key", 1, MAX_KEY_FILE, &f, err);
	if (rc != LT_OK)
		return rc;
	if (password_file && (rc = password_read(password_file, pw, err)) != LT_OK)
		goto out;
	bio = BIO_new_mem_buf(f.p, (int)f.len);
	p12 = bio ? d2i_PKCS12_bio(bio, NULL) : NULL;
	if (!p12) {
		rc = lt_err_set(err, LT_ECONFIG, "%s is not a PKCS#12 file", path);
		goto out;
	}
	if (PKCS12_mac_present(p12)) {
		/* Without a password file, try the empty password both ways PKCS#12 writers use. */
		if (password_file && PKCS12_verify_mac(p12, pw, -1)) {
			pass = pw;
		} else if (password_file) {
			rc = lt_err_set(err, LT_ECONFIG, "cannot open PKCS#12 file %s: wrong password", path);
			goto out;
		} else if (PKCS12_verify_mac(p12, "", 0)) {
			pass = "";
		} else if (PKCS12_verify_mac(p12, NULL, 0)) {
			pass = NULL;
		} else {
			rc = lt_err_set(err, LT_ECONFIG, "cannot open PKCS#12 file %s: it needs a password file", path);
			goto out;
		}
	} else {
		pass = password_file ? pw : "";
	}
	if (!PKCS12_parse(p12, pass, &k, &c, NULL)) {
		rc = lt_err_set(err, LT_ECONFIG, "cannot read PKCS#12 file %s (files from older tools may use "
				"RC2/3DES: convert them, see certs/README.md)", path);
		goto out;
	}
	if ((pkey && !k) || (cert && !c)) {
		rc = lt_err_set(err, LT_ECONFIG, "PKCS#12 file %s holds no %s", path, !c ? "certificate" : "private key");
		goto out;
	}
	if (pkey) {
		*pkey = k;
		k = NULL;
	}
	if (cert) {
		*cert = c;
		c = NULL;
	}
out:
	EVP_PKEY_free(k);
	X509_free(c);
	PKCS12_free(p12);
	BIO_free(bio);
	OPENSSL_cleanse(pw, sizeof pw);
	file_release(&f);
	ERR_clear_error();
	return rc;
}

struct pem_pass {
	const char *pw; /* NULL: no password file */
	int asked;
};

/* Never prompt: hand over the password file's line, or fail. */
static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pem_pass *pp = u;
	(void)rwflag;
	pp->asked = 1;
	if (!pp->pw)
		return -1;
	size_t n = strlen(pp->pw);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pp->pw, n);
	return (int)n;
}

EVP_PKEY *lt_key_load(const char *path, const char *password_file, struct lt_err *err)
{
	char pw[MAX_PASSWORD] = "";
	struct pem_pass pp = { NULL, 0 };
	struct file_data f = { NULL, 0, 1 };
	EVP_PKEY *k = NULL;
	BIO *bio = NULL;

	if (!path || !*path) {
		lt_err_set(err, LT_ECONFIG, "no private key file given");
		return NULL;
	}
	if (lt_token_is_uri(path))
		return lt_token_key_load(path, err);
	if (is_pkcs12_path(path)) {
		pkcs12_load(path, password_file, &k, NULL, err);
		return k;
	}
	if (file_read(path, "private key", 1, MAX_KEY_FILE, &f, err) != LT_OK)
		return NULL;
	if (password_file) {
		if (password_read(password_file, pw, err) != LT_OK)
			goto out;
		pp.pw = pw;
	}
	bio = BIO_new_mem_buf(f.p, (int)f.len);
	if (bio)
		k = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_cb, &pp);
	if (!k) {
		if (pp.asked && !pp.pw)
			lt_err_set(err, LT_ECONFIG, "private key file %s is encrypted and no password file is given", path);
		else if (pp.asked)
			lt_err_set(err, LT_ECONFIG, "cannot decrypt private key file %s: wrong password", path);
		else
			lt_err_set(err, LT_ECONFIG, "private key file %s holds no PEM private key (PKCS#8 or traditional)", path);
	}
out:
	BIO_free(bio);
	OPENSSL_cleanse(pw, sizeof pw);
	file_release(&f);
	ERR_clear_error();
	return k;
}

X509 *lt_cert_load(const char *path, const char *password_file, struct lt_err *err)
{
	struct file_data f;
	X509 *c = NULL;
	BIO *bio = NULL;

	if (!path || !*path) {
		lt_err_set(err, LT_ECONFIG, "no certificate file given");
		return NULL;
	}
	if (is_pkcs12_path(path)) {
		pkcs12_load(path, password_file, NULL, &c, err);
		return c;
	}
	if (file_read(path, "certificate", 0, MAX_CERT_FILE, &f, err) != LT_OK)
		return NULL;
	bio = BIO_new_mem_buf(f.p, (int)f.len);
	if (bio)
		c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!c && bio) { /* a single DER certificate (.cer) is accepted too */
		BIO_free(bio);
		bio = BIO_new_mem_buf(f.p, (int)f.len);
		c = bio ? d2i_X509_bio(bio, NULL) : NULL;
	}
	if (!c)
		lt_err_set(err, LT_ECONFIG, "certificate file %s holds no certificate (PEM or DER)", path);
	BIO_free(bio);
	file_release(&f);
	ERR_clear_error();
	return c;
}

STACK_OF(X509) *lt_certs_load(const char *path, struct lt_err *err)
{
	struct file_data f;
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	X509 *c;

	if (!path || !*path) {
		lt_err_set(err, LT_ECONFIG, "no certificate file given");
		return NULL;
	}
	if (file_read(path, "certificate", 0, MAX_CERT_FILE, &f, err) != LT_OK)
		return NULL;
	sk = sk_X509_new_null();
	bio = BIO_new_mem_buf(f.p, (int)f.len);
	if (!sk || !bio) {
		lt_err_set(err, LT_ENOMEM, "out of memory reading certificate file %s", path);
		goto fail;
	}
	ERR_clear_error();
	while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, c)) {
			X509_free(c);
			lt_err_set(err, LT_ENOMEM, "out of memory reading certificate file %s", path);
			goto fail;
		}
	}
	/* The loop ends at end of file (no further start line) or at a broken block. */
	unsigned long e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		lt_err_set(err, LT_ECONFIG, "certificate file %s: certificate %d is not valid PEM",
			   path, sk_X509_num(sk) + 1);
		goto fail;
	}
	if (sk_X509_num(sk) == 0) {
		lt_err_set(err, LT_ECONFIG, "certificate file %s holds no PEM certificate", path);
		goto fail;
	}
	BIO_free(bio);
	file_release(&f);
	ERR_clear_error();
	return sk;
fail:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	file_release(&f);
	ERR_clear_error();
	return NULL;
}

void lt_cert_kid(X509 *cert, char out[LT_KID_MAX])
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	size_t o = 0;

	out[0] = '\0';
	if (!X509_digest(cert, EVP_sha256(), md, &n) || n != 32)
		return;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)md[i] << 16 | (unsigned)md[i + 1] << 8 | md[i + 2];
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = al[v >> 6 & 63];
		out[o++] = al[v & 63];
	}
	/* 32 = 30 + 2: two bytes left, three characters, no padding */
	unsigned v = (unsigned)md[30] << 16 | (unsigned)md[31] << 8;
	out[o++] = al[v >> 18 & 63];
	out[o++] = al[v >> 12 & 63];
	out[o++] = al[v >> 6 & 63];
	out[o] = '\0';
}

int64_t lt_cert_seconds_left(X509 *cert)
{
	int days = 0, secs = 0;
	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
		return -1;
	return (int64_t)days * 86400 + secs;
}

int lt_cert_days_left(X509 *cert)
{
	int days = 0, secs = 0;
	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
		return -1;
	if (days == 0 && secs < 0)
		return -1;
	return days;
}

void lt_cert_cn(X509 *cert, char *out, size_t n)
{
	X509_NAME *name = X509_get_subject_name(cert);
	unsigned char *utf8 = NULL;
	int i, len;
	size_t k = 0;

	if (!n)
		return;
	out[0] = '\0';
	i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	if (i < 0)
		return;
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (len < 0)
		return;
	for (int j = 0; j < len && k + 1 < n; j++) {
		unsigned char ch = utf8[j];
		if (ch >= 0x80) {
			/* copy a whole UTF-8 sequence or stop */
			int sl = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
			if (j + sl > len || k + sl >= n)
				break;
			memcpy(out + k, utf8 + j, (size_t)sl);
			k += (size_t)sl;
			j += sl - 1;
			continue;
		}
		out[k++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	out[k] = '\0';
	OPENSSL_free(utf8);
}

int lt_cert_may_sign(X509 *cert, char *why, size_t n)
{
	uint32_t flags = X509_get_extension_flags(cert);
	if (flags & EXFLAG_CA) {
		snprintf(why, n, "a CA certificate");
		return 0;
	}
	if (!(flags & EXFLAG_KUSAGE)) {
		snprintf(why, n, "without key usage (digitalSignature or nonRepudiation is needed to sign)");
		return 0;
	}
	if (!(X509_get_key_usage(cert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
		snprintf(why, n, "not for signing (its key usage has neither digitalSignature nor nonRepudiation)");
		return 0;
	}
	if (!(flags & EXFLAG_XKUSAGE))
		return 1;
	/* Walk the OIDs rather than X509_get_extended_key_usage: an OID OpenSSL has no flag
	 * for (documentSigning, a national one) makes the certificate more than a TLS one. */
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	int tls_only = eku && sk_ASN1_OBJECT_num(eku) > 0;
	for (int i = 0; tls_only && i < sk_ASN1_OBJECT_num(eku); i++) {
		int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
		tls_only = nid == NID_server_auth || nid == NID_client_auth;
	}
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	if (tls_only) {
		snprintf(why, n, "a TLS certificate (extended key usage serverAuth/clientAuth only)");
		return 0;
	}
	return 1;
}

void lt_own_certs_copy(struct lt_own_certs *to, const struct lt_own_certs *from)
{
	to->sign = from ? from->sign : NULL;
	to->tls = from ? from->tls : NULL;
	if (to->sign) {
		X509_up_ref(to->sign);
		X509_get0_pubkey(to->sign);
	}
	if (to->tls) {
		X509_up_ref(to->tls);
		X509_get0_pubkey(to->tls);
	}
}

void lt_own_certs_clear(struct lt_own_certs *own)
{
	if (!own)
		return;
	X509_free(own->sign);
	own->sign = NULL;
	X509_free(own->tls);
	own->tls = NULL;
}

static int same_key(X509 *a, X509 *b)
{
	EVP_PKEY *ka = a ? X509_get0_pubkey(a) : NULL, *kb = b ? X509_get0_pubkey(b) : NULL;
	return ka && kb && EVP_PKEY_eq(ka, kb) == 1;
}

const char *lt_own_cert_match(const struct lt_own_certs *own, X509 *cert)
{
	if (!own)
		return NULL;
	if (same_key(own->sign, cert))
		return "signing";
	if (same_key(own->tls, cert))
		return "TLS";
	return NULL;
}
