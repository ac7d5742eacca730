/* test_adapter_onestop.c — the onestop adapter, inbound: pushed events and pulled
 * search pages (decode and poll). Deliveries are in test_adapter_onestop_delivery.c;
 * the shared fixture is fixture_onestop.h.
 *
 * Run from the repository root: schemas and samples are read from schemas/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture_onestop.h"

/* ---- helpers ----------------------------------------------------------- */

static char *slurp(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return tu_slurp(path, NULL);
}

static json_t *decode_sample(const char *name)
{
	char *text = slurp(VALID_DIR, name);
	json_t *ev = decode_one(text);
	free(text);
	return ev;
}

static void assert_refused(const char *body, int code, const char *expect)
{
	tu_assert_decode_refused(A, &peer, body, code, expect);
}

/* A minimal push with the record fields given spliced in. */
static char *push_with(const char *event, const char *fields)
{
	static char text[4096];
	snprintf(text, sizeof text,
		 "{\"event\":\"%s\",\"dossier\":{\"id\":\"65ed2f1ac4a1b7302e9d0a11\","
		 "\"code\":\"000.00.12.H12-250310-0001\",\"procedure\":{\"code\":\"2.000986\"},"
		 "\"agency\":{\"code\":\"000.00.12.H12\"},\"updatedDate\":\"2025-03-10T08:15:00.000+0700\"%s%s}}",
		 event, *fields ? "," : "", fields);
	return text;
}

static int poll_result(const char *body, long status, char cursor[512], json_t *out, struct lt_err *err)
{
	struct lt_response rsp = { .status = status, .body = body, .len = body ? strlen(body) : 0,
				   .content_type = "application/json" };
	memset(err, 0, sizeof *err);
	return A->poll_result(&peer, &rsp, out, cursor, err);
}

/* A page of records given as (updatedDate, id, status id) triples. */
static char *page(int n, const char *const recs[][3])
{
	static char text[8192];
	size_t len = (size_t)snprintf(text, sizeof text, "{\"content\":[");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof text - len,
			"%s{\"id\":%s,\"code\":\"000.00.12.H12-250310-%04d\",\"procedure\":{\"code\":\"2.000986\"},"
			"\"agency\":{\"code\":\"000.00.12.H12\"},\"applyMethod\":{\"id\":0},\"status\":{\"id\":%s},"
			"\"updatedDate\":\"%s\"}", i ? "," : "", recs[i][1], i + 1, recs[i][2], recs[i][0]);
	snprintf(text + len, sizeof text - len, "],\"last\":true}");
	return text;
}

/* ---- push: samples -------------------------------------------------------- */

static void test_every_valid_push_sample_decodes_to_canonical_events(void **state)
{
	struct dirent **names;
	int n = tu_files(VALID_DIR, "push.", ".json", &names), total = 0;
	(void)state;
	for (int i = 0; i < n; i++) {
		struct lt_err err;
		char *text = slurp(VALID_DIR, names[i]->d_name);
		json_t *out = json_array();
		if (decode(text, out, &err))
			fail_msg("%s: %s", names[i]->d_name, err.msg);
		assert_true(json_array_size(out) >= 1);
		tu_assert_canonical_from(canonical, out, peer.name);
		total += (int)json_array_size(out);
		json_decref(out);
		free(text);
	}
	tu_files_free(names, n);
	assert_true(n >= 9);
	assert_int_equal(total, n + 1); /* push.batch.json carries two */
}

/* push samples through decode, search pages through poll_result, record and
 * delivery samples through their schema. */
static int check_invalid(const char *dir, const char *name, struct lt_err *err)
{
	char cursor[512] = "";
	int rc;
	if (!strncmp(name, "push.", 5))
		return tu_decode_sample(A, &peer, dir, name, err);
	char *text = slurp(dir, name);
	json_t *out = json_array(), *doc = json_loads(text, 0, NULL);
	if (!strncmp(name, "search-page.", 12))
		rc = poll_result(text, 200, cursor, out, err);
	else
		rc = lt_schema_validate(!strncmp(name, "record.", 7) ? record : delivery, doc, err);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(doc);
	free(text);
	return rc;
}

