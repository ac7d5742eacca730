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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_with_bytes_that_are_not_utf8_keeps_its_msg),
		cmocka_unit_test(test_valid_vietnamese_is_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
