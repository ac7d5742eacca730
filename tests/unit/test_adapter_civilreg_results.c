/* test_adapter_civilreg_results.c — the civil registry adapter, inbound: the results
 * it decodes (callbacks and polled answers), the sample corpus, signed results and
 * polling (adapters/civilreg.c, schemas/civilreg/). Requests and answers are in
 * test_adapter_civilreg.c; the shared fixture is fixture_civilreg.h.
 *
 * Run from the repository root. Needs the development PKI for the signing tests:
 * env LT_TEST_PKI, default build/certs ("make certs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>

#include "fixture_civilreg.h"

/* ---- helpers ----------------------------------------------------------- */

static json_t *decode_ok(const char *path)
{
	json_t *events;
	struct lt_err err;
	if (tu_decode_file(&A, &peer, path, &events, &err))
		fail_msg("%s: %s", path, err.msg);
	tu_assert_canonical_from(canonical, events, peer.name);
	return events;
}

static int poll_result(const char *body, char cursor[512], json_t **out, struct lt_err *err)
{
	struct lt_response rsp = { .status = 200, .body = body, .len = strlen(body) };
	*out = json_array();
	memset(err, 0, sizeof *err);
	return A.poll_result(&peer, &rsp, *out, cursor, err);
}

/* ---- samples ------------------------------------------------------------ */

static void test_every_valid_result_sample_decodes_into_canonical_events(void **state)
{
	struct dirent **names;
	int n = tu_files(VALID_DIR, "result", ".xml", &names); /* result.* and results.* */
	(void)state;
	for (int i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof path, VALID_DIR "/%s", names[i]->d_name);
		json_t *events = decode_ok(path);
		if (!strstr(names[i]->d_name, "empty"))
			assert_true(json_array_size(events) > 0);
		json_decref(events);
	}
	tu_files_free(names, n);
	assert_true(n >= 6);
}

/* result/results samples through decode; the outbound kinds through their XSD, by the
 * same validator. */
static int check_invalid(const char *dir, const char *name, struct lt_err *err)
{
	char path[512], kind[32];
	int rc;
	snprintf(kind, sizeof kind, "%.*s", (int)strcspn(name, "."), name);
	if (!strcmp(kind, "result") || !strcmp(kind, "results"))
		return tu_decode_sample(&A, &peer, dir, name, err);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct lt_err e2 = { 0 };
	xmlSchemaPtr s = lt_xmlu_schema_load("civilreg", kind, &e2);
	assert_non_null(s);
	size_t len;
	char *xml = tu_slurp(path, &len);
	xmlDocPtr doc = NULL;
	rc = lt_xmlu_parse(xml, len, &doc, err);
	if (!rc)
		rc = lt_xmlu_validate(s, doc, err);
	xmlFreeDoc(doc);
	xmlSchemaFree(s);
	free(xml);
	return rc;
}

static void test_every_invalid_sample_is_refused_with_its_expect_text(void **state)
{
	(void)state;
	assert_true(tu_invalid_samples_refused(INVALID_DIR, ".xml", 0, check_invalid) >= 10);
}

/* ---- results ------------------------------------------------------------ */

static void test_registered_result_carries_personal_id_number_book_and_page(void **state)
{
	(void)state;
	json_t *events = decode_ok(VALID_DIR "/result.registered.xml");
	assert_int_equal(json_array_size(events), 1);
	json_t *ev = json_array_get(events, 0);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "registry.registered");
	assert_string_equal(json_string_value(json_object_get(ev, "dossier_code")), "000.00.12.H12-250310-0001");
	assert_string_equal(json_string_value(json_object_get(ev, "occurred_at")), "2025-03-12T16:40:00+07:00");
	assert_string_equal(detail_str(ev, "personal_id"), "060225001234");
	assert_string_equal(detail_str(ev, "registration_number"), "45/2025");
	assert_string_equal(detail_str(ev, "book"), "01/2025");
	assert_string_equal(detail_str(ev, "page"), "45");
	assert_string_equal(detail_str(ev, "registered_on"), "2025-03-12");
	assert_string_equal(detail_str(ev, "registry_dossier_id"), MID);
	json_t *cert = json_object_get(json_object_get(ev, "detail"), "certificate");
	assert_string_equal(json_string_value(json_object_get(cert, "digest")),
			    "sha256:9938bf0db7589d365b706162c497273de5b6dcfcfc15d02f8501a2e99cbed7c9");
	json_decref(events);
}

