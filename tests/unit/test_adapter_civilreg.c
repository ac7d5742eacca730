/* test_adapter_civilreg.c — the civil registry adapter: requests, answers,
 * result callbacks and polling (adapters/civilreg.c, schemas/civilreg/).
 *
 * Run from the repository root: samples come from schemas/samples/civilreg*,
 * canonical inputs from tests/unit/data/civilreg/. Needs the development PKI
 * for the signing test: env LT_TEST_PKI, default build/certs ("make certs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "sign_xml.h"
#include "xmlutil.h"

#define A lt_adapter_civilreg

#define VALID_DIR "schemas/samples/civilreg"
#define INVALID_DIR "schemas/samples/civilreg-invalid"
#define DATA "tests/unit/data/civilreg"
#define MID "01JNZ4G2K8V6T3QX5M7RB9CD1E"

static struct lt_schema *canonical;
static xmlSchemaPtr xsd_request, xsd_poll;
static struct lt_xml_signer *signer;
static struct lt_xml_trust *trust;
static struct lt_peer peer = { .name = "hotich-tinh" };

static int setup(void **state)
{
	struct lt_err err = { 0 };
	char pki[400], key[512], cert[512], ca[512];
	(void)state;
	const char *env = getenv("LT_TEST_PKI");
	snprintf(pki, sizeof pki, "%s", env && *env ? env : "build/certs");
	snprintf(key, sizeof key, "%s/rsa/gateway/sign.key", pki);
	snprintf(cert, sizeof cert, "%s/rsa/gateway/sign.pem", pki);
	snprintf(ca, sizeof ca, "%s/rsa/trust.pem", pki);
	/* lt_xml_init first, as in the daemon: schemas must load after it */
	if (lt_xml_init(&err) || A.init(&err) ||
	    !(canonical = lt_schema_load("schemas/canonical-event.schema.json", &err)) ||
	    !(xsd_request = lt_xmlu_schema_load("civilreg", "request", &err)) ||
	    !(xsd_poll = lt_xmlu_schema_load("civilreg", "poll", &err))) {
		fprintf(stderr, "setup: %s (run from the repository root)\n", err.msg);
		return -1;
	}
	if (!(signer = lt_xml_signer_new(key, cert, NULL, &err)) || !(trust = lt_xml_trust_new(ca, NULL, &err))) {
		fprintf(stderr, "setup: %s (run make certs, or set LT_TEST_PKI)\n", err.msg);
		return -1;
	}
	peer.params = json_pack("{s:s}", "ma_don_vi", "H60.22912");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(peer.params);
	lt_schema_free(canonical);
	xmlSchemaFree(xsd_request);
	xmlSchemaFree(xsd_poll);
	lt_xml_signer_free(signer);
	lt_xml_trust_free(trust);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static json_t *event_from(const char *name)
{
	char path[256];
	json_error_t jerr;
	snprintf(path, sizeof path, DATA "/%s", name);
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j)
		fail_msg("%s: %s", path, jerr.text);
	return j;
}

/* Every event of arr must be a valid canonical event from this peer. */
static void assert_canonical(const json_t *arr)
{
	size_t i;
	const json_t *ev;
	json_array_foreach(arr, i, ev) {
		struct lt_err err = { 0 };
		if (lt_schema_validate_def(canonical, "event", ev, &err)) {
			char *s = json_dumps(ev, JSON_INDENT(1));
			fail_msg("event %zu is not canonical: %s\n%s", i, err.msg, s);
		}
		assert_string_equal(json_string_value(json_object_get(ev, "source")), peer.name);
		assert_null(json_object_get(ev, "event_id"));
	}
}

/* Decode the sample file at path; returns rc, events in *out (caller frees). */
static int decode_file(const char *path, json_t **out, struct lt_err *err)
{
	size_t len;
	char *body = tu_slurp(path, &len);
	*out = json_array();
	memset(err, 0, sizeof *err);
	int rc = A.decode(&peer, body, len, *out, err);
	free(body);
	return rc;
}

static json_t *decode_ok(const char *path)
{
	json_t *events;
	struct lt_err err;
	if (decode_file(path, &events, &err))
		fail_msg("%s: %s", path, err.msg);
	assert_canonical(events);
	return events;
}

