/* fixture_civilreg.h — what the civil registry adapter's unit tests share
 * (test_adapter_civilreg.c and test_adapter_civilreg_results.c): the peer, the schemas,
 * the signer and trust of the development PKI, and reading events and XML.
 * Header-only; include after cmocka.h.
 *
 * Run from the repository root: samples come from schemas/samples/civilreg*,
 * canonical inputs from tests/unit/data/civilreg/. Needs the development PKI
 * for the signing tests: env LT_TEST_PKI, default build/certs ("make certs"). */
#ifndef LT_FIXTURE_CIVILREG_H
#define LT_FIXTURE_CIVILREG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "sign_xml.h"
#include "verify_xml.h"
#include "xmlutil.h"
#include "testutil.h"

extern const struct lt_adapter lt_adapter_civilreg;
#define A lt_adapter_civilreg
#define VALID_DIR "schemas/samples/civilreg"
#define INVALID_DIR "schemas/samples/civilreg-invalid"
#define DATA "tests/unit/data/civilreg"
#define MID "01JNZ4G2K8V6T3QX5M7RB9CD1E"

static struct lt_schema *canonical;
static xmlSchemaPtr xsd_request, xsd_poll;
static struct lt_xml_signer *signer;
static struct lt_xml_trust *trust;
static struct lt_peer peer = { .name = "hotich-tinh" };

static inline int setup(void **state)
{
	struct lt_err err = { 0 };
	(void)state;
	/* lt_xml_init first, as in the daemon: schemas must load after it */
	if (lt_xml_init(&err) || A.init(&err) ||
	    !(xsd_request = lt_xmlu_schema_load("civilreg", "request", &err)) ||
	    !(xsd_poll = lt_xmlu_schema_load("civilreg", "poll", &err))) {
		fprintf(stderr, "setup: %s (run from the repository root)\n", err.msg);
		return -1;
	}
	if (!(canonical = tu_schema_load(TU_CANONICAL_SCHEMA)) || tu_xml_pki_load(&signer, &trust))
		return -1;
	peer.params = json_pack("{s:s}", "ma_don_vi", "H60.22912");
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	json_decref(peer.params);
	lt_schema_free(canonical);
	xmlSchemaFree(xsd_request);
	xmlSchemaFree(xsd_poll);
	lt_xml_signer_free(signer);
	lt_xml_trust_free(trust);
	return 0;
}

static inline const char *detail_str(const json_t *ev, const char *key)
{
	return json_string_value(json_object_get(json_object_get(ev, "detail"), key));
}

static inline char *text_of(xmlDocPtr doc, const char *name)
{
	return lt_xmlu_text(xmlDocGetRootElement(doc), name);
}

#endif
