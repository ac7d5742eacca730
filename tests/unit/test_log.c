/* test_log.c — log lines stay whole JSON whatever the client sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lt.h"

/* One JSON log line written for a message that quotes bytes that are not UTF-8. */
static json_t *line_for(const char *quoted)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	lt_log_init(1, LT_INFO, out);
	lt_log(LT_WARN, "ingress.refused", json_pack("{s:s}", "peer", "peer-a"), "refused: %s", quoted);
	fclose(out);
	lt_log_init(1, LT_INFO, stderr);
	json_t *j = json_loads(buf, 0, NULL);
	free(buf);
	return j;
}

static void test_message_with_bytes_that_are_not_utf8_keeps_its_msg(void **state)
{
	(void)state;
	/* "Đ" cut after its first byte, a lone continuation byte, an overlong '/' */
	json_t *j = line_for("ab\xC4 x\x80y \xC0\xAF end");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "refused: ab? x?y ?? end");
	assert_string_equal(json_string_value(json_object_get(j, "peer")), "peer-a");
	json_decref(j);
}

static void test_valid_vietnamese_is_unchanged(void **state)
{
	(void)state;
	char s[] = "Hồ sơ đã tồn tại \xF0\x9F\x93\x84";
	lt_utf8_clean(s);
	assert_string_equal(s, "Hồ sơ đã tồn tại \xF0\x9F\x93\x84");
	char t[] = "\xED\xA0\x80 \xF4\x90\x80\x80";     /* a surrogate, and above U+10FFFF */
	lt_utf8_clean(t);
	assert_string_equal(t, "??? ????");
}

/* The raw line written for msg and fields (stolen). */
static char *raw_line(const char *msg, json_t *fields)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	lt_log_init(1, LT_INFO, out);
	lt_log(LT_WARN, "delivery.retry", fields, "%s", msg);
	fclose(out);
	lt_log_init(1, LT_INFO, stderr);
	return buf;
}

/* The line is byte for byte what one jansson object of ts, level, event, msg and then the
 * fields dumps (compact, in order, ASCII only): the line is written without that object. */
static void test_line_is_what_a_jansson_object_dumps(void **state)
{
	(void)state;
	const char *msgs[] = { "plain", "", "quote \" back\\slash /slash tab\t nl\n cr\r bs\b ff\f \x01\x1f\x7f",
			       "Hồ sơ đã tồn tại \xF0\x9F\x93\x84 \xE2\x80\xA8", "ab\xC4 x\x80y" };
	for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
		char big[3000];                 /* fields longer than the line's stack buffer */
		memset(big, 'x', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		for (int f = 0; f < 5; f++) {
			json_t *fields = f == 0 ? NULL : f == 1 ? json_object() : f == 4 ? json_pack("{s:s,s:s}", "peer", "p", "error", big) :
				f == 2 ? json_pack("{s:s,s:i,s:{s:[i,s]},s:b,s:n,s:f}", "peer", "tỉnh \"x\"", "status", 503,
						   "nested", "a", 1, "\xC3\xA9", "ok", 1, "none", "ratio", 0.5) :
				json_pack("{s:s,s:s}", "peer", "p", "msg", "a field that renames msg");
			json_t *copy = fields ? json_deep_copy(fields) : NULL;
			char *got = raw_line(msgs[i], fields);
			json_t *parsed = json_loads(got, 0, NULL);
			assert_non_null(parsed);
			char clean[256];
			snprintf(clean, sizeof clean, "%s", msgs[i]);
			lt_utf8_clean(clean);
			json_t *o = json_object();
			json_object_set_new(o, "ts", json_string(json_string_value(json_object_get(parsed, "ts"))));
			json_object_set_new(o, "level", json_string("warn"));
			json_object_set_new(o, "event", json_string("delivery.retry"));
			json_object_set_new(o, "msg", json_string(clean));
			if (copy)
				json_object_update(o, copy);
			char *want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
			size_t n = strlen(got);
			assert_true(n > 0 && got[n - 1] == '\n');
			got[n - 1] = '\0';
			assert_string_equal(got, want);
			free(want);
			free(got);
			json_decref(o);
			json_decref(copy);
			json_decref(parsed);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_with_bytes_that_are_not_utf8_keeps_its_msg),
		cmocka_unit_test(test_valid_vietnamese_is_unchanged),
		cmocka_unit_test(test_line_is_what_a_jansson_object_dumps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
