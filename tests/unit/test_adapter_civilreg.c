/* test_adapter_civilreg.c — the civil registry adapter, outbound: the registration
 * requests it encodes, the registry's answers to them, and signed requests
 * (adapters/civilreg.c, schemas/civilreg/). Results and polling are in
 * test_adapter_civilreg_results.c; the shared fixture is fixture_civilreg.h.
 *
 * Run from the repository root. Needs the development PKI for the signing tests:
 * env LT_TEST_PKI, default build/certs ("make certs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture_civilreg.h"

/* ---- helpers ----------------------------------------------------------- */

static json_t *event_from(const char *name)
{
	return tu_load_json(DATA, name);
}

static int encode(const json_t *ev, struct lt_request *req, struct lt_err *err)
{
	return tu_encode(&A, &peer, MID, 0, ev, req, err);
}

/* Encoding ev (which this frees) is refused with code and a message containing expect. */
static void assert_encode_refused(json_t *ev, int code, const char *expect)
{
	tu_assert_encode_refused(&A, &peer, MID, ev, code, expect);
}

static enum lt_verdict answer(long status, const char *body, const json_t *ev, json_t **out, struct lt_err *err)
{
	return tu_outcome(&A, &peer, MID, ev, status, body, out, err);
}

/* ---- samples ------------------------------------------------------------ */

/* The request samples are what the encoder writes (formatted like xmllint --format). */
static void test_request_samples_are_what_the_encoder_writes(void **state)
{
	static const char *const cases[][4] = {
		{ "birth.json", "H60.22912", MID, VALID_DIR "/request.birth.xml" },
		{ "death.json", "H68.22915", "01KAHN3Q4Z8W2D6M0B7R5T1XYC", VALID_DIR "/request.death.xml" },
		{ "marriage.json", "H68.22915", "01KBPQ7V2N4C8H1J6S3D9F0GWE", VALID_DIR "/request.marriage.xml" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct lt_peer p = { .name = "hotich-tinh", .params = json_pack("{s:s}", "ma_don_vi", cases[i][1]) };
		struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = cases[i][2] };
		struct lt_request req = { 0 };
		struct lt_err err = { 0 };
		json_t *ev = event_from(cases[i][0]);
		if (A.encode(&p, &ctx, ev, &req, &err))
			fail_msg("%s: %s", cases[i][0], err.msg);
		assert_string_equal(req.method, "POST");
		assert_string_equal(req.path, "");
		assert_string_equal(req.content_type, "application/xml; charset=utf-8");
		xmlFreeDoc(tu_assert_valid_xml(xsd_request, req.body.data, req.body.len));
		tu_assert_xml_is_sample(req.body.data, req.body.len, cases[i][3], cases[i][0]);
		lt_buf_free(&req.body);
		json_decref(ev);
		json_decref(p.params);
	}
}

/* ---- encode ------------------------------------------------------------- */

static void test_birth_request_carries_ids_and_vietnamese_dates(void **state)
{
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("birth.json");
	assert_int_equal(encode(ev, &req, &err), 0);
	xmlDocPtr doc = tu_assert_valid_xml(xsd_request, req.body.data, req.body.len);
	static const char *const want[][2] = {
		{ "module", "LTKS" }, { "maHoSoLT", MID }, { "maHoSoMCDT", "000.00.12.H12-250310-0001" },
		{ "maDonVi", "H60.22912" }, { "ngayTiepNhan", "10/03/2025 08:15:00" }, { "nksNgaySinh", "02/03/2025" },
		{ "nksHoTen", "Trần Gia Bảo" }, { "nksGioiTinh", "1" }, { "meNamSinh", "1990" },
		{ "chaHoTen", "Trần Văn Hùng" }, { "nycQuanHe", "Mẹ" },
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		char *t = text_of(doc, want[i][0]);
		if (!t || strcmp(t, want[i][1]))
			fail_msg("%s is \"%s\", want \"%s\"", want[i][0], t ? t : "(absent)", want[i][1]);
		free(t);
	}
	char *thoi = lt_xmlu_attr_text(xmlDocGetRootElement(doc), "thoiGian");
	assert_string_equal(thoi, "2025-03-10T08:15:00+07:00");
	free(thoi);
	xmlFreeDoc(doc);
	lt_buf_free(&req.body);
	json_decref(ev);
}

