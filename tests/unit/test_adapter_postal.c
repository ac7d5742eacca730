/* test_adapter_postal.c — the post office adapter: orders that return results
 * to the citizen, the order answer, tracking updates and counter intake.
 *
 * Run from the repository root: schemas and samples are read from schemas/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "config.h"
#include "jsonschema.h"

extern const struct lt_adapter lt_adapter_postal;
#define A (&lt_adapter_postal)

#define VALID_DIR "schemas/samples/postal"
#define INVALID_DIR "schemas/samples/postal-invalid"
#define CANONICAL_DIR "schemas/samples/canonical"

static struct lt_schema *canonical, *order_schema;
static struct lt_peer peer = { .name = "vnpost-binhthuan" };

static int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	peer.params = json_pack("{s:s,s:s,s:s,s:s,s:s}", "customer_code", "BT-UBND-BH", "sender_address",
				"Số 2 Nguyễn Hội, khu phố 1, phường Bình Hưng", "sender_tel", "0252 3821 234",
				"sender_province", "60", "sender_ward", "22912");
	if (A->init(&err)) {
		fprintf(stderr, "init: %s\n", err.msg);
		return -1;
	}
	canonical = tu_schema_load(TU_CANONICAL_SCHEMA);
	order_schema = tu_schema_load("schemas/postal/order.schema.json");
	return canonical && order_schema ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	lt_schema_free(canonical);
	lt_schema_free(order_schema);
	json_decref(peer.params);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static int decode_text(const char *body, json_t **out, struct lt_err *err)
{
	return tu_decode(A, &peer, body, strlen(body), out, err);
}

static int decode_file(const char *path, json_t **out, struct lt_err *err)
{
	return tu_decode_file(A, &peer, path, out, err);
}

static void assert_refused(const char *body, int code, const char *expect)
{
	tu_assert_decode_refused(A, &peer, body, code, expect);
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The canonical dossier.returned sample with what an order needs: the
 * applicant of the received sample and the result paper of the resolved one. */
static json_t *returned_by_post(void)
{
	json_t *ev = tu_load_json(CANONICAL_DIR, "dossier.returned.json");
	json_t *received = tu_load_json(CANONICAL_DIR, "dossier.received.json");
	json_t *resolved = tu_load_json(CANONICAL_DIR, "dossier.resolved.json");
	json_t *d = json_object_get(ev, "dossier");
	json_object_set(d, "applicant", json_object_get(json_object_get(received, "dossier"), "applicant"));
	json_object_set(d, "documents", json_object_get(json_object_get(resolved, "dossier"), "documents"));
	json_decref(received);
	json_decref(resolved);
	return ev;
}

static int encode(const json_t *event, json_t **body, struct lt_request *req, struct lt_err *err)
{
	int rc = tu_encode(A, &peer, "m-1", 0, event, req, err);
	*body = rc ? NULL : json_loadb(req->body.data, req->body.len, 0, NULL);
	lt_buf_free(&req->body);
	return rc;
}

static enum lt_verdict answer(const json_t *event, long status, const char *text, json_t *out, struct lt_err *err)
{
	struct lt_delivery_ctx ctx = { .attempt = 1 };
	struct lt_response rsp = { .status = status, .body = text, .len = strlen(text) };
	memset(err, 0, sizeof *err);
	return A->outcome(&peer, &ctx, event, &rsp, out, err);
}

/* ---- inbound ------------------------------------------------------------- */

static void test_every_inbound_sample_decodes_to_canonical_events(void **state)
{
	struct dirent **names;
	int n = tu_files(VALID_DIR, "", ".json", &names), inbound = 0;
	(void)state;
	for (int i = 0; i < n; i++) {
		char path[512];
		struct lt_err err;
		json_t *out;
		if (strncmp(names[i]->d_name, "tracking.", 9) && strncmp(names[i]->d_name, "intake.", 7))
			continue;
		snprintf(path, sizeof path, "%s/%s", VALID_DIR, names[i]->d_name);
		if (decode_file(path, &out, &err))
			fail_msg("%s: %s", path, err.msg);
		assert_true(json_array_size(out) >= 1);
		tu_assert_canonical_from(canonical, out, "vnpost-binhthuan");
		json_decref(out);
		inbound++;
	}
	tu_files_free(names, n);
	assert_true(inbound >= 6);
}

