/* test_adapter_kiosk.c — the worked example of adapters/README.md
 * (tests/example/kiosk.c): a rating becomes a dossier.feedback event, a
 * returned dossier an invitation to rate; what it cannot read or say is
 * refused naming the field. The shape to copy for a new adapter's tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"
#include "config.h"
#include "mapping.h"

#define SAMPLES "tests/example/samples"

extern const struct lt_adapter lt_adapter_kiosk;
#define A (&lt_adapter_kiosk)

static struct lt_peer kiosk = { .name = "kiosk-motcua" };
static struct lt_schema *canonical;

static int setup(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	setenv("LT_CODES_DIR", "codes:tests/example", 1);   /* its table beside it */
	if (lt_xml_init(&err) || lt_adapters_init(&err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	kiosk.adapter = A;
	kiosk.params = json_pack("{s:s}", "ma_co_quan", "000.00.12.H12");
	canonical = tu_schema_load(TU_CANONICAL_SCHEMA);
	return canonical ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(kiosk.params);
	lt_schema_free(canonical);
	return 0;
}

static void test_a_rating_becomes_a_feedback_event(void **state)
{
	(void)state;
	json_t *out;
	struct lt_err err;
	assert_int_equal(tu_decode_file(A, &kiosk, SAMPLES "/rating.json", &out, &err), 0);
	assert_int_equal(json_array_size(out), 1);
	tu_assert_canonical_from(canonical, out, "kiosk-motcua");
	const json_t *ev = json_array_get(out, 0);
	assert_string_equal(lt_json_str(ev, "type"), "dossier.feedback");
	assert_string_equal(lt_json_str(ev, "dossier_code"), "000.00.12.H12-250310-0001");
	assert_string_equal(lt_json_str(ev, "occurred_at"), "2025-03-15T19:45:00+07:00");
	assert_int_equal(json_integer_value(lt_json_dig(ev, "detail.rating")), 5);
	assert_non_null(strstr(lt_json_str(ev, "detail.comment"), "tận tình"));
	json_decref(out);
}

static void test_what_it_cannot_read_is_refused_naming_the_field(void **state)
{
	(void)state;
	tu_assert_decode_refused(A, &kiosk, "{\"maHoSo\":\"D-1\",\"thoiGian\":\"15/03/2025 19:45:00\"}", LT_ESCHEMA,
				 "/mucDo: is required");
	tu_assert_decode_refused(A, &kiosk, "{\"maHoSo\":\"D-1\",\"mucDo\":\"TUYET_VOI\",\"thoiGian\":\"15/03/2025 19:45:00\"}",
				 LT_ESCHEMA, "/mucDo: unknown rating \"TUYET_VOI\" (known: RAT_HAI_LONG, HAI_LONG");
	tu_assert_decode_refused(A, &kiosk, "{\"maHoSo\":\"D-1\",\"mucDo\":\"HAI_LONG\",\"thoiGian\":\"31/02/2025 08:00:00\"}",
				 LT_ESCHEMA, "/thoiGian: date \"31/02/2025 08:00:00\" is not a real date");
	tu_assert_decode_refused(A, &kiosk, "{\"maHoSo\":\"bad code!\",\"mucDo\":\"HAI_LONG\",\"thoiGian\":\"15/03/2025 08:00:00\"}",
				 LT_ESCHEMA, "the rating makes no valid event");
	tu_assert_decode_refused(A, &kiosk, "[1]", LT_ESCHEMA, "a rating is a JSON object");
	tu_assert_decode_refused(A, &kiosk, "{", LT_EINVAL, "not valid JSON");
}

static void test_a_returned_dossier_becomes_an_invitation_to_rate(void **state)
{
	(void)state;
	json_t *ev = tu_load_json("schemas/samples/canonical", "dossier.returned.json");
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "M-1" };
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	assert_int_equal(A->encode(&kiosk, &ctx, ev, &req, &err), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.content_type, "application/json");
	json_t *body = json_loadb(req.body.data, req.body.len, 0, NULL);
	assert_string_equal(lt_json_str(body, "maCoQuan"), "000.00.12.H12");
	assert_string_equal(lt_json_str(body, "maHoSo"), "000.00.12.H12-250310-0001");
	assert_string_equal(lt_json_str(body, "ngayTra"), "14/03/2025 15:20:00");
	assert_string_equal(lt_json_str(body, "tenTTHC"), "Đăng ký khai sinh");
	json_decref(body);
	lt_buf_free(&req.body);
	json_decref(ev);
}

static void test_other_events_and_a_missing_param_are_refused(void **state)
{
	(void)state;
	json_t *step = tu_load_json("schemas/samples/canonical", "dossier.step.json");
	json_t *returned = tu_load_json("schemas/samples/canonical", "dossier.returned.json");
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "M-2" };
	struct lt_request req = { 0 };
	struct lt_err err = { 0 };
	assert_int_equal(A->encode(&kiosk, &ctx, step, &req, &err), LT_EINVAL);
	assert_non_null(strstr(err.msg, "dossier.returned only, not dossier.step"));
	struct lt_peer bare = { .name = "kiosk-2", .adapter = A, .params = json_object() };
	assert_int_equal(A->encode(&bare, &ctx, returned, &req, &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "peer kiosk-2: param.ma_co_quan is not set"));
	assert_int_equal(req.body.len, 0);
	json_decref(bare.params);
	json_decref(step);
	json_decref(returned);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_rating_becomes_a_feedback_event),
		cmocka_unit_test(test_what_it_cannot_read_is_refused_naming_the_field),
		cmocka_unit_test(test_a_returned_dossier_becomes_an_invitation_to_rate),
		cmocka_unit_test(test_other_events_and_a_missing_param_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