static const char *detail_str(const json_t *ev, const char *key)
{
	return json_string_value(json_object_get(json_object_get(ev, "detail"), key));
}

static int encode(const json_t *ev, struct lt_request *req, struct lt_err *err)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = MID };
	memset(req, 0, sizeof *req);
	memset(err, 0, sizeof *err);
	return A.encode(&peer, &ctx, ev, req, err);
}

/* Parse xml and validate it against s; fails the test on any error. */
static xmlDocPtr assert_valid_xml(const xmlSchema *s, const char *xml, size_t len)
{
	xmlDocPtr doc;
	struct lt_err err = { 0 };
	if (lt_xmlu_parse(xml, len, &doc, &err) || lt_xmlu_validate(s, doc, &err))
		fail_msg("%s\n%.*s", err.msg, (int)len, xml);
	return doc;
}

static char *text_of(xmlDocPtr doc, const char *name)
{
	return lt_xmlu_text(xmlDocGetRootElement(doc), name);
}

static void assert_encode_refused(json_t *ev, int code, const char *expect)
{
	struct lt_request req;
	struct lt_err err;
	assert_int_equal(encode(ev, &req, &err), code);
	if (!strstr(err.msg, expect))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, expect);
	lt_buf_free(&req.body);
	json_decref(ev);
}

static enum lt_verdict answer(long status, const char *body, const json_t *ev, json_t **out, struct lt_err *err)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = MID };
	struct lt_response rsp = { .status = status, .body = body, .len = strlen(body) };
	*out = json_array();
	memset(err, 0, sizeof *err);
	return A.outcome(&peer, &ctx, ev, &rsp, *out, err);
}

static int poll_result(const char *body, char cursor[512], json_t **out, struct lt_err *err)
{
	struct lt_response rsp = { .status = 200, .body = body, .len = strlen(body) };
	*out = json_array();
	memset(err, 0, sizeof *err);
	return A.poll_result(&peer, &rsp, *out, cursor, err);
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* ---- samples ------------------------------------------------------------ */

static void test_every_valid_result_sample_decodes_into_canonical_events(void **state)
{
	struct dirent **names;
	int n = scandir(VALID_DIR, &names, NULL, alphasort), seen = 0;
	(void)state;
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *f = names[i]->d_name;
		if (has_suffix(f, ".xml") && (!strncmp(f, "result.", 7) || !strncmp(f, "results.", 8))) {
			char path[512];
			snprintf(path, sizeof path, VALID_DIR "/%s", f);
			json_t *events = decode_ok(path);
			if (!strstr(f, "empty"))
				assert_true(json_array_size(events) > 0);
			json_decref(events);
			seen++;
		}
		free(names[i]);
	}
	free(names);
	assert_true(seen >= 6);
}

/* result/results samples are refused by decode; the outbound kinds by their XSD
 * through the same validator; each with its .expect text. */
