/* test_numbers.c — numbers from peers and configuration are range-checked
 * before any conversion or arithmetic (lt_parse_int64, lt_within_window,
 * durations, sizes, Retry-After). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "config.h"
#include "config_keys.h"
#include "gateway.h"
#include "retry.h"

static void test_whole_numbers_outside_int64_or_the_bounds_are_refused_not_clamped(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	int64_t v = 7;
	assert_int_equal(lt_parse_int64("9223372036854775807", INT64_MIN, INT64_MAX, &v, &err), LT_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(lt_parse_int64("-9223372036854775808", INT64_MIN, INT64_MAX, &v, &err), LT_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(lt_parse_int64("-0", 0, 0, &v, &err), LT_OK);
	assert_int_equal(v, 0);
	v = 7;
	assert_int_equal(lt_parse_int64("9223372036854775808", INT64_MIN, INT64_MAX, &v, &err), LT_ETOOBIG);
	assert_non_null(strstr(err.msg, "the most allowed is 9223372036854775807"));
	assert_int_equal(lt_parse_int64("-9223372036854775809", INT64_MIN, INT64_MAX, &v, &err), LT_ETOOBIG);
	assert_non_null(strstr(err.msg, "the least allowed"));
	assert_int_equal(lt_parse_int64("1111111111111111111111111111111111111111111111111111111111", 0, 10, &v, &err),
			 LT_ETOOBIG);
	assert_non_null(strstr(err.msg, "out of range: the most allowed is 10"));
	/* 2^64 + 1 would be 1 after a wrap */
	assert_int_equal(lt_parse_int64("18446744073709551617", 0, 10, &v, &err), LT_ETOOBIG);
	assert_int_equal(lt_parse_int64("11", 0, 10, &v, &err), LT_ETOOBIG);
	assert_int_equal(lt_parse_int64("-1", 0, 10, &v, &err), LT_ETOOBIG);
	assert_int_equal(v, 7);                 /* untouched by every refusal */
	const char *not_numbers[] = { "", "-", "+1", " 1", "1 ", "0x10", "1e3", "1.0", "--1", "١" };
	for (size_t i = 0; i < sizeof not_numbers / sizeof *not_numbers; i++) {
		assert_int_equal(lt_parse_int64(not_numbers[i], INT64_MIN, INT64_MAX, &v, &err), LT_EINVAL);
		assert_non_null(strstr(err.msg, "is not a whole number"));
	}
	assert_int_equal(lt_parse_int64(NULL, 0, 1, &v, NULL), LT_EINVAL);
}

/* An iat whose iat · 1000 wraps (mod 2^64) to within a second of now_ms:
 * (2^64 + t) / 1000 for the t near now_ms that makes it whole. */
static int64_t wrapping_seconds(int64_t now_ms)
{
	for (int64_t t = now_ms - 1000; t <= now_ms + 1000; t++) {
		unsigned __int128 x = ((unsigned __int128)1 << 64) + (uint64_t)t;
		if (x % 1000 == 0)
			return (int64_t)(x / 1000);
	}
	return 0;
}

static void test_timestamps_far_out_are_outside_the_window_however_they_would_wrap(void **state)
{
	(void)state;
	int64_t now = 1795500000000, window = 300000;
	assert_true(lt_within_window(1795500000, now, window));
	assert_true(lt_within_window(1795500000 - 300, now, window));
	assert_true(lt_within_window(1795500000 + 300, now, window));
	assert_false(lt_within_window(1795500000 - 301, now, window));
	assert_false(lt_within_window(1795500000 + 301, now, window));
	const int64_t far[] = { (int64_t)1 << 62, -((int64_t)1 << 62), 9223372036854775, 9223372036854776, INT64_MAX,
				INT64_MIN, LT_TIME_MAX_S + 1, -LT_TIME_MAX_S - 1, wrapping_seconds(now) };
	for (size_t i = 0; i < sizeof far / sizeof *far; i++)
		assert_false(lt_within_window(far[i], now, window));
	assert_true(wrapping_seconds(now) > LT_TIME_MAX_S);
	/* a now or a window out of range answers "no" rather than computing */
	assert_false(lt_within_window(0, INT64_MAX, window));
	assert_false(lt_within_window(0, 0, INT64_MAX));
	assert_false(lt_within_window(0, 0, -1));
	int64_t ms = 0;
	assert_int_equal(lt_s_to_ms(LT_TIME_MAX_S, &ms), LT_OK);
	assert_true(ms == LT_TIME_MAX_S * 1000);
	assert_int_equal(lt_s_to_ms(INT64_MAX / 1000 + 1, &ms), LT_ETOOBIG);
}