static void test_each_status_becomes_its_event(void **state)
{
	static const char *const cases[][3] = {
		{ "result.pending.xml", "dossier.step", "Đang chờ xử lý tại hộ tịch" },
		{ "result.supplement.xml", "dossier.supplement_requested", NULL },
		{ "result.refused.xml", "registry.refused", NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char path[256];
		snprintf(path, sizeof path, VALID_DIR "/%s", cases[i][0]);
		json_t *events = decode_ok(path);
		json_t *ev = json_array_get(events, 0);
		assert_string_equal(json_string_value(json_object_get(ev, "type")), cases[i][1]);
		if (cases[i][2])
			assert_string_equal(json_string_value(json_object_get(
						    json_object_get(json_object_get(ev, "detail"), "step"), "name")),
					    cases[i][2]);
		else
			assert_non_null(detail_str(ev, "reason"));
		json_decref(events);
	}
}

static void test_a_list_gives_one_event_per_result(void **state)
{
	(void)state;
	json_t *events = decode_ok(VALID_DIR "/results.callback.xml");
	assert_int_equal(json_array_size(events), 2);
	json_t *a = json_array_get(events, 0), *b = json_array_get(events, 1);
	assert_string_equal(json_string_value(json_object_get(a, "type")), "dossier.step");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(a, "detail"), "step"),
							      "name")),
			    "Đang xử lý tại hộ tịch");
	assert_string_equal(json_string_value(json_object_get(b, "type")), "registry.registered");
	assert_null(detail_str(b, "personal_id")); /* a death gives no new personal ID */
	json_decref(events);
}

static void test_status_5_is_refused_naming_trangThai(void **state)
{
	json_t *events;
	struct lt_err err;
	(void)state;
	const char *xml = "<KetQuaDangKy xmlns=\"urn:lienthong:civilreg:1\" messageId=\"m1\" "
			  "thoiGian=\"2025-03-12T16:40:00+07:00\"><maHoSoLT>LT1</maHoSoLT><maHoSoMCDT>000.00.12.H12-"
			  "250310-0001</maHoSoMCDT><trangThai>5</trangThai></KetQuaDangKy>";
	assert_int_equal(A.decode(&peer, xml, strlen(xml), events = json_array(), &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "/KetQuaDangKy/trangThai"));
	assert_int_equal(json_array_size(events), 0);
	json_decref(events);
}

static void test_impossible_registration_date_is_refused(void **state)
{
	json_t *events = json_array();
	struct lt_err err = { 0 };
	(void)state;
	char *xml = tu_slurp(VALID_DIR "/result.registered.xml", NULL);
	char *d = strstr(xml, "12/03/2025");
	memcpy(d, "30/02", 5);
	assert_int_equal(A.decode(&peer, xml, strlen(xml), events, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "/KetQuaDangKy/ngayDangKy: \"30/02/2025\" is not a real date"));
	free(xml);
	json_decref(events);
}

static void test_dtd_and_malformed_xml_are_refused_as_malformed(void **state)
{
	json_t *events = json_array();
	struct lt_err err = { 0 };
	(void)state;
	const char *dtd = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
			  "<KetQuaDangKy xmlns=\"urn:lienthong:civilreg:1\">&e;</KetQuaDangKy>";
	assert_int_equal(A.decode(&peer, dtd, strlen(dtd), events, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "document type declaration not allowed"));
	assert_int_equal(A.decode(&peer, "<KetQuaDangKy>", 14, events, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "malformed XML"));
	assert_int_equal(json_array_size(events), 0);
	json_decref(events);
}

/* ---- signing ------------------------------------------------------------ */

static void test_signed_result_verifies_and_decodes(void **state)
{
	struct lt_err err = { 0 };
	char *signed_xml;
	size_t n, len;
	(void)state;
	char *body = tu_slurp(VALID_DIR "/result.registered.xml", &len);
	assert_int_equal(lt_xml_sign(signer, body, len, &signed_xml, &n, &err), 0);
	assert_int_equal(lt_xml_verify(trust, signed_xml, n, 0, NULL, NULL, &err), 0);
	json_t *events = json_array();
	assert_int_equal(A.decode(&peer, signed_xml, n, events, &err), 0);
	assert_int_equal(json_array_size(events), 1);
	tu_assert_canonical_from(canonical, events, peer.name);
	json_decref(events);
	free(signed_xml);
	free(body);
}

/* ---- polling ------------------------------------------------------------ */

