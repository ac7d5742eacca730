/* test_sla.c — working days, the dossier state view and overdue detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dates.h"
#include "mapping.h"
#include "sla.h"
#include "testutil.h"

static void test_weekends_and_holidays_are_not_working_days(void **state)
{
	(void)state;
	struct lt_calendar cal;
	assert_int_equal(lt_calendar_parse("2026-09-01..2026-09-02 2027-01-01", &cal, NULL), 0);
	assert_true(lt_calendar_is_working_day(&cal, tu_at("2026-11-24T09:00:00+07:00")));   /* Tuesday */
	assert_false(lt_calendar_is_working_day(&cal, tu_at("2026-11-28T09:00:00+07:00")));  /* Saturday */
	assert_false(lt_calendar_is_working_day(&cal, tu_at("2026-11-29T09:00:00+07:00")));  /* Sunday */
	assert_false(lt_calendar_is_working_day(&cal, tu_at("2026-09-02T09:00:00+07:00")));  /* National Day */
	/* late Sunday evening in UTC is already Monday in Hà Nội */
	assert_true(lt_calendar_is_working_day(&cal, tu_at("2026-11-29T18:00:00Z")));
	lt_calendar_free(&cal);
}

static void test_adding_working_days_skips_weekend_and_holiday(void **state)
{
	(void)state;
	struct lt_calendar cal;
	assert_int_equal(lt_calendar_parse("2026-09-01..2026-09-02", &cal, NULL), 0);
	/* Friday + 1 working day = Monday */
	assert_int_equal(lt_add_working_days(&cal, tu_at("2026-11-27T10:00:00+07:00"), 1), tu_at("2026-11-30T10:00:00+07:00"));
	/* Friday 28 Aug + 2 = Thursday 3 Sep (Mon 31 works, 1-2 Sep are holidays) */
	assert_int_equal(lt_add_working_days(&cal, tu_at("2026-08-28T10:00:00+07:00"), 2), tu_at("2026-09-03T10:00:00+07:00"));
	assert_int_equal(lt_working_days_between(&cal, tu_at("2026-11-27T10:00:00+07:00"), tu_at("2026-12-02T10:00:00+07:00")), 3);
	lt_calendar_free(&cal);
}

static void test_bad_holiday_is_refused_naming_it(void **state)
{
	(void)state;
	struct lt_calendar cal;
	struct lt_err err = { 0 };
	assert_int_equal(lt_calendar_parse("2026-02-30", &cal, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "2026-02-30"));
}

static json_t *ev(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	assert_non_null(j);
	return j;
}

static void apply(struct lt_dossier *d, const char *json)
{
	json_t *e = ev(json);
	lt_dossier_apply(NULL, d, e);
	json_decref(e);
}

static void test_supplement_pauses_the_clock_and_moves_the_due_date(void **state)
{
	(void)state;
	struct lt_dossier d = { 0 };
	apply(&d, "{\"type\":\"dossier.received\",\"occurred_at\":\"2026-11-23T08:00:00+07:00\",\"dossier_code\":\"D1\","
		  "\"dossier\":{\"status\":2,\"due_at\":\"2026-11-26T17:00:00+07:00\"}}");
	assert_int_equal(d.due_at, tu_at("2026-11-26T17:00:00+07:00"));
	apply(&d, "{\"type\":\"dossier.supplement_requested\",\"occurred_at\":\"2026-11-24T09:00:00+07:00\",\"dossier_code\":\"D1\"}");
	assert_int_equal(d.status, 5);
	assert_false(lt_dossier_overdue(&d, tu_at("2026-11-30T09:00:00+07:00")));   /* paused */
	/* supplemented on Monday 30: Wed, Thu, Fri, Mon = 4 working days waited */
	apply(&d, "{\"type\":\"dossier.supplemented\",\"occurred_at\":\"2026-11-30T09:00:00+07:00\",\"dossier_code\":\"D1\"}");
	assert_int_equal(d.due_at, tu_at("2026-12-02T17:00:00+07:00"));
	assert_int_equal(d.paused_at, 0);
}

static void test_a_status_past_int_does_not_wrap_onto_a_portal_status(void **state)
{
	(void)state;
	struct lt_dossier d = { 0 };
	apply(&d, "{\"type\":\"dossier.received\",\"occurred_at\":\"2026-11-23T08:00:00+07:00\",\"dossier_code\":\"D3\","
		  "\"dossier\":{\"status\":2}}");
	/* 2^32 + 1 and 2^32 + 7 were statuses 1 and 7 after the cast to int */
	apply(&d, "{\"type\":\"dossier.step\",\"occurred_at\":\"2026-11-24T08:00:00+07:00\",\"dossier_code\":\"D3\","
		  "\"dossier\":{\"status\":4294967297}}");
	assert_int_equal(d.status, 2);
	apply(&d, "{\"type\":\"dossier.step\",\"occurred_at\":\"2026-11-24T09:00:00+07:00\",\"dossier_code\":\"D3\","
		  "\"dossier\":{\"status\":-9223372036854775801}}");
	assert_int_equal(d.status, 2);
}

