/* events.h — the one place events enter the gateway, whatever made them: a
 * peer's message (http.c), a polled page (pull.c), a peer's answer to a
 * delivery (dispatch_attempt.c) or the overdue sweep (watchdog.c, through the store).
 *
 * Before the store: each event is stamped — its id, its source, its current
 * unit codes — and routed (router.h), on any thread. After the commit, on
 * the loop: each is counted, logged, and the queues of its destinations are
 * woken (dispatch.h). The store in between knows nothing of either. */
#ifndef LT_EVENTS_H
#define LT_EVENTS_H

#include <jansson.h>

struct lt_config;
struct lt_gateway;
struct lt_peer;

/* Stamp and route one event from `from` (a peer name, or LT_GATEWAY_SOURCE):
 * its event_id (kept when the sender gave one), source = from, [units]
 * applied; returns its destinations, a new JSON array. Any thread. */
json_t *lt_event_stamp(const struct lt_config *cfg, const char *from, json_t *event);

/* The same for each of `events`: returns the routes, a new array parallel to
 * events of arrays of destination names. */
json_t *lt_events_stamp(const struct lt_config *cfg, const char *from, json_t *events);

/* Stamped events and their routes were committed. Count each against `from`
 * (NULL: the gateway made them: the overdue sweep's notices), log it —
 * event.received ending with `how`, event.unrouted when no route takes it;
 * a notice under its own type (dossier.overdue): "TYPE: dossier CODE is
 * overdue since DUE, HOW" — and wake the queue of each destination. Loop
 * thread. */
void lt_events_stored(struct lt_gateway *gw, const struct lt_peer *from, const char *message_id, json_t *events,
		      json_t *routes, const char *how);

/* A new time-ordered event id: 26 characters, Crockford base32, ULID-style
 * (48-bit milliseconds, 80 random bits, counting up within a millisecond).
 * Any thread. */
void lt_event_id(char out[27]);

#endif