static void test_first_poll_asks_from_the_epoch_then_from_the_cursor(void **state)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "poll-1764979200000" };
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	(void)state;
	assert_int_equal(A.poll(&peer, &ctx, "", &req, &err), 0);
	assert_string_equal(req.path, "/ketqua/tracuu");
	assert_string_equal(req.method, "POST");
	xmlDocPtr doc = tu_assert_valid_xml(xsd_poll, req.body.data, req.body.len);
	char *from = text_of(doc, "tuThoiDiem");
	assert_string_equal(from, "1970-01-01T07:00:00+07:00");
	free(from);
	xmlFreeDoc(doc);
	lt_buf_free(&req.body);

	json_object_set_new(peer.params, "poll_path", json_string("/api/v1/ketqua"));
	memset(&req, 0, sizeof req);
	assert_int_equal(A.poll(&peer, &ctx, "2025-12-08T07:58:30+07:00", &req, &err), 0);
	assert_string_equal(req.path, "/api/v1/ketqua");
	assert_non_null(strstr(req.body.data, "<tuThoiDiem>2025-12-08T07:58:30+07:00</tuThoiDiem>"));
	lt_buf_free(&req.body);
	json_object_del(peer.params, "poll_path");

	memset(&req, 0, sizeof req);
	assert_int_equal(A.poll(&peer, &ctx, "yesterday", &req, &err), LT_EINVAL);
	lt_buf_free(&req.body);
}

static void test_poll_result_advances_the_cursor_to_the_newest_result(void **state)
{
	char cursor[512] = "";
	json_t *out;
	struct lt_err err;
	(void)state;
	char *body = tu_slurp(VALID_DIR "/results.poll-answer.xml", NULL);
	assert_int_equal(poll_result(body, cursor, &out, &err), 0);
	assert_int_equal(json_array_size(out), 2);
	tu_assert_canonical_from(canonical, out, peer.name);
	assert_string_equal(cursor, "2025-12-08T07:58:30+07:00");
	free(body);
	json_decref(out);
}

static void test_empty_poll_result_keeps_the_cursor(void **state)
{
	char cursor[512] = "";
	json_t *out;
	struct lt_err err;
	(void)state;
	char *body = tu_slurp(VALID_DIR "/results.empty-poll-answer.xml", NULL);
	assert_int_equal(poll_result(body, cursor, &out, &err), 0);
	assert_int_equal(json_array_size(out), 0);
	assert_string_equal(cursor, "2025-12-08T07:58:30+07:00");
	json_decref(out);
	free(body);

	const char *bare = "<DanhSachKetQua xmlns=\"urn:lienthong:civilreg:1\"/>";
	snprintf(cursor, sizeof cursor, "2025-12-01T00:00:00+07:00");
	assert_int_equal(poll_result(bare, cursor, &out, &err), 0); /* the old cursor, passed in */
	assert_string_equal(cursor, "2025-12-01T00:00:00+07:00");
	json_decref(out);
	cursor[0] = '\0';
	assert_int_equal(poll_result(bare, cursor, &out, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "tuThoiDiem"));
	json_decref(out);
}

/* ---- threads ------------------------------------------------------------ */

static void *decode_many(void *arg)
{
	const char *body = arg;
	for (int i = 0; i < 200; i++) {
		json_t *events = json_array();
		struct lt_err err = { 0 };
		if (A.decode(&peer, body, strlen(body), events, &err) || json_array_size(events) != 2)
			return (void *)1;
		json_decref(events);
	}
	return NULL;
}

static void test_concurrent_decodes_share_the_schemas(void **state)
{
	pthread_t t[4];
	(void)state;
	char *body = tu_slurp(VALID_DIR "/results.callback.xml", NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, decode_many, body), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_valid_result_sample_decodes_into_canonical_events),
		cmocka_unit_test(test_every_invalid_sample_is_refused_with_its_expect_text),
		cmocka_unit_test(test_registered_result_carries_personal_id_number_book_and_page),
		cmocka_unit_test(test_each_status_becomes_its_event),
		cmocka_unit_test(test_a_list_gives_one_event_per_result),
		cmocka_unit_test(test_status_5_is_refused_naming_trangThai),
		cmocka_unit_test(test_impossible_registration_date_is_refused),
		cmocka_unit_test(test_dtd_and_malformed_xml_are_refused_as_malformed),
		cmocka_unit_test(test_signed_result_verifies_and_decodes),
		cmocka_unit_test(test_first_poll_asks_from_the_epoch_then_from_the_cursor),
		cmocka_unit_test(test_poll_result_advances_the_cursor_to_the_newest_result),
		cmocka_unit_test(test_empty_poll_result_keeps_the_cursor),
		cmocka_unit_test(test_concurrent_decodes_share_the_schemas),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
