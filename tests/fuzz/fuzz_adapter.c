/* fuzz_adapter.c — libFuzzer harness for one adapter's parsers (built once
 * per adapter with -DADAPTER="name"): the first byte picks decode (a pushed
 * message), outcome (a peer's answer to a delivery) or poll_result (a polled
 * page); the rest is the input. Run from the repository root (schemas/). */
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
	(void)argc;
	(void)argv;
	struct lt_err err = { 0 };
	if (lt_xml_init(&err) || lt_adapters_init(&err)) {
		fprintf(stderr, "fuzz: init: %s (run from the repository root)\n", err.msg);
		exit(1);
	}
	adapter = lt_adapter_find(ADAPTER);
	if (!adapter) {
		fprintf(stderr, "fuzz: no adapter %s\n", ADAPTER);
		exit(1);
	}
	peer.name = "fuzz-peer";
	peer.adapter = adapter;
	peer.params = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "madonvi", "000.00.12.H12", "username", "u",
				"password", "p", "ma_don_vi", "H12.01957", "customer_code", "C", "sender_address", "A",
				"sender_tel", "0", "sender_province", "06");
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
