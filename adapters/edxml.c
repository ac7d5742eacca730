/* edxml.c — a dossier transferred to or from another agency's one-stop system
 * (liên thông giữa cơ quan, e.g. ward → city land registration office) as an
 * edXML document in the shape of QCVN 102:2016, signed by the gateway
 * (schemas/edxml/).
 *
 * Wire kinds: envelope (edXMLEnvelope: out from dossier.transferred, and in from
 * another agency) and status (Status: the receiver's answer to an envelope, and
 * later its progress on the dossier, pushed to us).
 *
 * The body carries the event's canonical dossier object as compact UTF-8 JSON,
 * base64, in edXMLBody/DossierJSON — lossless, so a dossier comes back out of
 * decode exactly as it went into encode — plus an Attachments list (name,
 * SHA-256, link) for readers that do not read the JSON. The dossier code is
 * Code/CodeNumber; DocumentId is {From OrganId},{yyyy/MM/dd of occurred_at},
 * {dossier code}/{notation}.
 *
 * Params: path (request path, default the peer url), code_notation (ký hiệu,
 * default "LT"), document_type / document_type_name (default "HSLT" / "Hồ sơ
 * thủ tục hành chính chuyển liên thông"), signer_name (default the sending
 * agency's name), signer_position (optional).
 *
 * Event fields used: detail.from_agency and detail.to_agency {code, name}
 * (required to encode), detail.reason (Content), detail.business_type
 * (new | revoke | update | replace; LT_FLAG_UPDATE forces update). */
#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "mapping.h"
#include "xmlutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS "http://www.mic.gov.vn/TBT/QCVN_102_2016"

enum kind { K_ENVELOPE, K_STATUS, NKINDS };
static const char *const kind_names[NKINDS] = { "envelope", "status" };
static xmlSchemaPtr schemas[NKINDS];
static struct lt_schema *canonical;

/* ---- code tables (rows in codes/edxml.codes) ------------------------------ */

/* StatusCode → what it means as the answer to our envelope (verdict) and as a
 * pushed status (event type); label goes into the step name. */
