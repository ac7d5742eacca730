/* test_jsonschema.c — the JSON Schema validator and the canonical event schema.
 *
 * Run from the repository root: samples are read from schemas/samples/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonschema.h"
#include "testutil.h"

#define SCHEMA "schemas/canonical-event.schema.json"
#define VALID_DIR "schemas/samples/canonical"
#define INVALID_DIR "schemas/samples/canonical-invalid"

static struct lt_schema *canonical;

static int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	canonical = lt_schema_load(SCHEMA, &err);
	if (!canonical)
		fprintf(stderr, "cannot load %s: %s (run from the repository root)\n", SCHEMA, err.msg);
	return canonical ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	lt_schema_free(canonical);
	canonical = NULL;
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* Load a schema given as text, through a temporary file. */
static struct lt_schema *schema_from(const char *text, struct lt_err *err, char *path_out)
{
	char path[] = "/tmp/lt-schema-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct lt_schema *s = lt_schema_load(path, err);
	if (path_out)
		strcpy(path_out, path);
	unlink(path);
	return s;
}

/* Validate the JSON text doc against s; returns the validator's result. */
static int check(const struct lt_schema *s, const char *doc, struct lt_err *err)
{
	json_error_t jerr;
	json_t *j = json_loads(doc, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("test document does not parse: %s: %s", doc, jerr.text);
	memset(err, 0, sizeof *err);
	int rc = lt_schema_validate(s, j, err);
	json_decref(j);
	return rc;
}

static void assert_valid(const struct lt_schema *s, const char *doc)
{
	struct lt_err err;
	if (check(s, doc, &err) != 0)
		fail_msg("%s should be valid but: %s", doc, err.msg);
}

static void assert_invalid(const struct lt_schema *s, const char *doc, const char *expect)
{
	struct lt_err err;
	if (check(s, doc, &err) != LT_ESCHEMA)
		fail_msg("%s should be refused", doc);
	if (!strstr(err.msg, expect))
		fail_msg("%s: message \"%s\" lacks \"%s\"", doc, err.msg, expect);
}

/* "*.json" files of dir, sorted; returns the count, names in *out (free them). */
static json_t *load_sample(const char *dir, const char *name)
{
	char path[512];
	json_error_t jerr;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j)
		fail_msg("%s: %s", path, jerr.text);
	return j;
}

/* A schema for an object whose only allowed property "v" has the schema
 * fragment given — for format, length and number edge cases. */
static struct lt_schema *one_field(const char *fragment)
{
	char text[1024];
	struct lt_err err = { 0 };
	snprintf(text, sizeof text, "{\"type\":\"object\",\"properties\":{\"v\":%s},"
		 "\"additionalProperties\":false}", fragment);
	struct lt_schema *s = schema_from(text, &err, NULL);
	if (!s)
		fail_msg("schema %s does not load: %s", text, err.msg);
	return s;
}

static json_t *nest(json_t *leaf, int levels)
{
	for (int i = 0; i < levels; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "a", leaf);
		leaf = o;
	}
	return leaf;
}

/* ---- the canonical samples ---------------------------------------------- */

/* One canonical sample through the canonical schema. */
static int validate_sample(const char *dir, const char *name, struct lt_err *err)
{
	json_t *doc = load_sample(dir, name);
	int rc = lt_schema_validate(canonical, doc, err);
	json_decref(doc);
	return rc;
}

static void test_every_valid_sample_passes(void **state)
{
	(void)state;
	assert_true(tu_valid_samples_accepted(VALID_DIR, ".json", validate_sample) >= 23); /* 22 types + batch */
}

static void test_every_invalid_sample_fails_with_its_expected_message(void **state)
{
	(void)state;
	assert_true(tu_invalid_samples_refused(INVALID_DIR, ".json", LT_ESCHEMA, validate_sample) >= 12);
}

