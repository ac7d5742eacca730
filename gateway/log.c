/* log.c — JSON (or text) log lines, one write per line. */
#include "log.h"
#include "dates.h"
#include "lt.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
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

#define LOG_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)

/* A JSON string as jansson writes it with LOG_FLAGS (s is valid UTF-8): quotes, backslash
 * and controls escaped, everything above U+007F as \uXXXX (a surrogate pair above U+FFFF). */
static void json_quote(struct lt_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	lt_buf_append(b, "\"", 1);
	while (*p) {
		const unsigned char *run = p;
		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			lt_buf_append(b, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		uint32_t cp = *p;
		int n = cp < 0x80 ? 1 : cp < 0xE0 ? 2 : cp < 0xF0 ? 3 : 4;
		if (n > 1) {
			cp &= n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07;
			for (int i = 1; i < n && p[i]; i++)
				cp = (cp << 6) | (p[i] & 0x3F);
		}
		for (int i = 0; i < n && *p; i++)
			p++;
		const char *esc = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : cp == '\b' ? "\\b" : cp == '\f' ? "\\f" :
				  cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : cp == '\t' ? "\\t" : NULL;
		if (esc) {
			lt_buf_append(b, esc, 2);
			continue;
		}
		uint32_t units[2] = { cp, 0 };
		int nu = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			units[0] = 0xD800 | (cp >> 10);
			units[1] = 0xDC00 | (cp & 0x3FF);
			nu = 2;
		}
		for (int u = 0; u < nu; u++) {
			char e[6] = { '\\', 'u', hex[units[u] >> 12 & 15], hex[units[u] >> 8 & 15], hex[units[u] >> 4 & 15],
				      hex[units[u] & 15] };
			lt_buf_append(b, e, 6);
		}
	}
	lt_buf_append(b, "\"", 1);
}

/* The JSON line into one buffer: the four fixed keys written directly, the fields dumped
 * after them, byte for byte what a jansson object of all of them dumps with LOG_FLAGS
 * (a jansson object per line and its dump cost a sixth of the loop thread per event).
 * -1 when a field renames a fixed key (the caller merges them as before). */
static int json_line(struct lt_buf *line, const char *ts, const char *level, const char *event, const char *msg,
		     json_t *fields)
{
	static const char *const fixed[] = { "ts", "level", "event", "msg" };
	for (size_t i = 0; fields && i < sizeof fixed / sizeof *fixed; i++)
		if (json_object_get(fields, fixed[i]))
			return -1;
	lt_buf_append(line, "{\"ts\":", 6);
	json_quote(line, ts);
	lt_buf_append(line, ",\"level\":", 9);
	json_quote(line, level);
	lt_buf_append(line, ",\"event\":", 9);
	json_quote(line, event);
	lt_buf_append(line, ",\"msg\":", 7);
	json_quote(line, msg);
	if (fields && json_object_size(fields)) {
		char tail[2048];
		size_t n = json_dumpb(fields, tail, sizeof tail, LOG_FLAGS);
		char *s = n > sizeof tail ? json_dumps(fields, LOG_FLAGS) : NULL;
		if (s && strlen(s) > 2) {
			s[0] = ',';             /* its "{" */
			lt_buf_append(line, s, strlen(s));
			free(s);
			return 0;
		}
		free(s);
		if (n > 2 && n <= sizeof tail) {
			tail[0] = ',';
			lt_buf_append(line, tail, n);
			return 0;
		}
	}
	lt_buf_append(line, "}", 1);
	return 0;
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

	struct lt_buf line = { .data = malloc(1024), .cap = 1024 };    /* one allocation for most lines */
	if (!line.data)
		line.cap = 0;
	if (log_json && json_line(&line, ts, level_names[lvl], event, msg, fields) == 0) {
		/* written in place, below */
	} else if (log_json) {   /* fields that rename a fixed key: jansson merges them */
		json_t *o = json_object();
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(level_names[lvl]));
		json_object_set_new(o, "event", json_string(event));
		json_object_set_new(o, "msg", json_string(msg));
		if (fields)
			json_object_update(o, fields);
		char *s = json_dumps(o, LOG_FLAGS);
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
