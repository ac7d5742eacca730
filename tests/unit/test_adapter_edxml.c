/* test_adapter_edxml.c — inter-agency transfers as edXML: envelopes out and in,
 * Status answers and pushed statuses (adapters/edxml.c, schemas/edxml/).
 *
 * Run from the repository root: samples come from schemas/samples/edxml*,
 * canonical inputs from schemas/samples/canonical and tests/unit/data/edxml/.
 * Needs the development PKI for the signing test: env LT_TEST_PKI, default
 * build/certs ("make certs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "sign_xml.h"
#include "verify_xml.h"
#include "xmlutil.h"

extern const struct lt_adapter lt_adapter_edxml;
#define A lt_adapter_edxml

#define VALID_DIR "schemas/samples/edxml"
#define INVALID_DIR "schemas/samples/edxml-invalid"
#define TRANSFER "tests/unit/data/edxml/transfer.json"
#define CANONICAL_TRANSFER "schemas/samples/canonical/dossier.transferred.json"
#define DOCID "000.00.12.H12,2025/04/14,000.00.12.H12-250414-0031/LT"
#define MID "01JRX0000000000000000000AB"
#define LAND_OFFICE "Chi nhánh Văn phòng đăng ký đất đai thành phố Phan Thiết"

static struct lt_schema *canonical;
static xmlSchemaPtr xsd_envelope;
static struct lt_xml_signer *signer;
static struct lt_xml_trust *trust;
static struct lt_peer peer = { .name = "vpdk-dat-thanhpho" };

static int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	/* lt_xml_init first, as in the daemon: schemas must load after it */
	if (lt_xml_init(&err) || A.init(&err) || !(xsd_envelope = lt_xmlu_schema_load("edxml", "envelope", &err))) {
		fprintf(stderr, "setup: %s (run from the repository root)\n", err.msg);
		return -1;
	}
	if (!(canonical = tu_schema_load(TU_CANONICAL_SCHEMA)) || tu_xml_pki_load(&signer, &trust))
		return -1;
	peer.params = json_object();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(peer.params);
	lt_schema_free(canonical);
	xmlSchemaFree(xsd_envelope);
	lt_xml_signer_free(signer);
	lt_xml_trust_free(trust);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static json_t *decode_ok(const char *body, size_t len)
{
	json_t *events;
	struct lt_err err;
	if (tu_decode(&A, &peer, body, len, &events, &err))
		fail_msg("decode: %s", err.msg);
	assert_int_equal(json_array_size(events), 1);
	tu_assert_canonical_from(canonical, events, peer.name);
	return events;
}

static json_t *decode_file(const char *path)
{
	size_t len;
	char *body = tu_slurp(path, &len);
	json_t *events = decode_ok(body, len);
	free(body);
	return events;
}

static int encode_flags(const json_t *ev, int flags, struct lt_request *req, struct lt_err *err)
{
	return tu_encode(&A, &peer, MID, flags, ev, req, err);
}