static void test_receipt_time_in_utc_becomes_hanoi_time(void **state)
{
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("birth.json");
	json_object_set_new(json_object_get(ev, "dossier"), "received_at", json_string("2025-03-10T01:15:00Z"));
	assert_int_equal(encode(ev, &req, &err), 0);
	xmlDocPtr doc = tu_assert_valid_xml(xsd_request, req.body.data, req.body.len);
	char *t = text_of(doc, "ngayTiepNhan");
	assert_string_equal(t, "10/03/2025 08:15:00");
	free(t);
	xmlFreeDoc(doc);
	lt_buf_free(&req.body);
	json_decref(ev);
}

static void test_addresses_with_and_without_district_both_encode(void **state)
{
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_t *birth = event_from("birth.json"), *death = event_from("death.json");
	assert_int_equal(encode(birth, &req, &err), 0);
	assert_non_null(strstr(req.body.data, "<maHuyen>593</maHuyen>"));
	lt_buf_free(&req.body);
	assert_int_equal(encode(death, &req, &err), 0);
	assert_null(strstr(req.body.data, "maHuyen"));
	assert_non_null(strstr(req.body.data, "<maTinh>68</maTinh><maXa>22915</maXa>"));
	lt_buf_free(&req.body);
	json_decref(birth);
	json_decref(death);
}

static void test_death_time_is_written_as_dd_mm_yyyy_hh_mm_ss(void **state)
{
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("death.json");
	assert_int_equal(encode(ev, &req, &err), 0);
	assert_non_null(strstr(req.body.data, "<module>LTKT</module>"));
	assert_non_null(strstr(req.body.data, "<nktNgayChet>20/11/2025 05:30:00</nktNgayChet>"));
	lt_buf_free(&req.body);
	json_decref(ev);
}

static void test_marriage_without_requester_uses_the_applicant(void **state)
{
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("marriage.json");
	assert_int_equal(encode(ev, &req, &err), 0);
	assert_non_null(strstr(req.body.data, "<module>LTKH</module>"));
	assert_non_null(strstr(req.body.data, "<nycHoTen>Phạm Minh Khôi</nycHoTen>"));
	lt_buf_free(&req.body);
	json_decref(ev);
}

static void test_other_event_types_are_refused(void **state)
{
	(void)state;
	json_t *ev = event_from("birth.json");
	json_object_set_new(ev, "type", json_string("dossier.step"));
	assert_encode_refused(ev, LT_EINVAL, "the civil registry takes dossier.received of a civil-registry "
				     "procedure, not dossier.step");
}

static void test_a_procedure_that_is_not_civil_registry_is_refused(void **state)
{
	(void)state;
	json_t *ev = event_from("birth.json");
	json_object_set_new(json_object_get(json_object_get(ev, "dossier"), "procedure"), "code",
			    json_string("1.004227"));
	assert_encode_refused(ev, LT_EINVAL, "not procedure 1.004227");
}

static void test_impossible_birth_date_is_refused_naming_the_field(void **state)
{
	(void)state;
	json_t *ev = event_from("birth.json");
	json_object_set_new(json_object_get(json_object_get(json_object_get(ev, "detail"), "registration"), "child"),
			    "birth_date", json_string("2025-02-30"));
	assert_encode_refused(ev, LT_ESCHEMA, "detail.registration.child.birth_date: \"2025-02-30\" is not a real date");
}

static void test_birth_without_child_or_parents_is_refused(void **state)
{
	(void)state;
	json_t *ev = event_from("birth.json");
	json_t *reg = json_object_get(json_object_get(ev, "detail"), "registration");
	json_object_del(reg, "child");
	assert_encode_refused(ev, LT_ESCHEMA, "detail.registration.child: the civil registry needs it");
	ev = event_from("birth.json");
	reg = json_object_get(json_object_get(ev, "detail"), "registration");
	json_object_del(reg, "mother");
	json_object_del(reg, "father");
	assert_encode_refused(ev, LT_ESCHEMA, "needs the mother or the father");
	ev = event_from("birth.json");
	json_object_del(json_object_get(ev, "detail"), "registration");
	assert_encode_refused(ev, LT_ESCHEMA, "detail.registration:");
}

