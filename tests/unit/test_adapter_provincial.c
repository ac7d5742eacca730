/* test_adapter_provincial.c — the portal adapter: online dossiers in, dossier
 * sync and progress out, the portal's answers, the session login.
 *
 * Run from the repository root: schemas and samples are read from schemas/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "config.h"
#include "jsonschema.h"

extern const struct lt_adapter lt_adapter_provincial;
#define A (&lt_adapter_provincial)

#define VALID_DIR "schemas/samples/provincial"
#define INVALID_DIR "schemas/samples/provincial-invalid"
#define CANONICAL_DIR "schemas/samples/canonical"
#define SESSION "6f1c9a2e-3b7d-4c55-9e0a-2d8f41b7c3aa"

static struct lt_schema *canonical, *sync_schema, *progress_schema, *login_schema;
static struct lt_peer peer = { .name = "cong-dvc-tinh" };

static int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	peer.params = json_pack("{s:s,s:s,s:s,s:s}", "madonvi", "000.00.12.H12", "username", "motcua.binhhung",
				"password", "mat-khau-thu-nghiem", "login_path", "/api/dangnhap");
	if (A->init(&err)) {
		fprintf(stderr, "init: %s\n", err.msg);
		return -1;
	}
	canonical = tu_schema_load(TU_CANONICAL_SCHEMA);
	sync_schema = tu_schema_load("schemas/provincial/sync.schema.json");
	progress_schema = tu_schema_load("schemas/provincial/progress.schema.json");
	login_schema = tu_schema_load("schemas/provincial/login.schema.json");
	return canonical && sync_schema && progress_schema && login_schema ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	lt_schema_free(canonical);
	lt_schema_free(sync_schema);
	lt_schema_free(progress_schema);
	lt_schema_free(login_schema);
	json_decref(peer.params);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* The value at "a/0/b" (object keys and array indexes) of o, or NULL. */
static const json_t *at(const json_t *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, "/");
		snprintf(key, sizeof key, "%.*s", (int)n, path);
		o = json_is_array(o) ? json_array_get(o, strtoul(key, NULL, 10)) : json_object_get(o, key);
		path += n + (path[n] == '/');
	}
	return o;
}

static const char *str(const json_t *o, const char *path)
{
	return json_string_value(at(o, path));
}

/* Decode the bytes of a file; the adapter's code, events in *out. */
static int decode_file(const char *path, json_t **out, struct lt_err *err)
{
	return tu_decode_file(A, &peer, path, out, err);
}

/* The events of a valid sample of VALID_DIR; fails the test if refused. */
static json_t *decode_sample(const char *name)
{
	char path[512];
	struct lt_err err;
	json_t *out;
	snprintf(path, sizeof path, "%s/%s", VALID_DIR, name);
	if (decode_file(path, &out, &err))
		fail_msg("%s: %s", path, err.msg);
	return out;
}

static void assert_refused(const char *body, int code, const char *expect)
{
	tu_assert_decode_refused(A, &peer, body, code, expect);
}

/* Encode event; the adapter's code, the request in *req (body freed) and the body parsed in *body. */
static int encode(const json_t *event, int flags, const char *session, json_t **body, struct lt_request *req,
		  struct lt_err *err)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .flags = flags, .message_id = "m-1", .session = session };
	memset(req, 0, sizeof *req);
	memset(err, 0, sizeof *err);
	int rc = A->encode(&peer, &ctx, event, req, err);
	*body = rc ? NULL : json_loadb(req->body.data, req->body.len, 0, NULL);
	if (!rc && !*body)
		fail_msg("encoded body is not JSON: %s", req->body.data);
	lt_buf_free(&req->body);
	return rc;
}

/* The body a canonical event encodes to; fails the test if refused. */
static json_t *encode_ok(const json_t *event, int flags)
{
	struct lt_request req;
	struct lt_err err;
	json_t *body;
	if (encode(event, flags, SESSION, &body, &req, &err))
		fail_msg("encode refused: %s", err.msg);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.content_type, "application/json");
	return body;
}