static void test_every_invalid_sample_is_refused_with_its_expect_text(void **state)
{
	(void)state;
	assert_true(tu_invalid_samples_refused(INVALID_DIR, ".json", LT_ESCHEMA, check_invalid) >= 12);
}

/* ---- push: mapping ------------------------------------------------------- */

static void test_received_sample_maps_every_field(void **state)
{
	json_t *ev = decode_sample("push.received.json");
	(void)state;
	assert_string_equal(at(ev, "type"), "dossier.received");
	assert_string_equal(at(ev, "dossier_code"), "000.00.12.H12-250310-0001");
	assert_string_equal(at(ev, "national_code"), "G22.60-250310-000123");
	assert_string_equal(at(ev, "occurred_at"), "2025-03-10T08:15:02+07:00");
	assert_string_equal(at(ev, "dossier/procedure/code"), "2.000986");
	assert_string_equal(at(ev, "dossier/field/name"), "Hộ tịch");
	assert_string_equal(at(ev, "dossier/receiving_agency/code"), "000.00.12.H12");
	assert_string_equal(at(ev, "dossier/channel"), "direct");
	assert_int_equal(at_int(ev, "dossier/status"), 2);
	assert_string_equal(at(ev, "dossier/received_at"), "2025-03-10T08:15:00+07:00");
	assert_string_equal(at(ev, "dossier/due_at"), "2025-03-11T17:00:00+07:00");
	assert_null(json_object_get(json_object_get(ev, "dossier"), "resolved_at")); /* null in the record */
	assert_string_equal(at(ev, "dossier/return_via"), "direct");
	assert_string_equal(at(ev, "dossier/applicant/type"), "citizen");
	assert_string_equal(at(ev, "dossier/applicant/name"), "Nguyễn Thị Lan");
	assert_string_equal(at(ev, "dossier/applicant/id_number"), "060190012345");
	assert_string_equal(at(ev, "dossier/applicant/address/district/code"), "593");
	assert_string_equal(at(ev, "dossier/applicant/address/commune/code"), "22912");
	assert_string_equal(at(ev, "dossier/documents/0/link"),
			    "https://motcua.binhhung.example/files/250310-0001/to-khai.pdf");
	assert_string_equal(at(ev, "dossier/fees/0/code"), "LP-KS");
	assert_string_equal(at(ev, "detail/step/code"), "THAM_DINH");
	assert_string_equal(at(ev, "detail/step/handler"), "Lê Văn Minh");
	assert_string_equal(at(ev, "detail/step/deadline_at"), "2025-03-10T16:00:00+07:00");
	json_decref(ev);
}

static void test_igate_dates_with_0700_colon_and_z_all_normalize(void **state)
{
	json_t *ev = decode_one(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1},"
				"\"appliedDate\":\"2025-03-10T08:15:00.000+0700\","
				"\"appointmentDate\":\"2025-03-11T17:00:00+07:00\","
				"\"completedDate\":\"2025-03-11T03:30:00.5Z\","
				"\"returnedDate\":\"2025-03-11T08:00:00-0200\""));
	(void)state;
	assert_string_equal(at(ev, "dossier/received_at"), "2025-03-10T08:15:00+07:00");
	assert_string_equal(at(ev, "dossier/due_at"), "2025-03-11T17:00:00+07:00");
	assert_string_equal(at(ev, "dossier/resolved_at"), "2025-03-11T10:30:00+07:00");
	assert_string_equal(at(ev, "dossier/returned_at"), "2025-03-11T17:00:00+07:00");
	assert_string_equal(at(ev, "occurred_at"), "2025-03-10T08:15:00+07:00");
	json_decref(ev);
}

static void test_impossible_date_is_refused_naming_the_field(void **state)
{
	(void)state;
	assert_refused(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1},"
				 "\"appliedDate\":\"2025-02-30T08:00:00.000+0700\""),
		       LT_ESCHEMA, "/dossier/appliedDate: \"2025-02-30T08:00:00.000+0700\" is not a real date");
}

static void test_unknown_apply_method_is_refused_naming_the_field(void **state)
{
	(void)state;
	assert_refused(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":5},\"status\":{\"id\":1}"), LT_ESCHEMA,
		       "/dossier/applyMethod/id: unknown code \"5\"");
	/* the portal's 3 = postal is not iGate's: iGate's postal is 2 */
	assert_refused(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":3},\"status\":{\"id\":1}"), LT_ESCHEMA,
		       "/dossier/applyMethod/id: unknown code \"3\"");
}