static void test_unknown_gender_and_address_without_codes_are_refused(void **state)
{
	(void)state;
	json_t *ev = event_from("birth.json");
	json_t *reg = json_object_get(json_object_get(ev, "detail"), "registration");
	json_object_set_new(json_object_get(reg, "child"), "gender", json_string("M"));
	assert_encode_refused(ev, LT_ESCHEMA, "detail.registration.child.gender: \"M\"");
	ev = event_from("birth.json");
	reg = json_object_get(json_object_get(ev, "detail"), "registration");
	json_object_set_new(json_object_get(reg, "mother"), "address", json_pack("{s:s}", "detail", "Khu phố 3"));
	assert_encode_refused(ev, LT_ESCHEMA, "detail.registration.mother.address: the civil registry needs "
				     "province.code and commune.code");
}

static void test_text_the_registry_schema_refuses_is_a_dead_letter_naming_the_element(void **state)
{
	(void)state;
	json_t *ev = event_from("birth.json");
	json_t *reg = json_object_get(json_object_get(ev, "detail"), "registration");
	json_object_set_new(json_object_get(reg, "mother"), "id_number", json_string("06-0190"));
	assert_encode_refused(ev, LT_ESCHEMA, "/HoSoDangKy/meSoDinhDanh");
	ev = event_from("birth.json");
	reg = json_object_get(json_object_get(ev, "detail"), "registration");
	json_object_set_new(json_object_get(reg, "child"), "name", json_string("Trần\x01"));
	assert_encode_refused(ev, LT_ESCHEMA, "detail.registration.child.name: contains a character");
}

static void test_missing_unit_code_param_is_refused(void **state)
{
	struct lt_peer p = { .name = "hotich-tinh", .params = json_object() };
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = MID };
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	(void)state;
	json_t *ev = event_from("birth.json");
	assert_int_equal(A.encode(&p, &ctx, ev, &req, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "param.ma_don_vi"));
	json_decref(ev);
	json_decref(p.params);
}

/* ---- answers ------------------------------------------------------------ */

static void test_accepted_answer_is_done_and_carries_registry_submitted(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("birth.json");
	char *body = tu_slurp(VALID_DIR "/answer.accepted.xml", NULL);
	assert_int_equal(answer(200, body, ev, &out, &err), LT_DONE);
	assert_int_equal(json_array_size(out), 1);
	tu_assert_canonical_from(canonical, out, peer.name);
	json_t *c = json_array_get(out, 0);
	assert_string_equal(json_string_value(json_object_get(c, "type")), "registry.submitted");
	assert_string_equal(json_string_value(json_object_get(c, "dossier_code")), "000.00.12.H12-250310-0001");
	assert_string_equal(detail_str(c, "registry_dossier_id"), MID);
	assert_string_equal(detail_str(c, "module"), "LTKS");
	free(body);
	json_decref(out);
	json_decref(ev);
}

static void test_refused_answer_is_dead_and_carries_registry_refused(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("birth.json");
	char *body = tu_slurp(VALID_DIR "/answer.refused.xml", NULL);
	/* the sample answers the request the registry filed as its maHoSoLT */
	assert_int_equal(tu_outcome(&A, &peer, "01JNZ4H7Q2W9E4R6T8Y1U3I5O7", ev, 200, body, &out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "errorCode 17"));
	assert_int_equal(json_array_size(out), 1);
	tu_assert_canonical_from(canonical, out, peer.name);
	json_t *c = json_array_get(out, 0);
	assert_string_equal(json_string_value(json_object_get(c, "type")), "registry.refused");
	assert_string_equal(detail_str(c, "reason"), "Số định danh cá nhân của người mẹ không khớp với Cơ sở dữ "
				"liệu quốc gia về dân cư");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "detail"), "status_code")), 17);
	free(body);
	json_decref(out);
	json_decref(ev);
}

