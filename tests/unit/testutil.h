/* testutil.h — helpers shared by the unit tests (header-only; include after cmocka.h).
 *
 * Files and sample directories, the canonical event checks, adapter calls on sample
 * files, the development PKI, and the XML checks the XML adapters' tests share. Paths are
 * relative: the tests run from the repository root. */
#ifndef LT_TESTUTIL_H
#define LT_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <libxml/parser.h>

#include "lt.h"
#include "adapter.h"
#include "dates.h"
#include "jsonschema.h"
#include "keys.h"
#include "sign_xml.h"
#include "verify_xml.h"
#include "xmlutil.h"

#define TU_CANONICAL_SCHEMA "schemas/canonical-event.schema.json"

/* ---- times ------------------------------------------------------------- */

/* The unix seconds of an RFC 3339 time the test writes. */
static inline int64_t tu_at(const char *rfc3339)
{
	int64_t t = 0;
	assert_int_equal(lt_date_parse_rfc3339(rfc3339, &t, NULL), 0);
	return t;
}

/* ---- files ------------------------------------------------------------- */

/* Write n bytes to a fresh file under /tmp with mode; its path into out. */
static inline void tu_tmpfile_with(const void *text, size_t n, mode_t mode, char out[32])
{
	strcpy(out, "/tmp/lt-unit-test-XXXXXX");
	int fd = mkstemp(out);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The key file at path (with its password file, or NULL) loads and is want;
 * then both files are removed. */
static inline void tu_assert_key_file_is(const char *path, const char *password_file, EVP_PKEY *want)
{
	struct lt_err err = { 0 };
	EVP_PKEY *k = lt_key_load(path, password_file, &err);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, want), 1);
	EVP_PKEY_free(k);
	unlink(path);
	if (password_file)
		unlink(password_file);
}

/* The whole file at path, NUL-terminated (malloc'd); its length in *len if
 * len is not NULL. Fails the running test when the file cannot be read. */
static inline char *tu_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	struct lt_buf b = { 0 };
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		lt_buf_append(&b, chunk, n);
	fclose(f);
	if (len)
		*len = b.len;
	return b.data ? b.data : strdup("");
}

/* The JSON document at path (a new reference). Fails the running test when it cannot be
 * read or parsed. */
static inline json_t *tu_load_json_file(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("%s: %s", path, jerr.text);
	return j;
}

/* The JSON document dir/name, as tu_load_json_file. */
static inline json_t *tu_load_json(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return tu_load_json_file(path);
}

/* ---- sample directories ------------------------------------------------ */

/* The names in dir that start with prefix ("" = any) and end in suffix, sorted; *out is
 * malloc'd (free it with tu_files_free). Fails the running test if dir cannot be read. */
static inline int tu_files(const char *dir, const char *prefix, const char *suffix, struct dirent ***out)
{
	int n = scandir(dir, out, NULL, alphasort), kept = 0;
	size_t plen = strlen(prefix), slen = strlen(suffix);
	if (n < 0)
		fail_msg("cannot read the directory %s", dir);
	for (int i = 0; i < n; i++) {
		const char *name = (*out)[i]->d_name;
		size_t len = strlen(name);
		if (len > slen && !strcmp(name + len - slen, suffix) && !strncmp(name, prefix, plen))
			(*out)[kept++] = (*out)[i];
		else
			free((*out)[i]);
	}
	return kept;
}

static inline void tu_files_free(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* How a test checks one sample dir/name: 0 when it is accepted, else the code it was
 * refused with, err saying why. */
typedef int tu_sample_check(const char *dir, const char *name, struct lt_err *err);

/* Every sample of dir (an -invalid directory) whose name ends in suffix must be refused by
 * check with code want (0: any code) and a message that contains the first line of its
 * .expect file (the sample's name with ".expect" for suffix). Prints each one that is not,
 * then fails the running test; returns how many samples were checked. */
static inline int tu_invalid_samples_refused(const char *dir, const char *suffix, int want,
					     tu_sample_check *check)
{
	struct dirent **names;
	int n = tu_files(dir, "", suffix, &names), bad = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[512];
		struct lt_err err = { 0 };
		snprintf(path, sizeof path, "%s/%.*s.expect", dir, (int)(strlen(name) - strlen(suffix)), name);
		char *expect = tu_slurp(path, NULL);
		expect[strcspn(expect, "\r\n")] = '\0';
		if (!*expect)
			fail_msg("%s is empty", path);
		int rc = check(dir, name, &err);
		if (rc == 0 || (want && rc != want) || !strstr(err.msg, expect)) {
			print_error("%s/%s: got %d \"%s\", want %d \"%s\"\n", dir, name, rc, err.msg, want, expect);
			bad++;
		}
		free(expect);
	}
	tu_files_free(names, n);
	if (bad)
		fail_msg("%d of the %d samples of %s were not refused as expected", bad, n, dir);
	return n;
}

/* Every sample of dir whose name ends in suffix must be accepted by check. Prints each one
 * that is not, then fails the running test; returns how many samples were checked. */
