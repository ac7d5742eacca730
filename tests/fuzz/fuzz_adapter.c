/* fuzz_adapter.c — libFuzzer harness for one adapter's parsers: built once,
 * run as adapter_NAME (a link to it; tests/fuzz/run.sh makes one per adapter
 * of the registry, listed by running it with LT_FUZZ_LIST=1). The first byte
 * picks decode (a pushed message), outcome (a peer's answer to a delivery)
 * or poll_result (a polled page); the rest is the input. The peer has every
 * param the adapter declares, at its example value. Run from the repository
 * root (schemas/, codes/). */
#include "adapter.h"
#include "config.h"
#include "sign_xml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct lt_peer peer;
static const struct lt_adapter *adapter;
static json_t *event;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct lt_err err = { 0 };
	if (getenv("LT_FUZZ_LIST")) {
		for (size_t i = 0; i < lt_adapter_count(); i++)
			printf("%s\n", lt_adapter_at(i)->name);
		exit(0);
	}
	if (lt_xml_init(&err) || lt_adapters_init(&err)) {
		fprintf(stderr, "fuzz: init: %s (run from the repository root)\n", err.msg);
		exit(1);
	}
	const char *self = *argc > 0 ? strrchr((*argv)[0], '/') : NULL;
	self = self ? self + 1 : *argc > 0 ? (*argv)[0] : "";
	adapter = strncmp(self, "adapter_", 8) == 0 ? lt_adapter_find(self + 8) : NULL;
	if (!adapter) {
		fprintf(stderr, "fuzz: run me as adapter_NAME, NAME one of: %s\n", lt_adapter_names());
		exit(1);
	}
	peer.name = "fuzz-peer";
	peer.adapter = adapter;
	peer.params = json_object();
	for (const struct lt_adapter_param *p = adapter->params; p && p->name; p++)
		if (p->example)
			json_object_set_new(peer.params, p->name, json_string(p->example));
	/* a delivered event for outcome(): the birth registration sample */
	event = json_load_file("tests/unit/data/civilreg/birth.json", 0, NULL);
	if (!event)
		event = json_pack("{s:s,s:s,s:s}", "type", "dossier.received", "occurred_at",
				  "2026-11-24T09:00:00+07:00", "dossier_code", "D-1");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0] % 3;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	struct lt_err err = { 0 };
	json_t *out = json_array();
	if (mode == 0 && adapter->decode) {
		adapter->decode(&peer, body, len, out, &err);
	} else if (mode == 1 && adapter->outcome) {
		struct lt_response rsp = { .status = 200, .body = body, .len = len, .content_type = adapter->content_type };
		struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = "01JNZ4G2K8V6T3QX5M7RB9CD1E" };
		adapter->outcome(&peer, &ctx, event, &rsp, out, &err);
	} else if (mode == 2 && adapter->poll_result) {
		struct lt_response rsp = { .status = 200, .body = body, .len = len, .content_type = adapter->content_type };
		char cursor[512] = "";
		adapter->poll_result(&peer, &rsp, out, cursor, &err);
	}
	json_decref(out);
	return 0;
}
