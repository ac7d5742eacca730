/* test_replay.c — what a verified signed XML document binds (gateway/replay.c and the
 * adapters' lt_xml_kind tables): its signed time inside the replay window, its signed
 * identity, and the digest of its signed content, the same whatever bytes surround it.
 *
 * Run from the repository root: samples come from schemas/samples/. Documents are signed
 * with the land office's development key: env LT_TEST_PKI, default build/certs
 * ("make certs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"

#include <libxml/c14n.h>

#include "adapter.h"
#include "config.h"
#include "dates.h"
#include "replay.h"
#include "sign_xml.h"
#include "verify_xml.h"

#define WINDOW_MS 300000
#define DOCID "000.00.12.H12,2025/04/14,000.00.12.H12-250414-0031/LT"
#define ENVELOPE "schemas/samples/edxml/envelope.ward-to-land-office.xml"
#define ENVELOPE_SENT "14/04/2025 10:05:00"
#define STATUS "schemas/samples/edxml/status.resolved.xml"
#define RESULT "schemas/samples/civilreg/result.registered.xml"
#define RESULTS "schemas/samples/civilreg/results.callback.xml"
#define RESULTS_ROOT_FIELDS " messageId=\"HT68-DS-20251121-000077\" thoiGian=\"2025-11-21T15:30:00+07:00\""

static struct lt_xml_signer *signer;
static struct lt_xml_trust *trust;
extern const struct lt_adapter lt_adapter_edxml, lt_adapter_civilreg;
static struct lt_peer land = { .name = "vpdk-dat-thanhpho", .adapter = &lt_adapter_edxml };
static struct lt_peer registry = { .name = "hotich-tinh", .adapter = &lt_adapter_civilreg };

static int setup(void **state)
{
	struct lt_err err = { 0 };
	char key[512], cert[512], ca[512];
	(void)state;
	tu_pki(key, sizeof key, "rsa/peers/vpdk-dat-thanhpho/sign.key");
	tu_pki(cert, sizeof cert, "rsa/peers/vpdk-dat-thanhpho/sign.pem");
	tu_pki(ca, sizeof ca, "rsa/trust.pem");
	if (lt_xml_init(&err) || !(signer = lt_xml_signer_new(key, cert, NULL, &err)) ||
	    !(trust = lt_xml_trust_new(ca, NULL, &err))) {
		fprintf(stderr, "setup: %s (run make certs, or set LT_TEST_PKI)\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lt_xml_signer_free(signer);
	lt_xml_trust_free(trust);
	return 0;
}

/* text with its first `from` replaced by `to` (malloc'd); from must be there. */
static char *replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	if (!at)
		fail_msg("\"%s\" is not in the document", from);
	size_t head = (size_t)(at - text), nf = strlen(from), nt = strlen(to);
	char *out = malloc(strlen(text) - nf + nt + 1);
	memcpy(out, text, head);
	memcpy(out + head, to, nt);
	strcpy(out + head + nt, at + nf);
	return out;
}

/* The sample at path, or (when from is not NULL) with from replaced by to; signed (malloc'd). */
static char *signed_sample(const char *path, const char *from, const char *to)
{
	struct lt_err err = { 0 };
	char *text = tu_slurp(path, NULL), *xml = from ? replaced(text, from, to) : strdup(text), *out = NULL;
	size_t n;
	if (lt_xml_sign(signer, xml, strlen(xml), &out, &n, &err))
		fail_msg("sign: %s", err.msg);
	free(text);
	free(xml);
	return out;
}

/* Verify xml, then bind it for peer p and message id mid at now_ms: the result; the
 * identity into id, the signed content's digest into digest (may be NULL). Checks that
 * what the adapter read was the document without its Signature, and that digest is
 * SHA-256 of that document's exclusive C14N — computed here, apart from xmlsec. */
