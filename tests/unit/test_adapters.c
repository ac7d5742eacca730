/* test_adapters.c — what every adapter of the registry must do, checked by
 * walking the registry (built with the worked example of adapters/README.md
 * added, so a new adapter is checked here without a line in this file): it
 * is described for `lienthong adapters` and check-config, it starts, its code
 * tables load, garbage is refused with a reason, and every canonical sample
 * is either encoded or refused with one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"
#include "codes.h"
#include "config.h"

#define CANONICAL_SAMPLES "schemas/samples/canonical"

static int valid_name(const char *s)
{
	return *s && strlen(s) < 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(s);
}

/* A peer of adapter a with every param it declares at its example value. */
static struct lt_peer peer_of(const struct lt_adapter *a)
{
	struct lt_peer p = { .name = "test-peer", .adapter = a, .params = json_object() };
	for (const struct lt_adapter_param *q = a->params; q && q->name; q++)
		json_object_set_new(p.params, q->name, json_string(q->example));
	return p;
}

static void test_each_adapter_is_found_by_its_name_and_the_example_is_among_them(void **state)
{
	(void)state;
	for (size_t i = 0; i < lt_adapter_count(); i++)
		assert_ptr_equal(lt_adapter_find(lt_adapter_at(i)->name), lt_adapter_at(i));
	assert_non_null(lt_adapter_find("canonical"));
	assert_non_null(lt_adapter_find("kiosk"));     /* the line -DLT_EXTRA_ADAPTERS added */
	assert_non_null(strstr(lt_adapter_names(), "kiosk"));
	assert_null(lt_adapter_find("martian"));
	assert_null(lt_adapter_at(lt_adapter_count()));
}

static void test_every_adapter_is_described_for_its_users(void **state)
{
	(void)state;
	for (size_t i = 0; i < lt_adapter_count(); i++) {
		const struct lt_adapter *a = lt_adapter_at(i);
		if (!valid_name(a->name) || !a->about || !*a->about)
			fail_msg("adapter %zu: a name of a-z 0-9 _ - and an `about` line", i);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(lt_adapter_at(j)->name, a->name))
				fail_msg("adapter %s is in the registry twice", a->name);
		if (strcmp(a->content_type, "application/json") && strcmp(a->content_type, "application/xml"))
			fail_msg("%s: content_type %s", a->name, a->content_type);
		if (!a->decode && !a->encode && !a->poll)
			fail_msg("%s takes nothing in and sends nothing out", a->name);
		if (!a->encode != !a->outcome || !a->poll != !a->poll_result || !a->login != !a->login_result)
			fail_msg("%s: encode and outcome, poll and poll_result, login and login_result go in pairs", a->name);
		for (const struct lt_adapter_param *p = a->params; p && p->name; p++) {
			if (!valid_name(p->name) || !p->about || !p->example)
				fail_msg("%s: param %s needs a name, an about line and an example", a->name, p->name);
			for (const struct lt_adapter_param *q = a->params; q < p; q++)
				if (!strcmp(q->name, p->name))
					fail_msg("%s: param %s declared twice", a->name, p->name);
		}
	}
}

static void test_every_adapter_starts_and_its_code_tables_load(void **state)
{
	(void)state;
	struct lt_err err = { 0 };
	if (lt_adapters_init(&err))
		fail_msg("init: %s", err.msg);
	struct lt_codes *set = NULL;
	struct lt_buf errors = { 0 };
	if (lt_codes_load(NULL, NULL, &set, &errors))
		fail_msg("%s", errors.data);
	lt_codes_use(set);
	for (size_t i = 0; i < lt_adapter_count(); i++)
		for (const struct lt_code_table *const *t = lt_adapter_at(i)->codes; t && *t; t++)
			if (!lt_code_count(*t))
				fail_msg("%s: code table %s has no rows", lt_adapter_at(i)->name, (*t)->id);
	lt_buf_free(&errors);
}

static void test_event_types_are_the_canonical_schemas(void **state)
{
	(void)state;
	json_t *schema = tu_load_json_file(TU_CANONICAL_SCHEMA), *t;
	const json_t *types = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
		schema, "$defs"), "event"), "properties"), "type"), "enum");
	size_t i;
	assert_true(json_array_size(types) >= 22);
	json_array_foreach(types, i, t)
		assert_true(lt_event_type_known(json_string_value(t)));
	assert_false(lt_event_type_known("dossier.teleported"));
	assert_false(lt_event_type_known(NULL));
	json_decref(schema);
}

static void test_every_decoder_refuses_garbage_with_a_reason(void **state)
{
	(void)state;
	static const char *const garbage[] = { "", "{", "null", "[]", "<x/>", "{\"a\":1}", "\xff\xfe" };
	for (size_t i = 0; i < lt_adapter_count(); i++) {
		const struct lt_adapter *a = lt_adapter_at(i);
		struct lt_peer p = peer_of(a);
		for (size_t g = 0; a->decode && g < sizeof garbage / sizeof *garbage; g++) {
			json_t *out;
			struct lt_err err;
			int rc = tu_decode(a, &p, garbage[g], strlen(garbage[g]), &out, &err);
			if (rc >= 0 || !err.msg[0] || json_array_size(out))
				fail_msg("%s decoded \"%s\": %d \"%s\"", a->name, garbage[g], rc, err.msg);
			json_decref(out);
		}
		json_decref(p.params);
	}
}

static void test_every_encoder_sends_or_refuses_each_canonical_sample_with_a_reason(void **state)
{
	(void)state;
	struct dirent **names;
	int n = tu_files(CANONICAL_SAMPLES, "", ".json", &names);
	for (size_t i = 0; i < lt_adapter_count(); i++) {
		const struct lt_adapter *a = lt_adapter_at(i);
		struct lt_peer p = peer_of(a);
		for (int k = 0; a->encode && k < n; k++) {
			if (!strcmp(names[k]->d_name, "batch.json"))
				continue;
			json_t *ev = tu_load_json(CANONICAL_SAMPLES, names[k]->d_name);
			struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "01JNZ4G2K8V6T3QX5M7RB9CD1E",
						       .session = "S-1" };
			struct lt_request req = { 0 };
			struct lt_err err = { 0 };
			int rc = a->encode(&p, &ctx, ev, &req, &err);
			if (rc == 0 && (!req.body.len || !req.method[0] || !req.content_type[0]))
				fail_msg("%s encoded %s into an empty request", a->name, names[k]->d_name);
			if (rc && (rc > 0 || !err.msg[0]))
				fail_msg("%s refused %s without a reason (%d)", a->name, names[k]->d_name, rc);
			lt_buf_free(&req.body);
			free(req.signature);
			json_decref(ev);
		}
		json_decref(p.params);
	}
	tu_files_free(names, n);
}

int main(void)
{
	/* the example's code table lives beside it (a shipped adapter's in codes/) */
	setenv("LT_CODES_DIR", "codes:tests/example", 1);
	struct lt_err err = { 0 };
	if (lt_xml_init(&err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_adapter_is_found_by_its_name_and_the_example_is_among_them),
		cmocka_unit_test(test_every_adapter_is_described_for_its_users),
		cmocka_unit_test(test_every_adapter_starts_and_its_code_tables_load),
		cmocka_unit_test(test_event_types_are_the_canonical_schemas),
		cmocka_unit_test(test_every_decoder_refuses_garbage_with_a_reason),
		cmocka_unit_test(test_every_encoder_sends_or_refuses_each_canonical_sample_with_a_reason),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	lt_codes_shutdown();
	return rc;
}