static void test_unknown_status_is_refused_naming_the_field(void **state)
{
	char batch[8192];
	(void)state;
	assert_refused(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":42}"), LT_ESCHEMA,
		       "/dossier/status/id: unknown code \"42\"");
	snprintf(batch, sizeof batch, "{\"events\":[%s,", push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1}"));
	snprintf(batch + strlen(batch), sizeof batch - strlen(batch), "%s]}",
		 push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":\"DA_XONG\"}"));
	assert_refused(batch, LT_ESCHEMA, "/events/1/dossier/status/id: unknown code \"DA_XONG\"");
}

static void test_unknown_applicant_type_and_return_method_are_refused(void **state)
{
	(void)state;
	assert_refused(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1},"
				 "\"applicant\":{\"type\":7,\"data\":{\"fullname\":\"Trần Văn Nam\"}}"),
		       LT_ESCHEMA, "/dossier/applicant/type: unknown code \"7\"");
	assert_refused(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1},"
				 "\"returnMethod\":{\"id\":2}"),
		       LT_ESCHEMA, "/dossier/returnMethod/id: unknown code \"2\"");
}

static void test_unknown_action_is_refused_naming_the_event(void **state)
{
	(void)state;
	assert_refused(push_with("DONG_DAU", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1}"), LT_ESCHEMA,
		       "/event: unknown event \"DONG_DAU\"");
	assert_refused(push_with("dossier.archived", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1}"),
		       LT_ESCHEMA, "/event: unknown event \"dossier.archived\"");
}

static void test_actions_and_canonical_names_give_the_same_type(void **state)
{
	json_t *a = decode_one(push_with("CHUYEN_BUOC", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":2}"));
	json_t *b = decode_one(push_with("dossier.step", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":2}"));
	(void)state;
	assert_string_equal(at(a, "type"), "dossier.step");
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
}

static void test_malformed_json_is_refused_as_400(void **state)
{
	(void)state;
	assert_refused("{\"event\":\"TIEP_NHAN\",", LT_EINVAL, "body is not valid JSON");
	assert_refused("{\"event\":\"TIEP_NHAN\",\"event\":\"TU_CHOI\"}", LT_EINVAL, "duplicate");
}

static void test_both_address_shapes_pass_and_no_district_is_guessed(void **state)
{
	json_t *old = decode_sample("push.received.json"), *now = decode_sample("push.step.json");
	(void)state;
	assert_string_equal(at(old, "dossier/applicant/address/district/name"), "Thành phố Phan Thiết");
	assert_null(json_object_get(json_object_get(json_object_get(json_object_get(now, "dossier"), "applicant"),
						    "address"), "district"));
	assert_string_equal(at(now, "dossier/applicant/address/province/code"), "68");
	assert_string_equal(at(now, "dossier/applicant/address/commune/code"), "22915");
	json_decref(old);
	json_decref(now);
}

static void test_address_without_ward_or_detail_is_refused(void **state)
{
	(void)state;
	assert_refused(push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1},"
				 "\"applicant\":{\"data\":{\"fullname\":\"Trần Văn Nam\",\"address\":{"
				 "\"province\":{\"code\":\"68\"},\"district\":{\"code\":\"593\"},\"detail\":\"\"}}}"),
		       LT_ESCHEMA, "/dossier/applicant/data/address: needs province and ward, or detail");
}

static void test_empty_strings_and_nulls_mean_absent(void **state)
{
	json_t *ev = decode_sample("push.rejected.json");
	(void)state;
	assert_null(json_object_get(ev, "national_code"));
	assert_null(json_object_get(json_object_get(ev, "dossier"), "handling_agency"));
	assert_int_equal(at_int(ev, "dossier/status"), 3);
	assert_string_equal(at(ev, "type"), "dossier.rejected");
	assert_string_equal(at(ev, "detail/reason"), "Hồ sơ thuộc thẩm quyền giải quyết của UBND tỉnh");
	assert_null(json_object_get(json_object_get(ev, "detail"), "step")); /* currentTask: [] */
	json_decref(ev);
	ev = decode_sample("push.returned.json");
	assert_null(json_object_get(json_object_get(json_object_get(ev, "dossier"), "applicant"), "email"));
	assert_string_equal(at(ev, "dossier/channel"), "postal");
	assert_string_equal(at(ev, "dossier/return_via"), "postal");
	assert_int_equal(at_int(ev, "dossier/status"), 10);
	json_decref(ev);
}