static int bind(const struct lt_peer *p, const char *xml, const char *mid, int64_t now_ms, char id[LT_SIGNED_ID_MAX],
		char digest[65], struct lt_err *err)
{
	struct lt_xml_info info;
	xmlDocPtr doc = NULL;
	int rc = lt_xml_verify(trust, xml, strlen(xml), 0, &info, &doc, err);
	if (rc)
		fail_msg("verify: %s", err->msg);
	rc = lt_replay_bind_xml(p, doc, mid, now_ms, WINDOW_MS, id, err);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	assert_false(lt_xmlu_is(xmlLastElementChild(root), LT_XMLU_DSIG_NS, "Signature"));
	xmlChar *c14n = NULL;
	int n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &c14n);
	assert_true(n > 0);
	char mine[65];
	lt_sha256_hex(c14n, (size_t)n, mine);
	assert_string_equal(info.content_sha256, mine);
	if (digest)
		memcpy(digest, info.content_sha256, 65);
	xmlFree(c14n);
	xmlFreeDoc(doc);
	return rc;
}

static int64_t vn_ms(const char *when)
{
	int64_t t;
	assert_int_equal(lt_date_parse_vn(when, &t, NULL), 0);
	return t * 1000;
}

static int64_t rfc3339_ms(const char *when)
{
	int64_t t;
	assert_int_equal(lt_date_parse_rfc3339(when, &t, NULL), 0);
	return t * 1000;
}

static void test_envelope_binds_its_sending_time_and_document(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX];
	(void)state;
	char *env = signed_sample(ENVELOPE, NULL, NULL);
	int64_t sent = vn_ms(ENVELOPE_SENT);
	assert_int_equal(bind(&land, env, "any-id", sent + WINDOW_MS, id, NULL, &err), 0);
	assert_string_equal(id, "edXML envelope " DOCID " from 000.00.12.H12, type 0, sent " ENVELOPE_SENT);
	assert_int_equal(bind(&land, env, "any-id", sent + WINDOW_MS + 1000, id, NULL, &err), LT_EAUTH);
	assert_string_equal(err.msg, "timestamp out of window: /edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader/"
			    "Timestamp of the signed document is 301 s before now, the window is 300 s");
	assert_int_equal(bind(&land, env, "any-id", sent - WINDOW_MS - 1000, id, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "is 301 s after now"));
	free(env);
	/* sent again as an update: another message */
	env = signed_sample(ENVELOPE, "<edXML:BussinessDocType>0<", "<edXML:BussinessDocType>2<");
	assert_int_equal(bind(&land, env, "any-id", sent, id, NULL, &err), 0);
	assert_string_equal(id, "edXML envelope " DOCID " from 000.00.12.H12, type 2, sent " ENVELOPE_SENT);
	free(env);
}

static void test_status_binds_its_time_and_what_it_says_about_which_document(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX];
	(void)state;
	char *st = signed_sample(STATUS, NULL, NULL);
	assert_int_equal(bind(&land, st, "any-id", vn_ms("25/04/2025 15:30:00") - 1000, id, NULL, &err), 0);
	assert_string_equal(id, "edXML status 06 about " DOCID " from 000.20.12.H12 at 25/04/2025 15:30:00");
	assert_int_equal(bind(&land, st, "any-id", vn_ms("25/04/2025 16:30:00"), id, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "timestamp out of window: /Status/Timestamp of the signed document is 3600 s "
				   "before now"));
	free(st);
}

static void test_registry_result_binds_its_message_id_which_must_be_the_x_message_id(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX];
	(void)state;
	char *kq = signed_sample(RESULT, NULL, NULL);
	int64_t now = rfc3339_ms("2025-03-12T16:41:00+07:00");
	assert_int_equal(bind(&registry, kq, "HT60-KQ-20250312-004511", now, id, NULL, &err), 0);
	assert_string_equal(id, "HT60-KQ-20250312-004511");
	assert_int_equal(bind(&registry, kq, "HT60-KQ-OTHER", now, id, NULL, &err), LT_EAUTH);
	assert_string_equal(err.msg, "messageId \"HT60-KQ-20250312-004511\" of the signed document "
			    "(/KetQuaDangKy/@messageId) does not match X-Message-Id");
	free(kq);
}