static void test_every_event_type_has_a_sample_of_that_type(void **state)
{
	json_t *schema = json_load_file(SCHEMA, 0, NULL);
	json_t *types = json_object_get(json_object_get(json_object_get(json_object_get(
		json_object_get(schema, "$defs"), "event"), "properties"), "type"), "enum");
	(void)state;
	assert_int_equal(json_array_size(types), 22);
	for (size_t i = 0; i < json_array_size(types); i++) {
		char name[128];
		const char *type = json_string_value(json_array_get(types, i));
		snprintf(name, sizeof name, "%s.json", type);
		json_t *doc = load_sample(VALID_DIR, name);
		assert_string_equal(json_string_value(json_object_get(doc, "type")), type);
		json_decref(doc);
	}
	json_decref(schema);
}

static void test_batch_elements_validate_against_the_event_def(void **state)
{
	struct lt_err err = { 0 };
	json_t *batch = load_sample(VALID_DIR, "batch.json");
	json_t *events = json_object_get(batch, "events");
	(void)state;
	assert_int_equal(json_array_size(events), 3);
	for (size_t i = 0; i < json_array_size(events); i++)
		assert_int_equal(lt_schema_validate_def(canonical, "event", json_array_get(events, i),
							&err), 0);
	assert_int_equal(lt_schema_validate_def(canonical, "event", batch, &err), LT_ESCHEMA);
	assert_string_equal(err.msg, "/type: required property is missing");
	assert_int_equal(lt_schema_validate_def(canonical, "no-such-def", batch, &err), LT_EINVAL);
	assert_int_equal(lt_schema_validate(canonical, NULL, &err), LT_EINVAL);
	json_decref(batch);
}

static void test_enum_error_names_the_pointer_then_the_allowed_values(void **state)
{
	struct lt_err err;
	(void)state;
	assert_int_equal(check(canonical, "{\"type\":\"dossier.received\",\"occurred_at\":"
			       "\"2025-03-10T08:15:00+07:00\",\"dossier_code\":\"000.00.12.H12-250310-0001\","
			       "\"dossier\":{\"channel\":\"fax\"}}", &err), LT_ESCHEMA);
	assert_string_equal(err.msg, "/dossier/channel: \"fax\" is not one of direct, online, postal");
}

static void test_batch_error_points_into_the_failing_event(void **state)
{
	(void)state;
	assert_invalid(canonical, "{\"events\":[{\"type\":\"dossier.step\",\"occurred_at\":"
		       "\"2025-03-10T08:15:00+07:00\",\"dossier_code\":\"A-1\"},{\"type\":\"dossier.step\","
		       "\"occurred_at\":\"2025-03-10T08:15:00+07:00\",\"dossier_code\":\"A-1\","
		       "\"dossier\":{\"status\":0}}]}", "/events/1/dossier/status: 0 is less than minimum 1");
	assert_invalid(canonical, "[]", "/: expected object, got array");
}

/* ---- formats ------------------------------------------------------------ */

static void test_leap_day_2024_is_a_valid_date_time(void **state)
{
	struct lt_schema *s = one_field("{\"type\":\"string\",\"format\":\"date-time\"}");
	(void)state;
	assert_valid(s, "{\"v\":\"2024-02-29T08:00:00+07:00\"}");
	assert_valid(s, "{\"v\":\"2000-02-29T08:00:00Z\"}");
	lt_schema_free(s);
}

static void test_feb_29_2023_is_refused(void **state)
{
	struct lt_schema *s = one_field("{\"type\":\"string\",\"format\":\"date-time\"}");
	(void)state;
	assert_invalid(s, "{\"v\":\"2023-02-29T08:00:00+07:00\"}", "/v: \"2023-02-29T08:00:00+07:00\" "
		       "is not a valid date-time: day out of range for the month");
	assert_invalid(s, "{\"v\":\"2100-02-29T08:00:00+07:00\"}", "day out of range");
	lt_schema_free(s);
}

static void test_date_time_without_offset_is_refused(void **state)
{
	struct lt_schema *s = one_field("{\"type\":\"string\",\"format\":\"date-time\"}");
	(void)state;
	assert_invalid(s, "{\"v\":\"2025-03-10T08:15:00\"}", "missing time zone offset");
	assert_invalid(s, "{\"v\":\"2025-03-10 08:15:00+07:00\"}", "/v:");
	assert_invalid(s, "{\"v\":\"20250310081500\"}", "/v:");
	lt_schema_free(s);
}

