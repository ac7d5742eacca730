/* router.c — [route.*] sections: from peer, event types, procedure codes → destinations;
 * and what follows once routed events are stored (log, count, wake their queues). */
#include "gateway.h"
#include "dispatch.h"
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "mapping.h"

static int list_has(char **list, const char *v)
{
	if (!list || !list[0])
		return 1;    /* empty filter matches everything */
	if (!v)
		return 0;
	for (char **p = list; *p; p++)
		if (strcmp(*p, v) == 0)
			return 1;
	return 0;
}

void lt_route_event(const struct lt_config *cfg, const char *from, const json_t *event, json_t *dests)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	const json_t *dossier = json_object_get(event, "dossier");
	const char *proc = json_string_value(json_object_get(json_object_get(dossier, "procedure"), "code"));
	/* since July 2025 a dossier may be received anywhere and handled by the
	 * competent agency elsewhere: route by the handling agency first */
	const char *agency = json_string_value(json_object_get(json_object_get(dossier, "handling_agency"), "code"));
	if (!agency)
		agency = json_string_value(json_object_get(json_object_get(dossier, "receiving_agency"), "code"));
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct lt_route *r = &cfg->routes[i];
		if (strcmp(r->from, "*") && strcmp(r->from, from))
			continue;
		if (!list_has(r->events, type) || !list_has(r->procedures, proc) || !list_has(r->agencies, agency))
			continue;
		for (char **t = r->to; t && *t; t++) {
			if (strcmp(*t, from) == 0)
				continue;   /* never echo an event back to its sender */
			int seen = 0;
			size_t j;
			json_t *d;
			json_array_foreach(dests, j, d)
				seen |= strcmp(json_string_value(d), *t) == 0;
			if (!seen)
				json_array_append_new(dests, json_string(*t));
		}
	}
}

/* The new code of old at time at, or NULL: [units] of the config first,
 * then the table units (codes/units.codes, or the deployment's copy). */
static const char *renamed(const struct lt_config *c, const char *old, int64_t at)
{
	for (size_t i = 0; i < c->nunits; i++) {
		const struct lt_unit_map *u = &c->units[i];
		if (strcmp(u->old_code, old) == 0 && (!u->since || at >= u->since))
			return u->new_code;
	}
	const char *const *row = lt_code_find(&lt_unit_codes, 0, old);
	if (!row)
		return NULL;
	if (row[2]) {
		char stamp[40];
		int64_t since;
		snprintf(stamp, sizeof stamp, "%.10sT00:00:00" LT_TZ_OFFSET, row[2]);
		if (lt_date_parse_rfc3339(stamp, &since, NULL) || at < since)
			return NULL;
	}
	return row[1];
}

/* Replace one code at `path` ("dossier.handling_agency") if a unit rename applies. */
static void map_code(const struct lt_config *c, json_t *event, json_t *obj, const char *path, int64_t at)
{
	json_t *code = json_object_get(obj, "code");
	const char *now = json_is_string(code) ? renamed(c, json_string_value(code), at) : NULL;
	if (!now)
		return;
	json_t *detail = json_object_get(event, "detail");
	if (!detail) {
		detail = json_object();
		json_object_set_new(event, "detail", detail);
	}
	json_t *prev = json_object_get(detail, "previous_codes");
	if (!prev) {
		prev = json_object();
		json_object_set_new(detail, "previous_codes", prev);
	}
	json_object_set(prev, path, code);
	json_object_set_new(obj, "code", json_string(now));
}

void lt_units_apply(const struct lt_config *c, json_t *event)
{
	if (!c->nunits && !lt_code_count(&lt_unit_codes))
		return;
	int64_t at = 0;
	const char *when = json_string_value(json_object_get(event, "occurred_at"));
	if (when)
		lt_date_parse_rfc3339(when, &at, NULL);
	json_t *dossier = json_object_get(event, "dossier");
	static const char *const agencies[] = { "receiving_agency", "handling_agency" };
	for (size_t i = 0; i < 2; i++) {
		char path[64];
		snprintf(path, sizeof path, "dossier.%s", agencies[i]);
		map_code(c, event, json_object_get(dossier, agencies[i]), path, at);
	}
	json_t *addr = json_object_get(json_object_get(dossier, "applicant"), "address");
	static const char *const parts[] = { "province", "district", "commune" };
	for (size_t i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof path, "dossier.applicant.address.%s", parts[i]);
		map_code(c, event, json_object_get(addr, parts[i]), path, at);
	}
}

void lt_route_stored(struct lt_gateway *gw, const struct lt_peer *from, const char *message_id, json_t *events,
		     json_t *routes, const char *how)
{
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		json_t *dests = json_array_get(routes, i);
		json_t *fields = json_pack("{s:O,s:s,s:s,s:O,s:O,s:O}", "dossier_code", json_object_get(ev, "dossier_code"),
					   "message_id", message_id, "peer", from->name, "event_id",
					   json_object_get(ev, "event_id"), "type", json_object_get(ev, "type"), "routed_to",
					   dests);
		gw->counters[from->index].events_in++;
		if (!json_array_size(dests)) {
			gw->events_unrouted++;
			lt_log(LT_WARN, "event.unrouted", fields, "event %s matches no route; kept, not delivered",
			       json_string_value(json_object_get(ev, "type")));
		} else {
			lt_log(LT_INFO, "event.received", fields, "%s", how);
		}
		size_t j;
		json_t *d;
		json_array_foreach(dests, j, d)
			lt_dispatch_kick(gw, json_string_value(d));
	}
}
