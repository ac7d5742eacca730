/* mapping.c — code tables and JSON helpers shared by the adapters (dates: gateway/dates.c).
 * Adjust a table here when a province's interface uses other codes. */
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE(var, label, ...)                                                  \
	static const struct lt_code_pair var##_codes[] = { __VA_ARGS__ };            \
	const struct lt_code_table var = { label, var##_codes,                  \
					   sizeof var##_codes / sizeof *var##_codes }

TABLE(lt_channel_codes, "channel (KenhThucHien)",
      { "1", "direct" }, { "2", "online" }, { "3", "postal" });
TABLE(lt_applicant_type_codes, "applicant type (LoaiDoiTuong)",
      { "1", "citizen" }, { "2", "enterprise" }, { "3", "state_body" }, { "4", "other" });
TABLE(lt_return_via_codes, "return method (HinhThuc)",
      { "0", "direct" }, { "1", "postal" });
TABLE(lt_registry_module_codes, "civil registry module",
      { "LTKS", "2.000986" }, { "LTKS", "2.001023" }, { "LTKT", "1.011733" }, { "LTKH", "1.000894" });

static const char *const status_events[11] = {
	NULL,
	"dossier.received",             /* 1 newly registered online */
	"dossier.received",             /* 2 received */
	"dossier.rejected",             /* 3 not received (refused at intake) */
	"dossier.step",                 /* 4 processing */
	"dossier.supplement_requested", /* 5 supplement requested */
	"dossier.fee_requested",        /* 6 financial obligation requested */
	"dossier.withdrawn",            /* 7 withdrawn by the applicant */
	"dossier.suspended",            /* 8 processing stopped */
	"dossier.resolved",             /* 9 resolved */
	"dossier.returned",             /* 10 result returned */
};

const char *lt_code_to_canonical(const struct lt_code_table *t, const char *wire, struct lt_err *err)
{
	for (size_t i = 0; wire && i < t->n; i++)
		if (strcmp(t->codes[i].wire, wire) == 0)
			return t->codes[i].canonical;
	lt_err_set(err, LT_ESCHEMA, "%s: unknown code \"%.32s\"", t->name, wire ? wire : "(missing)");
	return NULL;
}

const char *lt_code_to_wire(const struct lt_code_table *t, const char *canonical, struct lt_err *err)
{
	for (size_t i = 0; canonical && i < t->n; i++)
		if (strcmp(t->codes[i].canonical, canonical) == 0)
			return t->codes[i].wire;
	lt_err_set(err, LT_ESCHEMA, "%s: no code for \"%.32s\"", t->name, canonical ? canonical : "(missing)");
	return NULL;
}

int lt_status_valid(int status)
{
	return status >= 1 && status <= 10;
}

const char *lt_status_event_type(int status)
{
	return lt_status_valid(status) ? status_events[status] : NULL;
}

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