static void test_date_time_fields_are_range_checked(void **state)
{
	static const char *const good[] = { "2025-12-31T23:59:59+07:00", "2016-12-31T23:59:60Z",
		"2025-03-10t08:15:00.123456z", "2025-03-10T08:15:00-05:30", "2025-04-30T00:00:00+00:00" };
	static const char *const bad[] = { "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z",
		"2025-04-31T00:00:00Z", "2025-03-10T24:00:00Z", "2025-03-10T08:60:00Z",
		"2025-03-10T08:15:61Z", "2025-03-10T08:15:00.Z", "2025-03-10T08:15:00+24:00",
		"2025-03-10T08:15:00+07:60", "2025-03-10T08:15:00+0700", "2025-03-10T08:15:00Z ",
		"2025-3-10T08:15:00Z", "" };
	struct lt_schema *s = one_field("{\"type\":\"string\",\"format\":\"date-time\"}");
	char doc[128];
	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		snprintf(doc, sizeof doc, "{\"v\":\"%s\"}", good[i]);
		assert_valid(s, doc);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(doc, sizeof doc, "{\"v\":\"%s\"}", bad[i]);
		assert_invalid(s, doc, "is not a valid date-time");
	}
	lt_schema_free(s);
}

static void test_date_and_email_formats_are_checked(void **state)
{
	struct lt_schema *d = one_field("{\"type\":\"string\",\"format\":\"date\"}");
	struct lt_schema *e = one_field("{\"type\":\"string\",\"format\":\"email\"}");
	(void)state;
	assert_valid(d, "{\"v\":\"2024-02-29\"}");
	assert_invalid(d, "{\"v\":\"2023-02-29\"}", "is not a valid date");
	assert_invalid(d, "{\"v\":\"2024-02-29T00:00:00Z\"}", "is not a valid date");
	assert_valid(e, "{\"v\":\"nguyenthilan@gmail.com\"}");
	assert_invalid(e, "{\"v\":\"nguyenthilan.gmail.com\"}", "is not a valid email");
	assert_invalid(e, "{\"v\":\"lan@localhost\"}", "is not a valid email");
	assert_invalid(e, "{\"v\":\"lan nguyen@gmail.com\"}", "is not a valid email");
	lt_schema_free(d);
	lt_schema_free(e);
}

/* ---- strings, numbers, objects ------------------------------------------ */

static void test_max_length_counts_code_points_not_bytes(void **state)
{
	struct lt_schema *s = one_field("{\"type\":\"string\",\"minLength\":2,\"maxLength\":6}");
	(void)state;
	assert_valid(s, "{\"v\":\"Nguyễn\"}"); /* 6 code points, 8 bytes */
	assert_invalid(s, "{\"v\":\"Nguyễnn\"}", "/v: 7 characters, more than maxLength 6");
	assert_invalid(s, "{\"v\":\"ễ\"}", "/v: 1 characters, fewer than minLength 2");
	lt_schema_free(s);
}

static void test_a_nul_in_a_string_does_not_slip_past_a_pattern(void **state)
{
	struct lt_schema *s = one_field("{\"type\":\"string\",\"pattern\":\"^[0-9]{12}$\"}");
	struct lt_err err = { 0 };
	json_t *doc = json_pack("{s:s#}", "v", "060225001234\0; DROP", (size_t)18);
	(void)state;
	assert_valid(s, "{\"v\":\"060225001234\"}");
	assert_int_equal(lt_schema_validate(s, doc, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "/v: \"060225001234"));
	assert_non_null(strstr(err.msg, "contains a NUL character"));
	json_decref(doc);
	lt_schema_free(s);
}

static void test_integer_means_a_number_without_fraction(void **state)
{
	struct lt_schema *s = one_field("{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}");
	(void)state;
	assert_valid(s, "{\"v\":2}");
	assert_valid(s, "{\"v\":2.0}");
	assert_invalid(s, "{\"v\":2.5}", "/v: expected integer, got number");
	assert_invalid(s, "{\"v\":\"2\"}", "/v: expected integer, got string");
	assert_invalid(s, "{\"v\":true}", "/v: expected integer, got boolean");
	assert_invalid(s, "{\"v\":0}", "/v: 0 is less than minimum 1");
	assert_invalid(s, "{\"v\":11.0}", "/v: 11 is greater than maximum 10");
	lt_schema_free(s);
}

