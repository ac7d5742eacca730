/* router.c — [route.*] sections: from peer, event types, procedure codes → destinations. */
#include "gateway.h"

#include <jansson.h>
#include <string.h>

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
	const char *proc = json_string_value(json_object_get(json_object_get(json_object_get(event, "dossier"),
									    "procedure"), "code"));
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct lt_route *r = &cfg->routes[i];
		if (strcmp(r->from, "*") && strcmp(r->from, from))
			continue;
		if (!list_has(r->events, type) || !list_has(r->procedures, proc))
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