static void test_overdue_once_per_due_date_and_apology_moves_it(void **state)
{
	(void)state;
	struct lt_dossier d = { 0 };
	apply(&d, "{\"type\":\"dossier.received\",\"occurred_at\":\"2026-11-23T08:00:00+07:00\",\"dossier_code\":\"D2\","
		  "\"dossier\":{\"status\":2,\"due_at\":\"2026-11-24T17:00:00+07:00\"}}");
	int64_t now = tu_at("2026-11-25T08:00:00+07:00");
	assert_true(lt_dossier_overdue(&d, now));
	json_t *o = lt_dossier_overdue_event(&d, now, "lienthong");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "dossier.overdue");
	lt_dossier_apply(NULL, &d, o);
	json_decref(o);
	assert_false(lt_dossier_overdue(&d, now));                               /* once per due date */
	apply(&d, "{\"type\":\"dossier.apology\",\"occurred_at\":\"2026-11-25T09:00:00+07:00\",\"dossier_code\":\"D2\","
		  "\"detail\":{\"reason\":\"chờ xác minh\",\"new_due_at\":\"2026-11-27T17:00:00+07:00\"}}");
	assert_int_equal(d.apologies, 1);
	assert_false(lt_dossier_overdue(&d, tu_at("2026-11-26T08:00:00+07:00")));
	assert_true(lt_dossier_overdue(&d, tu_at("2026-11-28T08:00:00+07:00")));   /* late again: a new notice */
	apply(&d, "{\"type\":\"dossier.resolved\",\"occurred_at\":\"2026-11-28T09:00:00+07:00\",\"dossier_code\":\"D2\"}");
	assert_false(lt_dossier_overdue(&d, tu_at("2026-11-29T08:00:00+07:00")));
}

static void test_portal_dates_convert_both_ways(void **state)
{
	(void)state;
	char out[32];
	struct lt_err err = { 0 };
	assert_int_equal(lt_date_rfc3339_to_compact("2025-03-10T08:15:00+07:00", out, &err), 0);
	assert_string_equal(out, "20250310081500");
	assert_int_equal(lt_date_rfc3339_to_vn("2025-03-10T01:15:00Z", out, &err), 0);
	assert_string_equal(out, "10/03/2025 08:15:00");
	int64_t t;
	assert_int_equal(lt_date_parse_compact("20260230120000", &t, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "20260230120000"));
	assert_string_equal(lt_code_to_canonical(&lt_channel_codes, "3", &err), "postal");
	assert_null(lt_code_to_canonical(&lt_channel_codes, "7", &err));
	assert_non_null(strstr(err.msg, "KenhThucHien"));
}

/* issue 10: an older or repeated event is in the trail, not in the view's
 * status; what the events told of the dossier is what a destination gets */
static void test_an_older_event_moves_neither_status_nor_last_event_back(void **state)
{
	(void)state;
	struct lt_dossier d = { 0 };
	json_t *rec = json_loads("{\"type\":\"dossier.received\",\"occurred_at\":\"2026-11-20T10:00:00+07:00\","
				 "\"dossier_code\":\"D\",\"dossier\":{\"status\":2,\"channel\":\"postal\","
				 "\"applicant\":{\"name\":\"An\",\"phone\":\"09\"}}}", 0, NULL);
	json_t *res = json_loads("{\"type\":\"dossier.resolved\",\"occurred_at\":\"2026-11-24T09:00:00+07:00\","
				 "\"dossier_code\":\"D\",\"dossier\":{\"status\":9,\"applicant\":{\"name\":\"Bình\"}}}",
				 0, NULL);
	json_t *late = json_loads("{\"type\":\"dossier.supplement_requested\",\"occurred_at\":\"2026-11-21T09:00:00+07:00\","
				  "\"dossier_code\":\"D\",\"dossier\":{\"status\":5,\"channel\":\"direct\","
				  "\"procedure\":{\"code\":\"1.1\"}}}", 0, NULL);
	lt_dossier_apply(NULL, &d, rec);
	lt_dossier_apply(NULL, &d, res);
	lt_dossier_apply(NULL, &d, late);
	assert_int_equal(d.status, LT_STATUS_RESOLVED);
	assert_string_equal(d.last_event, "dossier.resolved");
	assert_int_equal(d.paused_at, 0);
	assert_int_equal(d.last_at, tu_at("2026-11-24T09:00:00+07:00"));
	/* what they told of the dossier: the newer name replaced the older, the
	 * late event filled only what was unknown */
	json_t *events = json_pack("[O,O,O]", rec, res, late), *facts = lt_dossier_facts(events);
	assert_string_equal(lt_json_str(facts, "applicant.name"), "Bình");
	assert_string_equal(lt_json_str(facts, "applicant.phone"), "09");
	assert_string_equal(lt_json_str(facts, "channel"), "postal");
	assert_string_equal(lt_json_str(facts, "procedure.code"), "1.1");
	json_decref(facts);
	json_decref(events);
	json_decref(rec);
	json_decref(res);
	json_decref(late);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weekends_and_holidays_are_not_working_days),
		cmocka_unit_test(test_adding_working_days_skips_weekend_and_holiday),
		cmocka_unit_test(test_bad_holiday_is_refused_naming_it),
		cmocka_unit_test(test_supplement_pauses_the_clock_and_moves_the_due_date),
		cmocka_unit_test(test_a_status_past_int_does_not_wrap_onto_a_portal_status),
		cmocka_unit_test(test_overdue_once_per_due_date_and_apology_moves_it),
		cmocka_unit_test(test_portal_dates_convert_both_ways),
		cmocka_unit_test(test_an_older_event_moves_neither_status_nor_last_event_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
