/* router.h — where an event goes ([route.NAME]) and the unit codes it is read
 * with ([units]). Pure functions of the configuration and the event: no I/O,
 * no state, any thread. events.c is their one caller in the daemon. */
#ifndef LT_ROUTER_H
#define LT_ROUTER_H

#include <jansson.h>

struct lt_config;

/* Append to `dests` (a JSON array) the peer names of every route the event
 * matches — its sender (`from`: a peer name or LT_GATEWAY_SOURCE) and, when
 * the route filters them, its type, procedure code and agency (the handling
 * agency, else the receiving one) — each once, in config order, never the
 * sender itself. An event no route matches gets none. */
void lt_route_event(const struct lt_config *cfg, const char *from, const json_t *event, json_t *dests);

/* Replace old unit codes in an event (agencies, address province/district/
 * commune) by their new ones per [units], keeping each old code in
 * detail.previous_codes {"dossier.handling_agency": "OLD", …}. */
void lt_units_apply(const struct lt_config *c, json_t *event);

#endif
