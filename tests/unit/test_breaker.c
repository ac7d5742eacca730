/* test_breaker.c — the per-peer circuit breaker's states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retry.h"

static void test_opens_after_threshold_failures_in_a_row(void **state)
{
	(void)state;
	struct lt_breaker b = { 0 };
	int64_t wait = 0;
	for (int i = 0; i < 4; i++)
		assert_int_equal(lt_breaker_record(&b, 1, 0, 5, 60000), LT_BREAKER_SAME);
	assert_int_equal(lt_breaker_record(&b, 0, 0, 5, 60000), LT_BREAKER_SAME);     /* a success resets the count */
	for (int i = 0; i < 4; i++)
		lt_breaker_record(&b, 1, 0, 5, 60000);
	assert_true(lt_breaker_allow(&b, 0, &wait));
	assert_int_equal(lt_breaker_record(&b, 1, 100, 5, 60000), LT_BREAKER_OPENED);
	assert_false(lt_breaker_allow(&b, 600, &wait));
	assert_int_equal(wait, 500);                    /* first probe 1 s after it opened */
	assert_int_equal(b.trips, 1);
}

static void test_one_probe_at_a_time_and_backoff_doubles_to_the_cap(void **state)
{
	(void)state;
	struct lt_breaker b = { 0 };
	int64_t wait = 0, now = 0;
	lt_breaker_record(&b, 1, now, 1, 3000);
	assert_true(b.open);
	int64_t expect[] = { 1000, 2000, 3000, 3000 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(b.period_ms, expect[i]);
		now = b.probe_at_ms;
		assert_true(lt_breaker_allow(&b, now, &wait));          /* the probe */
		assert_false(lt_breaker_allow(&b, now, &wait));         /* nothing else while it runs */
		assert_int_equal(wait, -1);
		/* an attempt started before the breaker opened fails: no change */
		assert_int_equal(lt_breaker_record(&(struct lt_breaker){ .open = 1, .probe_at_ms = 9 }, 1, now, 1, 3000),
				 LT_BREAKER_SAME);
		assert_int_equal(lt_breaker_record(&b, 1, now, 1, 3000), LT_BREAKER_SAME);  /* probe failed */
		assert_false(b.probing);
	}
	now = b.probe_at_ms;
	assert_true(lt_breaker_allow(&b, now, &wait));
	assert_int_equal(lt_breaker_record(&b, 0, now, 1, 3000), LT_BREAKER_CLOSED);
	assert_true(lt_breaker_allow(&b, now, &wait));
	assert_true(lt_breaker_allow(&b, now, &wait));
	assert_int_equal(b.period_ms, 0);
}

static void test_threshold_zero_never_opens(void **state)
{
	(void)state;
	struct lt_breaker b = { 0 };
	int64_t wait;
	for (int i = 0; i < 100; i++)
		assert_int_equal(lt_breaker_record(&b, 1, i, 0, 60000), LT_BREAKER_SAME);
	assert_true(lt_breaker_allow(&b, 100, &wait));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opens_after_threshold_failures_in_a_row),
		cmocka_unit_test(test_one_probe_at_a_time_and_backoff_doubles_to_the_cap),
		cmocka_unit_test(test_threshold_zero_never_opens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
