/* fuzz_mappings.c — libFuzzer harness for the mapping-file reader
 * (adapters/mapped_load.c, mapped_parse.c): the input is a deployment's mapping
 * file, read alone and, when it loads, run on a pushed onestop sample both ways
 * (mapped.c, mapped_eval.c).
 * Run from the repository root (mappings/, codes/, schemas/). */
#include "adapter.h"
#include "config.h"
#include "mapped.h"
#include "sign_xml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *sample;
static size_t sample_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct lt_err err = { 0 };
	if (lt_xml_init(&err) || lt_adapters_init(&err)) {
		fprintf(stderr, "fuzz: init: %s (run from the repository root)\n", err.msg);
		exit(1);
	}
	FILE *f = fopen("schemas/samples/onestop/push.received.json", "rb");
	if (f) {
		sample = malloc(65536);
		sample_len = fread(sample, 1, 65536, f);
		fclose(f);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[64], none[80], path[96];
	snprintf(dir, sizeof dir, "%s/lt-fuzz-maps-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(none, sizeof none, "%s/shipped", dir);
	snprintf(path, sizeof path, "%s/fuzz.map", dir);
	mkdir(dir, 0700);
	mkdir(none, 0700);      /* no shipped files: only the input is read */
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	struct lt_mappings *set = NULL;
	struct lt_buf errors = { 0 };
	if (lt_mappings_load(none, dir, &set, &errors) == 0) {
		lt_mappings_use(set);
		struct lt_peer peer = { .name = "fuzz-peer", .adapter = lt_adapter_find("mapped"),
					.params = json_pack("{s:s}", "mapping", "fuzz") };
		json_t *out = json_array();
		struct lt_err err = { 0 };
		if (sample && peer.adapter->decode(&peer, sample, sample_len, out, &err) == 0 && json_array_size(out)) {
			struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "M-1" };
			struct lt_request req = { 0 };
			peer.adapter->encode(&peer, &ctx, json_array_get(out, 0), &req, &err);
			lt_buf_free(&req.body);
		}
		json_decref(out);
		json_decref(peer.params);
		lt_mappings_shutdown();
	}
	lt_buf_free(&errors);
	return 0;
}