static void test_result_list_without_its_root_fields_is_unbound_unless_the_peer_accepts_it(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX];
	(void)state;
	char *bare = signed_sample(RESULTS, RESULTS_ROOT_FIELDS, "");
	/* each result's own thoiGian is when it was decided, not when the list was sent */
	int64_t now = rfc3339_ms("2025-11-21T15:30:00+07:00");
	assert_int_equal(bind(&registry, bare, "ds-1", now, id, NULL, &err), LT_EAUTH);
	assert_string_equal(err.msg, "unbound signed document: it carries no signed time (/DanhSachKetQua/@thoiGian) "
			    "and no signed message id (/DanhSachKetQua/@messageId), so a captured copy could be "
			    "replayed; refused (peer hotich-tinh does not set accept_unbound_xml)");
	struct lt_peer optin = registry;
	optin.accept_unbound_xml = 1;
	strcpy(id, "x");
	assert_int_equal(bind(&optin, bare, "ds-1", now, id, NULL, &err), 0);
	assert_string_equal(id, "");
	free(bare);
	char *timed = signed_sample(RESULTS, RESULTS_ROOT_FIELDS, " thoiGian=\"2025-11-21T15:30:00+07:00\"");
	assert_int_equal(bind(&registry, timed, "ds-1", now, id, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "it carries no signed message id (/DanhSachKetQua/@messageId), so"));
	/* with the opt-in, a time it carries is still checked */
	assert_int_equal(bind(&optin, timed, "ds-1", now + 3600000, id, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "timestamp out of window: /DanhSachKetQua/@thoiGian"));
	free(timed);
}

static void test_a_document_kind_the_adapter_does_not_know_is_unbound(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX];
	(void)state;
	char *foo = signed_sample(RESULT, "<KetQuaDangKy xmlns=\"urn:lienthong:civilreg:1\"",
				  "<KetQuaDangKy xmlns=\"urn:x:other\"");
	assert_int_equal(bind(&registry, foo, "HT60-KQ-20250312-004511", rfc3339_ms("2025-03-12T16:40:00+07:00"), id,
			      NULL, &err), LT_EAUTH);
	assert_string_equal(err.msg, "unbound signed document: adapter civilreg knows no signed time or message id in "
			    "a {urn:x:other}KetQuaDangKy document, so a captured copy could be replayed; refused (peer "
			    "hotich-tinh does not set accept_unbound_xml)");
	free(foo);
	char *env = signed_sample(ENVELOPE, NULL, NULL);     /* an envelope sent to the registry's endpoint */
	assert_int_equal(bind(&registry, env, "x", vn_ms(ENVELOPE_SENT), id, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "in a {http://www.mic.gov.vn/TBT/QCVN_102_2016}edXMLEnvelope document"));
	free(env);
}

static void test_a_time_placed_inside_the_signature_is_not_read(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX];
	(void)state;
	char *text = tu_slurp(ENVELOPE, NULL);
	const char *th = strstr(text, "<edXML:TraceHeader>"), *end = strstr(text, "</edXML:TraceHeader>");
	assert_true(th && end);
	end += strlen("</edXML:TraceHeader>");
	char trace[400];
	snprintf(trace, sizeof trace, "%.*s", (int)(end - th), th);
	char *untimed = replaced(text, trace, "");
	char *signed_xml = NULL;
	size_t n;
	assert_int_equal(lt_xml_sign(signer, untimed, strlen(untimed), &signed_xml, &n, &err), 0);
	/* the signature covers SignedInfo only: an Object added inside it still verifies */
	const char *close = NULL;
	for (const char *c = strstr(signed_xml, "Signature>"); c; c = strstr(c + 1, "Signature>"))
		close = c;
	while (close && close > signed_xml && close[0] != '<')
		close--;
	assert_true(close && close[1] == '/');
	char *hidden = malloc(n + 1000);
	sprintf(hidden, "%.*s<Object xmlns=\"" LT_XMLU_DSIG_NS "\"><edXML:TraceHeaderList xmlns:edXML="
		"\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">%s</edXML:TraceHeaderList></Object>%s",
		(int)(close - signed_xml), signed_xml, trace, close);
	assert_int_equal(bind(&land, hidden, "x", vn_ms(ENVELOPE_SENT), id, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "unbound signed document: it carries no signed time (/edXMLEnvelope/edXMLHeader/"
				   "TraceHeaderList/TraceHeader/Timestamp) and no signed message id"));
	free(hidden), free(signed_xml), free(untimed), free(text);
}

