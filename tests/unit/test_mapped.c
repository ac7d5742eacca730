/* test_mapped.c — declarative mappings: mappings/onestop.map says what
 * adapters/onestop.c says, so the mapped adapter gives the same events on
 * every pushed sample and the same delivery for every event (or both refuse);
 * a mapping file's mistakes are named with their file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"
#include "config.h"
#include "mapped.h"
#include "mapping.h"

#define ONESTOP "schemas/samples/onestop"
#define ONESTOP_INVALID "schemas/samples/onestop-invalid"
#define CANONICAL "schemas/samples/canonical"

static struct lt_peer c_peer = { .name = "motcua" }, m_peer = { .name = "motcua" };

static int setup(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	if (lt_xml_init(&err) || lt_adapters_init(&err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	c_peer.adapter = lt_adapter_find("onestop");
	m_peer.adapter = lt_adapter_find("mapped");
	c_peer.params = json_object();
	m_peer.params = json_pack("{s:s}", "mapping", "onestop");
	return c_peer.adapter && m_peer.adapter ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(c_peer.params);
	json_decref(m_peer.params);
	lt_mappings_shutdown();
	return 0;
}

static void assert_same(const json_t *want, const json_t *got, const char *what)
{
	if (!json_equal(want, got)) {
		char *a = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS), *b = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
		fail_msg("%s: the C adapter gives\n%s\nthe mapping gives\n%s", what, a, b);
	}
}

/* Decodes dir/name with both; both refuse, or both give the same events
 * (appended to all when all is not NULL). Returns 1 when accepted. */
static int decode_both(const char *dir, const char *name, json_t *all)
{
	char path[512];
	json_t *c_out, *m_out;
	struct lt_err c_err, m_err;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int c_rc = tu_decode_file(c_peer.adapter, &c_peer, path, &c_out, &c_err);
	int m_rc = tu_decode_file(m_peer.adapter, &m_peer, path, &m_out, &m_err);
	if (!c_rc != !m_rc)
		fail_msg("%s: the C adapter says %d \"%s\", the mapping %d \"%s\"", path, c_rc, c_err.msg, m_rc, m_err.msg);
	if (m_rc && !m_err.msg[0])
		fail_msg("%s: refused without a reason", path);
	assert_same(c_out, m_out, path);
	if (all)
		json_array_extend(all, m_out);
	json_decref(c_out);
	json_decref(m_out);
	return c_rc == 0;
}

static void test_pushed_samples_decode_to_the_same_events(void **state)
{
	(void)state;
	struct dirent **names;
	int n = tu_files(ONESTOP, "push.", ".json", &names), ok = 0;
	assert_true(n >= 9);
	for (int i = 0; i < n; i++)
		ok += decode_both(ONESTOP, names[i]->d_name, NULL);
	assert_int_equal(ok, n);
	tu_files_free(names, n);
}

static void test_refused_samples_are_refused_by_both(void **state)
{
	(void)state;
	struct dirent **names;
	int n = tu_files(ONESTOP_INVALID, "push.", ".json", &names);
	assert_true(n >= 8);
	for (int i = 0; i < n; i++)
		assert_int_equal(decode_both(ONESTOP_INVALID, names[i]->d_name, NULL), 0);
	tu_files_free(names, n);
	/* and what the wire schema lets through but the tables do not know */
	const char *const bodies[] = {
		"{\"event\":\"TIEP_NHAN\",\"dossier\":{\"code\":\"D-1\",\"applyMethod\":{\"id\":7},\"status\":{\"id\":1},"
		"\"updatedDate\":\"2025-03-10T08:15:00.000+0700\"}}",
		"{\"event\":\"BAY_LEN\",\"dossier\":{\"code\":\"D-1\",\"applyMethod\":{\"id\":0},\"status\":{\"id\":1},"
		"\"updatedDate\":\"2025-03-10T08:15:00.000+0700\"}}",
		"{\"event\":\"CHUYEN_LIEN_THONG\",\"dossier\":{\"code\":\"D-1\",\"applyMethod\":{\"id\":0},\"status\":{\"id\":2},"
		"\"updatedDate\":\"2025-03-10T08:15:00.000+0700\"}}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		json_t *c_out, *m_out;
		struct lt_err c_err, m_err;
		int c_rc = tu_decode(c_peer.adapter, &c_peer, bodies[i], strlen(bodies[i]), &c_out, &c_err);
		int m_rc = tu_decode(m_peer.adapter, &m_peer, bodies[i], strlen(bodies[i]), &m_out, &m_err);
		if (!c_rc || !m_rc || !m_err.msg[0])
			fail_msg("%s: C %d \"%s\", mapping %d \"%s\"", bodies[i], c_rc, c_err.msg, m_rc, m_err.msg);
		json_decref(c_out);
		json_decref(m_out);
	}
}

