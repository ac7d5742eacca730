/* postal.c — the postal public service (VNPost; PEERS.md "Postal public
 * service"): orders to carry a dossier's result to the citizen, and what the
 * post office reports back — tracking updates, and dossiers citizens handed
 * in at a post-office counter. Wire formats are in schemas/postal/.
 *
 * Peer params: customer_code (the agency's VNPost customer code), and the
 * sender — the agency returning results — sender_address, sender_tel,
 * sender_province (all four required to send an order); sender_name
 * (default: the dossier's handling, else receiving, agency name),
 * sender_email, sender_district (pre-July-2025 addresses), sender_ward;
 * order_path (default /orders). */
#include "adapter.h"
#include "config.h"
#include "dates.h"
#include "jsonschema.h"
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_CANONICAL, S_TRACKING, S_INTAKE, S_ORDER_ANSWER, NSCHEMAS };
static const char *const schema_files[NSCHEMAS] = {
	"canonical-event.schema.json", "postal/tracking.schema.json", "postal/intake.schema.json",
	"postal/order-answer.schema.json",
};
static struct lt_schema *schemas[NSCHEMAS];

/* VNPost tracking status codes (statusCode) → the canonical event each
 * reports ("-": a known code that carries no event, the item is on its way),
 * whether it means the item went back to the sender, and what it means
 * (detail.postal_status when the update has no statusMessage): rows in
 * codes/postal.codes. A code not in the table is refused (422), never guessed. */
