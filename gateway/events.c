/* events.c — the one place events enter: stamped and routed before the
 * store, counted, logged and their queues woken after it (events.h). */
#include "events.h"
#include "config.h"
#include "dispatch.h"
#include "gateway.h"
#include "log.h"
#include "router.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

json_t *lt_event_stamp(const struct lt_config *cfg, const char *from, json_t *ev)
{
	if (!json_object_get(ev, "event_id")) {
		char id[27];
		lt_event_id(id);
		json_object_set_new(ev, "event_id", json_string(id));
	}
	json_object_set_new(ev, "source", json_string(from));
	lt_units_apply(cfg, ev);
	json_t *dests = json_array();
	lt_route_event(cfg, from, ev, dests);
	return dests;
}

json_t *lt_events_stamp(const struct lt_config *cfg, const char *from, json_t *events)
{
	json_t *routes = json_array();
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev)
		json_array_append_new(routes, lt_event_stamp(cfg, from, ev));
	return routes;
}

void lt_events_stored(struct lt_gateway *gw, const struct lt_peer *from, const char *message_id, json_t *events,
		      json_t *routes, const char *how)
{
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		json_t *dests = json_array_get(routes, i);
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_t *fields = json_object();
		json_object_set(fields, "dossier_code", json_object_get(ev, "dossier_code"));
		if (message_id)
			json_object_set_new(fields, "message_id", json_string(message_id));
		json_object_set_new(fields, "peer", json_string(from ? from->name : LT_GATEWAY_SOURCE));
		json_object_set(fields, "event_id", json_object_get(ev, "event_id"));
		json_object_set(fields, "type", json_object_get(ev, "type"));
		json_object_set(fields, "routed_to", dests);
		if (from)
			lt_counters(gw, from)->events_in++;
		else    /* what the gateway made it from: the due date it found passed */
			json_object_set(fields, "due_at", json_object_get(json_object_get(ev, "dossier"), "due_at"));
		int routed = json_array_size(dests) > 0;
		if (!routed)
			gw->events_unrouted++;
		if (!from)      /* the overdue sweep's notice: the dossier, and since when */
			lt_log(LT_WARN, routed ? type : "event.unrouted", fields, "%s: dossier %s is overdue since %s, %s%s",
			       type, json_string_value(json_object_get(ev, "dossier_code")),
			       json_string_value(json_object_get(json_object_get(ev, "dossier"), "due_at")), how,
			       routed ? "" : " (no route takes the notice)");
		else if (!routed)
			lt_log(LT_WARN, "event.unrouted", fields, "event %s matches no route; kept, not delivered", type);
		else
			lt_log(LT_INFO, "event.received", fields, "%s", how);
		size_t j;
		json_t *d;
		json_array_foreach(dests, j, d)
			lt_dispatch_kick(gw, json_string_value(d));
	}
}

/* ULID-style: 48-bit millisecond time + 80 random bits, monotonic within a
 * millisecond so ids from one process sort in the order they were made. */
void lt_event_id(char out[27])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last_ms;
	static unsigned char last_rand[10];
	unsigned char r[10];
	int64_t ms = lt_now_ms();
	pthread_mutex_lock(&lock);
	if (ms <= last_ms) {
		ms = last_ms;
		memcpy(r, last_rand, sizeof r);
		for (int i = 9; i >= 0 && ++r[i] == 0; i--)
			;
	} else {
		if (RAND_bytes(r, sizeof r) != 1)
			for (int i = 0; i < 10; i++)
				r[i] = (unsigned char)random();
		r[0] &= 0x7f;   /* room to count up within one millisecond */
	}
	last_ms = ms;
	memcpy(last_rand, r, sizeof r);
	pthread_mutex_unlock(&lock);

	unsigned char b[16];
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
	memcpy(b + 6, r, 10);
	/* 128 bits → 26 base32 digits, most significant first (2 leading pad bits) */
	int bit = -2;
	for (int i = 0; i < 26; i++, bit += 5) {
		int v = 0;
		for (int k = 0; k < 5; k++) {
			int pos = bit + k;
			int set = pos >= 0 && (b[pos / 8] >> (7 - pos % 8)) & 1;
			v = v << 1 | set;
		}
		out[i] = alphabet[v];
	}
	out[26] = '\0';
}