/* Encodes ev with both: both refuse, or both send the same body to the same path. */
static void encode_both(const json_t *ev, const char *what)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "01JNZ4G2K8V6T3QX5M7RB9CD1E" };
	struct lt_request c_req = { 0 }, m_req = { 0 };
	struct lt_err c_err = { 0 }, m_err = { 0 };
	int c_rc = c_peer.adapter->encode(&c_peer, &ctx, ev, &c_req, &c_err);
	int m_rc = m_peer.adapter->encode(&m_peer, &ctx, ev, &m_req, &m_err);
	if (!c_rc != !m_rc)
		fail_msg("%s: the C adapter says %d \"%s\", the mapping %d \"%s\"", what, c_rc, c_err.msg, m_rc, m_err.msg);
	if (!c_rc) {
		json_t *a = json_loadb(c_req.body.data, c_req.body.len, 0, NULL), *b = json_loadb(m_req.body.data, m_req.body.len, 0, NULL);
		assert_same(a, b, what);
		assert_string_equal(c_req.path, m_req.path);
		assert_string_equal(c_req.method, m_req.method);
		json_decref(a);
		json_decref(b);
	}
	lt_buf_free(&c_req.body);
	lt_buf_free(&m_req.body);
}

static void test_every_event_encodes_to_the_same_delivery(void **state)
{
	(void)state;
	struct dirent **names;
	json_t *events = json_array(), *ev;
	int n = tu_files(CANONICAL, "", ".json", &names);
	for (int i = 0; i < n; i++)
		if (strcmp(names[i]->d_name, "batch.json")) {
			json_t *e = tu_load_json(CANONICAL, names[i]->d_name);
			json_array_append_new(events, e);
		}
	tu_files_free(names, n);
	n = tu_files(ONESTOP, "push.", ".json", &names);    /* and what the dialect itself makes */
	for (int i = 0; i < n; i++)
		decode_both(ONESTOP, names[i]->d_name, events);
	tu_files_free(names, n);
	size_t i;
	json_array_foreach(events, i, ev) {
		char what[128];
		snprintf(what, sizeof what, "event %zu (%s, %s)", i, json_string_value(json_object_get(ev, "type")),
			 json_string_value(json_object_get(ev, "dossier_code")));
		encode_both(ev, what);
	}
	/* a step with a code alone, or with neither name nor code */
	json_t *step = tu_load_json(CANONICAL, "dossier.step.json");
	json_object_set_new(json_object_get(step, "detail"), "step", json_pack("{s:s,s:s}", "code", "B2", "handler", "An"));
	encode_both(step, "a step with a code and no name");
	json_object_set_new(json_object_get(step, "detail"), "step",
			    json_pack("{s:s,s:s}", "handler", "An", "deadline_at", "2025-03-12T17:00:00+07:00"));
	encode_both(step, "a step with neither name nor code");
	json_decref(step);
	/* codes the dialect has no number for are refused by both */
	json_t *fax = json_deep_copy(json_array_get(events, 0));
	json_object_set_new(json_object_get(fax, "dossier"), "channel", json_string("fax"));
	encode_both(fax, "channel fax");
	json_decref(fax);
	json_decref(events);
}

