/* util.c — errors, buffers, clocks and digests shared by every part. */
#include "lt.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/stat.h>
#include <openssl/evp.h>

int lt_err_set(struct lt_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *lt_code_name(int code)
{
	switch (code) {
	case LT_OK: return "ok";
	case LT_EINVAL: return "malformed";
	case LT_ESCHEMA: return "schema";
	case LT_ETOOBIG: return "too_large";
	case LT_ENOMEM: return "no_memory";
	case LT_EIO: return "store";
	case LT_ENOTFOUND: return "not_found";
	case LT_ECONFLICT: return "conflict";
	case LT_EAUTH: return "signature";
	case LT_EFORBIDDEN: return "forbidden";
	case LT_EBUSY: return "busy";
	case LT_ETYPE: return "content_type";
	case LT_ECONFIG: return "config";
	default: return "error";
	}
}

int lt_buf_append(struct lt_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return LT_ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return LT_OK;
}

int lt_buf_printf(struct lt_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LT_EINVAL;
	if ((size_t)n < sizeof small)
		return lt_buf_append(b, small, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return LT_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = lt_buf_append(b, big, (size_t)n);
	free(big);
	return rc;
}

void lt_buf_reset(struct lt_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void lt_buf_free(struct lt_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int64_t lt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lt_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lt_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

void lt_audit_hash(const struct lt_audit_row *r, char out[65])
{
	/* each field as LENGTH:VALUE; so that no two rows hash the same text */
	const char *fields[] = { r->prev, r->direction, r->peer, r->message_id, r->body_sha256, r->sig_sha256 };
	struct lt_buf b = { 0 };
	lt_buf_printf(&b, "lienthong-audit-1;%lld;", (long long)r->at_ms);
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		lt_buf_printf(&b, "%zu:%s;", strlen(fields[i] ? fields[i] : ""), fields[i] ? fields[i] : "");
	if (r->trust && *r->trust)
		lt_buf_printf(&b, "trust:%zu:%s;", strlen(r->trust), r->trust);
	lt_sha256_hex(b.data, b.len, out);
	lt_buf_free(&b);
}

/* Text that quotes what a client sent (a path, a header) and may be cut in
 * the middle of a character: bytes that are not UTF-8 become '?', in place.
 * Else jansson refuses the string and the answer or log line loses it
 * (found by fuzz_http). */
void lt_utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 1 : *p >= 0xC2 && *p <= 0xDF ? 2 : *p >= 0xE0 && *p <= 0xEF ? 3 :
			*p >= 0xF0 && *p <= 0xF4 ? 4 : 0;
		/* no overlong forms, no surrogates, nothing above U+10FFFF */
		unsigned lo = *p == 0xE0 ? 0xA0 : *p == 0xF0 ? 0x90 : 0x80, hi = *p == 0xED ? 0x9F : *p == 0xF4 ? 0x8F : 0xBF;
		int ok = n > 0;
		for (int i = 1; ok && i < n; i++)
			ok = p[i] >= (i == 1 ? lo : 0x80) && p[i] <= (i == 1 ? hi : 0xBF);
		if (ok)
			p += n;
		else
			*p++ = '?';
	}
}

int lt_parse_int64(const char *s, int64_t lo, int64_t hi, int64_t *out, struct lt_err *err)
{
	const uint64_t lim = (uint64_t)INT64_MAX + 1;   /* the magnitude of INT64_MIN */
	const char *p = s ? s : "", *more = strlen(p) > 24 ? "…" : "";
	int neg = *p == '-', beyond = 0;                 /* beyond: magnitude over 2^63 */
	uint64_t mag = 0;
	p += neg;
	if (!*p)
		return lt_err_set(err, LT_EINVAL, "\"%.24s\" is not a whole number", s ? s : "");
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			lt_err_set(err, LT_EINVAL, "\"%.24s%s\" is not a whole number", s, more);
			if (err)
				lt_utf8_clean(err->msg);        /* s may be a peer's bytes cut mid-character */
			return LT_EINVAL;
		}
		unsigned d = (unsigned)(*p - '0');
		if (!beyond && mag <= (lim - d) / 10)
			mag = mag * 10 + d;
		else
			beyond = 1;
	}
	int side = 0;           /* -1 below, 1 above what int64 holds */
	int64_t v = 0;
	if (beyond || mag > (neg ? lim : (uint64_t)INT64_MAX))
		side = neg ? -1 : 1;
	else
		v = !neg ? (int64_t)mag : mag == lim ? INT64_MIN : -(int64_t)mag;
	if (side < 0 || (!side && v < lo))
		return lt_err_set(err, LT_ETOOBIG, "%.24s%s is out of range: the least allowed is %lld", s, more,
				  (long long)lo);
	if (side > 0 || (!side && v > hi))
		return lt_err_set(err, LT_ETOOBIG, "%.24s%s is out of range: the most allowed is %lld", s, more,
				  (long long)hi);
	*out = v;
	return LT_OK;
}