static void test_tracking_codes_map_to_postal_events(void **state)
{
	static const struct { const char *sample, *type; int code; } cases[] = {
		{ "tracking.delivered.json", "postal.delivered", 5 },
		{ "tracking.failed.json", "postal.failed", 6 },
		{ "tracking.returned-to-sender.json", "postal.failed", 7 },
		{ "tracking.collected-from-agency.json", "postal.collected", 2 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char path[256];
		json_t *out;
		struct lt_err err;
		snprintf(path, sizeof path, "%s/%s", VALID_DIR, cases[i].sample);
		assert_int_equal(decode_file(path, &out, &err), 0);
		assert_int_equal(json_array_size(out), 1);
		json_t *ev = json_array_get(out, 0), *detail = json_object_get(ev, "detail");
		assert_string_equal(str(ev, "type"), cases[i].type);
		assert_string_equal(str(detail, "order_number"), str(ev, "dossier_code"));
		assert_int_equal(json_integer_value(json_object_get(detail, "status_code")), cases[i].code);
		assert_non_null(str(detail, "postal_status"));
		json_decref(out);
	}
}

static void test_delivered_update_keeps_its_time_and_waybill(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	assert_int_equal(decode_file(VALID_DIR "/tracking.delivered.json", &out, &err), 0);
	json_t *ev = json_array_get(out, 0), *detail = json_object_get(ev, "detail");
	assert_string_equal(str(ev, "dossier_code"), "000.00.12.H12-250310-0001");
	assert_string_equal(str(ev, "occurred_at"), "2025-03-15T10:30:00+07:00");
	assert_string_equal(str(detail, "postal_status"), "Phát thành công");
	assert_string_equal(str(detail, "item_code"), "EL123456785VN");
	json_decref(out);
	assert_int_equal(decode_file(VALID_DIR "/tracking.failed.json", &out, &err), 0);
	detail = json_object_get(json_array_get(out, 0), "detail");
	assert_string_equal(str(detail, "reason"), "Người nhận vắng nhà, gọi điện không liên lạc được");
	json_decref(out);
}

static void test_in_transit_updates_are_accepted_without_events(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	assert_int_equal(decode_file(VALID_DIR "/tracking.batch-in-transit-then-delivered.json", &out, &err), 0);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(str(json_array_get(out, 0), "type"), "postal.delivered");
	json_decref(out);
	assert_int_equal(decode_text("{\"orderNumber\":\"A-1\",\"statusCode\":\"3\"}", &out, &err), 0);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
}

static void test_unmapped_tracking_code_is_refused_naming_the_field(void **state)
{
	(void)state;
	assert_refused("{\"orderNumber\":\"000.00.12.H12-250310-0001\",\"statusCode\":\"99\"}", LT_ESCHEMA,
		       "/statusCode: unknown VNPost status code \"99\"");
	assert_refused("[{\"orderNumber\":\"A-1\",\"statusCode\":5},{\"orderNumber\":\"A-1\",\"statusCode\":\"X9\"}]",
		       LT_ESCHEMA, "/1/statusCode: unknown VNPost status code \"X9\"");
}

static void test_impossible_tracking_time_is_refused_naming_the_field(void **state)
{
	(void)state;
	assert_refused("{\"orderNumber\":\"A-1\",\"statusCode\":\"5\",\"time\":\"30/02/2026 10:00:00\"}", LT_ESCHEMA,
		       "/time: date \"30/02/2026 10:00:00\" is not a real date");
	assert_refused("[{\"orderNumber\":\"A-1\",\"statusCode\":\"5\",\"time\":\"2026-02-30T10:00:00+07:00\"}]",
		       LT_ESCHEMA, "/0/time");
}

static void test_intake_becomes_a_postal_dossier_received(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	assert_int_equal(decode_file(VALID_DIR "/intake.death-registration.json", &out, &err), 0);
	assert_int_equal(json_array_size(out), 1);
	json_t *ev = json_array_get(out, 0), *d = json_object_get(ev, "dossier");
	json_t *address = json_object_get(json_object_get(d, "applicant"), "address");
	assert_string_equal(str(ev, "type"), "dossier.received");
	assert_string_equal(str(ev, "dossier_code"), "VNP68-251120-0056"); /* no MaHoSo: the order number */
	assert_string_equal(str(ev, "occurred_at"), "2025-11-20T10:10:00+07:00");
	assert_string_equal(str(d, "channel"), "postal");
	assert_int_equal(json_integer_value(json_object_get(d, "status")), 2);
	assert_string_equal(str(d, "return_via"), "postal");
	assert_string_equal(str(json_object_get(d, "receiving_agency"), "code"), "000.00.15.H68");
	assert_string_equal(str(json_object_get(address, "commune"), "code"), "22915");
	assert_null(json_object_get(address, "district"));
	assert_int_equal(json_array_size(json_object_get(d, "documents")), 2);
	assert_string_equal(str(json_object_get(ev, "detail"), "item_code"), "EL987654321VN");
	json_decref(out);
}

static void test_intake_with_a_dossier_code_and_an_old_address_keeps_both(void **state)
{
	json_t *out;
	struct lt_err err;
	(void)state;
	assert_int_equal(decode_file(VALID_DIR "/intake.old-address-with-dossier-code.json", &out, &err), 0);
	json_t *ev = json_array_get(out, 0);
	json_t *address = json_object_get(json_object_get(json_object_get(ev, "dossier"), "applicant"), "address");
	assert_string_equal(str(ev, "dossier_code"), "000.00.12.H12-230614-0027");
	assert_string_equal(str(json_object_get(ev, "detail"), "order_number"), "VNP60-230614-0027");
	assert_string_equal(str(json_object_get(address, "district"), "code"), "593");
	assert_string_equal(str(ev, "occurred_at"), "2023-06-14T09:25:00+07:00");
	json_decref(out);
}

static void test_intake_with_an_impossible_date_or_code_is_refused(void **state)
{
	const char *base = "{\"type\":\"intake\",\"OrderNumber\":\"VNP68-1\",\"MaTTHC\":\"1.011733\",\"ChuHoSo\":\"Huỳnh "
			   "Văn Tâm\",\"SoDienThoai\":\"0905111222\",\"DiaChi\":\"Số 27\",\"MaTinh\":\"68\",\"MaXa\":"
			   "\"22915\",\"DonViNhan\":{\"code\":\"000.00.15.H68\"},";
	char body[1024];
	(void)state;
	snprintf(body, sizeof body, "%s\"NgayNhan\":\"31/04/2025 08:00:00\"}", base);
	assert_refused(body, LT_ESCHEMA, "/NgayNhan: date \"31/04/2025 08:00:00\" is not a real date");
	snprintf(body, sizeof body, "%s\"NgayNhan\":\"30/04/2025 08:00:00\",\"LoaiDoiTuong\":\"7\"}", base);
	assert_refused(body, LT_ESCHEMA, "/LoaiDoiTuong: unknown code \"7\"");
}

static void test_a_type_other_than_intake_is_refused(void **state)
{
	(void)state;
	assert_refused("{\"type\":\"order\",\"orderNumber\":\"A-1\",\"statusCode\":\"5\"}", LT_ESCHEMA, "/type");
}

static void test_malformed_json_is_a_400(void **state)
{
	(void)state;
	assert_refused("{\"orderNumber\":", LT_EINVAL, "body is not valid JSON");
}

static int wire_schema(const char *dir, const char *name, struct lt_err *err)
{
	return tu_wire_schema_check("postal", dir, name, err);
}

static int inbound_checked; /* tracking and intake samples seen by check_invalid */

/* Inbound samples (tracking, intake) through decode; the other kinds through their wire schema. */
static int check_invalid(const char *dir, const char *name, struct lt_err *err)
{
	if (strncmp(name, "tracking.", 9) && strncmp(name, "intake.", 7))
		return wire_schema(dir, name, err);
	inbound_checked++;
	return tu_decode_sample(A, &peer, dir, name, err);
}

static void test_every_invalid_sample_is_refused_with_its_expected_message(void **state)
{
	(void)state;
	inbound_checked = 0;
	tu_invalid_samples_refused(INVALID_DIR, ".json", 0, check_invalid);
	assert_true(inbound_checked >= 6);
}

static void test_every_valid_sample_passes_its_wire_schema(void **state)
{
	(void)state;
	assert_true(tu_valid_samples_accepted(VALID_DIR, ".json", wire_schema) >= 10);
}

/* ---- outbound ------------------------------------------------------------ */

static void test_returned_dossier_by_post_encodes_an_order(void **state)
{
	json_t *event = returned_by_post(), *body;
	struct lt_request req;
	struct lt_err err;
	(void)state;
	assert_int_equal(encode(event, &body, &req, &err), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.path, "/orders");
	assert_string_equal(req.content_type, "application/json");
	assert_int_equal(lt_schema_validate(order_schema, body, &err), 0);
	assert_string_equal(str(body, "CustomerCode"), "BT-UBND-BH");
	assert_string_equal(str(body, "OrderNumber"), "000.00.12.H12-250310-0001");
	assert_int_equal(json_integer_value(json_object_get(body, "CODAmount")), 0);
	assert_string_equal(str(body, "SenderName"), "UBND phường Bình Hưng");
	assert_string_equal(str(body, "SenderProvince"), "60");
	assert_string_equal(str(body, "ReceiverName"), "Nguyễn Thị Lan");
	assert_string_equal(str(body, "ReceiverTel"), "0912 345 678");
	assert_string_equal(str(body, "ReceiverProvince"), "60");
	assert_string_equal(str(body, "ReceiverDistrict"), "593");
	assert_string_equal(str(body, "ReceiverWard"), "22912");
	assert_non_null(strstr(str(body, "ReceiverAddress"), "Số 12 Hải Thượng Lãn Ông"));
	assert_string_equal(str(body, "SenderDesc"), "Giấy khai sinh (bản điện tử)");
	assert_non_null(strstr(str(body, "Description"), "Đăng ký khai sinh"));
	assert_non_null(strstr(str(body, "Description"), "trả kết quả"));
	json_decref(body);
	json_decref(event);
}

static void test_address_without_district_sends_the_commune(void **state)
{
	json_t *event = returned_by_post(), *body;
	json_t *transferred = tu_load_json(CANONICAL_DIR, "dossier.transferred.json");
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_object_set(json_object_get(json_object_get(event, "dossier"), "applicant"), "address",
			json_object_get(json_object_get(json_object_get(transferred, "dossier"), "applicant"), "address"));
	assert_int_equal(encode(event, &body, &req, &err), 0);
	assert_int_equal(lt_schema_validate(order_schema, body, &err), 0);
	assert_string_equal(str(body, "ReceiverProvince"), "68");
	assert_string_equal(str(body, "ReceiverWard"), "22915");
	assert_null(json_object_get(body, "ReceiverDistrict"));
	json_decref(body);
	json_decref(event);
	json_decref(transferred);
}

static void test_cod_amount_and_waybill_come_from_the_detail(void **state)
{
	json_t *event = returned_by_post(), *body;
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_object_set_new(event, "detail", json_pack("{s:i,s:s}", "cod_amount", 30000, "item_code", "EL123456785VN"));
	assert_int_equal(encode(event, &body, &req, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(body, "CODAmount")), 30000);
	assert_string_equal(str(body, "ItemCode"), "EL123456785VN");
	json_decref(body);
	json_object_set_new(json_object_get(event, "detail"), "cod_amount", json_integer(-1));
	assert_int_equal(encode(event, &body, &req, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "detail.cod_amount"));
	json_decref(event);
}

static void test_returned_sample_without_an_applicant_address_is_refused(void **state)
{
	json_t *event = tu_load_json(CANONICAL_DIR, "dossier.returned.json"), *body;
	struct lt_request req;
	struct lt_err err;
	(void)state;
	assert_int_equal(encode(event, &body, &req, &err), LT_ESCHEMA); /* the sample has no applicant */
	assert_non_null(strstr(err.msg, "dossier.applicant.name is required by the post office"));
	json_decref(event);
	event = returned_by_post();
	json_object_del(json_object_get(json_object_get(event, "dossier"), "applicant"), "address");
	assert_int_equal(encode(event, &body, &req, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "dossier.applicant.address is required"));
	json_decref(event);
}

static void test_direct_return_is_refused(void **state)
{
	json_t *event = returned_by_post(), *body;
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_object_set_new(json_object_get(event, "dossier"), "return_via", json_string("direct"));
	assert_int_equal(encode(event, &body, &req, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "dossier.return_via is not postal"));
	json_object_del(json_object_get(event, "dossier"), "return_via");
	assert_int_equal(encode(event, &body, &req, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "dossier.return_via is not postal"));
	json_decref(event);
}

static void test_other_events_are_not_for_the_post_office(void **state)
{
	static const char *const samples[] = { "dossier.received.json", "dossier.step.json", "postal.collected.json",
					       "postal.delivered.json", "registry.registered.json" };
	(void)state;
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
		json_t *event = tu_load_json(CANONICAL_DIR, samples[i]), *body;
		struct lt_request req;
		struct lt_err err;
		assert_int_equal(encode(event, &body, &req, &err), LT_EINVAL);
		assert_non_null(strstr(err.msg, "the post office takes no"));
		json_decref(event);
	}
}