static inline int tu_valid_samples_accepted(const char *dir, const char *suffix, tu_sample_check *check)
{
	struct dirent **names;
	int n = tu_files(dir, "", suffix, &names), bad = 0;
	for (int i = 0; i < n; i++) {
		struct lt_err err = { 0 };
		if (check(dir, names[i]->d_name, &err)) {
			print_error("%s/%s: %s\n", dir, names[i]->d_name, err.msg);
			bad++;
		}
	}
	tu_files_free(names, n);
	if (bad)
		fail_msg("%d of the %d samples of %s were refused", bad, n, dir);
	return n;
}

/* ---- schemas and canonical events -------------------------------------- */

/* The JSON Schema at path, or NULL after saying why on stderr (for a setup function). */
static inline struct lt_schema *tu_schema_load(const char *path)
{
	struct lt_err err = { 0 };
	struct lt_schema *s = lt_schema_load(path, &err);
	if (!s)
		fprintf(stderr, "cannot load %s: %s (run from the repository root)\n", path, err.msg);
	return s;
}

/* Fails the running test unless ev is a canonical event (the "event" definition of
 * canonical, the schema at TU_CANONICAL_SCHEMA). */
static inline void tu_assert_canonical(const struct lt_schema *canonical, const json_t *ev)
{
	struct lt_err err = { 0 };
	if (lt_schema_validate_def(canonical, "event", ev, &err)) {
		char *s = json_dumps(ev, JSON_INDENT(1));
		fail_msg("not a canonical event: %s\n%s", err.msg, s);
	}
}

/* Every event of arr is canonical, comes from the peer named source and has no event_id
 * yet (the store gives it one). */
static inline void tu_assert_canonical_from(const struct lt_schema *canonical, const json_t *arr,
					    const char *source)
{
	size_t i;
	const json_t *ev;
	json_array_foreach(arr, i, ev) {
		tu_assert_canonical(canonical, ev);
		assert_string_equal(json_string_value(json_object_get(ev, "source")), source);
		assert_null(json_object_get(ev, "event_id"));
	}
}

/* The JSON sample dir/name against its wire schema, schemas/ADAPTER/KIND.schema.json where
 * KIND is the sample's name up to its first dot: 0, or the code with err set. */
static inline int tu_wire_schema_check(const char *adapter, const char *dir, const char *name, struct lt_err *err)
{
	char path[512];
	snprintf(path, sizeof path, "schemas/%s/%.*s.schema.json", adapter, (int)strcspn(name, "."), name);
	struct lt_schema *s = tu_schema_load(path);
	json_t *doc = tu_load_json(dir, name);
	assert_non_null(s);
	int rc = lt_schema_validate(s, doc, err);
	json_decref(doc);
	lt_schema_free(s);
	return rc;
}

/* ---- adapters ---------------------------------------------------------- */

/* a->decode of body from peer: its code, the events in *out (a new array, caller frees). */
static inline int tu_decode(const struct lt_adapter *a, const struct lt_peer *peer, const char *body,
			    size_t len, json_t **out, struct lt_err *err)
{
	*out = json_array();
	memset(err, 0, sizeof *err);
	return a->decode(peer, body, len, *out, err);
}

/* tu_decode of the bytes of the file at path. */
static inline int tu_decode_file(const struct lt_adapter *a, const struct lt_peer *peer, const char *path,
				 json_t **out, struct lt_err *err)
{
	size_t len;
	char *body = tu_slurp(path, &len);
	int rc = tu_decode(a, peer, body, len, out, err);
	free(body);
	return rc;
}

/* a->decode of body (a string) from peer must be refused with code and a message that
 * contains expect, giving no events. */
static inline void tu_assert_decode_refused(const struct lt_adapter *a, const struct lt_peer *peer,
					    const char *body, int code, const char *expect)
{
	json_t *out;
	struct lt_err err;
	int rc = tu_decode(a, peer, body, strlen(body), &out, &err);
	if (rc != code || !strstr(err.msg, expect))
		fail_msg("%s: got %d \"%s\", want %d \"%s\"", body, rc, err.msg, code, expect);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
}

/* a->decode of the sample dir/name, as a tu_sample_check: its code. A refusal must yield
 * no events (fails the running test otherwise). */
static inline int tu_decode_sample(const struct lt_adapter *a, const struct lt_peer *peer, const char *dir,
				   const char *name, struct lt_err *err)
{
	char path[512];
	json_t *events;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int rc = tu_decode_file(a, peer, path, &events, err);
	if (rc && json_array_size(events))
		fail_msg("%s: refused (%s) but gave %zu events", path, err->msg, json_array_size(events));
	json_decref(events);
	return rc;
}

/* a->encode of event for peer, as a first attempt with message_id and flags: its code, the
 * request in *req (caller frees req->body). */