static void encode_ok(const json_t *ev, int flags, struct lt_request *req)
{
	struct lt_err err;
	if (encode_flags(ev, flags, req, &err))
		fail_msg("encode: %s", err.msg);
	xmlFreeDoc(tu_assert_valid_xml(xsd_envelope, req->body.data, req->body.len));
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

static const char *str_at(const json_t *ev, const char *a, const char *b)
{
	const json_t *o = json_object_get(ev, a);
	return json_string_value(b ? json_object_get(o, b) : o);
}

/* ---- samples ------------------------------------------------------------ */

static void test_every_valid_sample_decodes_into_a_canonical_event(void **state)
{
	struct dirent **names;
	int n = tu_files(VALID_DIR, "", ".xml", &names);
	(void)state;
	for (int i = 0; i < n; i++) {
		const char *f = names[i]->d_name;
		char path[512];
		snprintf(path, sizeof path, VALID_DIR "/%s", f);
		json_t *events = decode_file(path);
		const char *type = str_at(json_array_get(events, 0), "type", NULL);
		if (!strncmp(f, "envelope.", 9))
			assert_string_equal(type, "dossier.transferred");
		else
			assert_true(!strcmp(type, "dossier.step") || !strcmp(type, "dossier.resolved"));
		json_decref(events);
	}
	tu_files_free(names, n);
	assert_true(n >= 6);
}

static int decode_sample(const char *dir, const char *name, struct lt_err *err)
{
	return tu_decode_sample(&A, &peer, dir, name, err);
}

static void test_every_invalid_sample_is_refused_with_its_expect_text(void **state)
{
	(void)state;
	assert_true(tu_invalid_samples_refused(INVALID_DIR, ".xml", 0, decode_sample) >= 8);
}

/* The envelope samples are what the encoder writes (formatted like xmllint --format). */
static void test_envelope_samples_are_what_the_encoder_writes(void **state)
{
	static const char *const cases[][2] = {
		{ TRANSFER, VALID_DIR "/envelope.ward-to-land-office.xml" },
		{ CANONICAL_TRANSFER, VALID_DIR "/envelope.commune-center-to-land-branch.xml" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct lt_request req;
		json_t *ev = tu_load_json_file(cases[i][0]);
		encode_ok(ev, 0, &req);
		assert_string_equal(req.method, "POST");
		assert_string_equal(req.content_type, "application/xml; charset=utf-8");
		tu_assert_xml_is_sample(req.body.data, req.body.len, cases[i][1], cases[i][0]);
		lt_buf_free(&req.body);
		json_decref(ev);
	}
}

/* ---- encode and decode -------------------------------------------------- */

static void assert_round_trip(const char *path, int flags, const char *business_type)
{
	struct lt_request req;
	json_t *ev = tu_load_json_file(path);
	encode_ok(ev, flags, &req);
	json_t *events = decode_ok(req.body.data, req.body.len);
	json_t *back = json_array_get(events, 0);
	assert_string_equal(str_at(back, "type", NULL), "dossier.transferred");
	assert_string_equal(str_at(back, "dossier_code", NULL), str_at(ev, "dossier_code", NULL));
	assert_string_equal(str_at(back, "occurred_at", NULL), str_at(ev, "occurred_at", NULL));
	if (!json_equal(json_object_get(back, "dossier"), json_object_get(ev, "dossier")))
		fail_msg("the dossier did not come back the same");
	const json_t *d0 = json_object_get(ev, "detail"), *d1 = json_object_get(back, "detail");
	assert_true(json_equal(json_object_get(d1, "from_agency"), json_object_get(d0, "from_agency")));
	assert_true(json_equal(json_object_get(d1, "to_agency"), json_object_get(d0, "to_agency")));
	assert_true(json_equal(json_object_get(d1, "reason"), json_object_get(d0, "reason")));
	if (business_type)
		assert_string_equal(json_string_value(json_object_get(d1, "business_type")), business_type);
	else
		assert_null(json_object_get(d1, "business_type"));
	json_decref(events);
	lt_buf_free(&req.body);
	json_decref(ev);
}

static void test_round_trip_gives_back_the_same_dossier(void **state)
{
	(void)state;
	assert_round_trip(TRANSFER, 0, NULL);
	assert_round_trip(CANONICAL_TRANSFER, 0, NULL);
}

static void test_update_flag_sends_business_type_2(void **state)
{
	struct lt_request req;
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	encode_ok(ev, LT_FLAG_UPDATE, &req);
	assert_non_null(strstr(req.body.data, "<edXML:BussinessDocType>2</edXML:BussinessDocType>"));
	lt_buf_free(&req.body);
	json_decref(ev);
	assert_round_trip(TRANSFER, LT_FLAG_UPDATE, "update");
}

static void test_header_names_both_agencies_and_the_document(void **state)
{
	struct lt_request req;
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	encode_ok(ev, 0, &req);
	const char *want[] = {
		"<edXML:From><edXML:OrganId>000.00.12.H12</edXML:OrganId><edXML:OrganName>UBND phường Bình Hưng",
		"<edXML:To><edXML:OrganId>000.20.12.H12</edXML:OrganId><edXML:OrganName>" LAND_OFFICE,
		"<edXML:DocumentId>" DOCID "</edXML:DocumentId>",
		"<edXML:CodeNumber>000.00.12.H12-250414-0031</edXML:CodeNumber>",
		"<edXML:Timestamp>14/04/2025 10:05:00</edXML:Timestamp>",
		"<edXML:DueDate>28/04/2025</edXML:DueDate>",
		"<edXML:Digest>a3f1c2e4b5d6978812ab34cd56ef7890a1b2c3d4e5f60718293a4b5c6d7e8f90</edXML:Digest>",
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		if (!strstr(req.body.data, want[i]))
			fail_msg("envelope lacks %s:\n%s", want[i], req.body.data);
	lt_buf_free(&req.body);
	json_decref(ev);
}

static void test_other_event_types_are_refused(void **state)
{
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	json_object_set_new(ev, "type", json_string("dossier.received"));
	assert_encode_refused(ev, LT_EINVAL, "edXML carries dossier.transferred, not dossier.received");
}

static void test_transfer_without_agencies_or_dossier_is_refused(void **state)
{
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	json_object_del(json_object_get(ev, "detail"), "to_agency");
	assert_encode_refused(ev, LT_ESCHEMA, "detail.to_agency: an edXML transfer needs");
	ev = tu_load_json_file(TRANSFER);
	json_object_del(ev, "dossier");
	assert_encode_refused(ev, LT_ESCHEMA, "dossier:");
	ev = tu_load_json_file(TRANSFER);
	json_object_set_new(json_object_get(ev, "detail"), "business_type", json_string("cancel"));
	assert_encode_refused(ev, LT_ESCHEMA, "detail.business_type");
}

/* The commune-center envelope sample with another DossierJSON text. */
static char *envelope_with_dossier_json(const char *b64)
{
	char *s = tu_slurp(VALID_DIR "/envelope.commune-center-to-land-branch.xml", NULL);
	char *open = strstr(s, "<edXML:DossierJSON>"), *close = strstr(s, "</edXML:DossierJSON>");
	assert_true(open && close);
	open += strlen("<edXML:DossierJSON>");
	struct lt_buf b = { 0 };
	lt_buf_append(&b, s, (size_t)(open - s));
	lt_buf_append(&b, b64, strlen(b64));
	lt_buf_append(&b, close, strlen(close));
	free(s);
	return b.data;
}

static void test_dossier_json_that_is_not_a_canonical_dossier_is_refused(void **state)
{
	json_t *events;
	struct lt_err err;
	(void)state;
	char *xml = envelope_with_dossier_json("eyJjaGFubmVsIjoiZmF4In0="); /* {"channel":"fax"} */
	assert_int_equal(tu_decode(&A, &peer, xml, strlen(xml), &events, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "/dossier/channel"));
	json_decref(events);
	free(xml);
	xml = envelope_with_dossier_json("bm90IGpzb24="); /* not json */
	assert_int_equal(tu_decode(&A, &peer, xml, strlen(xml), &events, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "/edXMLEnvelope/edXMLBody/DossierJSON: not base64 of a JSON dossier"));
	json_decref(events);
	free(xml);
}

static void test_dtd_is_refused_as_malformed(void **state)
{
	json_t *events;
	struct lt_err err;
	(void)state;
	const char *dtd = "<!DOCTYPE s [<!ENTITY x \"y\">]><edXML:Status "
			  "xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">&x;</edXML:Status>";
	assert_int_equal(tu_decode(&A, &peer, dtd, strlen(dtd), &events, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "document type declaration not allowed"));
	json_decref(events);
}

/* ---- pushed statuses ---------------------------------------------------- */

static void test_completed_status_resolves_the_dossier(void **state)
{
	(void)state;
	json_t *events = decode_file(VALID_DIR "/status.resolved.xml");
	json_t *ev = json_array_get(events, 0);
	assert_string_equal(str_at(ev, "type", NULL), "dossier.resolved");
	assert_string_equal(str_at(ev, "dossier_code", NULL), "000.00.12.H12-250414-0031");
	assert_string_equal(str_at(ev, "occurred_at", NULL), "2025-04-25T15:30:00+07:00");
	json_t *dossier = json_object_get(ev, "dossier");
	assert_int_equal(json_integer_value(json_object_get(dossier, "status")), 9);
	assert_string_equal(str_at(dossier, "resolved_at", NULL), "2025-04-25T15:30:00+07:00");
	assert_string_equal(str_at(dossier, "handling_agency", "name"), LAND_OFFICE);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "detail"), "status_code")), 6);
	json_decref(events);
}

