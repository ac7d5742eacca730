/* fuzz_xmldsig.c — libFuzzer harness for the XML-DSig verifier (hardened
 * parse, structure checks, xmlsec) against the dev RSA trust (make certs). */
#include "sign_xml.h"
#include "verify_xml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static struct lt_xml_trust *trust;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct lt_err err = { 0 };
	if (lt_xml_init(&err) || !(trust = lt_xml_trust_new("build/certs/rsa/trust.pem", NULL, &err))) {
		fprintf(stderr, "fuzz: %s (run make certs, from the repository root)\n", err.msg);
		exit(1);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lt_xml_info info;
	struct lt_err err = { 0 };
	xmlDocPtr doc = NULL;
	if (lt_xml_verify(trust, (const char *)data, size, 0, &info, &doc, &err) == 0)
		xmlFreeDoc(doc);
	return 0;
}