static inline int tu_encode(const struct lt_adapter *a, const struct lt_peer *peer, const char *message_id,
			    int flags, const json_t *event, struct lt_request *req, struct lt_err *err)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .flags = flags, .message_id = message_id };
	memset(req, 0, sizeof *req);
	memset(err, 0, sizeof *err);
	return a->encode(peer, &ctx, event, req, err);
}

/* tu_encode of event (which this frees) must be refused with code and a message that
 * contains expect. */
static inline void tu_assert_encode_refused(const struct lt_adapter *a, const struct lt_peer *peer,
					    const char *message_id, json_t *event, int code, const char *expect)
{
	struct lt_request req;
	struct lt_err err;
	assert_int_equal(tu_encode(a, peer, message_id, 0, event, &req, &err), code);
	if (!strstr(err.msg, expect))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, expect);
	lt_buf_free(&req.body);
	json_decref(event);
}

/* a->outcome of the answer (status, body) to the first delivery of event with message_id:
 * the verdict, the events it gives in *out (a new array, caller frees). */
static inline enum lt_verdict tu_outcome(const struct lt_adapter *a, const struct lt_peer *peer,
					 const char *message_id, const json_t *event, long status, const char *body,
					 json_t **out, struct lt_err *err)
{
	struct lt_delivery_ctx ctx = { .attempt = 1, .message_id = message_id };
	struct lt_response rsp = { .status = status, .body = body, .len = strlen(body) };
	*out = json_array();
	memset(err, 0, sizeof *err);
	return a->outcome(peer, &ctx, event, &rsp, *out, err);
}

/* ---- the development PKI and XML --------------------------------------- */

/* rel inside the development PKI: env LT_TEST_PKI, default build/certs ("make certs"). */
static inline const char *tu_pki(char *buf, size_t size, const char *rel)
{
	const char *env = getenv("LT_TEST_PKI");
	snprintf(buf, size, "%s/%s", env && *env ? env : "build/certs", rel);
	return buf;
}

/* The gateway's RSA signer and the RSA trust of the development PKI, for a setup
 * function: 0, or -1 after saying why on stderr. */
static inline int tu_xml_pki_load(struct lt_xml_signer **signer, struct lt_xml_trust **trust)
{
	struct lt_err err = { 0 };
	char key[512], cert[512], ca[512];
	tu_pki(key, sizeof key, "rsa/gateway/sign.key");
	tu_pki(cert, sizeof cert, "rsa/gateway/sign.pem");
	tu_pki(ca, sizeof ca, "rsa/trust.pem");
	if (!(*signer = lt_xml_signer_new(key, cert, NULL, &err)) || !(*trust = lt_xml_trust_new(ca, NULL, &err))) {
		fprintf(stderr, "setup: %s (run make certs, or set LT_TEST_PKI)\n", err.msg);
		return -1;
	}
	return 0;
}

/* Parse xml and validate it against s; the document (caller frees). Fails the running
 * test on any error. */
static inline xmlDocPtr tu_assert_valid_xml(const xmlSchema *s, const char *xml, size_t len)
{
	xmlDocPtr doc;
	struct lt_err err = { 0 };
	if (lt_xmlu_parse(xml, len, &doc, &err) || lt_xmlu_validate(s, doc, &err))
		fail_msg("%s\n%.*s", err.msg, (int)len, xml);
	return doc;
}

/* xml, formatted like xmllint --format, must be the sample file at path: the samples are
 * what the encoder writes. what names the input in the failure message. */
static inline void tu_assert_xml_is_sample(const char *xml, size_t len, const char *path, const char *what)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL, XML_PARSE_NOBLANKS | XML_PARSE_NONET);
	xmlChar *pretty = NULL;
	int size = 0;
	assert_non_null(doc);
	xmlDocDumpFormatMemoryEnc(doc, &pretty, &size, "UTF-8", 1);
	char *sample = tu_slurp(path, NULL);
	if (strcmp((char *)pretty, sample))
		fail_msg("%s no longer matches %s:\n%s", what, path, pretty);
	free(sample);
	xmlFree(pretty);
	xmlFreeDoc(doc);
}

/* xml signed by signer, still valid against s with the Signature as the root's last
 * element, and verified by trust; the signed document (malloc'd, *n bytes). */
static inline char *tu_assert_signs_valid_and_verifies(const struct lt_xml_signer *signer,
						       const struct lt_xml_trust *trust, const xmlSchema *s,
						       const char *xml, size_t len, size_t *n)
{
	struct lt_err err = { 0 };
	char *signed_xml;
	if (lt_xml_sign(signer, xml, len, &signed_xml, n, &err))
		fail_msg("sign: %s", err.msg);
	xmlDocPtr doc = tu_assert_valid_xml(s, signed_xml, *n);
	assert_true(lt_xmlu_is(xmlLastElementChild(xmlDocGetRootElement(doc)), LT_XMLU_DSIG_NS, "Signature"));
	xmlFreeDoc(doc);
	if (lt_xml_verify(trust, signed_xml, *n, 0, NULL, NULL, &err))
		fail_msg("verify: %s", err.msg);
	return signed_xml;
}

#endif
