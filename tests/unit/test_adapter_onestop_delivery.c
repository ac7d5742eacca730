/* test_adapter_onestop_delivery.c — the onestop adapter, outbound: the deliveries it
 * encodes from canonical events and how it reads their outcome. Pushed and pulled events
 * are in test_adapter_onestop.c; the shared fixture is fixture_onestop.h.
 *
 * Run from the repository root: schemas and samples are read from schemas/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture_onestop.h"

/* ---- helpers ----------------------------------------------------------- */

static json_t *encode(const json_t *event, struct lt_request *req)
{
	struct lt_err err = { 0 };
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "01JNZ4G2K8V6T3QX5M7RB9CD1E" };
	memset(req, 0, sizeof *req);
	if (A->encode(&peer, &ctx, event, req, &err))
		fail_msg("encode refused: %s", err.msg);
	json_error_t jerr;
	json_t *body = json_loadb(req->body.data, req->body.len, 0, &jerr);
	if (!body)
		fail_msg("delivery is not JSON: %s", jerr.text);
	if (lt_schema_validate(delivery, body, &err))
		fail_msg("delivery fails delivery.schema.json: %s", err.msg);
	lt_buf_free(&req->body);
	return body;
}

/* ---- deliveries ------------------------------------------------------------ */

static void test_registry_result_delivery_keeps_the_personal_id(void **state)
{
	struct lt_request req;
	json_t *ev = tu_load_json(CANONICAL_DIR, "registry.registered.json"), *body = encode(ev, &req);
	(void)state;
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.path, "/lienthong/events");
	assert_string_equal(req.content_type, "application/json");
	assert_string_equal(at(body, "event"), "registry.registered");
	assert_string_equal(at(body, "dossier/code"), "000.00.12.H12-250310-0001");
	assert_string_equal(at(body, "dossier/updatedDate"), "2025-03-12T16:40:00.000+0700");
	assert_string_equal(at(body, "detail/personal_id"), "060225001234");
	assert_true(json_equal(json_object_get(body, "detail"), json_object_get(ev, "detail")));
	json_decref(body);
	json_decref(ev);
}

static void test_overdue_delivery_carries_status_and_appointment_in_igate_form(void **state)
{
	struct lt_request req;
	json_t *ev = tu_load_json(CANONICAL_DIR, "dossier.overdue.json"), *body = encode(ev, &req);
	(void)state;
	assert_string_equal(at(body, "event"), "dossier.overdue");
	assert_int_equal(at_int(body, "dossier/status/id"), 2);      /* portal 4 → iGate 2 */
	assert_int_equal(at_int(body, "dossier/applyMethod/id"), 0); /* direct */
	assert_string_equal(at(body, "dossier/appointmentDate"), "2025-03-13T17:00:00.000+0700");
	assert_string_equal(at(body, "detail/reason"), at(ev, "detail/reason"));
	json_decref(body);
	json_decref(ev);
}

static void test_online_dossier_delivery_builds_the_record_back(void **state)
{
	struct lt_request req;
	json_t *ev = tu_load_json(CANONICAL_DIR, "dossier.received.json");
	(void)state;
	json_object_set_new(json_object_get(ev, "dossier"), "channel", json_string("online"));
	json_object_set_new(json_object_get(ev, "dossier"), "status", json_integer(1));
	json_object_set_new(peer.params, "inbound_path", json_string("/api/lienthong/nhan-su-kien"));
	json_t *body = encode(ev, &req);
	assert_string_equal(req.path, "/api/lienthong/nhan-su-kien");
	assert_int_equal(at_int(body, "dossier/applyMethod/id"), 1);
	assert_int_equal(at_int(body, "dossier/status/id"), 0);
	assert_int_equal(at_int(body, "dossier/applicant/type"), 1);
	assert_string_equal(at(body, "dossier/nationCode"), "G22.60-250310-000123");
	assert_string_equal(at(body, "dossier/sector/code"), "G09-TP01");
	assert_string_equal(at(body, "dossier/applicant/data/identityNumber"), "060190012345");
	assert_string_equal(at(body, "dossier/applicant/data/address/ward/code"), "22912");
	assert_string_equal(at(body, "dossier/applicant/data/address/district/code"), "593");
	assert_string_equal(at(body, "dossier/appliedDate"), "2025-03-10T08:15:00.000+0700");
	assert_string_equal(at(body, "dossier/attachments/1/url"),
			    "https://motcua.binhhung.example/files/250310-0001/giay-chung-sinh.pdf");
	assert_null(json_object_get(body, "detail"));
	json_decref(body);
	json_decref(ev);
}

