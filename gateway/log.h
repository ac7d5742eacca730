/* log.h — one line per event: JSON by default, text on request.
 * Safe to call from any thread; each line is written with one write. */
#ifndef LT_LOG_H
#define LT_LOG_H

#include <stdio.h>
#include <jansson.h>

enum lt_level { LT_DEBUG, LT_INFO, LT_WARN, LT_ERROR };

/* Configure the sink: json (1) or text (0), the minimum level, the stream
 * (stderr when NULL). May be called again (e.g. after reading the config). */
void lt_log_init(int json, enum lt_level min, FILE *out);
int lt_log_parse_level(const char *s, enum lt_level *out);

/* Log one line: `event` is a dotted name ("delivery.retry"), `fields` extra
 * key/values (stolen; may be NULL), then a human sentence. Well-known fields:
 * dossier_code, message_id, peer, event_id, delivery_id, status, error. */
void lt_log(enum lt_level lvl, const char *event, json_t *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