static const struct lt_code_column tracking_cols[] = {
	{ "statusCode", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "event", LT_COL_CANONICAL, "event.type", 0, 0, LT_COL_OPTIONAL },
	{ "returned", LT_COL_WORD, "yes no", 0, 0, 0 },
	{ "meaning", LT_COL_TEXT, NULL, 0, 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table tracking_codes = { "postal.tracking", "VNPost status code (statusCode)",
						     tracking_cols, 0 };
static const struct lt_code_table *const code_tables[] = { &tracking_codes, NULL };
enum { T_CODE, T_EVENT, T_RETURNED, T_MEANING };
#define STATUS_ORDER_OK "100"
#define STATUS_RECEIVED 2

/* ---- small helpers ------------------------------------------------------ */


/* Sets key to v (stolen) unless v is NULL or an empty object/array. */
static void set_some(json_t *o, const char *key, json_t *v)
{
	if (v && (json_object_size(v) || json_array_size(v)))
		json_object_set(o, key, v);
	json_decref(v);
}

/* {"code","name"} with whichever is given (empty when neither: see set_some). */
static json_t *named(const char *code, const char *name)
{
	json_t *o = json_object();
	lt_json_put_str(o, "code", code);
	lt_json_put_str(o, "name", name);
	return o;
}

/* A status code given as a string or an integer, as text (in buf if needed). */
static const char *code_text(const json_t *v, char buf[24])
{
	if (json_is_integer(v)) {
		snprintf(buf, 24, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return json_string_value(v);
}

/* A post-office time, "dd/MM/yyyy HH:mm:ss" or RFC 3339, as RFC 3339 in
 * out; LT_ESCHEMA naming `where` when it is not a real date. */
static int post_time(const char *s, const char *where, char out[32], struct lt_err *err)
{
	struct lt_err e = { 0 };
	int64_t t;
	int rc = s && strlen(s) == 19 && s[2] == '/' ? lt_date_parse_vn(s, &t, &e) : lt_date_parse_rfc3339(s, &t, &e);
	if (rc)
		return lt_err_set(err, LT_ESCHEMA, "%s: %s", where, e.msg);
	lt_date_format_rfc3339(t, out);
	return LT_OK;
}

/* The current time, RFC 3339 in +07:00: when an answer or update gives none. */
static void now_rfc3339(char out[32])
{
	lt_date_format_rfc3339(lt_now_ms() / 1000, out);
}

/* Validates a built event against the canonical schema; LT_ESCHEMA naming where. */
static int check_canonical(const json_t *ev, const char *where, struct lt_err *err)
{
	struct lt_err e = { 0 };
	if (lt_schema_validate_def(schemas[S_CANONICAL], "event", ev, &e))
		return lt_err_set(err, LT_ESCHEMA, "%s does not make a valid canonical event: %s", where, e.msg);
	return LT_OK;
}

/* ---- init ----------------------------------------------------------------- */

/* Loads the schemas once from lt_schema_dir(); 0 or the load error. */
static int postal_init(struct lt_err *err)
{
	return lt_adapter_load_schemas(schema_files, schemas, NSCHEMAS, err);
}

/* ---- inbound: tracking updates -------------------------------------------- */

/* One tracking update → its event appended to events (none for an in-transit
 * code); LT_ESCHEMA naming the field (prefix "" or "/N") otherwise. */
static int tracking_event(const struct lt_peer *peer, const json_t *u, const char *prefix, json_t *events,
			  struct lt_err *err)
{
	char buf[24], where[64], when[32];
	const char *code = code_text(json_object_get(u, "statusCode"), buf), *time = lt_json_str(u, "time");
	const char *const *tc = lt_code_find(&tracking_codes, T_CODE, code);
	if (!tc)
		return lt_err_set(err, LT_ESCHEMA, "%s/statusCode: unknown VNPost status code \"%.16s\"", prefix,
				  code ? code : "");
	if (!tc[T_EVENT])
		return LT_OK;
	snprintf(where, sizeof where, "%s/time", prefix);
	if (!time)
		now_rfc3339(when); /* an update without a time happened when it arrived */
	else if (post_time(time, where, when, err))
		return LT_ESCHEMA;
	json_t *ev = json_object(), *detail = json_object();
	const char *msg = lt_json_str(u, "statusMessage");
	json_object_set_new(ev, "type", json_string(tc[T_EVENT]));
	json_object_set_new(ev, "occurred_at", json_string(when));
	json_object_set_new(ev, "source", json_string(peer->name));
	lt_json_put_str(ev, "dossier_code", lt_json_str(u, "orderNumber"));
	lt_json_put_str(detail, "order_number", lt_json_str(u, "orderNumber"));
	lt_json_put_str(detail, "postal_status", msg ? msg : tc[T_MEANING]);
	int64_t n;
	if (lt_parse_int64(code, 0, INT64_MAX, &n, NULL) == LT_OK)
		json_object_set_new(detail, "status_code", json_integer(n));
	lt_json_put_str(detail, "item_code", lt_json_str(u, "itemCode"));
	lt_json_put_str(detail, "reason", lt_json_str(u, "note"));
	if (strcmp(tc[T_RETURNED], "yes") == 0)
		json_object_set_new(detail, "returned_to_sender", json_true());
	json_object_set_new(ev, "detail", detail);
	snprintf(where, sizeof where, "%s", *prefix ? prefix : "the tracking update");
	if (check_canonical(ev, where, err)) {
		json_decref(ev);
		return LT_ESCHEMA;
	}
	json_array_append_new(events, ev);
	return LT_OK;
}

/* ---- inbound: a dossier handed in at a post-office counter ---------------- */

/* The citizen's address: province + commune (+ district for old addresses). */
static json_t *intake_address(const json_t *m)
{
	json_t *a = json_object();
	set_some(a, "province", named(lt_json_str(m, "MaTinh"), lt_json_str(m, "TenTinh")));
	set_some(a, "district", named(lt_json_str(m, "MaHuyen"), lt_json_str(m, "TenHuyen")));
	set_some(a, "commune", named(lt_json_str(m, "MaXa"), lt_json_str(m, "TenXa")));
	lt_json_put_str(a, "detail", lt_json_str(m, "DiaChi"));
	return a;
}

/* An intake → dossier.received with channel postal, appended to events. */
static int intake_event(const struct lt_peer *peer, const json_t *m, json_t *events, struct lt_err *err)
{
	char when[32];
	const char *atype = NULL, *code = lt_json_str(m, "MaHoSo"), *wire;
	char buf[24];
	struct lt_err e = { 0 };
	if (post_time(lt_json_str(m, "NgayNhan"), "/NgayNhan", when, err))
		return LT_ESCHEMA;
	if ((wire = code_text(json_object_get(m, "LoaiDoiTuong"), buf)) &&
	    !(atype = lt_code_to_canonical(&lt_applicant_type_codes, wire, &e)))
		return lt_err_set(err, LT_ESCHEMA, "/LoaiDoiTuong: unknown code \"%.16s\"", wire);
	json_t *ev = json_object(), *dossier = json_object(), *applicant = json_object(), *docs = json_array();
	json_t *detail = json_object(), *paper;
	size_t i;
	json_object_set_new(ev, "type", json_string("dossier.received"));
	json_object_set_new(ev, "occurred_at", json_string(when));
	json_object_set_new(ev, "source", json_string(peer->name));
	lt_json_put_str(ev, "dossier_code", code ? code : lt_json_str(m, "OrderNumber"));
	set_some(dossier, "procedure", named(lt_json_str(m, "MaTTHC"), lt_json_str(m, "TenTTHC")));
	set_some(dossier, "receiving_agency", named(lt_json_str(m, "DonViNhan.code"), lt_json_str(m, "DonViNhan.name")));
	json_object_set_new(dossier, "channel", json_string("postal"));
	json_object_set_new(dossier, "status", json_integer(STATUS_RECEIVED));
	lt_json_put_str(applicant, "type", atype);
	lt_json_put_str(applicant, "name", lt_json_str(m, "ChuHoSo"));
	lt_json_put_str(applicant, "id_number", lt_json_str(m, "SoGiayTo"));
	lt_json_put_str(applicant, "phone", lt_json_str(m, "SoDienThoai"));
	lt_json_put_str(applicant, "email", lt_json_str(m, "Email"));
	set_some(applicant, "address", intake_address(m));
	set_some(dossier, "applicant", applicant);
	json_object_set_new(dossier, "received_at", json_string(when));
	if (json_is_boolean(json_object_get(m, "TraQuaBuuDien")))
		lt_json_put_str(dossier, "return_via", json_is_true(json_object_get(m, "TraQuaBuuDien")) ? "postal" : "direct");
	json_array_foreach(json_object_get(m, "GiayTo"), i, paper)
		json_array_append_new(docs, json_pack("{s:O}", "name", paper));
	set_some(dossier, "documents", docs);
	lt_json_put_str(dossier, "summary", lt_json_str(m, "TrichYeu"));
	json_object_set_new(ev, "dossier", dossier);
	lt_json_put_str(detail, "order_number", lt_json_str(m, "OrderNumber"));
	lt_json_put_str(detail, "item_code", lt_json_str(m, "ItemCode"));
	json_object_set_new(ev, "detail", detail);
	if (check_canonical(ev, "the intake", err)) {
		json_decref(ev);
		return LT_ESCHEMA;
	}
	json_array_append_new(events, ev);
	return LT_OK;
}

/* One endpoint, two kinds told apart by shape: {"type":"intake",…} is a
 * dossier handed in at a post office; anything else is one tracking update
 * or an array of them. Everything is checked before anything is kept.
 * LT_EINVAL for bad JSON, LT_ESCHEMA naming the field otherwise. */
static int postal_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out, struct lt_err *err)
{
	json_t *doc = lt_json_parse("body", body, len, JSON_DECODE_ANY, err), *events, *u;
	if (!doc)
		return err->code;
	const json_t *type = json_object_get(doc, "type");
	int intake = type != NULL, rc;
	size_t i;
	if (intake && !(json_is_string(type) && strcmp(json_string_value(type), "intake") == 0)) {
		json_decref(doc);
		return lt_err_set(err, LT_ESCHEMA, "/type: the post office sends \"intake\" here, or tracking "
				  "updates without a type");
	}
	rc = lt_schema_validate(schemas[intake ? S_INTAKE : S_TRACKING], doc, err);
	events = json_array();
	if (!rc && intake) {
		rc = intake_event(peer, doc, events, err);
	} else if (!rc && json_is_array(doc)) {
		json_array_foreach(doc, i, u) {
			char prefix[24];
			snprintf(prefix, sizeof prefix, "/%zu", i);
			if ((rc = tracking_event(peer, u, prefix, events, err)))
				break;
		}
	} else if (!rc) {
		rc = tracking_event(peer, doc, "", events, err);
	}
	if (!rc)
		json_array_extend(out, events);
	json_decref(events);
	json_decref(doc);
	return rc;
}

/* ---- outbound: the order that returns a result ---------------------------- */

/* param NAME, or NULL with LT_ECONFIG naming it when required and unset. */
static const char *param(const struct lt_peer *peer, const char *name, int required, struct lt_err *err)
{
	const char *v = lt_peer_param(peer, name);
	if (v && *v)
		return v;
	if (required)
		lt_err_set(err, LT_ECONFIG, "peer %s: param.%s is not set (the post office order needs it)",
			   peer->name, name);
	return NULL;
}

/* "Số 12 Hải Thượng Lãn Ông, Phường Bình Hưng, …, Tỉnh Bình Thuận" */
static json_t *full_address(const json_t *a)
{
	static const char *const parts[] = { "detail", "commune.name", "district.name", "province.name" };
	char text[1200] = "";
	size_t n = 0;
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		const char *p = lt_json_str(a, parts[i]);
		if (p && n < sizeof text)
			n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", n ? ", " : "", p);
	}
	return json_string(text);
}

/* SenderDesc: the result papers in the parcel, "; "-separated. */
static json_t *papers(const json_t *event, const char *code)
{
	char text[1000] = "";
	size_t n = 0, i;
	json_t *d;
	json_array_foreach(lt_json_dig(event, "dossier.documents"), i, d) {
		const char *name = lt_json_str(d, "name");
		if (name && n < sizeof text)
			n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", n ? "; " : "", name);
	}
	if (!n)
		snprintf(text, sizeof text, "Kết quả giải quyết hồ sơ %s", code);
	return json_string(text);
}

/* The receiver (the applicant) into body; LT_ESCHEMA naming what is missing. */
static int put_receiver(json_t *body, const json_t *event, struct lt_err *err)
{
	static const char *const needed[] = { "dossier.applicant.name", "dossier.applicant.phone",
					      "dossier.applicant.address", "dossier.applicant.address.province.code" };
	const json_t *a = lt_json_dig(event, "dossier.applicant.address");
	for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
		if (!lt_json_dig(event, needed[i]))
			return lt_err_set(err, LT_ESCHEMA, "%s is required by the post office to deliver the result",
					  needed[i]);
	if (!lt_json_str(a, "commune.code") && !lt_json_str(a, "district.code"))
		return lt_err_set(err, LT_ESCHEMA, "dossier.applicant.address.commune.code is required by the post "
				  "office to deliver the result");
	lt_json_put_str(body, "ReceiverName", lt_json_str(event, "dossier.applicant.name"));
	json_object_set_new(body, "ReceiverAddress", full_address(a));
	lt_json_put_str(body, "ReceiverTel", lt_json_str(event, "dossier.applicant.phone"));
	lt_json_put_str(body, "ReceiverEmail", lt_json_str(event, "dossier.applicant.email"));
	lt_json_put_str(body, "ReceiverProvince", lt_json_str(a, "province.code"));
	lt_json_put_str(body, "ReceiverDistrict", lt_json_str(a, "district.code")); /* absent since July 2025 */
	lt_json_put_str(body, "ReceiverWard", lt_json_str(a, "commune.code"));
	return LT_OK;
}

/* dossier.returned with return_via postal (or a routed postal.order_created)
 * → a VNPost order: the agency sends, the applicant receives. LT_EINVAL for
 * other events; LT_ESCHEMA naming the canonical field the order needs;
 * LT_ECONFIG naming a missing param. */
static int postal_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			 struct lt_request *out, struct lt_err *err)
{
	const char *type = lt_json_str(event, "type"), *via = lt_json_str(event, "dossier.return_via");
	const char *code = lt_json_str(event, "dossier_code"), *path = lt_peer_param(peer, "order_path");
	const json_t *cod = lt_json_dig(event, "detail.cod_amount");
	(void)ctx;
	if (!type || (strcmp(type, "dossier.returned") && strcmp(type, "postal.order_created")))
		return lt_err_set(err, LT_EINVAL, "the post office takes no %.64s events", type ? type : "untyped");
	if (strcmp(type, "dossier.returned") == 0 && (!via || strcmp(via, "postal")))
		return lt_err_set(err, LT_ESCHEMA, "dossier.return_via is not postal (%s): the result is not sent by post",
				  via ? via : "absent");
	if (cod && !(json_is_number(cod) && json_number_value(cod) >= 0))
		return lt_err_set(err, LT_ESCHEMA, "detail.cod_amount must be a number of đồng, 0 or more");
	const char *customer, *address, *tel, *province;
	if (!(customer = param(peer, "customer_code", 1, err)) || !(address = param(peer, "sender_address", 1, err)) ||
	    !(tel = param(peer, "sender_tel", 1, err)) || !(province = param(peer, "sender_province", 1, err)))
		return LT_ECONFIG;
	const char *sender = param(peer, "sender_name", 0, NULL);
	if (!sender)
		sender = lt_json_str(event, "dossier.handling_agency.name");
	if (!sender)
		sender = lt_json_str(event, "dossier.receiving_agency.name");
	if (!sender)
		return lt_err_set(err, LT_ESCHEMA, "dossier.handling_agency.name (or receiving_agency.name) is required "
				  "as the sender of the order");
	json_t *body = json_object();
	char desc[700];
	const char *procedure = lt_json_str(event, "dossier.procedure.name");
	json_object_set_new(body, "CustomerCode", json_string(customer));
	lt_json_put_str(body, "OrderNumber", code);
	json_object_set_new(body, "CODAmount", cod ? json_deep_copy(cod) : json_integer(0));
	json_object_set_new(body, "SenderName", json_string(sender));
	json_object_set_new(body, "SenderAddress", json_string(address));
	json_object_set_new(body, "SenderTel", json_string(tel));
	lt_json_put_str(body, "SenderEmail", param(peer, "sender_email", 0, NULL));
	json_object_set_new(body, "SenderProvince", json_string(province));
	lt_json_put_str(body, "SenderDistrict", param(peer, "sender_district", 0, NULL));
	lt_json_put_str(body, "SenderWard", param(peer, "sender_ward", 0, NULL));
	json_object_set_new(body, "SenderDesc", papers(event, code));
	int rc = put_receiver(body, event, err);
	if (procedure)
		snprintf(desc, sizeof desc, "%.500s - trả kết quả hồ sơ %s", procedure, code);
	else
		snprintf(desc, sizeof desc, "Trả kết quả hồ sơ %s", code);
	json_object_set_new(body, "Description", json_string(desc));
	lt_json_put_str(body, "ItemCode", lt_json_str(event, "detail.item_code"));
	char *s = rc ? NULL : json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (rc)
		return rc;
	if (!s || lt_buf_append(&out->body, s, strlen(s))) {
		free(s);
		return lt_err_set(err, LT_ENOMEM, "cannot encode the post office order");
	}
	free(s);
	snprintf(out->method, sizeof out->method, "POST");
	snprintf(out->content_type, sizeof out->content_type, "application/json");
	snprintf(out->path, sizeof out->path, "%s", path && *path ? path : "/orders");
	return LT_OK;
}

/* The postal.order_created event an accepted order carries. */
static json_t *order_created(const struct lt_peer *peer, const json_t *event, const json_t *answer)
{
	char when[32];
	const char *msg = lt_json_str(answer, "Message"), *code = lt_json_str(event, "dossier_code");
	json_t *ev = json_object(), *detail = json_object();
	now_rfc3339(when);
	json_object_set_new(ev, "type", json_string("postal.order_created"));
	json_object_set_new(ev, "occurred_at", json_string(when));
	json_object_set_new(ev, "source", json_string(peer->name));
	lt_json_put_str(ev, "dossier_code", code);
	lt_json_put_str(ev, "national_code", lt_json_str(event, "national_code"));
	if (json_is_object(json_object_get(event, "dossier")))
		json_object_set_new(ev, "dossier", json_deep_copy(json_object_get(event, "dossier")));
	lt_json_put_str(detail, "order_number", code);
	lt_json_put_str(detail, "postal_status", msg ? msg : STATUS_ORDER_OK);
	json_object_set_new(detail, "status_code", json_integer(100));
	lt_json_put_str(detail, "item_code", lt_json_str(answer, "ItemCode"));
	json_object_set_new(ev, "detail", detail);
	return ev;
}

/* {"Status":"100"} → LT_DONE, and for a dossier.returned one postal.order_created
 * appended to out; another Status → LT_DEAD with the post office's Message;
 * non-2xx by lt_outcome_default. */
static enum lt_verdict postal_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
				      const struct lt_response *rsp, json_t *out, struct lt_err *err)
{
	char buf[24];
	struct lt_err e = { 0 };
	enum lt_verdict v = LT_DEAD;
	(void)ctx;
	if (rsp->status < 200 || rsp->status >= 300)
		return lt_outcome_default(rsp, err);
	json_t *answer = json_loadb(rsp->body, rsp->len, 0, NULL);
	const char *status = code_text(json_object_get(answer, "Status"), buf), *msg = lt_json_str(answer, "Message");
	if (!answer) {
		lt_err_set(err, LT_EINVAL, "post office answer is not JSON");
	} else if (lt_schema_validate(schemas[S_ORDER_ANSWER], answer, &e)) {
		lt_err_set(err, LT_EINVAL, "post office answer is not {\"Status\",\"Message\"}: %.300s", e.msg);
	} else if (!status || strcmp(status, STATUS_ORDER_OK)) {
		lt_err_set(err, LT_EINVAL, "post office %s refused the order (Status %.16s): %.300s", peer->name,
			   status ? status : "?",
			   msg ? msg : "no message");
	} else {
		v = LT_DONE;
		json_t *ev = strcmp(lt_json_str(event, "type") ? lt_json_str(event, "type") : "", "dossier.returned") == 0
				     ? order_created(peer, event, answer) : NULL;
		if (ev && check_canonical(ev, "the order answer", err) == 0)
			json_array_append(out, ev);
		json_decref(ev);
	}
	json_decref(answer);
	return v;
}