static const struct lt_code_column status_cols[] = {
	{ "StatusCode", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "answer", LT_COL_WORD, "done retry dead", 0, 0, 0 },
	{ "event", LT_COL_CANONICAL, "event.type", 0, 0, 0 },
	{ "label", LT_COL_TEXT, NULL, 0, 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table status_codes = { "edxml.status", "edXML status code (StatusCode)", status_cols, 0 };

static const struct lt_code_column business_cols[] = {
	{ "BussinessDocType", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "business_type", LT_COL_WORD, "new revoke update replace", 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table business_types = { "edxml.business_type",
						     "edXML business document type (BussinessDocType)", business_cols, 0 };

static const struct lt_code_table *const code_tables[] = { &status_codes, &business_types, NULL };

/* A status_codes row. */
struct status_code {
	const char *code;
	enum lt_verdict verdict;
	const char *type;
	const char *label;
};

/* The string member k of o, or NULL. */
static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A peer param, or dflt when it is unset or empty. */
static const char *param_or(const struct lt_peer *peer, const char *name, const char *dflt)
{
	const char *v = lt_peer_param(peer, name);
	return v && *v ? v : dflt;
}

/* ---- base64 (RFC 4648; decoding skips XML white space) ------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* malloc'd base64 of in, NULL when out of memory. */
static char *b64_encode(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* malloc'd bytes of base64 in (*len of them); NULL when in is not base64
 * (the XSD checked it; this is the second line). */
static unsigned char *b64_decode(const char *in, size_t *len)
{
	size_t n = strlen(in), k = 0, pad = 0;
	unsigned char *out = malloc(n / 4 * 3 + 3);
	unsigned v = 0;
	int bits = 0;
	for (const char *p = in; out && *p; p++) {
		const char *c = strchr(b64, *p);
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		if (!c || pad) {
			free(out);
			return NULL;
		}
		v = v << 6 | (unsigned)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(v >> bits & 0xff);
		}
	}
	*len = k;
	return out;
}

/* ---- encode ------------------------------------------------------------- */

/* {OrganId},{yyyy/MM/dd},{dossier code}/{notation} from the event's occurred_at. */
static int document_id(const char *organ, const char *occurred_at, const char *code, const char *notation,
		       char out[256], struct lt_err *err)
{
	char compact[16];
	struct lt_err e = { 0 };
	if (lt_date_rfc3339_to_compact(occurred_at, compact, &e))
		return lt_err_set(err, LT_ESCHEMA, "occurred_at: %s", e.msg);
	snprintf(out, 256, "%s,%.4s/%.2s/%.2s,%s/%s", organ, compact, compact + 4, compact + 6, code, notation);
	return LT_OK;
}

/* From/To: an agency's OrganId and OrganName. */
static void put_organ(struct lt_xmlu_w *w, xmlNodePtr parent, const char *name, const json_t *agency,
		      const char *field)
{
	xmlNodePtr el = lt_xmlu_add(w, parent, name, NULL, field);
	lt_xmlu_add(w, el, "OrganId", jstr(agency, "code"), field);
	lt_xmlu_add(w, el, "OrganName", jstr(agency, "name"), field);
}

/* The header and body of an envelope for a validated event; w->rc on failure. */
static void put_envelope(struct lt_xmlu_w *w, xmlNodePtr root, const struct lt_peer *peer, const json_t *event,
			 const char *docid, const char *business, const char *b64json, const char *when, const char *due)
{
	const json_t *dossier = json_object_get(event, "dossier"), *detail = json_object_get(event, "detail");
	const json_t *from = json_object_get(detail, "from_agency"), *to = json_object_get(detail, "to_agency");
	const char *code = jstr(event, "dossier_code");
	const char *proc = jstr(json_object_get(dossier, "procedure"), "name");
	char subject[700];
	snprintf(subject, sizeof subject, "Chuyển hồ sơ %s%s%.600s", code, proc ? ": " : "", proc ? proc : "");
	const char *content = jstr(detail, "reason");
	if (!content || !*content)
		content = jstr(dossier, "summary");
	xmlNodePtr header = lt_xmlu_add(w, root, "edXMLHeader", NULL, "envelope");
	xmlNodePtr mh = lt_xmlu_add(w, header, "MessageHeader", NULL, "envelope");
	put_organ(w, mh, "From", from, "detail.from_agency");
	put_organ(w, mh, "To", to, "detail.to_agency");
	lt_xmlu_add(w, mh, "DocumentId", docid, "dossier_code");
	xmlNodePtr c = lt_xmlu_add(w, mh, "Code", NULL, "dossier_code");
	lt_xmlu_add(w, c, "CodeNumber", code, "dossier_code");
	lt_xmlu_add(w, c, "CodeNotation", param_or(peer, "code_notation", "LT"), "param.code_notation");
	xmlNodePtr dt = lt_xmlu_add(w, mh, "DocumentType", NULL, "param.document_type");
	lt_xmlu_add(w, dt, "Type", param_or(peer, "document_type", "HSLT"), "param.document_type");
	lt_xmlu_add(w, dt, "TypeName", param_or(peer, "document_type_name",
						"Hồ sơ thủ tục hành chính chuyển liên thông"), "param.document_type_name");
	lt_xmlu_add(w, mh, "Subject", subject, "dossier.procedure.name");
	lt_xmlu_add(w, mh, "Content", content && *content ? content : subject, "detail.reason");
	xmlNodePtr si = lt_xmlu_add(w, mh, "SignerInfo", NULL, "param.signer_name");
	lt_xmlu_add_opt(w, si, "Position", lt_peer_param(peer, "signer_position"), "param.signer_position");
	lt_xmlu_add(w, si, "FullName", param_or(peer, "signer_name", jstr(from, "name")), "param.signer_name");
	lt_xmlu_add_opt(w, mh, "DueDate", due, "dossier.due_at");
	xmlNodePtr oi = lt_xmlu_add(w, mh, "OtherInfo", NULL, "envelope");
	lt_xmlu_add(w, oi, "Priority", "0", "envelope");
	xmlNodePtr thl = lt_xmlu_add(w, header, "TraceHeaderList", NULL, "envelope");
	xmlNodePtr th = lt_xmlu_add(w, thl, "TraceHeader", NULL, "envelope");
	lt_xmlu_add(w, th, "OrganId", jstr(from, "code"), "detail.from_agency.code");
	lt_xmlu_add(w, th, "Timestamp", when, "occurred_at");
	xmlNodePtr bus = lt_xmlu_add(w, thl, "Bussiness", NULL, "envelope");
	lt_xmlu_add(w, bus, "BussinessDocType", business, "detail.business_type");

	xmlNodePtr body = lt_xmlu_add(w, root, "edXMLBody", NULL, "dossier");
	lt_xmlu_add(w, body, "DossierJSON", b64json, "dossier");
	const json_t *docs = json_object_get(dossier, "documents");
	if (json_array_size(docs)) {
		xmlNodePtr list = lt_xmlu_add(w, body, "Attachments", NULL, "dossier.documents");
		size_t i;
		const json_t *d;
		json_array_foreach(docs, i, d) {
			const char *digest = jstr(d, "digest");
			xmlNodePtr a = lt_xmlu_add(w, list, "Attachment", NULL, "dossier.documents");
			lt_xmlu_add(w, a, "FileName", jstr(d, "name"), "dossier.documents.name");
			lt_xmlu_add_opt(w, a, "Digest", digest && !strncmp(digest, "sha256:", 7) ? digest + 7 : digest,
					"dossier.documents.digest");
			lt_xmlu_add_opt(w, a, "Link", jstr(d, "link"), "dossier.documents.link");
		}
	}
}

/* Once at start: compile the two XSDs and the canonical schema. */
static int edxml_init(struct lt_err *err)
{
	if (canonical)
		return LT_OK;
	for (int k = 0; k < NKINDS; k++)
		if (!schemas[k] && !(schemas[k] = lt_xmlu_schema_load("edxml", kind_names[k], err)))
			return err ? err->code : LT_ECONFIG;
	char path[1024];
	snprintf(path, sizeof path, "%s/canonical-event.schema.json", lt_schema_dir());
	canonical = lt_schema_load(path, err);
	return canonical ? LT_OK : (err ? err->code : LT_EIO);
}

/* The agencies an envelope needs; LT_ESCHEMA naming the missing one. */
static int check_agencies(const json_t *event, struct lt_err *err)
{
	const json_t *detail = json_object_get(event, "detail");
	static const char *const keys[] = { "from_agency", "to_agency" };
	for (int i = 0; i < 2; i++) {
		const json_t *a = json_object_get(detail, keys[i]);
		if (!jstr(a, "code") || !jstr(a, "name"))
			return lt_err_set(err, LT_ESCHEMA, "detail.%s: an edXML transfer needs the agency's code and name "
					  "(edXML %s/OrganId, OrganName)", keys[i], i ? "To" : "From");
	}
	return LT_OK;
}

/* dossier.transferred → an unsigned edXMLEnvelope (the gateway appends the
 * Signature as the root's last child). LT_EINVAL for other events,
 * LT_ESCHEMA when the event lacks what the envelope needs. */
static int edxml_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			struct lt_request *out, struct lt_err *err)
{
	const char *type = jstr(event, "type");
	const json_t *dossier = json_object_get(event, "dossier");
	if (!type || strcmp(type, "dossier.transferred") != 0)
		return lt_err_set(err, LT_EINVAL, "edXML carries dossier.transferred, not %.64s",
				  type ? type : "an event without a type");
	if (!json_is_object(dossier))
		return lt_err_set(err, LT_ESCHEMA, "dossier: an edXML transfer carries the dossier");
	int rc = check_agencies(event, err);
	if (rc)
		return rc;
	const char *business = "0";
	const char *bt = jstr(json_object_get(event, "detail"), "business_type");
	struct lt_err e = { 0 };
	if (ctx && (ctx->flags & LT_FLAG_UPDATE))
		business = "2";
	else if (bt && !(business = lt_code_to_wire(&business_types, bt, &e)))
		return lt_err_set(err, LT_ESCHEMA, "detail.business_type: %s", e.msg);
	char docid[256];
	const char *from = jstr(json_object_get(json_object_get(event, "detail"), "from_agency"), "code");
	if ((rc = document_id(from, jstr(event, "occurred_at"), jstr(event, "dossier_code"),
			      param_or(peer, "code_notation", "LT"), docid, err)))
		return rc;
	char when[20], due[20] = "";
	if (lt_date_rfc3339_to_vn(jstr(event, "occurred_at"), when, &e))
		return lt_err_set(err, LT_ESCHEMA, "occurred_at: %s", e.msg);
	if (jstr(dossier, "due_at")) {
		if (lt_date_rfc3339_to_vn(jstr(dossier, "due_at"), due, &e))
			return lt_err_set(err, LT_ESCHEMA, "dossier.due_at: %s", e.msg);
		due[10] = '\0'; /* dd/MM/yyyy */
	}
	char *json = json_dumps(dossier, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *b64json = json ? b64_encode((const unsigned char *)json, strlen(json)) : NULL;
	free(json);
	if (!b64json)
		return lt_err_set(err, LT_ENOMEM, "out of memory encoding the dossier");
	struct lt_xmlu_w w;
	xmlNodePtr root = lt_xmlu_begin(&w, err, NS, "edXML", "edXMLEnvelope");
	put_envelope(&w, root, peer, event, docid, business, b64json, when, due);
	free(b64json);
	rc = lt_xmlu_finish(&w, schemas[K_ENVELOPE], "edXML envelope", &out->body);
	if (!rc) {
		snprintf(out->method, sizeof out->method, "POST");
		snprintf(out->path, sizeof out->path, "%s", param_or(peer, "path", ""));
		snprintf(out->content_type, sizeof out->content_type, "application/xml; charset=utf-8");
	}
	return rc;
}

/* ---- decode ------------------------------------------------------------- */

/* The status_codes row of code into out, or NULL. */
static const struct status_code *status_lookup(const char *code, struct status_code *out)
{
	const char *const *row = lt_code_find(&status_codes, 0, code);
	if (!row)
		return NULL;
	out->code = row[0];
	out->verdict = strcmp(row[1], "done") == 0 ? LT_DONE : strcmp(row[1], "retry") == 0 ? LT_RETRY : LT_DEAD;
	out->type = row[2];
	out->label = row[3];
	return out;
}

/* From/To → a canonical named object {code, name}. */
static json_t *organ_json(const xmlNode *organ)
{
	char *id = lt_xmlu_text(organ, "OrganId"), *name = lt_xmlu_text(organ, "OrganName");
	json_t *o = json_object();
	if (id)
		json_object_set_new(o, "code", json_string(id));
	if (name)
		json_object_set_new(o, "name", json_string(name));
	free(id);
	free(name);
	return o;
}

/* dd/MM/yyyy HH:mm:ss (Hanoi time) → RFC 3339; LT_ESCHEMA naming where. */
static int vn_time(const char *s, char out[32], const char *where, struct lt_err *err)
{
	int64_t t;
	struct lt_err e = { 0 };
	if (lt_date_parse_vn(s, &t, &e))
		return lt_err_set(err, LT_ESCHEMA, "%s: %s", where, e.msg);
	lt_date_format_rfc3339(t, out);
	return LT_OK;
}

/* Check a built event against the canonical schema and hand it to out. */
static int emit(json_t *ev, const char *where, json_t *out, struct lt_err *err)
{
	struct lt_err e = { 0 };
	int rc = LT_OK;
	if (!ev)
		rc = lt_err_set(err, LT_ENOMEM, "out of memory building an event");
	else if (lt_schema_validate_def(canonical, "event", ev, &e))
		rc = lt_err_set(err, LT_ESCHEMA, "%s: does not make a valid canonical event: %s", where, e.msg);
	else
		json_array_append(out, ev);
	json_decref(ev);
	return rc;
}

/* A validated envelope from another agency → dossier.transferred. */
static int envelope_event(const struct lt_peer *peer, xmlNodePtr root, json_t *out, struct lt_err *err)
{
	xmlNodePtr header = lt_xmlu_child(root, "edXMLHeader");
	xmlNodePtr mh = lt_xmlu_child(header, "MessageHeader");
	xmlNodePtr thl = lt_xmlu_child(header, "TraceHeaderList");
	xmlNodePtr th = lt_xmlu_child(thl, "TraceHeader");
	for (xmlNodePtr n = th; n; n = lt_xmlu_next(n, "TraceHeader"))
		th = n; /* the latest hop */
	char *code = lt_xmlu_text(lt_xmlu_child(mh, "Code"), "CodeNumber");
	char *ts = lt_xmlu_text(th, "Timestamp");
	char *content = lt_xmlu_text(mh, "Content");
	char *bt = lt_xmlu_text(lt_xmlu_child(thl, "Bussiness"), "BussinessDocType");
	char *b64json = lt_xmlu_text(lt_xmlu_child(root, "edXMLBody"), "DossierJSON");
	char occurred[32];
	size_t len = 0;
	unsigned char *raw = NULL;
	json_t *dossier = NULL, *detail = NULL;
	json_error_t jerr;
	int rc = vn_time(ts, occurred, "/edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader/Timestamp", err);
	if (rc)
		goto done;
	if (!b64json || !(raw = b64_decode(b64json, &len)) ||
	    !(dossier = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &jerr)) || !json_is_object(dossier)) {
		rc = lt_err_set(err, LT_ESCHEMA, "/edXMLEnvelope/edXMLBody/DossierJSON: not base64 of a JSON dossier "
				"object%s%s", dossier || !raw ? "" : ": ", dossier || !raw ? "" : jerr.text);
		goto done;
	}
	detail = json_pack("{s:o,s:o}", "from_agency", organ_json(lt_xmlu_child(mh, "From")), "to_agency",
			   organ_json(lt_xmlu_child(mh, "To")));
	if (content)
		json_object_set_new(detail, "reason", json_string(content));
	const char *business = lt_code_to_canonical(&business_types, bt, NULL);
	if (business && strcmp(business, "new") != 0)
		json_object_set_new(detail, "business_type", json_string(business));
	rc = emit(json_pack("{s:s,s:s,s:s,s:s,s:O,s:O}", "type", "dossier.transferred", "occurred_at", occurred,
			    "source", peer->name, "dossier_code", code ? code : "", "dossier", dossier, "detail", detail),
		  "/edXMLEnvelope", out, err);
done:
	json_decref(dossier);
	json_decref(detail);
	free(raw);
	free(code), free(ts), free(content), free(bt), free(b64json);
	return rc;
}

/* The dossier code inside a DocumentId {OrganId},{date},{code}/{notation}. */
static int code_of_document_id(const char *docid, char out[128], struct lt_err *err)
{
	const char *third = docid ? strchr(docid, ',') : NULL;
	third = third ? strchr(third + 1, ',') : NULL;
	const char *slash = third ? strrchr(third + 1, '/') : NULL;
	if (!slash || slash == third + 1 || slash - third - 1 >= 128)
		return lt_err_set(err, LT_ESCHEMA, "/Status/ResponseFor/DocumentId: \"%.100s\" names no dossier "
				  "({OrganId},{yyyy/MM/dd},{dossier code}/{notation})", docid ? docid : "");
	snprintf(out, 128, "%.*s", (int)(slash - third - 1), third + 1);
	return LT_OK;
}

/* A validated Status → a canonical event. answer: it answers our envelope (a
 * dossier.step "Đã chuyển liên thông: …"); else a pushed status (table type). */
static int status_event(const struct lt_peer *peer, xmlNodePtr root, int answer, const char *dossier_code,
			json_t *out, struct status_code *which, struct lt_err *err)
{
	char *code = lt_xmlu_text(root, "StatusCode"), *ts = lt_xmlu_text(root, "Timestamp");
	char *desc = lt_xmlu_text(root, "Description");
	char occurred[32], step[600];
	json_t *agency = organ_json(lt_xmlu_child(root, "From"));
	const char *organ = jstr(agency, "name");
	const struct status_code *st = status_lookup(code, which);
	int rc = vn_time(ts, occurred, "/Status/Timestamp", err);
	if (!rc && !st)
		rc = lt_err_set(err, LT_ESCHEMA, "/Status/StatusCode: unknown code \"%.8s\"", code ? code : "");
	if (rc)
		goto done;
	int64_t n = 0;          /* one of the table's codes ("01".."06" as shipped) */
	lt_parse_int64(code, 0, 99, &n, NULL);
	json_t *detail = json_pack("{s:I}", "status_code", (json_int_t)n);
	if (desc)
		json_object_set_new(detail, "reason", json_string(desc));
	const char *type = answer ? "dossier.step" : st->type;
	json_t *dossier = json_pack("{s:O}", "handling_agency", agency);
	if (strcmp(type, "dossier.resolved") == 0) {
		json_object_set_new(dossier, "status", json_integer(9));
		json_object_set_new(dossier, "resolved_at", json_string(occurred));
	} else {
		snprintf(step, sizeof step, "%s: %s tại %s", answer ? "Đã chuyển liên thông" : "Liên thông", st->label,
			 organ ? organ : "cơ quan nhận");
		json_object_set_new(detail, "step", json_pack("{s:s}", "name", step));
		if (organ)
			json_object_set_new(json_object_get(detail, "step"), "handler", json_string(organ));
	}
	rc = emit(json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "type", type, "occurred_at", occurred, "source", peer->name,
			    "dossier_code", dossier_code, "dossier", dossier, "detail", detail),
		  "/Status", out, err);
done:
	json_decref(agency);
	free(code), free(ts), free(desc);
	return rc;
}

/* Parse, then validate against the schema of the root's kind. */
static int load_doc(const char *body, size_t len, xmlDocPtr *doc, enum kind *kind, struct lt_err *err)
{
	int rc = lt_xmlu_parse(body, len, doc, err);
	if (rc)
		return rc;
	xmlNodePtr root = xmlDocGetRootElement(*doc);
	if (lt_xmlu_is(root, NS, "edXMLEnvelope"))
		*kind = K_ENVELOPE;
	else if (lt_xmlu_is(root, NS, "Status"))
		*kind = K_STATUS;
	else
		rc = lt_err_set(err, LT_ESCHEMA, "/%.64s: expected edXMLEnvelope or Status in namespace " NS
				", not in \"%.100s\"", (const char *)root->name,
				root->ns ? (const char *)root->ns->href : "");
	if (!rc)
		rc = lt_xmlu_validate(schemas[*kind], *doc, err);
	if (rc) {
		xmlFreeDoc(*doc);
		*doc = NULL;
	}
	return rc;
}

/* An envelope from another agency → dossier.transferred; a Status pushed by
 * the agency handling one of our transfers → dossier.resolved (06) or
 * dossier.step. The verified Signature is still in the document and ignored. */
static int edxml_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out,
			struct lt_err *err)
{
	xmlDocPtr doc;
	enum kind kind;
	int rc = load_doc(body, len, &doc, &kind, err);
	if (rc)
		return rc;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (kind == K_ENVELOPE) {
		rc = envelope_event(peer, root, out, err);
	} else {
		char code[128];
		char *docid = lt_xmlu_text(lt_xmlu_child(root, "ResponseFor"), "DocumentId");
		struct status_code st;
		rc = code_of_document_id(docid, code, err);
		if (!rc)
			rc = status_event(peer, root, 0, code, out, &st, err);
		free(docid);
	}
	xmlFreeDoc(doc);
	return rc;
}

/* ---- outcome ------------------------------------------------------------ */

/* The receiver's Status answering our envelope: its StatusCode's verdict
 * (02 refused → LT_DEAD) plus a carried dossier.step with the status code and
 * the reason, so the office sees what became of the transfer. Not 2xx → the
 * default rule; a 2xx that is not a valid Status → LT_RETRY. */
static enum lt_verdict edxml_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
				     const struct lt_response *rsp, json_t *out, struct lt_err *err)
{
	(void)ctx;
	if (rsp->status < 200 || rsp->status >= 300)
		return lt_outcome_default(rsp, err);
	xmlDocPtr doc;
	enum kind kind;
	struct lt_err e = { 0 };
	if (load_doc(rsp->body ? rsp->body : "", rsp->len, &doc, &kind, &e) || kind != K_STATUS) {
		if (!e.code)
			lt_err_set(&e, LT_ESCHEMA, "an envelope, not a Status");
		xmlFreeDoc(doc);
		lt_err_set(err, LT_EIO, "%s answered %ld with no valid edXML Status: %s", peer->name, rsp->status, e.msg);
		return LT_RETRY;
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	char *docid = lt_xmlu_text(lt_xmlu_child(root, "ResponseFor"), "DocumentId");
	char want[256];
	const char *code = jstr(event, "dossier_code");
	const char *from = jstr(json_object_get(json_object_get(event, "detail"), "from_agency"), "code");
	enum lt_verdict v = LT_DEAD;
	struct status_code st;
	if (!code || !from || document_id(from, jstr(event, "occurred_at"), code,
					  param_or(peer, "code_notation", "LT"), want, &e)) {
		lt_err_set(err, LT_EINVAL, "the stored event cannot be matched with the answer");
	} else if (!docid || strcmp(docid, want) != 0) {
		lt_err_set(err, LT_EINVAL, "%s answered about document \"%.100s\", not \"%.100s\"", peer->name,
			   docid ? docid : "", want);
	} else if (status_event(peer, root, 1, code, out, &st, &e)) {
		lt_err_set(err, e.code, "%s", e.msg);
	} else {
		v = st.verdict;
		if (v != LT_DONE) {
			char *desc = lt_xmlu_text(root, "Description");
			lt_err_set(err, v == LT_RETRY ? LT_EIO : LT_EINVAL, "%s %s the transfer of %s (StatusCode %s): %.300s",
				   peer->name, v == LT_RETRY ? "could not take yet" : "refused", code, st.code,
				   desc ? desc : "no reason given");
			free(desc);
		}
	}
	free(docid);
	xmlFreeDoc(doc);
	return v;
}

/* ---- signed time and identity ------------------------------------------ */

/* An envelope is sent at its latest TraceHeader's Timestamp (the one decode
 * takes as occurred_at). Its identity: the document (MessageHeader
 * DocumentId, From OrganId) and its business type, as sent at that time — a
 * document may be sent again later (after a refusal, as an update), and each
 * sending is a message of its own. */
static int envelope_bind(const xmlNode *root, struct lt_signed_fields *out, struct lt_err *err)
{
	xmlNodePtr header = lt_xmlu_child_ns(root, NS, "edXMLHeader");
	xmlNodePtr mh = lt_xmlu_child_ns(header, NS, "MessageHeader");
	xmlNodePtr thl = lt_xmlu_child_ns(header, NS, "TraceHeaderList");
	xmlNodePtr th = NULL;
	for (xmlNodePtr c = thl ? xmlFirstElementChild(thl) : NULL; c; c = xmlNextElementSibling(c))
		if (lt_xmlu_is(c, NS, "TraceHeader"))
			th = c;
	char ts[32], docid[180], organ[68], bt[8];
	struct lt_err e = { 0 };
	snprintf(out->time_field, sizeof out->time_field, "/edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader/Timestamp");
	snprintf(out->id_field, sizeof out->id_field, "/edXMLEnvelope/edXMLHeader/MessageHeader/DocumentId");
	if (lt_xmlu_signed_text(lt_xmlu_child_ns(th, NS, "Timestamp"), NULL, out->time_field, ts, sizeof ts, err) ||
	    lt_xmlu_signed_text(lt_xmlu_child_ns(mh, NS, "DocumentId"), NULL, out->id_field, docid, sizeof docid, err) ||
	    lt_xmlu_signed_text(lt_xmlu_child_ns(lt_xmlu_child_ns(mh, NS, "From"), NS, "OrganId"), NULL,
				"/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId", organ, sizeof organ, err) ||
	    lt_xmlu_signed_text(lt_xmlu_child_ns(lt_xmlu_child_ns(thl, NS, "Bussiness"), NS, "BussinessDocType"), NULL,
				"/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/BussinessDocType", bt, sizeof bt, err))
		return LT_EAUTH;
	if (ts[0] && lt_date_parse_vn(ts, &out->time, &e))
		return lt_err_set(err, LT_EAUTH, "%s of the signed document: %s", out->time_field, e.msg);
	out->has_time = ts[0] != '\0';
	if (docid[0] && organ[0] && ts[0])
		snprintf(out->id, sizeof out->id, "edXML envelope %s from %s, type %s, sent %s", docid, organ,
			 bt[0] ? bt : "0", ts);
	return LT_OK;
}

/* A Status is about one envelope (ResponseFor/DocumentId), from one agency,
 * says one StatusCode at its Timestamp: the four together are its identity. */
static int status_bind(const xmlNode *root, struct lt_signed_fields *out, struct lt_err *err)
{
	char ts[32], docid[180], organ[68], code[8];
	struct lt_err e = { 0 };
	snprintf(out->time_field, sizeof out->time_field, "/Status/Timestamp");
	snprintf(out->id_field, sizeof out->id_field, "/Status/ResponseFor/DocumentId");
	if (lt_xmlu_signed_text(lt_xmlu_child_ns(root, NS, "Timestamp"), NULL, out->time_field, ts, sizeof ts, err) ||
	    lt_xmlu_signed_text(lt_xmlu_child_ns(lt_xmlu_child_ns(root, NS, "ResponseFor"), NS, "DocumentId"), NULL,
				out->id_field, docid, sizeof docid, err) ||
	    lt_xmlu_signed_text(lt_xmlu_child_ns(lt_xmlu_child_ns(root, NS, "From"), NS, "OrganId"), NULL,
				"/Status/From/OrganId", organ, sizeof organ, err) ||
	    lt_xmlu_signed_text(lt_xmlu_child_ns(root, NS, "StatusCode"), NULL, "/Status/StatusCode", code, sizeof code,
				err))
		return LT_EAUTH;
	if (ts[0] && lt_date_parse_vn(ts, &out->time, &e))
		return lt_err_set(err, LT_EAUTH, "%s of the signed document: %s", out->time_field, e.msg);
	out->has_time = ts[0] != '\0';
	if (docid[0] && organ[0] && code[0] && ts[0])
		snprintf(out->id, sizeof out->id, "edXML status %s about %s from %s at %s", code, docid, organ, ts);
	return LT_OK;
}

static const struct lt_xml_kind xml_kinds[] = {
	{ NS, "edXMLEnvelope", envelope_bind },
	{ NS, "Status", status_bind },
	{ NULL, NULL, NULL },
};

static const struct lt_adapter_param params[] = {
	{ "path", 0, "the peer's url", "where envelopes are posted, after the peer's url", "/edxml" },
	{ "code_notation", 0, "LT", "CodeNotation (ký hiệu) of the documents sent", "LT" },
	{ "document_type", 0, "HSLT", "DocumentType/Type", "HSLT" },
	{ "document_type_name", 0, "Hồ sơ thủ tục hành chính chuyển liên thông", "DocumentType/TypeName",
	  "Hồ sơ thủ tục hành chính chuyển liên thông" },
	{ "signer_name", 0, "the sending agency's name", "SignerInfo/FullName", "Nguyễn Văn An" },
	{ "signer_position", 0, NULL, "SignerInfo/Position", "Chủ tịch" },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct lt_adapter lt_adapter_edxml = {
	.name = "edxml",
	.about = "another agency's one-stop system: dossiers transferred both ways as signed edXML (QCVN 102:2016)",
	.params = params,
	.content_type = "application/xml",
	.answers_signed = 1,            /* a Status answer is signed like a Status sent */
	.init = edxml_init,
	.decode = edxml_decode,
	.encode = edxml_encode,
	.outcome = edxml_outcome,
	.xml_kinds = xml_kinds,
	.codes = code_tables,
};
