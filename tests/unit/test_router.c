/* test_router.c — where an event goes: routes, their filters, no echo to the
 * sender, the handling agency first; [units]; and events stamped before the
 * store (events.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "events.h"
#include "router.h"

static char *none[] = { NULL };
static char *received[] = { "dossier.received", NULL };
static char *birth[] = { "2.000986", NULL };
static char *ward_7[] = { "000.07.12.H12", NULL };
static char *to_registry[] = { "hotich-tinh", NULL };
static char *to_portal_and_registry[] = { "cong-dvc-tinh", "hotich-tinh", NULL };
static char *to_office[] = { "motcua-xa", NULL };
static char *to_land[] = { "dat-dai", NULL };

static struct lt_route routes[] = {
	/* births received at the office go to the registry */
	{ .name = "birth", .from = "motcua-xa", .events = received, .procedures = birth, .agencies = none,
	  .to = to_registry },
	/* everything from anyone to the portal and the registry */
	{ .name = "all", .from = "*", .events = none, .procedures = none, .agencies = none,
	  .to = to_portal_and_registry },
	/* the gateway's own notices back to the office */
	{ .name = "overdue", .from = LT_GATEWAY_SOURCE, .events = none, .procedures = none, .agencies = none,
	  .to = to_office },
	/* what ward 7 handles goes to its land office */
	{ .name = "ward-7", .from = "*", .events = none, .procedures = none, .agencies = ward_7, .to = to_land },
};

static struct lt_config cfg = { .routes = routes, .nroutes = 4 };

/* The destinations of an event (JSON text) from a sender, as one string "a b c". */
static const char *route(const char *from, const char *event_json)
{
	static char out[256];
	json_t *ev = json_loads(event_json, 0, NULL);
	assert_non_null(ev);
	json_t *dests = json_array();
	lt_route_event(&cfg, from, ev, dests);
	out[0] = '\0';
	size_t i;
	json_t *d;
	json_array_foreach(dests, i, d) {
		if (i)
			strcat(out, " ");
		strcat(out, json_string_value(d));
	}
	json_decref(dests);
	json_decref(ev);
	return out;
}

static void test_every_matching_route_adds_its_destinations_once_in_config_order(void **state)
{
	(void)state;
	assert_string_equal(route("motcua-xa", "{\"type\":\"dossier.received\",\"dossier\":{\"procedure\":{\"code\":"
					       "\"2.000986\"}}}"),
			    "hotich-tinh cong-dvc-tinh");
}

static void test_filters_on_type_and_procedure(void **state)
{
	(void)state;
	/* another type, another procedure: only the catch-all route */
	assert_string_equal(route("motcua-xa", "{\"type\":\"dossier.step\",\"dossier\":{\"procedure\":{\"code\":"
					       "\"2.000986\"}}}"),
			    "cong-dvc-tinh hotich-tinh");
	assert_string_equal(route("motcua-xa", "{\"type\":\"dossier.received\",\"dossier\":{\"procedure\":{\"code\":"
					       "\"1.000894\"}}}"),
			    "cong-dvc-tinh hotich-tinh");
	/* a filter never matches an event that lacks the field */
	assert_string_equal(route("motcua-xa", "{\"type\":\"dossier.received\"}"), "cong-dvc-tinh hotich-tinh");
}

static void test_an_event_never_goes_back_to_its_sender(void **state)
{
	(void)state;
	assert_string_equal(route("hotich-tinh", "{\"type\":\"registry.registered\"}"), "cong-dvc-tinh");
	assert_string_equal(route("cong-dvc-tinh", "{\"type\":\"dossier.step\"}"), "hotich-tinh");
}

static void test_the_gateway_routes_its_own_events_by_its_name(void **state)
{
	(void)state;
	assert_string_equal(route(LT_GATEWAY_SOURCE, "{\"type\":\"dossier.overdue\"}"),
			    "cong-dvc-tinh hotich-tinh motcua-xa");
}

static void test_the_handling_agency_routes_before_the_receiving_one(void **state)
{
	(void)state;
	/* received in ward 9, handled by ward 7: ward 7's route */
	assert_string_equal(route("motcua-xa", "{\"type\":\"dossier.step\",\"dossier\":{"
					       "\"receiving_agency\":{\"code\":\"000.09.12.H12\"},"
					       "\"handling_agency\":{\"code\":\"000.07.12.H12\"}}}"),
			    "cong-dvc-tinh hotich-tinh dat-dai");
	/* received in ward 7, handled by ward 9: not ward 7's */
	assert_string_equal(route("motcua-xa", "{\"type\":\"dossier.step\",\"dossier\":{"
					       "\"receiving_agency\":{\"code\":\"000.07.12.H12\"},"
					       "\"handling_agency\":{\"code\":\"000.09.12.H12\"}}}"),
			    "cong-dvc-tinh hotich-tinh");
	/* no handling agency: the receiving one */
	assert_string_equal(route("motcua-xa", "{\"type\":\"dossier.step\",\"dossier\":{"
					       "\"receiving_agency\":{\"code\":\"000.07.12.H12\"}}}"),
			    "cong-dvc-tinh hotich-tinh dat-dai");
}