static const struct lt_adapter_param params[] = {
	{ "customer_code", 1, NULL, "the agency's VNPost customer code (CustomerCode)", "C0001" },
	{ "sender_address", 1, NULL, "the agency's address, where results are picked up (SenderAddress)",
	  "UBND xã Dương Phong" },
	{ "sender_tel", 1, NULL, "the agency's telephone (SenderTel)", "0209 3850 123" },
	{ "sender_province", 1, NULL, "the agency's province code (SenderProvince)", "06" },
	{ "sender_name", 0, "the dossier's handling, else receiving, agency name", "SenderName", "UBND xã Dương Phong" },
	{ "sender_email", 0, NULL, "SenderEmail", "motcua@duongphong.gov.vn" },
	{ "sender_district", 0, NULL, "SenderDistrict (addresses from before July 2025)", "061" },
	{ "sender_ward", 0, NULL, "SenderWard", "01957" },
	{ "order_path", 0, "/orders", "where orders are posted, after the peer's url", "/orders" },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct lt_adapter lt_adapter_postal = {
	.name = "postal",
	.about = "the postal public service (VNPost): counter intake and tracking in, return-by-post orders out",
	.params = params,
	.content_type = "application/json",
	.init = postal_init,
	.decode = postal_decode,
	.encode = postal_encode,
	.outcome = postal_outcome,
	.codes = code_tables,
	/* the receiver of a result sent by post */
	.requires = "dossier.returned: dossier.applicant.name dossier.applicant.phone dossier.applicant.address.province.code "
		    "dossier.applicant.address.commune.code|dossier.applicant.address.district.code",
};
