/* mapping.c — JSON helpers shared by the adapters (dates: gateway/dates.c; the
 * code tables are data: codes.c, codes/). */
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const json_t *lt_json_dig(const json_t *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof key)
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

const char *lt_json_str(const json_t *o, const char *path)
{
	const char *s = json_string_value(lt_json_dig(o, path));
	return s && *s ? s : NULL;
}

void lt_json_put_str(json_t *o, const char *key, const char *value)
{
	if (value && *value)
		json_object_set_new(o, key, json_string(value));
}

json_t *lt_json_parse(const char *what, const char *s, size_t len, size_t flags, struct lt_err *err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(s ? s : "", s ? len : 0, JSON_REJECT_DUPLICATES | flags, &jerr);
	if (!doc)
		lt_err_set(err, LT_EINVAL, "%s is not valid JSON: %s at line %d column %d", what, jerr.text, jerr.line,
			   jerr.column);
	return doc;
}