static void test_keys_in_pointers_are_escaped(void **state)
{
	struct lt_schema *s = one_field("true");
	(void)state;
	assert_invalid(s, "{\"a/b~c\":1}", "/a~1b~0c: property not allowed here");
	lt_schema_free(s);
}

static void test_counts_const_and_alternatives(void **state)
{
	struct lt_err err = { 0 };
	struct lt_schema *s = schema_from("{\"type\":\"object\",\"minProperties\":1,\"maxProperties\":2,"
		"\"properties\":{\"k\":{\"const\":\"lienthong\"},\"n\":{\"oneOf\":[{\"type\":\"integer\"},"
		"{\"type\":\"number\"}]},\"a\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,"
		"\"items\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"string\",\"enum\":[\"x\",1]}]}}}}",
		&err, NULL);
	(void)state;
	assert_non_null(s);
	assert_invalid(s, "{}", "/: 0 properties, fewer than minProperties 1");
	assert_invalid(s, "{\"a\":[],\"b\":1,\"c\":2}", "3 properties, more than maxProperties 2");
	assert_invalid(s, "{\"k\":\"other\"}", "/k: \"other\" is not \"lienthong\"");
	assert_invalid(s, "{\"n\":3}", "/n: matches more than one alternative of oneOf (0 and 1)");
	assert_valid(s, "{\"n\":3.5,\"k\":\"lienthong\"}");
	assert_invalid(s, "{\"a\":[]}", "/a: 0 items, fewer than minItems 1");
	assert_invalid(s, "{\"a\":[null,null,null]}", "/a: 3 items, more than maxItems 2");
	assert_valid(s, "{\"a\":[null,\"x\"]}");
	assert_invalid(s, "{\"a\":[null,\"y\"]}", "/a/1: \"y\" is not one of x, 1");
	lt_schema_free(s);
}

static void test_messages_stay_valid_utf8_when_cut(void **state)
{
	struct lt_schema *s = one_field("{\"type\":\"string\",\"enum\":[\"x\"]}");
	struct lt_err err = { 0 };
	json_t *doc = json_object(), *as_json;
	char key[1200] = "", val[1200] = "";
	(void)state;
	for (int i = 0; i < 300; i++) {
		strcat(key, "ễ"); /* 3 bytes each: cut points fall inside characters */
		strcat(val, i % 2 ? "ễ" : "\x01");
	}
	json_object_set_new(doc, key, json_string("x"));
	assert_int_equal(lt_schema_validate(s, doc, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "…: property not allowed here"));
	assert_non_null(as_json = json_string(err.msg)); /* NULL if not valid UTF-8 */
	json_decref(as_json);
	json_object_clear(doc);
	json_object_set_new(doc, "v", json_string(val));
	assert_int_equal(lt_schema_validate(s, doc, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "/v: \"?ễ?ễ"));
	assert_non_null(strstr(err.msg, "…\" is not one of x"));
	assert_non_null(as_json = json_string(err.msg));
	json_decref(as_json);
	json_decref(doc);
	lt_schema_free(s);
}

/* ---- depth -------------------------------------------------------------- */

static json_t *event_with_detail(json_t *detail)
{
	json_t *e = json_pack("{s:s, s:s, s:s}", "type", "dossier.step", "occurred_at",
			      "2025-03-10T08:15:00+07:00", "dossier_code", "000.00.12.H12-250310-0001");
	json_object_set_new(e, "detail", detail);
	return e;
}

static void test_hundred_deep_detail_is_refused_not_crashed(void **state)
{
	struct lt_err err = { 0 };
	json_t *doc = event_with_detail(nest(json_integer(1), 100));
	(void)state;
	assert_int_equal(lt_schema_validate(canonical, doc, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "nested too deeply"));
	assert_true(strncmp(err.msg, "/detail/a/a/a", 13) == 0);
	json_decref(doc);
}