/* The body the canonical sample NAME encodes to. */
static json_t *encode_sample(const char *name, int flags)
{
	json_t *event = tu_load_json(CANONICAL_DIR, name), *body = encode_ok(event, flags);
	json_decref(event);
	return body;
}

static void assert_encode_refused(const json_t *event, const char *session, int code, const char *expect)
{
	struct lt_request req;
	struct lt_err err;
	json_t *body;
	int rc = encode(event, 0, session, &body, &req, &err);
	if (rc != code || !strstr(err.msg, expect))
		fail_msg("encode: got %d \"%s\", want %d \"%s\"", rc, err.msg, code, expect);
}

static enum lt_verdict answer(const char *event_sample, long status, const char *text, struct lt_delivery_ctx *ctx,
			      struct lt_err *err)
{
	json_t *event = tu_load_json(CANONICAL_DIR, event_sample), *out = json_array();
	struct lt_response rsp = { .status = status, .body = text, .len = strlen(text) };
	memset(err, 0, sizeof *err);
	enum lt_verdict v = A->outcome(&peer, ctx, event, &rsp, out, err);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(event);
	return v;
}

/* ---- inbound ------------------------------------------------------------- */

static void test_every_inbound_sample_decodes_to_canonical_events(void **state)
{
	struct dirent **names;
	int n = tu_files(VALID_DIR, "inbound.", ".json", &names);
	(void)state;
	assert_true(n >= 3);
	for (int i = 0; i < n; i++) {
		json_t *out = decode_sample(names[i]->d_name), *doc = tu_load_json(VALID_DIR, names[i]->d_name);
		assert_int_equal(json_array_size(out), json_array_size(json_object_get(doc, "data")));
		tu_assert_canonical_from(canonical, out, "cong-dvc-tinh");
		json_decref(doc);
		json_decref(out);
	}
	tu_files_free(names, n);
}

static void test_online_record_maps_back_to_canonical_fields(void **state)
{
	json_t *out = decode_sample("inbound.online-copy-extract.json");
	(void)state;
	assert_int_equal(json_array_size(out), 2);
	assert_string_equal(str(out, "0/type"), "dossier.received");
	assert_string_equal(str(out, "0/dossier_code"), "000.00.12.H12-250312-0007");
	assert_string_equal(str(out, "0/occurred_at"), "2025-03-12T09:10:00+07:00");
	assert_string_equal(str(out, "0/dossier/received_at"), "2025-03-12T09:10:00+07:00");
	assert_string_equal(str(out, "0/dossier/due_at"), "2025-03-13T17:00:00+07:00");
	assert_string_equal(str(out, "0/dossier/channel"), "online");
	assert_int_equal(json_integer_value(at(out, "0/dossier/status")), 1);
	assert_string_equal(str(out, "0/dossier/return_via"), "postal");
	assert_string_equal(str(out, "0/dossier/procedure/code"), "2.000635");
	assert_string_equal(str(out, "0/dossier/receiving_agency/code"), "000.00.12.H12");
	assert_string_equal(str(out, "0/dossier/applicant/type"), "citizen");
	assert_string_equal(str(out, "0/dossier/applicant/id_number"), "060091003456");
	assert_string_equal(str(out, "0/dossier/applicant/email"), "dqbao@yahoo.com.vn");
	assert_int_equal(json_integer_value(at(out, "0/dossier/fees/0/amount")), 16000);
	assert_null(at(out, "0/dossier/returned_at")); /* "" on the wire means no date */
	/* the second record: the paper marked IsDeleted is left out */
	assert_int_equal(json_array_size(at(out, "1/dossier/documents")), 2);
	assert_string_equal(str(out, "1/dossier/return_via"), "direct");
	assert_null(at(out, "1/dossier/applicant/email"));
	json_decref(out);
}

static void test_integer_codes_are_read_and_other_statuses_pick_their_event(void **state)
{
	json_t *out = decode_sample("inbound.data-only-integer-codes.json");
	(void)state;
	assert_string_equal(str(out, "0/dossier/channel"), "online");
	assert_string_equal(str(out, "0/dossier/applicant/type"), "citizen");
	assert_null(at(out, "0/dossier/receiving_agency")); /* no madonvi in the push */
	json_decref(out);
	out = decode_sample("inbound.withdrawn-online.json"); /* TrangThaiHoSo 7 */
	assert_string_equal(str(out, "0/type"), "dossier.withdrawn");
	assert_int_equal(json_integer_value(at(out, "0/dossier/status")), 7);
	json_decref(out);
}