static void test_every_invalid_sample_is_refused_with_its_expect_text(void **state)
{
	struct dirent **names;
	int n = scandir(INVALID_DIR, &names, NULL, alphasort), seen = 0;
	(void)state;
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *f = names[i]->d_name;
		char path[512], expect_path[512], kind[32];
		if (!has_suffix(f, ".xml")) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof path, INVALID_DIR "/%s", f);
		snprintf(expect_path, sizeof expect_path, INVALID_DIR "/%.*s.expect", (int)(strlen(f) - 4), f);
		snprintf(kind, sizeof kind, "%.*s", (int)strcspn(f, "."), f);
		char *expect = tu_slurp(expect_path, NULL);
		struct lt_err err = { 0 };
		int rc;
		if (!strcmp(kind, "result") || !strcmp(kind, "results")) {
			json_t *events;
			rc = decode_file(path, &events, &err);
			assert_int_equal(json_array_size(events), 0);
			json_decref(events);
		} else {
			struct lt_err e2 = { 0 };
			xmlSchemaPtr s = lt_xmlu_schema_load("civilreg", kind, &e2);
			assert_non_null(s);
			size_t len;
			char *xml = tu_slurp(path, &len);
			xmlDocPtr doc = NULL;
			rc = lt_xmlu_parse(xml, len, &doc, &err);
			if (!rc)
				rc = lt_xmlu_validate(s, doc, &err);
			xmlFreeDoc(doc);
			xmlSchemaFree(s);
			free(xml);
		}
		if (rc == 0)
			fail_msg("%s should be refused", path);
		if (!strstr(err.msg, expect))
			fail_msg("%s: message \"%s\" lacks \"%s\"", path, err.msg, expect);
		free(expect);
		free(names[i]);
		seen++;
	}
	free(names);
	assert_true(seen >= 10);
}

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
		xmlDocPtr doc = assert_valid_xml(xsd_request, req.body.data, req.body.len);
		xmlFreeDoc(doc);
		doc = xmlReadMemory(req.body.data, (int)req.body.len, NULL, NULL, XML_PARSE_NOBLANKS | XML_PARSE_NONET);
		xmlChar *pretty = NULL;
		int size = 0;
		xmlDocDumpFormatMemoryEnc(doc, &pretty, &size, "UTF-8", 1);
		char *sample = tu_slurp(cases[i][3], NULL);
		if (strcmp((char *)pretty, sample))
			fail_msg("%s no longer matches %s:\n%s", cases[i][0], cases[i][3], pretty);
		free(sample);
		xmlFree(pretty);
		xmlFreeDoc(doc);
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
	xmlDocPtr doc = assert_valid_xml(xsd_request, req.body.data, req.body.len);
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
	xmlDocPtr doc = assert_valid_xml(xsd_request, req.body.data, req.body.len);
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
	assert_canonical(out);
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
	assert_int_equal(answer(200, body, ev, &out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "errorCode 17"));
	assert_int_equal(json_array_size(out), 1);
	assert_canonical(out);
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

static void test_signed_request_still_validates_and_verifies(void **state)
{
	struct lt_request req;
	struct lt_err err;
	char *signed_xml;
	size_t n;
	(void)state;
	json_t *ev = event_from("birth.json");
	assert_int_equal(encode(ev, &req, &err), 0);
	if (lt_xml_sign(signer, req.body.data, req.body.len, &signed_xml, &n, &err))
		fail_msg("sign: %s", err.msg);
	xmlDocPtr doc = assert_valid_xml(xsd_request, signed_xml, n);
	xmlNodePtr last = xmlLastElementChild(xmlDocGetRootElement(doc));
	assert_true(lt_xmlu_is(last, LT_XMLU_DSIG_NS, "Signature"));
	xmlFreeDoc(doc);
	if (lt_xml_verify(trust, signed_xml, n, 0, NULL, NULL, &err))
		fail_msg("verify: %s", err.msg);
	free(signed_xml);
	lt_buf_free(&req.body);
	json_decref(ev);
}

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
	assert_canonical(events);
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
	xmlDocPtr doc = assert_valid_xml(xsd_poll, req.body.data, req.body.len);
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
	assert_canonical(out);
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
		cmocka_unit_test(test_http_errors_follow_the_default_rule_and_garbage_is_retried),
		cmocka_unit_test(test_registered_result_carries_personal_id_number_book_and_page),
		cmocka_unit_test(test_each_status_becomes_its_event),
		cmocka_unit_test(test_a_list_gives_one_event_per_result),
		cmocka_unit_test(test_status_5_is_refused_naming_trangThai),
		cmocka_unit_test(test_impossible_registration_date_is_refused),
		cmocka_unit_test(test_dtd_and_malformed_xml_are_refused_as_malformed),
		cmocka_unit_test(test_signed_request_still_validates_and_verifies),
		cmocka_unit_test(test_signed_result_verifies_and_decodes),
		cmocka_unit_test(test_first_poll_asks_from_the_epoch_then_from_the_cursor),
		cmocka_unit_test(test_poll_result_advances_the_cursor_to_the_newest_result),
		cmocka_unit_test(test_empty_poll_result_keeps_the_cursor),
		cmocka_unit_test(test_concurrent_decodes_share_the_schemas),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