static void test_document_at_the_depth_limit_is_accepted(void **state)
{
	struct lt_err err = { 0 };
	/* event (1) + detail (2) + 62 more objects = 64 levels */
	json_t *ok = event_with_detail(nest(json_object(), 62));
	json_t *deep = event_with_detail(nest(json_object(), 63));
	(void)state;
	assert_int_equal(lt_schema_validate(canonical, ok, &err), 0);
	assert_int_equal(lt_schema_validate(canonical, deep, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "nested too deeply (more than 64 levels)"));
	json_decref(ok);
	json_decref(deep);
}

static void test_deep_arrays_are_refused_by_any_schema(void **state)
{
	struct lt_schema *s = one_field("true");
	struct lt_err err = { 0 };
	json_t *doc = json_array();
	(void)state;
	for (int i = 0; i < 1000; i++) {
		json_t *outer = json_array();
		json_array_append_new(outer, doc);
		doc = outer;
	}
	assert_int_equal(lt_schema_validate(s, doc, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "/0/0/0"));
	assert_non_null(strstr(err.msg, "nested too deeply"));
	json_decref(doc);
	lt_schema_free(s);
}

static void test_recursive_schema_through_properties_is_bounded(void **state)
{
	struct lt_err err = { 0 };
	struct lt_schema *s = schema_from("{\"$ref\":\"#/$defs/tree\",\"$defs\":{\"tree\":{\"type\":"
		"\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/tree\"}},"
		"\"additionalProperties\":false}}}", &err, NULL);
	json_t *ok = nest(json_object(), 30), *deep = nest(json_object(), 200);
	(void)state;
	assert_non_null(s);
	assert_int_equal(lt_schema_validate(s, ok, &err), 0);
	assert_int_equal(lt_schema_validate(s, deep, &err), LT_ESCHEMA);
	assert_non_null(strstr(err.msg, "nested too deeply"));
	json_decref(ok);
	json_decref(deep);
	lt_schema_free(s);
}

/* ---- loading ------------------------------------------------------------ */

static void assert_load_error(const char *text, const char *expect)
{
	struct lt_err err = { 0 };
	char path[64];
	struct lt_schema *s = schema_from(text, &err, path);
	if (s) {
		lt_schema_free(s);
		fail_msg("schema %s should not load", text);
	}
	assert_int_equal(err.code, LT_ECONFIG);
	if (!strstr(err.msg, expect) || !strstr(err.msg, path))
		fail_msg("load error \"%s\" lacks \"%s\" or the file name %s", err.msg, expect, path);
}

static void test_unsupported_keyword_is_a_load_error(void **state)
{
	(void)state;
	assert_load_error("{\"type\":\"object\",\"patternProperties\":{\"^x\":true}}",
			  ": /: unsupported keyword \"patternProperties\"");
	assert_load_error("{\"properties\":{\"v\":{\"type\":\"string\",\"if\":{}}}}",
			  "/properties/v: unsupported keyword \"if\"");
	assert_load_error("{\"properties\":{\"v\":{\"format\":\"uri\"}}}", "format must be");
	assert_load_error("{\"items\":[{}]}", "/items: a schema must be an object or a boolean");
	assert_load_error("{\"type\":\"text\"}", "type must name");
	assert_load_error("{\"maxLength\":-1}", "maxLength must be a non-negative integer");
	assert_load_error("{\"properties\":{\"v\":{\"$defs\":{}}}}", "only at the schema root");
	assert_load_error("{\"type\":\"object\",", "");
}

static void test_annotations_are_accepted_at_load(void **state)
{
	struct lt_err err = { 0 };
	struct lt_schema *s = schema_from("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
		"\"$id\":\"x\",\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\","
		"\"examples\":[1],\"default\":1,\"type\":\"integer\"}", &err, NULL);
	(void)state;
	assert_non_null(s);
	lt_schema_free(s);
}

static void test_pattern_syntax_that_ecma_reads_differently_is_a_load_error(void **state)
{
	(void)state;
	assert_load_error("{\"pattern\":\"^\\\\d{12}$\"}", "uses a backslash");
	assert_load_error("{\"pattern\":\"^[[:digit:]]+$\"}", "POSIX [: :] class");
	assert_load_error("{\"pattern\":\"^[0-9\"}", "does not compile");
}