static void test_durations_over_the_limit_are_refused_before_conversion(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	int64_t ms = -7;
	assert_int_equal(lt_parse_duration("1111111111111111111111111111", &ms, &err), LT_ETOOBIG);
	assert_non_null(strstr(err.msg, "over the limit of 366d"));
	char digits[400];
	memset(digits, '9', sizeof digits - 2);
	strcpy(digits + sizeof digits - 2, "h");        /* strtod: inf */
	assert_int_equal(lt_parse_duration(digits, &ms, &err), LT_ETOOBIG);
	assert_int_equal(lt_parse_duration("367d", &ms, &err), LT_ETOOBIG);
	assert_int_equal(ms, -7);
	assert_int_equal(lt_parse_duration("366d", &ms, &err), LT_OK);
	assert_true(ms == LT_DURATION_MAX_MS);
	assert_int_equal(lt_parse_duration("1.5s", &ms, &err), LT_OK);
	assert_int_equal(ms, 1500);
	assert_int_equal(lt_parse_duration("250ms", &ms, &err), LT_OK);
	assert_int_equal(ms, 250);
	assert_int_equal(lt_parse_duration("30", &ms, &err), LT_OK);
	assert_int_equal(ms, 30000);
	const char *bad[] = { "", "nan", "inf", "infs", "1e300s", "-1s", "+1s", "0x10s", ".5s", "1.s", "1 s", "5 m", "1w" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(lt_parse_duration(bad[i], &ms, &err), LT_EINVAL);
		assert_non_null(strstr(err.msg, "is not a duration"));
	}
}

static void test_sizes_over_the_limit_are_refused_before_the_multiplication(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	size_t n = 7;
	assert_int_equal(lt_parse_size("99999999999999999999k", LT_MAX_BODY_LIMIT, &n, &err), LT_ETOOBIG);
	assert_non_null(strstr(err.msg, "over the limit of 268435456"));
	/* 2^54 + 1 KiB is 1024 bytes after a 64-bit wrap */
	assert_int_equal(lt_parse_size("18014398509481985k", UINT64_MAX, &n, &err), LT_ETOOBIG);
	assert_int_equal(lt_parse_size("257m", LT_MAX_BODY_LIMIT, &n, &err), LT_ETOOBIG);
	assert_int_equal(lt_parse_size("0", LT_MAX_BODY_LIMIT, &n, &err), LT_ETOOBIG);
	assert_int_equal(n, 7);
	assert_int_equal(lt_parse_size("256m", LT_MAX_BODY_LIMIT, &n, &err), LT_OK);
	assert_true(n == LT_MAX_BODY_LIMIT);
	assert_int_equal(lt_parse_size("64KiB", LT_MAX_BODY_LIMIT, &n, &err), LT_OK);
	assert_int_equal(n, 65536);
	const char *bad[] = { "", "-1", "+1", "1g", "1 k", "k", "0x10", "1.5m" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(lt_parse_size(bad[i], LT_MAX_BODY_LIMIT, &n, &err), LT_EINVAL);
}

static void test_retry_after_from_a_peer_is_capped_whatever_its_size(void **state)
{
	(void)state;
	assert_int_equal(lt_parse_retry_after("2", lt_now_ms()), 2000);
	assert_int_equal(lt_parse_retry_after("86399", lt_now_ms()), 86399000);
	assert_int_equal(lt_parse_retry_after("86401", lt_now_ms()), LT_RETRY_AFTER_MAX_MS);
	assert_int_equal(lt_parse_retry_after("604801", lt_now_ms()), LT_RETRY_AFTER_MAX_MS);
	assert_int_equal(lt_parse_retry_after("99999999999999999999999999999", lt_now_ms()), LT_RETRY_AFTER_MAX_MS);
	assert_int_equal(lt_parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", lt_now_ms()), LT_RETRY_AFTER_MAX_MS);
	assert_int_equal(lt_parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", lt_now_ms()), 0);
	int64_t soon = lt_parse_retry_after("Sun, 01 Jan 2090 00:00:00 GMT", lt_now_ms());
	assert_true(soon == LT_RETRY_AFTER_MAX_MS);
	const char *bad[] = { "", "-5", "2 s", "0x10", "soon", "Fri, 31 Dec 99999 23:59:59 GMT" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(lt_parse_retry_after(bad[i], lt_now_ms()), 0);
	/* the backoff never passes max_delay, however many attempts */
	for (int attempt = 1; attempt < 200; attempt += 13)
		assert_true(lt_retry_delay(attempt, 1000, LT_DURATION_MAX_MS, 0, UINT64_MAX) <= LT_DURATION_MAX_MS);
	assert_true(lt_retry_delay(1000000, LT_DURATION_MAX_MS, LT_DURATION_MAX_MS, 0, UINT64_MAX) <= LT_DURATION_MAX_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_numbers_outside_int64_or_the_bounds_are_refused_not_clamped),
		cmocka_unit_test(test_timestamps_far_out_are_outside_the_window_however_they_would_wrap),
		cmocka_unit_test(test_durations_over_the_limit_are_refused_before_conversion),
		cmocka_unit_test(test_sizes_over_the_limit_are_refused_before_the_multiplication),
		cmocka_unit_test(test_retry_after_from_a_peer_is_capped_whatever_its_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