static void test_the_window_check_cannot_overflow(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX];
	(void)state;
	char *far = signed_sample(RESULT, "thoiGian=\"2025-03-12T16:40:00+07:00\"", "thoiGian=\"9999-12-31T23:59:59Z\"");
	const char *mid = "HT60-KQ-20250312-004511";
	assert_int_equal(bind(&registry, far, mid, rfc3339_ms("2025-03-12T16:40:00+07:00"), id, NULL, &err), LT_EAUTH);
	assert_non_null(strstr(err.msg, "s after now, the window is 300 s"));
	int64_t odd_now[] = { INT64_MAX, INT64_MIN, INT64_MAX / 1000 + 1, -1 };
	for (size_t i = 0; i < sizeof odd_now / sizeof *odd_now; i++) {
		assert_int_equal(bind(&registry, far, mid, odd_now[i], id, NULL, &err), LT_EAUTH);
		assert_non_null(strstr(err.msg, "timestamp out of window"));
	}
	free(far);
}

static void test_the_same_signed_content_has_one_digest_whatever_bytes_surround_it(void **state)
{
	struct lt_err err = { 0 };
	char id[LT_SIGNED_ID_MAX], first[65], other[65];
	(void)state;
	char *env = signed_sample(ENVELOPE, NULL, NULL);
	int64_t sent = vn_ms(ENVELOPE_SENT);
	assert_int_equal(bind(&land, env, "x", sent, id, first, &err), 0);
	assert_int_equal(strlen(first), 64);
	size_t n = strlen(env);
	char *nl = malloc(n + 40), *comment = malloc(n + 40);
	sprintf(nl, "%s\n\n", env);
	sprintf(comment, "%s<!-- again -->", env);
	char *no_decl = strdup(strstr(env, "<edXML:edXMLEnvelope"));
	char *crlf = malloc(2 * n + 1), *o = crlf;
	for (const char *p = env; *p; p++) {
		if (*p == '\n')
			*o++ = '\r';
		*o++ = *p;
	}
	*o = '\0';
	const char *variants[] = { nl, comment, no_decl, crlf };
	for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
		assert_int_equal(bind(&land, variants[i], "x", sent, id, other, &err), 0);
		assert_string_equal(other, first);
	}
	free(nl), free(comment), free(no_decl), free(crlf), free(env);
	/* other signed content: another digest */
	env = signed_sample(ENVELOPE, "<edXML:Priority>0<", "<edXML:Priority>1<");
	assert_int_equal(bind(&land, env, "x", sent, id, other, &err), 0);
	assert_string_not_equal(other, first);
	free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_binds_its_sending_time_and_document),
		cmocka_unit_test(test_status_binds_its_time_and_what_it_says_about_which_document),
		cmocka_unit_test(test_registry_result_binds_its_message_id_which_must_be_the_x_message_id),
		cmocka_unit_test(test_result_list_without_its_root_fields_is_unbound_unless_the_peer_accepts_it),
		cmocka_unit_test(test_a_document_kind_the_adapter_does_not_know_is_unbound),
		cmocka_unit_test(test_a_time_placed_inside_the_signature_is_not_read),
		cmocka_unit_test(test_the_window_check_cannot_overflow),
		cmocka_unit_test(test_the_same_signed_content_has_one_digest_whatever_bytes_surround_it),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
