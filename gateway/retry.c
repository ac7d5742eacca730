/* retry.c — what follows an attempt (done, again after a backoff with full
 * jitter, dead at retry.max_age), Retry-After, and the per-peer circuit
 * breaker (retry.h). */
#include "retry.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t lt_retry_jitter(void)
{
	uint64_t v = 0;
	if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
		v = (uint64_t)random() << 32 ^ (uint64_t)random();
	return v;
}

int64_t lt_retry_delay(int attempt, int64_t initial_ms, int64_t max_delay_ms, int64_t retry_after_ms,
		       uint64_t jitter)
{
	if (attempt < 1)
		attempt = 1;
	int64_t cap = initial_ms;
	for (int i = 1; i < attempt && cap < max_delay_ms; i++)
		cap = cap > max_delay_ms / 2 ? max_delay_ms : cap * 2;   /* doubling never passes max_delay */
	if (cap > max_delay_ms)
		cap = max_delay_ms;
	int64_t d = cap > 0 ? (int64_t)(jitter % (uint64_t)(cap + 1)) : 0;
	if (d < retry_after_ms)
		d = retry_after_ms;
	return d;
}

void lt_retry_decide(const struct lt_retry_policy *p, const struct lt_attempt_end *e, struct lt_retry_decision *out)
{
	memset(out, 0, sizeof *out);
	if (e->verdict == LT_DONE) {
		out->next = LT_DS_DONE;
		return;
	}
	if (e->verdict == LT_DEAD) {
		out->next = LT_DS_DEAD;
		return;
	}
	out->next = LT_DS_PENDING;
	if (e->verdict == LT_RELOGIN) {
		out->relogin = 1;
		out->why = "session expired; logging in again";
	} else if (e->verdict == LT_RESEND) {
		out->resends = e->resends < 0xff ? e->resends + 1 : 0xff;
		if (e->resends < LT_RETRY_MAX_RESENDS)
			out->why = "sending again at once as the peer asked";
	}
	if (!out->why)
		out->delay_ms = lt_retry_delay(e->attempt, p->initial_ms, p->max_delay_ms, e->retry_after_ms, e->jitter);
	if (e->now_ms + out->delay_ms > e->created_ms + p->max_age_ms) {
		out->next = LT_DS_DEAD;
		out->expired = 1;
		out->delay_ms = 0;
		out->why = NULL;
	}
}

int64_t lt_parse_retry_after(const char *v, int64_t now_ms)
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
	int64_t d = at - now_ms;
	return d <= 0 ? 0 : d > LT_RETRY_AFTER_MAX_MS ? LT_RETRY_AFTER_MAX_MS : d;
}

int lt_peer_down(int answered, long status)
{
	return !answered || status >= 500;
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