static void test_apology_sets_the_new_due_date_and_keeps_the_old(void **state)
{
	json_t *ev = decode_sample("push.apology.json");
	(void)state;
	assert_string_equal(at(ev, "type"), "dossier.apology");
	assert_string_equal(at(ev, "detail/old_due_at"), "2025-03-13T17:00:00+07:00");
	assert_string_equal(at(ev, "detail/new_due_at"), "2025-03-17T17:00:00+07:00");
	assert_string_equal(at(ev, "dossier/due_at"), "2025-03-17T17:00:00+07:00");
	assert_string_equal(at(ev, "detail/letter_number"), "17/PXL-UBND"); /* passed through */
	assert_non_null(strstr(at(ev, "detail/reason"), "số định danh"));
	json_decref(ev);
	assert_refused(push_with("XIN_LOI", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":2}"), LT_ESCHEMA,
		       "/apology: required with event \"XIN_LOI\"");
}

static void test_supplement_request_moves_the_due_date(void **state)
{
	json_t *ev = decode_sample("push.supplement.json");
	(void)state;
	assert_string_equal(at(ev, "type"), "dossier.supplement_requested");
	assert_int_equal(at_int(ev, "dossier/status"), 5);
	assert_string_equal(at(ev, "detail/old_due_at"), "2025-03-11T17:00:00+07:00");
	assert_string_equal(at(ev, "detail/new_due_at"), "2025-03-13T17:00:00+07:00");
	json_decref(ev);
}

static void test_transfer_goes_from_receiving_to_handling_agency(void **state)
{
	json_t *ev = decode_sample("push.transferred.json");
	(void)state;
	assert_string_equal(at(ev, "type"), "dossier.transferred");
	assert_string_equal(at(ev, "detail/from_agency/code"), "000.00.15.H68");
	assert_string_equal(at(ev, "detail/to_agency/code"), "000.20.39.H68");
	json_decref(ev);
	assert_refused(push_with("CHUYEN_LIEN_THONG", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":2}"), LT_ESCHEMA,
		       "/transfer/toAgency: required when the dossier has no handlingAgency");
}

static void test_a_batch_is_kept_whole_or_not_at_all(void **state)
{
	char batch[8192];
	(void)state;
	snprintf(batch, sizeof batch, "{\"events\":[%s,", push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":0},\"status\":{\"id\":1}"));
	snprintf(batch + strlen(batch), sizeof batch - strlen(batch), "%s]}",
		 push_with("TIEP_NHAN", "\"applyMethod\":{\"id\":9},\"status\":{\"id\":1}"));
	assert_refused(batch, LT_ESCHEMA, "/events/1/dossier/applyMethod/id: unknown code \"9\"");
}

/* ---- pull ------------------------------------------------------------------ */