static void test_no_route_no_destination(void **state)
{
	(void)state;
	struct lt_config empty = { 0 };
	json_t *ev = json_pack("{s:s}", "type", "dossier.received"), *dests = json_array();
	lt_route_event(&empty, "motcua-xa", ev, dests);
	assert_int_equal(json_array_size(dests), 0);
	json_decref(ev);
	json_decref(dests);
}

static void test_units_read_old_codes_as_new_from_their_date(void **state)
{
	(void)state;
	struct lt_unit_map units[] = {
		{ .old_code = "OLD-WARD", .new_code = "NEW-WARD", .since = 0 },
		/* merged on 2025-07-01 (00:00 in Hanoi) */
		{ .old_code = "OLD-COMMUNE", .new_code = "NEW-COMMUNE", .since = 1751302800 },
	};
	struct lt_config c = { .units = units, .nunits = 2 };
	json_t *ev = json_loads("{\"occurred_at\":\"2025-07-01T08:00:00+07:00\",\"dossier\":{"
				"\"handling_agency\":{\"code\":\"OLD-WARD\"},"
				"\"applicant\":{\"address\":{\"commune\":{\"code\":\"OLD-COMMUNE\"}}}}}", 0, NULL);
	lt_units_apply(&c, ev);
	char *s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"detail\":{\"previous_codes\":{\"dossier.applicant.address.commune\":\"OLD-COMMUNE\","
			       "\"dossier.handling_agency\":\"OLD-WARD\"}},\"dossier\":{\"applicant\":{\"address\":"
			       "{\"commune\":{\"code\":\"NEW-COMMUNE\"}}},\"handling_agency\":{\"code\":\"NEW-WARD\"}},"
			       "\"occurred_at\":\"2025-07-01T08:00:00+07:00\"}");
	free(s);
	json_decref(ev);
	/* before the merger the old commune stands */
	ev = json_loads("{\"occurred_at\":\"2025-06-30T23:59:59+07:00\",\"dossier\":{"
			"\"applicant\":{\"address\":{\"commune\":{\"code\":\"OLD-COMMUNE\"}}}}}", 0, NULL);
	lt_units_apply(&c, ev);
	assert_null(json_object_get(ev, "detail"));
	json_decref(ev);
}

static void test_stamping_gives_an_id_the_source_and_the_routes(void **state)
{
	(void)state;
	json_t *events = json_loads("[{\"type\":\"dossier.step\",\"source\":\"someone-else\"},"
				    "{\"type\":\"dossier.step\",\"event_id\":\"01JD5Z3K9Q2W8E7R6T5Y4U3I2O\"}]", 0, NULL);
	json_t *routes = lt_events_stamp(&cfg, "hotich-tinh", events);
	assert_int_equal(json_array_size(routes), 2);
	json_t *first = json_array_get(events, 0), *second = json_array_get(events, 1);
	assert_int_equal(strlen(json_string_value(json_object_get(first, "event_id"))), 26);
	assert_string_equal(json_string_value(json_object_get(second, "event_id")), "01JD5Z3K9Q2W8E7R6T5Y4U3I2O");
	/* the source is who sent it, whatever the body says */
	assert_string_equal(json_string_value(json_object_get(first, "source")), "hotich-tinh");
	assert_string_equal(json_string_value(json_object_get(second, "source")), "hotich-tinh");
	assert_string_equal(json_string_value(json_array_get(json_array_get(routes, 1), 0)), "cong-dvc-tinh");
	assert_int_equal(json_array_size(json_array_get(routes, 1)), 1);
	json_decref(routes);
	json_decref(events);
}

static void test_event_ids_sort_in_the_order_they_were_made(void **state)
{
	(void)state;
	char prev[27] = "", id[27];
	for (int i = 0; i < 1000; i++) {
		lt_event_id(id);
		assert_true(strcmp(prev, id) < 0);
		memcpy(prev, id, sizeof id);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_matching_route_adds_its_destinations_once_in_config_order),
		cmocka_unit_test(test_filters_on_type_and_procedure),
		cmocka_unit_test(test_an_event_never_goes_back_to_its_sender),
		cmocka_unit_test(test_the_gateway_routes_its_own_events_by_its_name),
		cmocka_unit_test(test_the_handling_agency_routes_before_the_receiving_one),
		cmocka_unit_test(test_no_route_no_destination),
		cmocka_unit_test(test_units_read_old_codes_as_new_from_their_date),
		cmocka_unit_test(test_stamping_gives_an_id_the_source_and_the_routes),
		cmocka_unit_test(test_event_ids_sort_in_the_order_they_were_made),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