static void test_missing_sender_param_is_a_config_error_naming_it(void **state)
{
	json_t *event = returned_by_post(), *body;
	json_t *tel = json_incref(json_object_get(peer.params, "sender_tel"));
	struct lt_request req;
	struct lt_err err;
	(void)state;
	json_object_del(peer.params, "sender_tel");
	assert_int_equal(encode(event, &body, &req, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "param.sender_tel"));
	json_object_set_new(peer.params, "sender_tel", tel);
	json_decref(event);
}

/* ---- outcome --------------------------------------------------------------- */

static void test_order_answer_100_is_done_and_carries_order_created(void **state)
{
	json_t *event = returned_by_post(), *out = json_array();
	struct lt_err err;
	(void)state;
	assert_int_equal(answer(event, 200, "{\"Status\":\"100\",\"Message\":\"Tạo đơn hàng thành công\","
				"\"ItemCode\":\"EL123456785VN\"}", out, &err), LT_DONE);
	assert_int_equal(json_array_size(out), 1);
	json_t *ev = json_array_get(out, 0), *detail = json_object_get(ev, "detail");
	tu_assert_canonical(canonical, ev);
	assert_string_equal(str(ev, "type"), "postal.order_created");
	assert_string_equal(str(ev, "source"), "vnpost-binhthuan");
	assert_string_equal(str(ev, "dossier_code"), "000.00.12.H12-250310-0001");
	assert_string_equal(str(detail, "order_number"), "000.00.12.H12-250310-0001");
	assert_string_equal(str(detail, "item_code"), "EL123456785VN");
	assert_string_equal(str(detail, "postal_status"), "Tạo đơn hàng thành công");
	assert_int_equal(json_integer_value(json_object_get(detail, "status_code")), 100);
	/* the dossier travels with it, so routes that filter by procedure still match */
	assert_string_equal(str(json_object_get(json_object_get(ev, "dossier"), "procedure"), "code"), "2.000986");
	json_decref(out);
	out = json_array();
	assert_int_equal(answer(event, 201, "{\"Status\":100}", out, &err), LT_DONE);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(str(json_object_get(json_array_get(out, 0), "detail"), "postal_status"), "100");
	json_decref(out);
	json_decref(event);
}