static void test_first_poll_starts_at_the_epoch(void **state)
{
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	(void)state;
	assert_int_equal(A->poll(&peer, NULL, "", &req, &err), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/dossiers/search?updated-since=1970-01-01T07%3A00%3A00.000%2B07%3A00&size=100");
}

static void test_first_poll_honours_pull_since_page_size_and_search_path(void **state)
{
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	(void)state;
	json_object_set_new(peer.params, "pull_since", json_string("2025-07-01T00:00:00.000+0700"));
	json_object_set_new(peer.params, "page_size", json_string("50"));
	json_object_set_new(peer.params, "search_path", json_string("/api/dossiers/search?agency-id=60b8a1f0"));
	assert_int_equal(A->poll(&peer, NULL, "", &req, &err), 0);
	assert_string_equal(req.path, "/api/dossiers/search?agency-id=60b8a1f0"
			    "&updated-since=2025-07-01T00%3A00%3A00.000%2B07%3A00&size=50");
}

static void test_poll_with_a_cursor_sends_its_time_and_after_id(void **state)
{
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	(void)state;
	assert_int_equal(A->poll(&peer, NULL, "2025-03-10T10:05:00.417+07:00|65ed2f1ac4a1b7302e9d0a11", &req, &err), 0);
	assert_string_equal(req.path, "/dossiers/search?updated-since=2025-03-10T10%3A05%3A00.417%2B07%3A00"
			    "&after-id=65ed2f1ac4a1b7302e9d0a11&size=100");
}

static void test_poll_refuses_bad_params_and_foreign_cursors(void **state)
{
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	(void)state;
	assert_int_equal(A->poll(&peer, NULL, "65ed2f1ac4a1b7302e9d0a11", &req, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "is not TIME|ID"));
	assert_int_equal(A->poll(&peer, NULL, "2025-02-30T10:05:00.000+07:00|1", &req, &err), LT_EINVAL);
	json_object_set_new(peer.params, "page_size", json_string("0"));
	assert_int_equal(A->poll(&peer, NULL, "", &req, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "param.page_size"));
	json_object_set_new(peer.params, "page_size", json_string("100"));
	json_object_set_new(peer.params, "pull_since", json_string("01/07/2025"));
	assert_int_equal(A->poll(&peer, NULL, "", &req, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "param.pull_since"));
}

static void test_poll_result_yields_events_and_the_cursor_of_the_last_record(void **state)
{
	char cursor[512] = "", *text = slurp(VALID_DIR, "search-page.two-records.json");
	struct lt_err err;
	json_t *out = json_array();
	(void)state;
	assert_int_equal(poll_result(text, 200, cursor, out, &err), 0);
	assert_int_equal(json_array_size(out), 2);
	tu_assert_canonical_from(canonical, out, peer.name);
	assert_string_equal(at(out, "0/type"), "dossier.step");     /* iGate 2 → portal 4 */
	assert_string_equal(at(out, "0/detail/step/handler"), "Lê Văn Minh");
	assert_string_equal(at(out, "1/type"), "dossier.received"); /* iGate 0 → portal 1 */
	assert_string_equal(at(out, "1/dossier/channel"), "online");
	assert_string_equal(at(out, "1/occurred_at"), "2025-03-10T10:05:00+07:00");
	assert_string_equal(cursor, "2025-03-10T10:05:00.000+07:00|65ed2f1ac4a1b7302e9d0a20");
	json_decref(out);
	free(text);
}

static void test_poll_result_skips_records_at_or_before_the_cursor(void **state)
{
	static const char *const recs[][3] = {
		{ "2025-03-10T10:04:59.999+0700", "\"a1\"", "2" },  /* before the cursor */
		{ "2025-03-10T10:05:00.250+0700", "\"a0\"", "2" },  /* same time, smaller id */
		{ "2025-03-10T10:05:00.250+0700", "\"b7\"", "2" },  /* the cursor itself */
		{ "2025-03-10T10:05:00.250+0700", "\"c3\"", "7" },  /* same time, larger id */
		{ "2025-03-10T10:05:00.251+0700", "\"a0\"", "8" },  /* a millisecond later */
	};
	char cursor[512] = "2025-03-10T10:05:00.250+07:00|b7";
	struct lt_err err;
	json_t *out = json_array();
	(void)state;
	assert_int_equal(poll_result(page(5, recs), 200, cursor, out, &err), 0);
	assert_int_equal(json_array_size(out), 2);
	assert_string_equal(at(out, "0/dossier_code"), "000.00.12.H12-250310-0004");
	assert_string_equal(at(out, "0/type"), "dossier.resolved");
	assert_string_equal(at(out, "1/type"), "dossier.returned");
	assert_string_equal(cursor, "2025-03-10T10:05:00.251+07:00|a0");
	json_decref(out);
}

static void test_poll_result_orders_numeric_ids_as_numbers(void **state)
{
	static const char *const recs[][3] = {
		{ "2025-03-10T10:05:00.000+0700", "9", "1" },
		{ "2025-03-10T10:05:00.000+0700", "10", "1" },
	};
	char cursor[512] = "2025-03-10T10:05:00.000+07:00|9";
	struct lt_err err;
	json_t *out = json_array();
	(void)state;
	assert_int_equal(poll_result(page(2, recs), 200, cursor, out, &err), 0);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(cursor, "2025-03-10T10:05:00.000+07:00|10");
	json_decref(out);
}

static void test_empty_page_or_all_seen_keeps_the_cursor(void **state)
{
	static const char *const recs[][3] = { { "2025-03-10T10:05:00.000+0700", "\"65ed2f1ac4a1b7302e9d0a20\"", "0" } };
	char cursor[512] = "2025-03-10T10:05:00.000+07:00|65ed2f1ac4a1b7302e9d0a20", *text;
	struct lt_err err;
	json_t *out = json_array();
	(void)state;
	text = slurp(VALID_DIR, "search-page.empty.json");
	assert_int_equal(poll_result(text, 200, cursor, out, &err), 0);
	assert_int_equal(poll_result(page(1, recs), 200, cursor, out, &err), 0);
	assert_int_equal(json_array_size(out), 0);
	assert_string_equal(cursor, "2025-03-10T10:05:00.000+07:00|65ed2f1ac4a1b7302e9d0a20");
	cursor[0] = '\0';
	assert_int_equal(poll_result(text, 200, cursor, out, &err), 0);
	assert_string_equal(cursor, "");
	json_decref(out);
	free(text);
}

static void test_poll_result_failures_keep_the_cursor_and_yield_nothing(void **state)
{
	static const char *const recs[][3] = {
		{ "2025-03-10T10:05:00.000+0700", "1", "1" },
		{ "2025-03-10T10:06:00.000+0700", "2", "11" },
	};
	char cursor[512] = "2025-03-10T09:00:00.000+07:00|0";
	struct lt_err err;
	json_t *out = json_array();
	(void)state;
	assert_int_equal(poll_result("{}", 503, cursor, out, &err), LT_EIO);
	assert_int_equal(poll_result(NULL, 0, cursor, out, &err), LT_EIO);
	assert_int_equal(poll_result("<html>", 200, cursor, out, &err), LT_EINVAL);
	assert_int_equal(poll_result(page(2, recs), 200, cursor, out, &err), LT_ESCHEMA);
	assert_string_equal(err.msg, "/content/1/status/id: unknown code \"11\"");
	assert_int_equal(json_array_size(out), 0);
	assert_string_equal(cursor, "2025-03-10T09:00:00.000+07:00|0");
	json_decref(out);
}

#define T(f) cmocka_unit_test_setup(f, reset_params)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_every_valid_push_sample_decodes_to_canonical_events),
		T(test_every_invalid_sample_is_refused_with_its_expect_text),
		T(test_received_sample_maps_every_field),
		T(test_igate_dates_with_0700_colon_and_z_all_normalize),
		T(test_impossible_date_is_refused_naming_the_field),
		T(test_unknown_apply_method_is_refused_naming_the_field),
		T(test_unknown_status_is_refused_naming_the_field),
		T(test_unknown_applicant_type_and_return_method_are_refused),
		T(test_unknown_action_is_refused_naming_the_event),
		T(test_actions_and_canonical_names_give_the_same_type),
		T(test_malformed_json_is_refused_as_400),
		T(test_both_address_shapes_pass_and_no_district_is_guessed),
		T(test_address_without_ward_or_detail_is_refused),
		T(test_empty_strings_and_nulls_mean_absent),
		T(test_apology_sets_the_new_due_date_and_keeps_the_old),
		T(test_supplement_request_moves_the_due_date),
		T(test_transfer_goes_from_receiving_to_handling_agency),
		T(test_a_batch_is_kept_whole_or_not_at_all),
		T(test_first_poll_starts_at_the_epoch),
		T(test_first_poll_honours_pull_since_page_size_and_search_path),
		T(test_poll_with_a_cursor_sends_its_time_and_after_id),
		T(test_poll_refuses_bad_params_and_foreign_cursors),
		T(test_poll_result_yields_events_and_the_cursor_of_the_last_record),
		T(test_poll_result_skips_records_at_or_before_the_cursor),
		T(test_poll_result_orders_numeric_ids_as_numbers),
		T(test_empty_page_or_all_seen_keeps_the_cursor),
		T(test_poll_result_failures_keep_the_cursor_and_yield_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