static void test_bad_refs_are_load_errors(void **state)
{
	(void)state;
	assert_load_error("{\"$ref\":\"#/$defs/missing\"}", "$ref #/$defs/missing is not");
	assert_load_error("{\"$ref\":\"other.json#/x\"}", "is not #/$defs/NAME");
	assert_load_error("{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},"
			  "\"b\":{\"anyOf\":[{\"type\":\"null\"},{\"$ref\":\"#/$defs/a\"}]}}}",
			  "$ref cycle that never descends into the document");
	assert_load_error("{\"$defs\":{\"a\":{\"allOf\":[{\"$ref\":\"#/$defs/a\"}]}}}",
			  "/$defs/a: $ref cycle");
}

static void test_missing_schema_file_is_an_io_error(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	assert_null(lt_schema_load("schemas/no-such.schema.json", &err));
	assert_int_equal(err.code, LT_EIO);
	assert_non_null(strstr(err.msg, "schemas/no-such.schema.json"));
	lt_schema_free(NULL);
}

/* ---- threads ------------------------------------------------------------ */

struct worker {
	json_t *docs[64];
	int ndocs, failures;
};

static void *validate_many(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < w->ndocs; i++) {
			struct lt_err err;
			if (lt_schema_validate(canonical, w->docs[i], &err) != 0)
				w->failures++;
		}
	}
	return NULL;
}

static void test_concurrent_validations_share_one_schema(void **state)
{
	struct worker w = { .ndocs = 0 };
	struct dirent **names;
	pthread_t threads[4];
	int n = tu_files(VALID_DIR, "", ".json", &names);
	(void)state;
	for (int i = 0; i < n && w.ndocs < 64; i++)
		w.docs[w.ndocs++] = load_sample(VALID_DIR, names[i]->d_name);
	tu_files_free(names, n);
	struct worker each[4];
	for (int t = 0; t < 4; t++) {
		each[t] = w;
		assert_int_equal(pthread_create(&threads[t], NULL, validate_many, &each[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(threads[t], NULL);
		assert_int_equal(each[t].failures, 0);
	}
	for (int i = 0; i < w.ndocs; i++)
		json_decref(w.docs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_valid_sample_passes),
		cmocka_unit_test(test_every_invalid_sample_fails_with_its_expected_message),
		cmocka_unit_test(test_every_event_type_has_a_sample_of_that_type),
		cmocka_unit_test(test_batch_elements_validate_against_the_event_def),
		cmocka_unit_test(test_enum_error_names_the_pointer_then_the_allowed_values),
		cmocka_unit_test(test_batch_error_points_into_the_failing_event),
		cmocka_unit_test(test_leap_day_2024_is_a_valid_date_time),
		cmocka_unit_test(test_feb_29_2023_is_refused),
		cmocka_unit_test(test_date_time_without_offset_is_refused),
		cmocka_unit_test(test_date_time_fields_are_range_checked),
		cmocka_unit_test(test_date_and_email_formats_are_checked),
		cmocka_unit_test(test_max_length_counts_code_points_not_bytes),
		cmocka_unit_test(test_a_nul_in_a_string_does_not_slip_past_a_pattern),
		cmocka_unit_test(test_integer_means_a_number_without_fraction),
		cmocka_unit_test(test_keys_in_pointers_are_escaped),
		cmocka_unit_test(test_counts_const_and_alternatives),
		cmocka_unit_test(test_messages_stay_valid_utf8_when_cut),
		cmocka_unit_test(test_hundred_deep_detail_is_refused_not_crashed),
		cmocka_unit_test(test_document_at_the_depth_limit_is_accepted),
		cmocka_unit_test(test_deep_arrays_are_refused_by_any_schema),
		cmocka_unit_test(test_recursive_schema_through_properties_is_bounded),
		cmocka_unit_test(test_unsupported_keyword_is_a_load_error),
		cmocka_unit_test(test_annotations_are_accepted_at_load),
		cmocka_unit_test(test_pattern_syntax_that_ecma_reads_differently_is_a_load_error),
		cmocka_unit_test(test_bad_refs_are_load_errors),
		cmocka_unit_test(test_missing_schema_file_is_an_io_error),
		cmocka_unit_test(test_concurrent_validations_share_one_schema),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
