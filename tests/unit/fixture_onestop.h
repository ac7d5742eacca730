/* fixture_onestop.h — what the onestop adapter's unit tests share (test_adapter_onestop.c
 * and test_adapter_onestop_delivery.c): the peer, the schemas, decoding and reading
 * values at a path. Header-only; include after cmocka.h.
 *
 * Run from the repository root: schemas and samples are read from schemas/. */
#ifndef LT_FIXTURE_ONESTOP_H
#define LT_FIXTURE_ONESTOP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "testutil.h"

extern const struct lt_adapter lt_adapter_onestop;

#define VALID_DIR "schemas/samples/onestop"
#define INVALID_DIR "schemas/samples/onestop-invalid"
#define CANONICAL_DIR "schemas/samples/canonical"
#define A (&lt_adapter_onestop)

static struct lt_schema *canonical, *delivery, *record;
static struct lt_peer peer = { .name = "motcua-xa-duongphong" };

static inline int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	if (A->init(&err)) {
		fprintf(stderr, "init: %s\n", err.msg);
		return -1;
	}
	canonical = tu_schema_load(TU_CANONICAL_SCHEMA);
	delivery = tu_schema_load("schemas/onestop/delivery.schema.json");
	record = tu_schema_load("schemas/onestop/record.schema.json");
	peer.params = json_object();
	return canonical && delivery && record ? 0 : -1;
}

static inline int teardown(void **state)
{
	(void)state;
	lt_schema_free(canonical);
	lt_schema_free(delivery);
	lt_schema_free(record);
	json_decref(peer.params);
	return 0;
}

/* Each test starts with no peer params. */
static inline int reset_params(void **state)
{
	(void)state;
	json_object_clear(peer.params);
	return 0;
}

static inline int decode(const char *text, json_t *out, struct lt_err *err)
{
	memset(err, 0, sizeof *err);
	return A->decode(&peer, text, strlen(text), out, err);
}

/* Decode text that must give exactly one event; returns it (a new reference). */
static inline json_t *decode_one(const char *text)
{
	struct lt_err err;
	json_t *out = json_array();
	if (decode(text, out, &err))
		fail_msg("decode refused: %s", err.msg);
	assert_int_equal(json_array_size(out), 1);
	json_t *ev = json_incref(json_array_get(out, 0));
	json_decref(out);
	return ev;
}

/* A string at a slash path ("dossier/applicant/name"), or NULL. */
static inline const char *at(const json_t *v, const char *path)
{
	char buf[256], *save, *key;
	snprintf(buf, sizeof buf, "%s", path);
	for (key = strtok_r(buf, "/", &save); key && v; key = strtok_r(NULL, "/", &save))
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
	return json_string_value(v);
}

static inline long long at_int(const json_t *v, const char *path)
{
	char buf[256], *save, *key;
	snprintf(buf, sizeof buf, "%s", path);
	for (key = strtok_r(buf, "/", &save); key && v; key = strtok_r(NULL, "/", &save))
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
	if (!json_is_integer(v))
		fail_msg("%s is not an integer", path);
	return json_integer_value(v);
}

#endif
