/* mapbench.c — the cost per event of the mapped adapter running
 * mappings/onestop.map against the C adapter onestop, on the same samples:
 * decode every pushed sample and encode every event it gives, many times, one
 * thread. Prints one line per direction (make bench). Run from the repository
 * root. Usage: mapbench [ROUNDS] */
#include "adapter.h"
#include "config.h"
#include "mapped.h"
#include "sign_xml.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIR_SAMPLES "schemas/samples/onestop"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *bodies[64];
static size_t lens[64], nbodies;

/* Seconds to decode every sample rounds times; the events of the last round into events. */
static double decode_all(const struct lt_peer *p, int rounds, json_t *events)
{
	double t0 = now();
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < nbodies; i++) {
			json_t *out = json_array();
			struct lt_err err = { 0 };
			if (p->adapter->decode(p, bodies[i], lens[i], out, &err)) {
				fprintf(stderr, "mapbench: %s refused a sample: %s\n", p->adapter->name, err.msg);
				exit(1);
			}
			if (r == rounds - 1 && events)
				json_array_extend(events, out);
			json_decref(out);
		}
	return now() - t0;
}

static double encode_all(const struct lt_peer *p, int rounds, const json_t *events)
{
	double t0 = now();
	for (int r = 0; r < rounds; r++) {
		size_t i;
		json_t *ev;
		json_array_foreach(events, i, ev) {
			struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "M-1" };
			struct lt_request req = { 0 };
			struct lt_err err = { 0 };
			p->adapter->encode(p, &ctx, ev, &req, &err);
			lt_buf_free(&req.body);
		}
	}
	return now() - t0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 2000;
	struct lt_err err = { 0 };
	if (rounds < 1 || lt_xml_init(&err) || lt_adapters_init(&err)) {
		fprintf(stderr, "mapbench: %s\n", err.msg[0] ? err.msg : "ROUNDS must be 1 or more");
		return 1;
	}
	struct dirent **names;
	int n = scandir(DIR_SAMPLES, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", DIR_SAMPLES, names[i]->d_name);
		if (!strncmp(names[i]->d_name, "push.", 5) && nbodies < 64) {
			FILE *f = fopen(path, "rb");
			bodies[nbodies] = malloc(1 << 16);
			lens[nbodies] = fread(bodies[nbodies], 1, 1 << 16, f);
			fclose(f);
			nbodies++;
		}
		free(names[i]);
	}
	free(names);
	struct lt_peer c = { .name = "motcua", .adapter = lt_adapter_find("onestop"), .params = json_object() };
	struct lt_peer m = { .name = "motcua", .adapter = lt_adapter_find("mapped"),
			     .params = json_pack("{s:s}", "mapping", "onestop") };
	json_t *events = json_array();
	decode_all(&c, 1, NULL);      /* warm: schemas, tables, the mapping */
	decode_all(&m, 1, events);
	size_t count = json_array_size(events);
	double dc = decode_all(&c, rounds, NULL), dm = decode_all(&m, rounds, NULL);
	double ec = encode_all(&c, rounds, events), em = encode_all(&m, rounds, events);
	double per_c = dc / (rounds * (double)count) * 1e6, per_m = dm / (rounds * (double)count) * 1e6;
	printf("onestop decode, per event (%zu samples): C adapter %7.1f us  mapping %7.1f us  (%+.0f%%)\n", nbodies,
	       per_c, per_m, (per_m / per_c - 1) * 100);
	per_c = ec / (rounds * (double)count) * 1e6;
	per_m = em / (rounds * (double)count) * 1e6;
	printf("onestop encode, per event (%zu events):  C adapter %7.1f us  mapping %7.1f us  (%+.0f%%)\n", count,
	       per_c, per_m, (per_m / per_c - 1) * 100);
	json_decref(events);
	json_decref(c.params);
	json_decref(m.params);
	for (size_t i = 0; i < nbodies; i++)
		free(bodies[i]);
	return 0;
}