static void test_processing_status_is_a_step_at_the_other_agency(void **state)
{
	(void)state;
	json_t *events = decode_file(VALID_DIR "/status.processing.xml");
	json_t *ev = json_array_get(events, 0);
	assert_string_equal(str_at(ev, "type", NULL), "dossier.step");
	assert_string_equal(str_at(ev, "dossier_code", NULL), "000.00.15.H68-251118-0042");
	json_t *step = json_object_get(json_object_get(ev, "detail"), "step");
	assert_string_equal(json_string_value(json_object_get(step, "name")),
			    "Liên thông: đang xử lý tại Chi nhánh Văn phòng đăng ký đất đai khu vực Phan Thiết");
	json_decref(events);
}

/* ---- answers ------------------------------------------------------------ */

static void test_received_answer_is_done_with_a_step_for_the_office(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	char *body = tu_slurp(VALID_DIR "/status.received.xml", NULL);
	assert_int_equal(answer(200, body, ev, &out, &err), LT_DONE);
	assert_int_equal(json_array_size(out), 1);
	tu_assert_canonical_from(canonical, out, peer.name);
	json_t *c = json_array_get(out, 0);
	assert_string_equal(str_at(c, "type", NULL), "dossier.step");
	assert_string_equal(str_at(c, "dossier_code", NULL), "000.00.12.H12-250414-0031");
	json_t *detail = json_object_get(c, "detail");
	assert_string_equal(str_at(detail, "step", "name"), "Đã chuyển liên thông: đã tiếp nhận tại " LAND_OFFICE);
	assert_int_equal(json_integer_value(json_object_get(detail, "status_code")), 3);
	free(body);
	json_decref(out);
	json_decref(ev);
}

