/* log.c — JSON (or text) log lines, one write per line. */
#include "log.h"
#include "dates.h"
#include "lt.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_json = 1;
static enum lt_level log_min = LT_INFO;
static FILE *log_out;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void lt_log_init(int json, enum lt_level min, FILE *out)
{
	log_json = json;
	log_min = min;
	log_out = out;
}

int lt_log_parse_level(const char *s, enum lt_level *out)
{
	for (unsigned i = 0; i < sizeof level_names / sizeof *level_names; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum lt_level)i;
			return LT_OK;
		}
	return LT_EINVAL;
}

void lt_log(enum lt_level lvl, const char *event, json_t *fields, const char *fmt, ...)
{
	if (lvl < log_min) {
		json_decref(fields);
		return;
	}
	char msg[1024], ts[48];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	lt_utf8_clean(msg);     /* a message quoting client input stays in the line */
	va_end(ap);
	lt_date_format_rfc3339_ms(lt_now_ms(), ts);   /* the gateway's zone, whatever the machine's TZ */

	struct lt_buf line = { 0 };
	if (log_json) {
		json_t *o = json_object();
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(level_names[lvl]));
		json_object_set_new(o, "event", json_string(event));
		json_object_set_new(o, "msg", json_string(msg));
		if (fields)
			json_object_update(o, fields);
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
		json_decref(o);
		if (s) {
			lt_buf_append(&line, s, strlen(s));
			free(s);
		}
	} else {
		lt_buf_printf(&line, "%s %-5s %s %s", ts, level_names[lvl], event, msg);
		const char *k;
		json_t *v;
		json_object_foreach(fields, k, v) {
			if (json_is_string(v))
				lt_buf_printf(&line, " %s=%s", k, json_string_value(v));
			else {
				char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				if (s) {
					lt_buf_printf(&line, " %s=%s", k, s);
					free(s);
				}
			}
		}
	}
	json_decref(fields);
	lt_buf_append(&line, "\n", 1);
	FILE *out = log_out ? log_out : stderr;
	pthread_mutex_lock(&log_lock);
	fwrite(line.data, 1, line.len, out);
	fflush(out);
	pthread_mutex_unlock(&log_lock);
	lt_buf_free(&line);
}