int lt_s_to_ms(int64_t s, int64_t *ms)
{
	if (s < -LT_TIME_MAX_S || s > LT_TIME_MAX_S)
		return LT_ETOOBIG;
	*ms = s * 1000;
	return LT_OK;
}

int lt_within_window(int64_t t_s, int64_t now_ms, int64_t window_ms)
{
	const int64_t max_ms = LT_TIME_MAX_S * 1000;
	int64_t t_ms;
	if (lt_s_to_ms(t_s, &t_ms) || now_ms < -max_ms || now_ms > max_ms || window_ms < 0 || window_ms > max_ms)
		return 0;
	int64_t d = t_ms - now_ms;      /* |d| <= 2 · max_ms: no overflow */
	return d >= -window_ms && d <= window_ms;
}

void lt_mistake(struct lt_mistakes *m, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lt_buf_printf(m->errors, "%s:%d: %s\n", m->file, line, msg);
	m->n++;
}

int lt_same_dir(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static const char *digest_suffix;

static int digest_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name), k = strlen(digest_suffix);
	return d->d_name[0] != '.' && n > k && strcmp(d->d_name + n - k, digest_suffix) == 0;
}

/* One directory's files into the digest; -1 when one cannot be read. */
static int digest_dir(EVP_MD_CTX *md, const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, digest_file, alphasort), rc = n < 0 ? -1 : 0;
	char buf[16384];
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat sb;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		if (rc == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			FILE *f = fopen(path, "rb");
			if (!f)
				rc = -1;
			EVP_DigestUpdate(md, path, strlen(path) + 1);
			for (size_t got; f && (got = fread(buf, 1, sizeof buf, f)) > 0;)
				EVP_DigestUpdate(md, buf, got);
			if (f && ferror(f))
				rc = -1;
			if (f)
				fclose(f);
			EVP_DigestUpdate(md, "\n--\n", 4);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int lt_files_digest(const char *dirs, const char *more, const char *suffix, unsigned char out[32])
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  /* digest_suffix: scandir's filter has no argument */
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -1;
	char *list = strdup(dirs ? dirs : ""), *save = NULL;
	pthread_mutex_lock(&lock);
	digest_suffix = suffix;
	for (char *d = strtok_r(list, ":", &save); rc == 0 && d; d = strtok_r(NULL, ":", &save))
		rc = digest_dir(md, d);
	if (rc == 0 && more && *more) {
		EVP_DigestUpdate(md, "\0override\0", 10);
		rc = digest_dir(md, more);
	}
	pthread_mutex_unlock(&lock);
	free(list);
	if (rc == 0 && EVP_DigestFinal_ex(md, out, NULL) != 1)
		rc = -1;
	EVP_MD_CTX_free(md);
	return rc;
}

void lt_files_mark(struct lt_files_mark *m, const char *dirs, const char *more, const char *suffix, int after)
{
	unsigned char now[32];
	int ok = lt_files_digest(dirs, more, suffix, now) == 0;
	if (!after) {
		m->state = ok;
		memcpy(m->digest, now, sizeof now);
	} else {
		m->state = ok && m->state == 1 && memcmp(now, m->digest, sizeof now) == 0 ? 2 : 0;
	}
}

int lt_files_same(const struct lt_files_mark *m, const char *dirs, const char *more, const char *suffix)
{
	unsigned char now[32];
	return m->state == 2 && lt_files_digest(dirs, more, suffix, now) == 0 && memcmp(now, m->digest, sizeof now) == 0;
}

void lt_hist_add(struct lt_hist *h, double ms)
{
	h->sum_ms += ms;
	h->count++;
	for (int i = 0; i < LT_HIST_BUCKETS; i++)
		if (ms <= h->bounds_ms[i])
			h->buckets[i]++;
}