static void test_refused_answer_is_dead_with_the_reason_for_the_office(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	char *body = tu_slurp(VALID_DIR "/status.refused.xml", NULL);
	assert_int_equal(answer(200, body, ev, &out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "refused the transfer of 000.00.12.H12-250414-0031"));
	assert_int_equal(json_array_size(out), 1);
	tu_assert_canonical_from(canonical, out, peer.name);
	json_t *c = json_array_get(out, 0);
	assert_string_equal(str_at(c, "type", NULL), "dossier.step");
	json_t *detail = json_object_get(c, "detail");
	assert_int_equal(json_integer_value(json_object_get(detail, "status_code")), 2);
	assert_non_null(strstr(json_string_value(json_object_get(detail, "reason")), "thiếu bản gốc"));
	free(body);
	json_decref(out);
	json_decref(ev);
}

static void test_answer_about_another_document_is_dead(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = tu_load_json_file(CANONICAL_TRANSFER);
	char *body = tu_slurp(VALID_DIR "/status.received.xml", NULL);
	assert_int_equal(answer(200, body, ev, &out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "answered about document"));
	assert_int_equal(json_array_size(out), 0);
	free(body);
	json_decref(out);
	json_decref(ev);
}

static void test_http_errors_follow_the_default_rule_and_garbage_is_retried(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	assert_int_equal(answer(502, "", ev, &out, &err), LT_RETRY);
	json_decref(out);
	assert_int_equal(answer(403, "", ev, &out, &err), LT_DEAD);
	json_decref(out);
	assert_int_equal(answer(200, "OK", ev, &out, &err), LT_RETRY);
	assert_non_null(strstr(err.msg, "no valid edXML Status"));
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(ev);
}

/* ---- signing ------------------------------------------------------------ */

static void test_signed_envelope_validates_verifies_and_decodes(void **state)
{
	struct lt_request req;
	size_t n;
	(void)state;
	json_t *ev = tu_load_json_file(TRANSFER);
	encode_ok(ev, 0, &req);
	char *signed_xml = tu_assert_signs_valid_and_verifies(signer, trust, xsd_envelope, req.body.data,
							      req.body.len, &n);
	json_t *events = decode_ok(signed_xml, n);
	assert_true(json_equal(json_object_get(json_array_get(events, 0), "dossier"), json_object_get(ev, "dossier")));
	json_decref(events);
	free(signed_xml);
	lt_buf_free(&req.body);
	json_decref(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_valid_sample_decodes_into_a_canonical_event),
		cmocka_unit_test(test_every_invalid_sample_is_refused_with_its_expect_text),
		cmocka_unit_test(test_envelope_samples_are_what_the_encoder_writes),
		cmocka_unit_test(test_round_trip_gives_back_the_same_dossier),
		cmocka_unit_test(test_update_flag_sends_business_type_2),
		cmocka_unit_test(test_header_names_both_agencies_and_the_document),
		cmocka_unit_test(test_other_event_types_are_refused),
		cmocka_unit_test(test_transfer_without_agencies_or_dossier_is_refused),
		cmocka_unit_test(test_dossier_json_that_is_not_a_canonical_dossier_is_refused),
		cmocka_unit_test(test_dtd_is_refused_as_malformed),
		cmocka_unit_test(test_completed_status_resolves_the_dossier),
		cmocka_unit_test(test_processing_status_is_a_step_at_the_other_agency),
		cmocka_unit_test(test_received_answer_is_done_with_a_step_for_the_office),
		cmocka_unit_test(test_refused_answer_is_dead_with_the_reason_for_the_office),
		cmocka_unit_test(test_answer_about_another_document_is_dead),
		cmocka_unit_test(test_http_errors_follow_the_default_rule_and_garbage_is_retried),
		cmocka_unit_test(test_signed_envelope_validates_verifies_and_decodes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
