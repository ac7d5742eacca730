/* lt.h — types and helpers shared by every part of lienthong.
 *
 * Functions return 0 (LT_OK) or a negative LT_E* code and, on failure, fill a
 * caller-supplied struct lt_err with a sentence naming what was wrong. */
#ifndef LT_H
#define LT_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define LT_VERSION "0.1.0"

enum lt_code {
	LT_OK = 0,
	LT_EINVAL = -1,     /* malformed input (400) */
	LT_ESCHEMA = -2,    /* input fails its schema (422) */
	LT_ETOOBIG = -3,    /* over a size limit (413) */
	LT_ENOMEM = -4,
	LT_EIO = -5,        /* store or file system */
	LT_ENOTFOUND = -6,  /* unknown peer, file, key (404) */
	LT_ECONFLICT = -7,  /* message id reused with another body (409) */
	LT_EAUTH = -8,      /* missing or invalid signature (401) */
	LT_EFORBIDDEN = -9, /* wrong client identity (403) */
	LT_EBUSY = -10,     /* cannot take more now (503 / 429) */
	LT_ETYPE = -11,     /* wrong content type (415) */
	LT_ECONFIG = -12,   /* configuration mistake */
};

struct lt_err {
	int code;
	char msg[512];
};

/* Fill err (may be NULL) with code and a printf-style sentence; returns code. */
int lt_err_set(struct lt_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Short machine name for a code: "malformed", "schema", "too_large"… */
const char *lt_code_name(int code);

/* A growable byte buffer; data is always NUL-terminated for convenience. */
struct lt_buf {
	char *data;
	size_t len;
	size_t cap;
};

int lt_buf_append(struct lt_buf *b, const void *p, size_t n);
int lt_buf_printf(struct lt_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Where a file's mistakes go while it is read: one "FILE:LINE: problem" line each in
 * errors, counted in n (the code-table and mapping-file loaders). */
struct lt_mistakes {
	struct lt_buf *errors;
	int n;
	const char *file;
};
void lt_mistake(struct lt_mistakes *m, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A latency histogram for /metrics: cumulative counts by upper bound (ms,
 * LT_HIST_BUCKETS of them, bounds set by its owner), the sum and the count.
 * lt_hist_add under the owner's lock. */
#define LT_HIST_BUCKETS 8
struct lt_hist {
	const double *bounds_ms;
	double sum_ms;
	int64_t count, buckets[LT_HIST_BUCKETS];
};
void lt_hist_add(struct lt_hist *h, double ms);

/* 1 when paths a and b name the same file or directory (both exist). */
int lt_same_dir(const char *a, const char *b);
/* A digest of what a loader reads from directories: every regular file (by
 * stat) whose name ends with suffix and does not start with '.', in each
 * directory of dirs (a colon list) and then in more (NULL or ""), in name
 * order, with its name, size and bytes. 0, or -1 when one cannot be read. */
int lt_files_digest(const char *dirs, const char *more, const char *suffix, unsigned char out[32]);
/* What a loader read, as a digest taken before the load (after = 0) and again
 * after it (after = 1), kept only when both agree (the files did not change
 * while they were read); lt_files_same: they are still those bytes. */
struct lt_files_mark {
	unsigned char digest[32];
	int state;                 /* 0 none, 1 taken before, 2 before and after agree */
};
void lt_files_mark(struct lt_files_mark *m, const char *dirs, const char *more, const char *suffix, int after);
int lt_files_same(const struct lt_files_mark *m, const char *dirs, const char *more, const char *suffix);
void lt_buf_reset(struct lt_buf *b);
void lt_buf_free(struct lt_buf *b);

/* Wall clock in milliseconds since the epoch, and monotonic milliseconds. */
int64_t lt_now_ms(void);
int64_t lt_mono_ms(void);

/* Hex SHA-256 of data into out (65 bytes incl. NUL). */
void lt_sha256_hex(const void *data, size_t len, char out[65]);

/* Room for what vouches for a message or an answer (see answer.h): "signature;…",
 * "tls;…", "tls-client;…" or "none;…". */
#define LT_TRUST_MAX 256

/* One row of the audit trail: a message in, a signed message out, or an answer
 * that carried events, chained to the row before it by `prev` (the previous
 * row's hash; 64 zeros for the first). */
struct lt_audit_row {
	int64_t at_ms;
	const char *direction;          /* "in" | "out" | "answer" */
	const char *peer, *message_id;
	const char *body_sha256, *sig_sha256;   /* the detached signature's; "" when in the body or none */
	const char *trust;              /* what vouched for it (LT_TRUST_MAX); "" or NULL = not recorded */
	const char *prev;
};
/* The row's hash (hex), over every field and prev: change, insert or remove a
 * row and every later hash stops matching. A row without trust hashes as rows
 * did before the field existed, so older trails still verify. */
void lt_audit_hash(const struct lt_audit_row *r, char out[65]);

/* Replace bytes that are not well-formed UTF-8 with '?', in place. */
void lt_utf8_clean(char *s);

/* ---- numbers from peers and from the configuration ----------------------
 * Every number that comes from outside is range-checked before it is
 * converted or used in arithmetic: a time or size computed from an unchecked
 * one can wrap into a value that passes a later check. */

/* Unix seconds the gateway computes with are within ±LT_TIME_MAX_S (the last
 * second of year 9999): their milliseconds, sums and differences fit in int64. */
#define LT_TIME_MAX_S 253402300799LL

/* s as a whole decimal number in [lo, hi]: an optional '-' and digits, nothing
 * else (no space, '+', hex or exponent). 0 with *out set; LT_EINVAL when s is
 * not such a number, LT_ETOOBIG when it is one outside [lo, hi] — however many
 * digits it has. err (may be NULL) quotes s and names the bound; the caller
 * says whose number it is. */
int lt_parse_int64(const char *s, int64_t lo, int64_t hi, int64_t *out, struct lt_err *err);

/* *ms = s × 1000 for unix seconds s; LT_ETOOBIG (and *ms untouched) when s is
 * beyond ±LT_TIME_MAX_S. */
int lt_s_to_ms(int64_t s, int64_t *ms);

/* 1 when t_s (unix seconds, as a peer sent them) is within window_ms of now_ms,
 * else 0 — also when any of them is out of range (checked before any
 * arithmetic, so no value wraps into the window). */
int lt_within_window(int64_t t_s, int64_t now_ms, int64_t window_ms);

#endif