static void test_a_routed_order_created_event_carries_no_second_one(void **state)
{
	json_t *event = tu_load_json(CANONICAL_DIR, "postal.order_created.json"), *out = json_array();
	struct lt_err err;
	(void)state;
	assert_int_equal(answer(event, 200, "{\"Status\":\"100\",\"Message\":\"OK\"}", out, &err), LT_DONE);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(event);
}

static void test_other_order_status_is_dead_with_the_message(void **state)
{
	json_t *event = returned_by_post(), *out = json_array();
	struct lt_err err;
	(void)state;
	assert_int_equal(answer(event, 200, "{\"Status\":\"104\",\"Message\":\"Mã khách hàng BT-UBND-BH không tồn tại\"}",
				out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "Status 104"));
	assert_non_null(strstr(err.msg, "Mã khách hàng BT-UBND-BH không tồn tại"));
	assert_int_equal(answer(event, 200, "<html></html>", out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "not JSON"));
	assert_int_equal(answer(event, 200, "{\"Message\":\"ok\"}", out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "/Status: required property is missing"));
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(event);
}

static void test_http_errors_follow_the_default_rule(void **state)
{
	json_t *event = returned_by_post(), *out = json_array();
	struct lt_err err;
	(void)state;
	assert_int_equal(answer(event, 503, "", out, &err), LT_RETRY);
	assert_int_equal(answer(event, 0, "", out, &err), LT_RETRY);
	assert_int_equal(answer(event, 429, "", out, &err), LT_RETRY);
	assert_int_equal(answer(event, 404, "{\"Status\":\"100\"}", out, &err), LT_DEAD);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(event);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_inbound_sample_decodes_to_canonical_events),
		cmocka_unit_test(test_tracking_codes_map_to_postal_events),
		cmocka_unit_test(test_delivered_update_keeps_its_time_and_waybill),
		cmocka_unit_test(test_in_transit_updates_are_accepted_without_events),
		cmocka_unit_test(test_unmapped_tracking_code_is_refused_naming_the_field),
		cmocka_unit_test(test_impossible_tracking_time_is_refused_naming_the_field),
		cmocka_unit_test(test_intake_becomes_a_postal_dossier_received),
		cmocka_unit_test(test_intake_with_a_dossier_code_and_an_old_address_keeps_both),
		cmocka_unit_test(test_intake_with_an_impossible_date_or_code_is_refused),
		cmocka_unit_test(test_a_type_other_than_intake_is_refused),
		cmocka_unit_test(test_malformed_json_is_a_400),
		cmocka_unit_test(test_every_invalid_sample_is_refused_with_its_expected_message),
		cmocka_unit_test(test_every_valid_sample_passes_its_wire_schema),
		cmocka_unit_test(test_returned_dossier_by_post_encodes_an_order),
		cmocka_unit_test(test_address_without_district_sends_the_commune),
		cmocka_unit_test(test_cod_amount_and_waybill_come_from_the_detail),
		cmocka_unit_test(test_returned_sample_without_an_applicant_address_is_refused),
		cmocka_unit_test(test_direct_return_is_refused),
		cmocka_unit_test(test_other_events_are_not_for_the_post_office),
		cmocka_unit_test(test_missing_sender_param_is_a_config_error_naming_it),
		cmocka_unit_test(test_order_answer_100_is_done_and_carries_order_created),
		cmocka_unit_test(test_a_routed_order_created_event_carries_no_second_one),
		cmocka_unit_test(test_other_order_status_is_dead_with_the_message),
		cmocka_unit_test(test_http_errors_follow_the_default_rule),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