static void test_a_refusal_in_a_2xx_answer_is_a_dead_letter_for_both(void **state)
{
	(void)state;
	static const char body[] = "{\"success\":false,\"message\":\"Hồ sơ không tồn tại\"}";
	struct lt_response rsp = { .status = 200, .body = body, .len = sizeof body - 1 };
	struct lt_delivery_ctx ctx = { .attempt = 1 };
	struct lt_err err = { 0 };
	json_t *out = json_array();
	assert_int_equal(c_peer.adapter->outcome(&c_peer, &ctx, NULL, &rsp, out, &err), LT_DEAD);
	assert_int_equal(m_peer.adapter->outcome(&m_peer, &ctx, NULL, &rsp, out, &err), LT_DEAD);
	assert_non_null(strstr(err.msg, "Hồ sơ không tồn tại"));
	rsp.status = 503;
	assert_int_equal(m_peer.adapter->outcome(&m_peer, &ctx, NULL, &rsp, out, &err), LT_RETRY);
	json_decref(out);
}

static void test_a_mapping_files_mistakes_are_named_with_file_and_line(void **state)
{
	(void)state;
	char dir[64], path[128], want[256];
	strcpy(dir, "/tmp/lt-mapped-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/bad.map", dir);
	FILE *f = fopen(path, "w");
	fputs("[mapping]\n"                                                   /* 1 */
	      "content_type = application/xml\n"                              /* 2 */
	      "colour = blue\n"                                               /* 3 */
	      "inbound_schema = onestop/nothing.schema.json\n"                /* 4 */
	      "[decode]\n"                                                    /* 5 */
	      "type! = code(onestop.nothing, event)\n"                        /* 6 */
	      "occurred_at = date(julian, dossier.updatedDate)\n"             /* 7 */
	      "dossier.chanel = dossier.applyMethod.id\n"                     /* 8 */
	      "dossier.summary = upper(dossier.summary)\n"                    /* 9 */
	      "dossier.documents[].name = dossier.attachments.name\n"         /* 10 */
	      "dossier_code = \"D-1\n"                                        /* 11 */
	      "[decode when dossier.teleported]\n"                            /* 12 */
	      "detail.reason = concat(reason)\n"                              /* 13 */
	      "[transmogrify]\n"                                              /* 14 */
	      "national_code = split(\",\", first, reason)\n", f);            /* 15 */
	fclose(f);
	struct lt_mappings *set = NULL;
	struct lt_buf errors = { 0 };
	assert_int_equal(lt_mappings_load(dir, NULL, &set, &errors), LT_ECONFIG);
	static const struct { int line; const char *words; } cases[] = {
		{ 2, "application/json only" },
		{ 3, "unknown setting \"colour\"" },
		{ 4, "inbound_schema:" },
		{ 6, "code: unknown table \"onestop.nothing\"" },
		{ 7, "date: unknown format \"julian\"" },
		{ 8, "dossier.chanel is not a field of the canonical event" },
		{ 9, "unknown function \"upper\"" },
		{ 10, "a [] in the target goes with a [] in a source" },
		{ 11, "a quoted text is not closed" },
		{ 12, "\"dossier.teleported\" is not a canonical event type" },
		{ 13, "concat takes 2 or more arguments, not 1" },
		{ 14, "unknown section [transmogrify]" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(want, sizeof want, "%s:%d: ", path, cases[i].line);
		char *at = strstr(errors.data, want), *eol = at ? strchr(at, '\n') : NULL;
		if (!at || !eol)
			fail_msg("no mistake on line %d in:\n%s", cases[i].line, errors.data);
		*eol = '\0';
		if (!strstr(at, cases[i].words))
			fail_msg("line %d: want \"%s\" in \"%s\"", cases[i].line, cases[i].words, at);
		*eol = '\n';
	}
	lt_buf_free(&errors);
	unlink(path);
	rmdir(dir);
}

static void test_transforms_dates_concat_split_and_conditions(void **state)
{
	(void)state;
	char dir[64], path[128];
	strcpy(dir, "/tmp/lt-mapped-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/kiosk2.map", dir);
	FILE *f = fopen(path, "w");
	fputs("[mapping]\n"
	      "[decode]\n"
	      "type = \"dossier.received\"\n"
	      "occurred_at = date(yyyyMMddHHmmss, NgayTao)\n"
	      "dossier_code = MaHoSo\n"
	      "dossier.received_at = date(\"dd/MM/yyyy\", NgayNop) | date(\"dd/MM/yyyy HH:mm:ss\", NgayNopDay)\n"
	      "dossier.channel = code(portal.channel, Kenh) | \"direct\"\n"
	      "dossier.applicant.name = concat(\" \", Ho, Ten)\n"
	      "dossier.applicant.address.detail = split(\",\", 0, DiaChi)\n"
	      "dossier.applicant.address.commune.name = split(\",\", -2, DiaChi)\n"
	      "dossier.applicant.address.province.name = split(\",\", -1, DiaChi)\n"
	      "[decode when dossier.received]\n"
	      "detail.reason = \"received\"\n"
	      "[decode when dossier.rejected]\n"
	      "detail.reason = \"rejected\"\n", f);
	fclose(f);
	struct lt_mappings *set = NULL;
	struct lt_buf errors = { 0 };
	if (lt_mappings_load("mappings", dir, &set, &errors))
		fail_msg("%s", errors.data);
	lt_mappings_use(set);
	struct lt_peer p = { .name = "peer-x", .adapter = m_peer.adapter, .params = json_pack("{s:s}", "mapping", "kiosk2") };
	static const char body[] = "{\"MaHoSo\":\"D-9\",\"NgayTao\":\"20250310081500\",\"NgayNop\":\"09/03/2025\","
				   "\"Ho\":\"Nguyễn\",\"Ten\":\"Văn An\",\"DiaChi\":\"Thôn 3, Xã Dương Phong, Tỉnh Thái Nguyên\"}";
	json_t *out;
	struct lt_err err;
	if (tu_decode(p.adapter, &p, body, strlen(body), &out, &err))
		fail_msg("%s", err.msg);
	json_t *ev = json_array_get(out, 0);
	assert_string_equal(lt_json_str(ev, "occurred_at"), "2025-03-10T08:15:00+07:00");
	assert_string_equal(lt_json_str(ev, "dossier.received_at"), "2025-03-09T00:00:00+07:00");
	assert_string_equal(lt_json_str(ev, "dossier.channel"), "direct");
	assert_string_equal(lt_json_str(ev, "dossier.applicant.name"), "Nguyễn Văn An");
	assert_string_equal(lt_json_str(ev, "dossier.applicant.address.detail"), "Thôn 3");
	assert_string_equal(lt_json_str(ev, "dossier.applicant.address.commune.name"), "Xã Dương Phong");
	assert_string_equal(lt_json_str(ev, "dossier.applicant.address.province.name"), "Tỉnh Thái Nguyên");
	assert_string_equal(lt_json_str(ev, "detail.reason"), "received");
	json_decref(out);
	static const char late[] = "{\"MaHoSo\":\"D-9\",\"NgayTao\":\"20250230081500\",\"Kenh\":\"7\"}";
	tu_assert_decode_refused(p.adapter, &p, late, LT_ESCHEMA, "/NgayTao: \"20250230081500\" is not a real date and time (yyyyMMddHHmmss)");
	static const char fax[] = "{\"MaHoSo\":\"D-9\",\"NgayTao\":\"20250310081500\",\"Kenh\":\"7\"}";
	tu_assert_decode_refused(p.adapter, &p, fax, LT_ESCHEMA, "/Kenh: unknown code \"7\" (table portal.channel");
	json_decref(p.params);
	lt_mappings_shutdown();
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pushed_samples_decode_to_the_same_events),
		cmocka_unit_test(test_refused_samples_are_refused_by_both),
		cmocka_unit_test(test_every_event_encodes_to_the_same_delivery),
		cmocka_unit_test(test_a_refusal_in_a_2xx_answer_is_a_dead_letter_for_both),
		cmocka_unit_test(test_a_mapping_files_mistakes_are_named_with_file_and_line),
		cmocka_unit_test(test_transforms_dates_concat_split_and_conditions),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