/* A valid one-record push with one member replaced (JSON text of the value). */
static char *push_with(const char *key, const char *value)
{
	static const char *base = "{\"data\":[{\"MaHoSo\":\"000.00.12.H12-250312-0008\",\"MaTTHC\":\"2.000986\","
				  "\"KenhThucHien\":\"2\",\"ChuHoSo\":\"Lê Thị Mai\",\"NgayTiepNhan\":\"20250312143000\","
				  "\"TrangThaiHoSo\":\"1\"}]}";
	json_t *doc = json_loads(base, 0, NULL);
	json_object_set_new(json_array_get(json_object_get(doc, "data"), 0), key, json_loads(value, JSON_DECODE_ANY, NULL));
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static void test_unknown_codes_and_impossible_dates_are_refused_naming_the_field(void **state)
{
	static const struct { const char *key, *value, *expect; } cases[] = {
		{ "KenhThucHien", "\"7\"", "/data/0/KenhThucHien: unknown code \"7\"" },
		{ "KenhThucHien", "7", "/data/0/KenhThucHien: unknown code \"7\"" },
		{ "LoaiDoiTuong", "\"9\"", "/data/0/LoaiDoiTuong: unknown code \"9\"" },
		{ "HinhThuc", "\"2\"", "/data/0/HinhThuc: unknown code \"2\"" },
		{ "TrangThaiHoSo", "\"11\"", "/data/0/TrangThaiHoSo: unknown status \"11\"" },
		{ "NgayTiepNhan", "\"20260230081500\"", "/data/0/NgayTiepNhan: date \"20260230081500\" is not a real date" },
		{ "NgayHenTra", "\"20230229170000\"", "/data/0/NgayHenTra: date \"20230229170000\" is not a real date" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *body = push_with(cases[i].key, cases[i].value);
		assert_refused(body, LT_ESCHEMA, cases[i].expect);
		free(body);
	}
}

static void test_one_bad_record_refuses_the_whole_push(void **state)
{
	const char *body = "{\"data\":[{\"MaHoSo\":\"A-1\",\"MaTTHC\":\"2.000986\",\"KenhThucHien\":\"2\","
			   "\"ChuHoSo\":\"Lê Thị Mai\",\"NgayTiepNhan\":\"20250312143000\",\"TrangThaiHoSo\":\"1\"},"
			   "{\"MaHoSo\":\"A-2\",\"MaTTHC\":\"2.000986\",\"KenhThucHien\":\"4\",\"ChuHoSo\":\"Lê Thị Mai\","
			   "\"NgayTiepNhan\":\"20250312143000\",\"TrangThaiHoSo\":\"1\"}]}";
	(void)state;
	assert_refused(body, LT_ESCHEMA, "/data/1/KenhThucHien: unknown code \"4\"");
}

static void test_malformed_json_is_a_400(void **state)
{
	(void)state;
	assert_refused("{\"data\":[", LT_EINVAL, "body is not valid JSON");
	assert_refused("{\"data\":[],\"data\":[]}", LT_EINVAL, "body is not valid JSON");
}

/* A sample checked the way its kind is: inbound by decode (refused means no
 * events), the other kinds by their wire schema. 0 or the code, err set. */
static int check_sample(const char *dir, const char *name, struct lt_err *err)
{
	if (!strncmp(name, "inbound.", 8))
		return tu_decode_sample(A, &peer, dir, name, err);
	return tu_wire_schema_check("provincial", dir, name, err);
}

static void test_every_invalid_sample_is_refused_with_its_expected_message(void **state)
{
	(void)state;
	assert_true(tu_invalid_samples_refused(INVALID_DIR, ".json", 0, check_sample) >= 9);
}

static void test_every_valid_sample_passes_its_wire_schema(void **state)
{
	(void)state;
	assert_true(tu_valid_samples_accepted(VALID_DIR, ".json", check_sample) >= 15);
}

/* ---- outbound ------------------------------------------------------------ */

static void test_received_sample_encodes_to_a_create_with_portal_codes_and_dates(void **state)
{
	json_t *body = encode_sample("dossier.received.json", 0);
	struct lt_err err = { 0 };
	(void)state;
	assert_int_equal(lt_schema_validate(sync_schema, body, &err), 0);
	assert_string_equal(str(body, "service"), "DongBoHoSoMC");
	assert_string_equal(str(body, "session"), SESSION);
	assert_string_equal(str(body, "madonvi"), "000.00.12.H12");
	assert_true(json_is_false(at(body, "isUpdating")));
	assert_string_equal(str(body, "data/0/MaHoSo"), "000.00.12.H12-250310-0001");
	assert_string_equal(str(body, "data/0/MaTTHC"), "2.000986");
	assert_string_equal(str(body, "data/0/TenTTHC"), "Đăng ký khai sinh");
	assert_string_equal(str(body, "data/0/MaLinhVuc"), "G09-TP01");
	assert_string_equal(str(body, "data/0/KenhThucHien"), "1");
	assert_string_equal(str(body, "data/0/LoaiDoiTuong"), "1");
	assert_string_equal(str(body, "data/0/MaDoiTuong"), "060190012345");
	assert_string_equal(str(body, "data/0/ChuHoSo"), "Nguyễn Thị Lan");
	assert_string_equal(str(body, "data/0/NgayTiepNhan"), "20250310081500");
	assert_string_equal(str(body, "data/0/NgayHenTra"), "20250311170000");
	assert_string_equal(str(body, "data/0/TrangThaiHoSo"), "2");
	assert_string_equal(str(body, "data/0/DonViXuLy"), "UBND phường Bình Hưng");
	assert_int_equal(json_array_size(at(body, "data/0/TaiLieuNop")), 2);
	assert_int_equal(json_integer_value(at(body, "data/0/DanhSachLePhi/0/Gia")), 0);
	json_decref(body);
}

static void test_a_status_past_int_is_not_sent_as_the_status_it_wraps_to(void **state)
{
	(void)state;
	json_t *event = tu_load_json(CANONICAL_DIR, "dossier.received.json");
	/* 2^32 + 7 was TrangThaiHoSo 7 (withdrawn) after the cast to int */
	json_object_set_new(json_object_get(event, "dossier"), "status", json_integer(4294967303LL));
	json_t *body = encode_ok(event, 0);
	assert_string_equal(str(body, "data/0/TrangThaiHoSo"), "2");  /* what dossier.received implies */
	json_decref(body);
	json_decref(event);
}

static void test_every_canonical_sample_encodes_or_is_refused_for_the_portal(void **state)
{
	struct dirent **names;
	int n = tu_files(CANONICAL_DIR, "dossier.", ".json", &names), synced = 0;
	(void)state;
	for (int i = 0; i < n; i++) {
		json_t *event = tu_load_json(CANONICAL_DIR, names[i]->d_name), *body = NULL;
		const char *type = str(event, "type");
		struct lt_request req;
		struct lt_err err;
		int rc = encode(event, 0, SESSION, &body, &req, &err), step = !strcmp(type, "dossier.step");
		if (!strcmp(type, "dossier.feedback")) {
			assert_int_equal(rc, LT_EINVAL);
		} else if (rc || lt_schema_validate(step ? progress_schema : sync_schema, body, &err)) {
			fail_msg("%s: %s", names[i]->d_name, err.msg);
		} else if (!step) {
			/* only a receipt creates; every other dossier-level event is an update */
			assert_int_equal(json_is_true(at(body, "isUpdating")), strcmp(type, "dossier.received") != 0);
			synced++;
		}
		json_decref(body);
		json_decref(event);
	}
	tu_files_free(names, n);
	assert_int_equal(synced, 13);
	n = tu_files(CANONICAL_DIR, "", ".json", &names);
	for (int i = 0; i < n; i++) {
		if (!strncmp(names[i]->d_name, "registry.", 9) || !strncmp(names[i]->d_name, "postal.", 7)) {
			json_t *event = tu_load_json(CANONICAL_DIR, names[i]->d_name);
			assert_encode_refused(event, SESSION, LT_EINVAL, "the portal takes no");
			assert_encode_refused(event, SESSION, LT_EINVAL, str(event, "type"));
			json_decref(event);
		}
	}
	tu_files_free(names, n);
}

static void test_supplement_request_carries_old_and_new_due_dates(void **state)
{
	json_t *body = encode_sample("dossier.supplement_requested.json", 0);
	(void)state;
	assert_string_equal(str(body, "data/0/TrangThaiHoSo"), "5");
	assert_string_equal(str(body, "data/0/NgayHenTra"), "20250313170000");
	assert_string_equal(str(body, "data/0/DanhSachHoSoBoSung/0/NgayHenTraTruoc"), "20250311170000");
	assert_string_equal(str(body, "data/0/DanhSachHoSoBoSung/0/NgayHenTraMoi"), "20250313170000");
	assert_string_equal(str(body, "data/0/DanhSachHoSoBoSung/0/NgayBoSung"), "20250310110000");
	assert_string_equal(str(body, "data/0/DanhSachHoSoBoSung/0/NguoiYeuCauBoSung"), "Lê Văn Minh");
	assert_non_null(strstr(str(body, "data/0/DanhSachHoSoBoSung/0/NoiDungBoSung"), "Giấy chứng nhận kết hôn"));
	json_decref(body);
}

static void test_step_encodes_to_a_progress_record(void **state)
{
	json_t *body = encode_sample("dossier.step.json", 0);
	(void)state;
	assert_string_equal(str(body, "service"), "CapNhatTienDoHoSoMC");
	assert_null(at(body, "isUpdating"));
	assert_string_equal(str(body, "QuaTrinhXuLy/0/MaHoSo"), "000.00.12.H12-250310-0001");
	assert_string_equal(str(body, "QuaTrinhXuLy/0/NoiDungXuLy"), "Thẩm định hồ sơ");
	assert_string_equal(str(body, "QuaTrinhXuLy/0/NguoiXuLy"), "Lê Văn Minh – công chức Tư pháp - Hộ tịch");
	assert_string_equal(str(body, "QuaTrinhXuLy/0/ThoiDiemXuLy"), "20250310100500");
	assert_string_equal(str(body, "QuaTrinhXuLy/0/NgayKetThucTheoQuyDinh"), "20250310160000");
	assert_string_equal(str(body, "QuaTrinhXuLy/0/TrangThai"), "4");
	assert_string_equal(str(body, "QuaTrinhXuLy/0/PhongBanXuLy"), "UBND phường Bình Hưng");
	json_decref(body);
}

static void test_results_are_sent_as_result_papers_with_the_return_method(void **state)
{
	json_t *resolved = encode_sample("dossier.resolved.json", 0), *returned = encode_sample("dossier.returned.json", 0);
	(void)state;
	assert_string_equal(str(resolved, "data/0/NgayKetThucXuLy"), "20250313104500");
	assert_string_equal(str(resolved, "data/0/TrangThaiHoSo"), "9");
	assert_string_equal(str(resolved, "data/0/DanhSachGiayToKetQua/0/TenGiayTo"), "Giấy khai sinh (bản điện tử)");
	assert_null(at(resolved, "data/0/TaiLieuNop"));
	assert_string_equal(str(returned, "data/0/HinhThuc"), "1");
	assert_string_equal(str(returned, "data/0/NgayTra"), "20250314152000");
	assert_string_equal(str(returned, "data/0/TrangThaiHoSo"), "10");
	json_decref(resolved);
	json_decref(returned);
}

static void test_status_is_implied_by_the_event_type_when_absent(void **state)
{
	static const struct { const char *sample, *channel, *status; } cases[] = {
		{ "dossier.resolved.json", NULL, "9" },
		{ "dossier.withdrawn.json", NULL, "7" },
		{ "dossier.received.json", NULL, "2" },
		{ "dossier.received.json", "online", "1" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *event = tu_load_json(CANONICAL_DIR, cases[i].sample);
		json_object_del(json_object_get(event, "dossier"), "status");
		if (cases[i].channel)
			json_object_set_new(json_object_get(event, "dossier"), "channel", json_string(cases[i].channel));
		json_t *body = encode_ok(event, 0);
		assert_string_equal(str(body, "data/0/TrangThaiHoSo"), cases[i].status);
		json_decref(body);
		json_decref(event);
	}
}

static void test_what_the_portal_needs_and_the_event_lacks_is_named(void **state)
{
	json_t *event = tu_load_json(CANONICAL_DIR, "dossier.received.json");
	json_t *step = tu_load_json(CANONICAL_DIR, "dossier.step.json");
	(void)state;
	assert_encode_refused(event, NULL, LT_EAUTH, "log in first");
	json_object_del(json_object_get(event, "dossier"), "channel");
	assert_encode_refused(event, SESSION, LT_ESCHEMA, "dossier.channel is required by the portal");
	json_object_del(json_object_get(event, "dossier"), "procedure");
	assert_encode_refused(event, SESSION, LT_ESCHEMA, "dossier.procedure.code is required by the portal");
	json_object_del(event, "dossier");
	assert_encode_refused(event, SESSION, LT_ESCHEMA, "dossier.procedure.code");
	json_object_del(json_object_get(step, "detail"), "step");
	assert_encode_refused(step, SESSION, LT_ESCHEMA, "detail.step.name");
	json_t *saved = peer.params;
	peer.params = json_object();
	assert_encode_refused(step, SESSION, LT_ECONFIG, "param.madonvi");
	json_decref(peer.params);
	peer.params = saved;
	json_decref(event);
	json_decref(step);
}

static void test_service_path_param_sets_the_request_path(void **state)
{
	json_t *event = tu_load_json(CANONICAL_DIR, "dossier.received.json"), *body;
	struct lt_request req;
	struct lt_err err;
	(void)state;
	assert_int_equal(encode(event, 0, SESSION, &body, &req, &err), 0);
	assert_string_equal(req.path, "");
	json_decref(body);
	json_object_set_new(peer.params, "service_path", json_string("/api/SynsTTHCC"));
	assert_int_equal(encode(event, 0, SESSION, &body, &req, &err), 0);
	assert_string_equal(req.path, "/api/SynsTTHCC");
	json_object_del(peer.params, "service_path");
	json_decref(body);
	json_decref(event);
}

/* ---- outcome --------------------------------------------------------------- */

static void test_already_exists_answer_resends_as_an_update(void **state)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .session = SESSION }, ctx3 = { .attempt = 1 };
	struct lt_err err;
	(void)state;
	assert_int_equal(answer("dossier.received.json", 200,
				"{\"error_code\":-3,\"message\":\"Hồ sơ 000.00.12.H12-250310-0001 đã tồn tại trên hệ thống\"}",
				&ctx, &err), LT_RESEND);
	assert_true(ctx.flags & LT_FLAG_UPDATE);
	json_t *body = encode_sample("dossier.received.json", ctx.flags); /* the resend, with the flags set */
	assert_true(json_is_true(at(body, "isUpdating")));
	assert_string_equal(str(body, "data/0/MaHoSo"), "000.00.12.H12-250310-0001");
	json_decref(body);
	assert_int_equal(answer("dossier.received.json", 200, "{\"error_code\":3,\"message\":\"Mã hồ sơ đã tồn tại\"}",
				&ctx3, &err), LT_RESEND);
}

static void test_each_portal_answer_gets_its_verdict(void **state)
{
	static const struct {
		const char *sample;
		int flags;
		long status;
		const char *body;
		enum lt_verdict verdict;
		const char *expect;
	} cases[] = {
		/* accepted, whatever form error_code 0 takes */
		{ "dossier.received.json", 0, 200, "{\"error_code\":0,\"message\":\"Thành công\"}", LT_DONE, "" },
		{ "dossier.step.json", 0, 200, "{\"error_code\":\"00\"}", LT_DONE, "" },
		/* "already exists" to what is already an update, or to an update event: nothing left to try */
		{ "dossier.received.json", LT_FLAG_UPDATE, 200, "{\"error_code\":-3,\"message\":\"Hồ sơ đã tồn tại\"}",
		  LT_DEAD, "error_code -3" },
		{ "dossier.resolved.json", 0, 200, "{\"error_code\":-3,\"message\":\"Hồ sơ đã tồn tại\"}", LT_DEAD, "" },
		/* the session is gone: log in again */
		{ "dossier.received.json", 0, 200, "{\"error_code\":401,\"message\":\"Unauthorized\"}", LT_RELOGIN,
		  "session expired" },
		{ "dossier.step.json", 0, 200, "{\"error_code\":1,\"message\":\"Session đã hết hạn, vui lòng đăng nhập lại\"}",
		  LT_RELOGIN, "hết hạn" },
		{ "dossier.step.json", 0, 200, "{\"error_code\":-1,\"message\":\"session expired\"}", LT_RELOGIN, "" },
		{ "dossier.step.json", 0, 200, "{\"error_code\":5,\"message\":\"Phiên làm việc đã hết hạn\"}", LT_RELOGIN, "" },
		{ "dossier.step.json", 0, 401, "", LT_RELOGIN, "HTTP 401" },
		/* refused for good, with the portal's own words */
		{ "dossier.received.json", 0, 200,
		  "{\"error_code\":2,\"message\":\"Mã thủ tục hành chính 9.999999 không tồn tại\"}", LT_DEAD,
		  "(error_code 2): Mã thủ tục hành chính 9.999999 không tồn tại" },
		{ "dossier.received.json", 0, 200, "<html>Bảo trì</html>", LT_DEAD, "not JSON" },
		{ "dossier.received.json", 0, 200, "{\"message\":\"ok\"}", LT_DEAD, "/error_code: required property" },
		{ "dossier.received.json", 0, 400, "{\"error\":\"bad\"}", LT_DEAD, "refused with 400" },
		/* the portal or the network is struggling: later */
		{ "dossier.received.json", 0, 503, "Service Unavailable", LT_RETRY, "503" },
		{ "dossier.received.json", 0, 0, "", LT_RETRY, "no answer" },
		{ "dossier.received.json", 0, 429, "", LT_RETRY, "429" },
		{ "dossier.received.json", 0, 408, "", LT_RETRY, "408" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct lt_delivery_ctx ctx = { .attempt = 1, .flags = cases[i].flags };
		struct lt_err err;
		enum lt_verdict v = answer(cases[i].sample, cases[i].status, cases[i].body, &ctx, &err);
		if (v != cases[i].verdict || !strstr(err.msg, cases[i].expect))
			fail_msg("case %zu (%s): got verdict %d \"%s\", want %d \"%s\"", i, cases[i].body, v, err.msg,
				 cases[i].verdict, cases[i].expect);
		assert_int_equal(ctx.flags, cases[i].flags); /* only "already exists" to a create changes them */
	}
}

/* ---- session login --------------------------------------------------------- */

static int login(struct lt_request *req, struct lt_err *err)
{
	memset(req, 0, sizeof *req);
	memset(err, 0, sizeof *err);
	return A->login(&peer, req, err);
}

static void test_login_request_carries_username_and_password(void **state)
{
	struct lt_request req;
	struct lt_err err;
	(void)state;
	assert_int_equal(login(&req, &err), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.path, "/api/dangnhap");
	json_t *body = json_loadb(req.body.data, req.body.len, 0, NULL);
	assert_int_equal(lt_schema_validate(login_schema, body, &err), 0);
	assert_string_equal(str(body, "username"), "motcua.binhhung");
	assert_string_equal(str(body, "password"), "mat-khau-thu-nghiem");
	json_decref(body);
	lt_buf_free(&req.body);
	json_object_del(peer.params, "login_path");
	assert_int_equal(login(&req, &err), 0);
	assert_string_equal(req.path, "/login"); /* the default */
	lt_buf_free(&req.body);
	json_t *pw = json_incref(json_object_get(peer.params, "password"));
	json_object_del(peer.params, "password");
	assert_int_equal(login(&req, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "param.password"));
	json_object_set_new(peer.params, "password", pw);
	json_object_set_new(peer.params, "login_path", json_string("/api/dangnhap"));
}

static int login_answer(long status, const char *text, char session[512], struct lt_err *err)
{
	struct lt_response rsp = { .status = status, .body = text, .len = strlen(text) };
	memset(err, 0, sizeof *err);
	return A->login_result(&peer, &rsp, session, err);
}

static void test_login_answer_yields_the_session_or_names_the_refusal(void **state)
{
	char session[512] = "";
	struct lt_err err;
	(void)state;
	assert_int_equal(login_answer(200, "{\"error_code\":-1,\"message\":\"Tên đăng nhập hoặc mật khẩu không đúng\"}",
				      session, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "Tên đăng nhập hoặc mật khẩu không đúng"));
	assert_int_equal(login_answer(403, "", session, &err), LT_EAUTH);
	assert_int_equal(login_answer(502, "", session, &err), LT_EIO);
	assert_int_equal(login_answer(200, "{\"error_code\":0}", session, &err), LT_EINVAL);
	assert_int_equal(login_answer(200, "not json", session, &err), LT_EINVAL);
	assert_string_equal(session, "");
	assert_int_equal(login_answer(200, "{\"session\":\"" SESSION "\",\"error_code\":0}", session, &err), 0);
	assert_string_equal(session, SESSION);
}

/* ---- concurrency ----------------------------------------------------------- */

static void *decode_and_encode_many(void *arg)
{
	int *failures = arg;
	json_t *event = tu_load_json(CANONICAL_DIR, "dossier.received.json");
	for (int i = 0; i < 200; i++) {
		struct lt_err err;
		struct lt_request req;
		json_t *out, *body;
		if (decode_file(VALID_DIR "/inbound.online-copy-extract.json", &out, &err) || json_array_size(out) != 2)
			(*failures)++;
		if (encode(event, 0, SESSION, &body, &req, &err))
			(*failures)++;
		json_decref(body);
		json_decref(out);
	}
	json_decref(event);
	return NULL;
}

static void test_concurrent_workers_share_the_adapter(void **state)
{
	pthread_t threads[4];
	int failures[4] = { 0 };
	(void)state;
	for (int t = 0; t < 4; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, decode_and_encode_many, &failures[t]), 0);
	for (int t = 0; t < 4; t++) {
		pthread_join(threads[t], NULL);
		assert_int_equal(failures[t], 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_inbound_sample_decodes_to_canonical_events),
		cmocka_unit_test(test_online_record_maps_back_to_canonical_fields),
		cmocka_unit_test(test_integer_codes_are_read_and_other_statuses_pick_their_event),
		cmocka_unit_test(test_unknown_codes_and_impossible_dates_are_refused_naming_the_field),
		cmocka_unit_test(test_one_bad_record_refuses_the_whole_push),
		cmocka_unit_test(test_malformed_json_is_a_400),
		cmocka_unit_test(test_every_invalid_sample_is_refused_with_its_expected_message),
		cmocka_unit_test(test_every_valid_sample_passes_its_wire_schema),
		cmocka_unit_test(test_received_sample_encodes_to_a_create_with_portal_codes_and_dates),
		cmocka_unit_test(test_a_status_past_int_is_not_sent_as_the_status_it_wraps_to),
		cmocka_unit_test(test_every_canonical_sample_encodes_or_is_refused_for_the_portal),
		cmocka_unit_test(test_supplement_request_carries_old_and_new_due_dates),
		cmocka_unit_test(test_step_encodes_to_a_progress_record),
		cmocka_unit_test(test_results_are_sent_as_result_papers_with_the_return_method),
		cmocka_unit_test(test_status_is_implied_by_the_event_type_when_absent),
		cmocka_unit_test(test_what_the_portal_needs_and_the_event_lacks_is_named),
		cmocka_unit_test(test_service_path_param_sets_the_request_path),
		cmocka_unit_test(test_already_exists_answer_resends_as_an_update),
		cmocka_unit_test(test_each_portal_answer_gets_its_verdict),
		cmocka_unit_test(test_login_request_carries_username_and_password),
		cmocka_unit_test(test_login_answer_yields_the_session_or_names_the_refusal),
		cmocka_unit_test(test_concurrent_workers_share_the_adapter),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