static void test_signed_answer_is_read_like_an_unsigned_one(void **state)
{
	json_t *out;
	struct lt_err err;
	char *signed_xml;
	size_t n, len;
	(void)state;
	char *body = tu_slurp(VALID_DIR "/answer.accepted.xml", &len);
	assert_int_equal(lt_xml_sign(signer, body, len, &signed_xml, &n, &err), 0);
	json_t *ev = event_from("birth.json");
	assert_int_equal(answer(200, signed_xml, ev, &out, &err), LT_DONE);
	assert_int_equal(json_array_size(out), 1);
	free(signed_xml);
	free(body);
	json_decref(out);
	json_decref(ev);
}

static void test_an_answer_about_another_request_or_none_is_retried_and_carries_nothing(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("birth.json");
	char *body = tu_slurp(VALID_DIR "/answer.accepted.xml", NULL);
	assert_int_equal(tu_outcome(&A, &peer, "01KOTHERREQUEST0000000000", ev, 200, body, &out, &err), LT_RETRY);
	assert_non_null(strstr(err.msg, "not an answer to it"));
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	char *id = strstr(body, "<maHoSoLT>");
	char *end = strstr(body, "</maHoSoLT>") + strlen("</maHoSoLT>");
	memmove(id, end, strlen(end) + 1);              /* an answer that names no request */
	assert_int_equal(answer(200, body, ev, &out, &err), LT_RETRY);
	assert_non_null(strstr(err.msg, "(none)"));
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	free(body);
	json_decref(ev);
}

static void test_http_errors_follow_the_default_rule_and_garbage_is_retried(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = event_from("birth.json");
	assert_int_equal(answer(503, "", ev, &out, &err), LT_RETRY);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	assert_int_equal(answer(400, "<KetQuaTiepNhan/>", ev, &out, &err), LT_DEAD);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	assert_int_equal(answer(200, "<html>Bad gateway</html>", ev, &out, &err), LT_RETRY);
	assert_non_null(strstr(err.msg, "no valid KetQuaTiepNhan"));
	json_decref(out);
	json_decref(ev);
}

/* ---- signing ------------------------------------------------------------ */

static void test_signed_request_still_validates_and_verifies(void **state)
{
	struct lt_request req;
	struct lt_err err;
	size_t n;
	(void)state;
	json_t *ev = event_from("birth.json");
	assert_int_equal(encode(ev, &req, &err), 0);
	free(tu_assert_signs_valid_and_verifies(signer, trust, xsd_request, req.body.data, req.body.len, &n));
	lt_buf_free(&req.body);
	json_decref(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_samples_are_what_the_encoder_writes),
		cmocka_unit_test(test_birth_request_carries_ids_and_vietnamese_dates),
		cmocka_unit_test(test_receipt_time_in_utc_becomes_hanoi_time),
		cmocka_unit_test(test_addresses_with_and_without_district_both_encode),
		cmocka_unit_test(test_death_time_is_written_as_dd_mm_yyyy_hh_mm_ss),
		cmocka_unit_test(test_marriage_without_requester_uses_the_applicant),
		cmocka_unit_test(test_other_event_types_are_refused),
		cmocka_unit_test(test_a_procedure_that_is_not_civil_registry_is_refused),
		cmocka_unit_test(test_impossible_birth_date_is_refused_naming_the_field),
		cmocka_unit_test(test_birth_without_child_or_parents_is_refused),
		cmocka_unit_test(test_unknown_gender_and_address_without_codes_are_refused),
		cmocka_unit_test(test_text_the_registry_schema_refuses_is_a_dead_letter_naming_the_element),
		cmocka_unit_test(test_missing_unit_code_param_is_refused),
		cmocka_unit_test(test_accepted_answer_is_done_and_carries_registry_submitted),
		cmocka_unit_test(test_refused_answer_is_dead_and_carries_registry_refused),
		cmocka_unit_test(test_signed_answer_is_read_like_an_unsigned_one),
		cmocka_unit_test(test_an_answer_about_another_request_or_none_is_retried_and_carries_nothing),
		cmocka_unit_test(test_http_errors_follow_the_default_rule_and_garbage_is_retried),
		cmocka_unit_test(test_signed_request_still_validates_and_verifies),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
