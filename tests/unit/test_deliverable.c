/* test_deliverable.c — what a destination needs of an event, and filling it
 * from the dossier's stored facts (gateway/deliverable.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "config.h"
#include "deliverable.h"
#include "mapping.h"

static const struct lt_adapter needs = {
	.name = "needs",
	.requires = "dossier.step: detail.step.name|detail.step.code; dossier.returned dossier.resolved: "
		    "dossier.applicant.name dossier.procedure.code; *: dossier.channel",
};

static json_t *ev(const char *text)
{
	json_t *e = json_loads(text, 0, NULL);
	assert_non_null(e);
	return e;
}

static void test_the_first_rule_naming_the_type_applies(void **state)
{
	(void)state;
	struct lt_peer p = { .name = "p", .adapter = &needs };
	json_t *missing = json_array();
	json_t *step = ev("{\"type\":\"dossier.step\",\"detail\":{\"step\":{\"code\":\"TD\"}}}");
	assert_int_equal(lt_deliverable_missing(&p, step, missing), 0);          /* either of two */
	json_t *ret = ev("{\"type\":\"dossier.returned\",\"dossier\":{\"applicant\":{\"name\":\"\"}}}");
	assert_int_equal(lt_deliverable_missing(&p, ret, missing), 2);           /* "" is no value */
	assert_string_equal(json_string_value(json_array_get(missing, 0)), "dossier.applicant.name");
	assert_string_equal(json_string_value(json_array_get(missing, 1)), "dossier.procedure.code");
	json_t *rec = ev("{\"type\":\"dossier.received\"}");
	assert_int_equal(lt_deliverable_missing(&p, rec, NULL), 1);              /* "*" */
	json_decref(missing);
	json_decref(step);
	json_decref(ret);
	json_decref(rec);
}

static void test_what_is_missing_is_filled_from_the_facts_and_named(void **state)
{
	(void)state;
	struct lt_peer p = { .name = "p", .adapter = &needs };
	json_t *facts = ev("{\"applicant\":{\"name\":\"An\",\"phone\":\"09\"},\"procedure\":{\"code\":\"1.1\",\"name\":\"X\"},"
			   "\"channel\":\"online\"}");
	json_t *ret = ev("{\"type\":\"dossier.returned\",\"dossier\":{\"procedure\":{\"name\":\"X\"}}}");
	assert_int_equal(lt_deliverable_fill_one(&p, ret, facts), 2);
	/* an absent member comes whole (the applicant's phone with the name); a present one gets the leaf */
	assert_string_equal(lt_json_str(ret, "dossier.applicant.phone"), "09");
	assert_string_equal(lt_json_str(ret, "dossier.procedure.code"), "1.1");
	json_t *filled = (json_t *)lt_json_dig(ret, "detail.filled_from_dossier");
	assert_int_equal(json_array_size(filled), 2);
	assert_string_equal(json_string_value(json_array_get(filled, 0)), "dossier.applicant");
	assert_string_equal(json_string_value(json_array_get(filled, 1)), "dossier.procedure.code");
	assert_int_equal(lt_deliverable_missing(&p, ret, NULL), 0);
	/* what the facts do not hold stays missing; detail fields are never filled */
	json_t *step = ev("{\"type\":\"dossier.step\"}");
	assert_int_equal(lt_deliverable_fill_one(&p, step, facts), 0);
	assert_null(json_object_get(step, "detail"));
	json_decref(facts);
	json_decref(ret);
	json_decref(step);
}

/* The worker's check for an event that has what each destination needs:
 * printed, so that `make test` shows what it costs. */
static void test_the_check_of_a_complete_event_costs_microseconds(void **state)
{
	(void)state;
	struct lt_peer peers[2] = { { .name = "portal" }, { .name = "post" } };
	peers[0].adapter = lt_adapter_find("provincial");
	peers[1].adapter = lt_adapter_find("postal");
	struct lt_config cfg = { .peers = peers, .npeers = 2 };
	json_t *events = json_pack("[{s:s,s:s,s:{s:{s:s},s:s,s:{s:s,s:s,s:{s:{s:s},s:{s:s}}}}}]", "type", "dossier.returned",
				   "dossier_code", "D", "dossier", "procedure", "code", "1.1", "channel", "postal", "applicant",
				   "name", "An", "phone", "09", "address", "province", "code", "68", "commune", "code", "22915");
	json_t *routes = json_pack("[[s,s]]", "portal", "post");
	struct timespec a, b;
	int n = 100000;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	for (int i = 0; i < n; i++)
		assert_null(lt_deliverable_wants(&cfg, events, routes));
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n / 1000;
	print_message("deliverable check, one event to the portal and the post office: %.2f us CPU\n", us);
	assert_true(us < 50);
	json_decref(events);
	json_decref(routes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_first_rule_naming_the_type_applies),
		cmocka_unit_test(test_what_is_missing_is_filled_from_the_facts_and_named),
		cmocka_unit_test(test_the_check_of_a_complete_event_costs_microseconds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
