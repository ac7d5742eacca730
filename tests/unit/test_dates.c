/* test_dates.c — local days and times in the gateway's one zone (dates.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dates.h"
#include "testutil.h"

static void test_a_day_starts_at_local_midnight(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(lt_date_parse_day("2026-09-02", 10, &t, NULL), 0);
	assert_int_equal(t, tu_at("2026-09-02T00:00:00+07:00"));
	assert_int_equal(t, tu_at("2026-09-01T17:00:00Z"));
	/* a day is the first n bytes: a holiday range's first half */
	assert_int_equal(lt_date_parse_day("2026-09-01..2026-09-02", 10, &t, NULL), 0);
	assert_int_equal(t, tu_at("2026-09-01T00:00:00+07:00"));
}

static void test_impossible_or_malformed_days_are_refused_by_name(void **state)
{
	(void)state;
	int64_t t = 42;
	struct lt_err err = { 0 };
	assert_int_equal(lt_date_parse_day("2026-02-29", 10, &t, &err), LT_EINVAL);
	assert_string_equal(err.msg, "\"2026-02-29\" is not a date like 2026-09-02");
	assert_int_equal(lt_date_parse_day("2026-9-2", 8, &t, &err), LT_EINVAL);
	assert_int_equal(lt_date_parse_day("2026-09-02T", 11, &t, &err), LT_EINVAL);
	assert_int_equal(lt_date_parse_day("2026/09/02", 10, &t, &err), LT_EINVAL);
	assert_int_equal(t, 42);
}

static void test_the_local_day_turns_at_local_midnight_not_utc(void **state)
{
	(void)state;
	int64_t day = lt_date_local_day(tu_at("2026-11-24T00:00:00+07:00"));
	assert_int_equal(lt_date_local_day(tu_at("2026-11-23T23:59:59+07:00")), day - 1);
	assert_int_equal(lt_date_local_day(tu_at("2026-11-24T23:59:59+07:00")), day);
	assert_int_equal(lt_date_local_day(tu_at("2026-11-23T17:00:00Z")), day);      /* 00:00 in Hanoi */
	assert_int_equal(lt_date_local_day(0), 0);                                 /* 07:00 on 1970-01-01 */
	assert_int_equal(lt_date_local_day(-LT_TZ_OFFSET_S - 1), -1);             /* before the epoch too */
	assert_string_equal(LT_DATE_LOCAL_DAY_SQL("due"), "((due + (7 * 3600)) / 86400)");
}

static void test_times_print_in_the_zone_with_milliseconds(void **state)
{
	(void)state;
	char out[40];
	lt_date_format_rfc3339_ms(tu_at("2026-11-24T02:00:00Z") * 1000 + 7, out);
	assert_string_equal(out, "2026-11-24T09:00:00.007+07:00");
	lt_date_format_rfc3339_ms(-1, out);
	assert_string_equal(out, "1970-01-01T06:59:59.999+07:00");
	char s[32];
	lt_date_format_rfc3339(tu_at("2026-11-24T16:59:59Z"), s);
	assert_string_equal(s, "2026-11-24T23:59:59+07:00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_day_starts_at_local_midnight),
		cmocka_unit_test(test_impossible_or_malformed_days_are_refused_by_name),
		cmocka_unit_test(test_the_local_day_turns_at_local_midnight_not_utc),
		cmocka_unit_test(test_times_print_in_the_zone_with_milliseconds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