static void test_every_canonical_sample_encodes_to_a_valid_delivery(void **state)
{
	struct dirent **names;
	int n = tu_files(CANONICAL_DIR, "", ".json", &names), done = 0;
	(void)state;
	for (int i = 0; i < n; i++) {
		struct lt_request req;
		if (!strcmp(names[i]->d_name, "batch.json"))
			continue;
		json_t *ev = tu_load_json(CANONICAL_DIR, names[i]->d_name), *body = encode(ev, &req);
		assert_string_equal(at(body, "event"), at(ev, "type"));
		json_decref(body);
		json_decref(ev);
		done++;
	}
	tu_files_free(names, n);
	assert_int_equal(done, 22);
}

static void test_a_step_delivery_decodes_back_to_the_same_step(void **state)
{
	struct lt_request req;
	json_t *ev = tu_load_json(CANONICAL_DIR, "dossier.step.json"), *body = encode(ev, &req), *rec = json_object_get(body, "dossier");
	(void)state;
	json_object_set_new(rec, "id", json_string("65ed2f1ac4a1b7302e9d0a11"));
	json_object_set_new(body, "event", json_string("CHUYEN_BUOC"));
	char *text = json_dumps(body, 0);
	json_t *back = decode_one(text);
	json_object_del(ev, "source");
	json_object_del(back, "source");
	assert_true(json_equal(ev, back));
	free(text);
	json_decref(back);
	json_decref(body);
	json_decref(ev);
}

static void test_outcome_reads_success_false_as_a_dead_letter(void **state)
{
	struct lt_delivery_ctx ctx = { .attempt = 1 };
	struct lt_err err = { 0 };
	struct lt_response ok = { 200, "{\"success\":true}", 16, "application/json" };
	struct lt_response any = { 201, "created", 7, "text/plain" };
	struct lt_response no = { 200, "{\"success\":false,\"message\":\"Hồ sơ không tồn tại\"}", 0, "application/json" };
	struct lt_response busy = { 503, "", 0, "text/plain" };
	struct lt_response bad = { 400, "{}", 2, "application/json" };
	(void)state;
	no.len = strlen(no.body);
	assert_int_equal(A->outcome(&peer, &ctx, NULL, &ok, NULL, &err), LT_DONE);
	assert_int_equal(A->outcome(&peer, &ctx, NULL, &any, NULL, &err), LT_DONE);
	assert_int_equal(A->outcome(&peer, &ctx, NULL, &no, NULL, &err), LT_DEAD);
	assert_string_equal(err.msg, "one-stop system refused: Hồ sơ không tồn tại");
	assert_int_equal(A->outcome(&peer, &ctx, NULL, &busy, NULL, &err), LT_RETRY);
	assert_int_equal(A->outcome(&peer, &ctx, NULL, &bad, NULL, &err), LT_DEAD);
}

static void test_adapter_identity_and_repeated_init(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	assert_string_equal(A->name, "onestop");
	assert_string_equal(A->content_type, "application/json");
	assert_int_equal(A->init(&err), 0);
}

#define T(f) cmocka_unit_test_setup(f, reset_params)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_registry_result_delivery_keeps_the_personal_id),
		T(test_overdue_delivery_carries_status_and_appointment_in_igate_form),
		T(test_online_dossier_delivery_builds_the_record_back),
		T(test_every_canonical_sample_encodes_to_a_valid_delivery),
		T(test_a_step_delivery_decodes_back_to_the_same_step),
		T(test_outcome_reads_success_false_as_a_dead_letter),
		T(test_adapter_identity_and_repeated_init),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
