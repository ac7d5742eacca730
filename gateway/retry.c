/* retry.c — backoff with full jitter, Retry-After, and time-ordered ids. */
#include "gateway.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rand64(void)
{
	uint64_t v = 0;
	if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
		v = (uint64_t)random() << 32 ^ (uint64_t)random();
	return v;
}

int64_t lt_retry_delay(int attempt, int64_t initial_ms, int64_t max_delay_ms, int64_t retry_after_ms)
{
	if (attempt < 1)
		attempt = 1;
	int64_t cap = initial_ms;
	for (int i = 1; i < attempt && cap < max_delay_ms; i++)
		cap = cap > max_delay_ms / 2 ? max_delay_ms : cap * 2;   /* doubling never passes max_delay */
	if (cap > max_delay_ms)
		cap = max_delay_ms;
	int64_t d = cap > 0 ? (int64_t)(rand64() % (uint64_t)(cap + 1)) : 0;
	if (d < retry_after_ms)
		d = retry_after_ms;
	return d;
}

int64_t lt_parse_retry_after(const char *v)
{
	if (!v || !*v)
		return 0;
	if (isdigit((unsigned char)*v)) {
		/* any number of digits: what is over the cap is the cap, never a wrapped value */
		int64_t s;
		int rc = lt_parse_int64(v, 0, LT_RETRY_AFTER_MAX_MS / 1000, &s, NULL);
		return rc == LT_ETOOBIG ? LT_RETRY_AFTER_MAX_MS : rc ? 0 : s * 1000;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end || tm.tm_year < 70 || tm.tm_year > 9999 - 1900)
		return 0;
	int64_t at = (int64_t)timegm(&tm) * 1000;       /* years 1970..9999: no overflow */
	int64_t d = at - lt_now_ms();
	return d <= 0 ? 0 : d > LT_RETRY_AFTER_MAX_MS ? LT_RETRY_AFTER_MAX_MS : d;
}

/* ULID-style: 48-bit millisecond time + 80 random bits, monotonic within a
 * millisecond so ids from one process sort in the order they were made. */
void lt_event_id(char out[27])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last_ms;
	static unsigned char last_rand[10];
	unsigned char r[10];
	int64_t ms = lt_now_ms();
	pthread_mutex_lock(&lock);
	if (ms <= last_ms) {
		ms = last_ms;
		memcpy(r, last_rand, sizeof r);
		for (int i = 9; i >= 0 && ++r[i] == 0; i--)
			;
	} else {
		if (RAND_bytes(r, sizeof r) != 1)
			for (int i = 0; i < 10; i++)
				r[i] = (unsigned char)random();
		r[0] &= 0x7f;   /* room to count up within one millisecond */
	}
	last_ms = ms;
	memcpy(last_rand, r, sizeof r);
	pthread_mutex_unlock(&lock);

	unsigned char b[16];
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
	memcpy(b + 6, r, 10);
	/* 128 bits → 26 base32 digits, most significant first (2 leading pad bits) */
	int bit = -2;
	for (int i = 0; i < 26; i++, bit += 5) {
		int v = 0;
		for (int k = 0; k < 5; k++) {
			int pos = bit + k;
			int set = pos >= 0 && (b[pos / 8] >> (7 - pos % 8)) & 1;
			v = v << 1 | set;
		}
		out[i] = alphabet[v];
	}
	out[26] = '\0';
}

int lt_breaker_allow(struct lt_breaker *b, int64_t now_ms, int64_t *wait_ms)
{
	if (!b->open)
		return 1;
	if (b->probing) {
		*wait_ms = -1;
		return 0;
	}
	if (now_ms < b->probe_at_ms) {
		*wait_ms = b->probe_at_ms - now_ms;
		return 0;
	}
	b->probing = 1;
	return 1;
}

enum lt_breaker_change lt_breaker_record(struct lt_breaker *b, int down, int64_t now_ms, int threshold,
					 int64_t max_ms)
{
	if (!down) {
		int was_open = b->open;
		b->failures = 0;
		b->open = b->probing = 0;
		b->period_ms = 0;
		return was_open ? LT_BREAKER_CLOSED : LT_BREAKER_SAME;
	}
	b->failures++;
	if (b->open && !b->probing)
		return LT_BREAKER_SAME;         /* an attempt started before it opened */
	if (!b->open && (threshold <= 0 || b->failures < threshold))
		return LT_BREAKER_SAME;
	int was_open = b->open;
	b->period_ms = b->period_ms ? b->period_ms * 2 : 1000;
	if (b->period_ms > max_ms)
		b->period_ms = max_ms > 0 ? max_ms : 1;
	b->open = 1;
	b->probing = 0;
	b->probe_at_ms = now_ms + b->period_ms;
	if (!was_open)
		b->trips++;
	return was_open ? LT_BREAKER_SAME : LT_BREAKER_OPENED;
}
