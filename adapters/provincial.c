/* provincial.c — the provincial procedure-resolution system / national
 * public-service portal (PEERS.md "Provincial / national portal").
 *
 * Outbound: a session login, then dossier sync (service DongBoHoSoMC, create
 * or update) and progress (CapNhatTienDoHoSoMC), each body carrying the
 * session and the unit code. Inbound: the dossiers citizens submitted online,
 * pushed as {"service":"DongBoHoSoMC","data":[records…]}. Wire formats are in
 * schemas/provincial/; codes and dates go through adapters/mapping.h.
 *
 * Peer params: madonvi (the unit code on the portal; required to send),
 * username and password (the session login), login_path (default /login),
 * service_path (where sync and progress go; default the peer url itself). */
#include "adapter.h"
#include "config.h"
#include "dates.h"
#include "jsonschema.h"
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The messages the adapter reads; what it writes is checked by the tests. */
enum { S_CANONICAL, S_INBOUND, S_ANSWER, S_LOGIN_ANSWER, NSCHEMAS };
static const char *const schema_files[NSCHEMAS] = {
	"canonical-event.schema.json", "provincial/inbound.schema.json",
	"provincial/answer.schema.json", "provincial/login-answer.schema.json",
};
static struct lt_schema *schemas[NSCHEMAS];

/* The events the portal takes as a dossier sync, and the status
 * (TrangThaiHoSo) each implies when the event carries no dossier.status:
 * rows in codes/provincial.codes. */
static const struct lt_code_column sync_cols[] = {
	{ "event", LT_COL_CANONICAL, "event.type", 0, 0, LT_COL_UNIQUE },
	{ "TrangThaiHoSo", LT_COL_INT, NULL, 1, 10, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table sync_codes = { "provincial.sync", "portal sync (DongBoHoSoMC)", sync_cols, 0 };
static const struct lt_code_table *const code_tables[] = { &sync_codes, NULL };

struct sync_type {
	const char *type;
	int status;
};
#define STATUS_RECEIVED 2
#define STATUS_ONLINE 1
#define STATUS_PROCESSING 4

/* ---- small helpers ------------------------------------------------------ */


/* Sets key to the portal form (yyyyMMddHHmmss) of the RFC 3339 date at
 * path, when there is one; LT_ESCHEMA naming the path if it is no date. */
static int put_compact(json_t *o, const char *key, const json_t *event, const char *path, struct lt_err *err)
{
	const char *s = lt_json_str(event, path);
	char out[16];
	struct lt_err e = { 0 };
	if (!s)
		return LT_OK;
	if (lt_date_rfc3339_to_compact(s, out, &e))
		return lt_err_set(err, LT_ESCHEMA, "%s: %s", path, e.msg);
	json_object_set_new(o, key, json_string(out));
	return LT_OK;
}

/* A wire code given as a string or an integer, as text (in buf if needed); NULL if neither. */
static const char *code_text(const json_t *v, char buf[24])
{
	if (json_is_integer(v)) {
		snprintf(buf, 24, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return json_string_value(v);
}

/* wire → canonical through a mapping.h table; on failure err reads
 * "/data/0/KenhThucHien: unknown code \"7\"". */
static const char *to_canonical(const struct lt_code_table *t, const char *wire, const char *where,
				struct lt_err *err)
{
	struct lt_err e = { 0 };
	const char *c = lt_code_to_canonical(t, wire, &e);
	if (!c) {
		size_t n = strlen(t->name);
		const char *why = strncmp(e.msg, t->name, n) == 0 && e.msg[n] == ':' ? e.msg + n + 2 : e.msg;
		lt_err_set(err, LT_ESCHEMA, "%s: %s", where, why);
	}
	return c;
}

/* canonical → wire through a mapping.h table, naming the canonical field. */
static const char *to_wire(const struct lt_code_table *t, const char *canonical, const char *field,
			   struct lt_err *err)
{
	struct lt_err e = { 0 };
	const char *w = lt_code_to_wire(t, canonical, &e);
	if (!w)
		lt_err_set(err, LT_ESCHEMA, "%s: %s", field, e.msg);
	return w;
}

/* error_code as an integer (the portal sends 0, "0" or "00"); 0 if there is none. */
static int error_code_of(const json_t *answer, long *code)
{
	const json_t *v = json_object_get(answer, "error_code");
	const char *s = json_string_value(v);
	int64_t n;
	if (json_is_integer(v)) {
		*code = (long)json_integer_value(v);
		return 1;
	}
	if (!s || !*s || lt_parse_int64(s, -2147483647, 2147483647, &n, NULL))
		return 0;
	*code = (long)n;
	return 1;
}

/* body → out as a JSON POST; the request's path is the caller's. */
static int dump_into(const json_t *body, struct lt_request *out, struct lt_err *err)
{
	char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return lt_err_set(err, LT_ENOMEM, "cannot encode the portal request");
	snprintf(out->method, sizeof out->method, "POST");
	snprintf(out->content_type, sizeof out->content_type, "application/json");
	int rc = lt_buf_append(&out->body, s, strlen(s));
	free(s);
	return rc ? lt_err_set(err, LT_ENOMEM, "cannot encode the portal request") : LT_OK;
}

/* ---- init ----------------------------------------------------------------- */

/* Loads the schemas once from lt_schema_dir(); 0 or the load error. */
static int provincial_init(struct lt_err *err)
{
	return lt_adapter_load_schemas(schema_files, schemas, NSCHEMAS, err);
}

/* ---- inbound: online dossiers pushed by the portal ------------------------ */

/* The RFC 3339 form of the portal date rec[key] into out ("" when the
 * field is absent or "", which the portal sends for no date). */
static int date_field(const json_t *rec, const char *key, const char *where, char out[32], struct lt_err *err)
{
	const char *s = json_string_value(json_object_get(rec, key));
	struct lt_err e = { 0 };
	int64_t t;
	out[0] = '\0';
	if (!s || !*s)
		return LT_OK;
	if (lt_date_parse_compact(s, &t, &e))
		return lt_err_set(err, LT_ESCHEMA, "%s/%s: %s", where, key, e.msg);
	lt_date_format_rfc3339(t, out);
	return LT_OK;
}

/* The code field rec[key] mapped through t into *canonical (NULL when absent). */
static int code_field(const struct lt_code_table *t, const json_t *rec, const char *key, const char *where,
		      const char **canonical, struct lt_err *err)
{
	char buf[24], at[128];
	const char *wire = code_text(json_object_get(rec, key), buf);
	*canonical = NULL;
	if (!wire || !*wire)
		return LT_OK;
	snprintf(at, sizeof at, "%s/%s", where, key);
	*canonical = to_canonical(t, wire, at, err);
	return *canonical ? LT_OK : LT_ESCHEMA;
}

/* {"code","name"} from whichever is given; NULL when neither. */
static json_t *named(const char *code, const char *name)
{
	if (!code && !name)
		return NULL;
	json_t *o = json_object();
	lt_json_put_str(o, "code", code);
	lt_json_put_str(o, "name", name);
	return o;
}

/* Sets key to v (stolen) unless v is NULL or an empty object/array. */
static void set_some(json_t *o, const char *key, json_t *v)
{
	if (v && (json_object_size(v) || json_array_size(v)))
		json_object_set(o, key, v);
	json_decref(v);
}

/* Submitted papers (TaiLieuNop, deleted ones left out) and fees (DanhSachLePhi). */
static void papers_and_fees(const json_t *rec, json_t *dossier)
{
	json_t *docs = json_array(), *fees = json_array(), *v;
	size_t i;
	json_array_foreach(json_object_get(rec, "TaiLieuNop"), i, v) {
		if (json_is_true(json_object_get(v, "IsDeleted")))
			continue;
		json_t *d = json_object();
		lt_json_put_str(d, "name", lt_json_str(v, "TenTepDinhKem"));
		lt_json_put_str(d, "link", lt_json_str(v, "DuongDanTaiTepTin"));
		json_array_append_new(docs, d);
	}
	json_array_foreach(json_object_get(rec, "DanhSachLePhi"), i, v) {
		const json_t *gia = json_object_get(v, "Gia");
		const char *text = json_string_value(gia);
		int64_t amount = 0;     /* a string of digits (the schema: 1 to 12), range-checked */
		if (text && lt_parse_int64(text, 0, 999999999999, &amount, NULL))
			amount = 0;
		json_t *f = json_object();
		lt_json_put_str(f, "name", lt_json_str(v, "TenPhiLePhi"));
		lt_json_put_str(f, "code", lt_json_str(v, "MaPhiLePhi"));
		json_object_set_new(f, "amount", json_is_number(gia) ? json_deep_copy(gia)
								  : json_integer(amount));
		json_object_set_new(f, "currency", json_string("VND"));
		json_array_append_new(fees, f);
	}
	set_some(dossier, "documents", docs);
	set_some(dossier, "fees", fees);
}

/* One portal record → one canonical event (dossier.received for statuses 1
 * and 2, else the event the status implies). NULL with err naming the field. */
static json_t *record_to_event(const struct lt_peer *peer, const char *madonvi, const json_t *rec, size_t idx,
			       struct lt_err *err)
{
	char where[32], received[32], due[32], returned[32], resolved[32], buf[24];
	const char *channel, *atype, *via;
	struct lt_err e = { 0 };
	snprintf(where, sizeof where, "/data/%zu", idx);
	if (date_field(rec, "NgayTiepNhan", where, received, err) || date_field(rec, "NgayHenTra", where, due, err) ||
	    date_field(rec, "NgayTra", where, returned, err) ||
	    date_field(rec, "NgayKetThucXuLy", where, resolved, err) ||
	    code_field(&lt_channel_codes, rec, "KenhThucHien", where, &channel, err) ||
	    code_field(&lt_applicant_type_codes, rec, "LoaiDoiTuong", where, &atype, err) ||
	    code_field(&lt_return_via_codes, rec, "HinhThuc", where, &via, err))
		return NULL;
	const char *st = code_text(json_object_get(rec, "TrangThaiHoSo"), buf);
	int64_t status = 0;     /* range-checked before it is an int: a huge one must not wrap onto 1..10 */
	if (!st || lt_parse_int64(st, 0, 99, &status, NULL) || !lt_status_valid((int)status)) {
		lt_err_set(err, LT_ESCHEMA, "%s/TrangThaiHoSo: unknown status \"%.16s\" (the portal's are 1 to 10)",
			   where, st ? st : "");
		return NULL;
	}
	json_t *ev = json_object(), *dossier = json_object(), *applicant = json_object(), *detail = json_object();
	json_object_set_new(ev, "type", json_string(lt_status_event_type((int)status)));
	json_object_set_new(ev, "occurred_at", json_string(received));
	json_object_set_new(ev, "source", json_string(peer->name));
	lt_json_put_str(ev, "dossier_code", lt_json_str(rec, "MaHoSo"));
	set_some(dossier, "procedure", named(lt_json_str(rec, "MaTTHC"), lt_json_str(rec, "TenTTHC")));
	set_some(dossier, "field", named(lt_json_str(rec, "MaLinhVuc"), lt_json_str(rec, "TenLinhVuc")));
	set_some(dossier, "receiving_agency", named(madonvi, NULL));
	set_some(dossier, "handling_agency", named(NULL, lt_json_str(rec, "DonViXuLy")));
	lt_json_put_str(dossier, "channel", channel);
	json_object_set_new(dossier, "status", json_integer(status));
	lt_json_put_str(applicant, "type", atype);
	lt_json_put_str(applicant, "name", lt_json_str(rec, "ChuHoSo"));
	lt_json_put_str(applicant, "id_number", lt_json_str(rec, "MaDoiTuong"));
	lt_json_put_str(applicant, "phone", lt_json_str(rec, "SoDienThoai"));
	lt_json_put_str(applicant, "email", lt_json_str(rec, "Email"));
	set_some(dossier, "applicant", applicant);
	lt_json_put_str(dossier, "received_at", received);
	lt_json_put_str(dossier, "due_at", due);
	lt_json_put_str(dossier, "resolved_at", resolved);
	lt_json_put_str(dossier, "returned_at", returned);
	lt_json_put_str(dossier, "return_via", via);
	papers_and_fees(rec, dossier);
	lt_json_put_str(dossier, "summary", lt_json_str(rec, "TrichYeuHoSo"));
	json_object_set_new(ev, "dossier", dossier);
	lt_json_put_str(detail, "note", lt_json_str(rec, "GhiChu"));
	lt_json_put_str(detail, "other_info", lt_json_str(rec, "ThongTinKhac"));
	lt_json_put_str(detail, "return_info", lt_json_str(rec, "ThongTinTra"));
	set_some(ev, "detail", detail);
	if (lt_schema_validate_def(schemas[S_CANONICAL], "event", ev, &e)) {
		lt_err_set(err, LT_ESCHEMA, "%s does not make a valid canonical event: %s", where, e.msg);
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* Accepts {"service":"DongBoHoSoMC","data":[…]} or {"data":[…]}; every
 * record is checked (wire schema, codes, real dates) before any is kept.
 * LT_EINVAL for bad JSON, LT_ESCHEMA naming the field otherwise. */
static int provincial_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out,
			     struct lt_err *err)
{
	json_t *doc = lt_json_parse("body", body, len, 0, err);
	if (!doc)
		return err->code;
	int rc = lt_schema_validate(schemas[S_INBOUND], doc, err);
	json_t *events = json_array(), *rec;
	const char *madonvi = lt_json_str(doc, "madonvi");
	size_t i;
	json_array_foreach(json_object_get(doc, "data"), i, rec) {
		if (rc)
			break;
		json_t *ev = record_to_event(peer, madonvi, rec, i, err);
		if (ev)
			json_array_append_new(events, ev);
		else
			rc = LT_ESCHEMA;
	}
	if (!rc)
		json_array_extend(out, events);
	json_decref(events);
	json_decref(doc);
	return rc;
}

/* ---- outbound: sync and progress ------------------------------------------ */

/* The sync row of an event type into out; NULL if the portal takes no sync for it. */
static const struct sync_type *sync_type_of(const char *type, struct sync_type *out)
{
	const char *const *row = lt_code_find(&sync_codes, 0, type);
	if (!row)
		return NULL;
	out->type = row[0];
	out->status = atoi(row[1]);
	return out;
}

/* TrangThaiHoSo: the event's dossier.status, else what its type implies
 * (processing for a step). */
static int status_of(const json_t *event, const struct sync_type *st)
{
	const json_t *s = lt_json_dig(event, "dossier.status");
	const char *channel = lt_json_str(event, "dossier.channel");
	if (json_is_integer(s) && json_integer_value(s) >= 1 && json_integer_value(s) <= 10)
		return (int)json_integer_value(s);
	if (!st)
		return STATUS_PROCESSING;
	if (st->status == STATUS_RECEIVED && channel && strcmp(channel, "online") == 0)
		return STATUS_ONLINE;
	return st->status;
}

/* Papers: result papers (DanhSachGiayToKetQua) once resolved, else the
 * submitted ones (TaiLieuNop). */
static void put_papers(json_t *rec, const json_t *event, int results)
{
	json_t *list = json_array(), *d;
	size_t i;
	json_array_foreach(lt_json_dig(event, "dossier.documents"), i, d) {
		json_t *p = json_object();
		const char *digest = lt_json_str(d, "digest");
		char id[24];
		snprintf(id, sizeof id, "%zu", i + 1);
		if (results) {
			lt_json_put_str(p, "TenGiayTo", lt_json_str(d, "name"));
			lt_json_put_str(p, "GiayToId", digest ? digest : id);
			lt_json_put_str(p, "DuongDanTepTinKetQua", lt_json_str(d, "link"));
		} else {
			lt_json_put_str(p, "TepDinhKemId", digest ? digest : id);
			lt_json_put_str(p, "TenTepDinhKem", lt_json_str(d, "name"));
			json_object_set_new(p, "IsDeleted", json_false());
			lt_json_put_str(p, "DuongDanTaiTepTin", lt_json_str(d, "link"));
		}
		json_array_append_new(list, p);
	}
	set_some(rec, results ? "DanhSachGiayToKetQua" : "TaiLieuNop", list);
}

/* The dossier's fees as DanhSachLePhi (name, code, amount). */
static void put_fees(json_t *rec, const json_t *event)
{
	json_t *list = json_array(), *f;
	size_t i;
	json_array_foreach(lt_json_dig(event, "dossier.fees"), i, f) {
		json_t *p = json_object();
		lt_json_put_str(p, "TenPhiLePhi", lt_json_str(f, "name"));
		lt_json_put_str(p, "MaPhiLePhi", lt_json_str(f, "code"));
		json_object_set(p, "Gia", json_object_get(f, "amount"));
		json_array_append_new(list, p);
	}
	set_some(rec, "DanhSachLePhi", list);
}

/* The supplement request (DanhSachHoSoBoSung) with the old and new due dates;
 * its id is the event id, stable across retries. */
static int put_supplement(json_t *rec, const json_t *event, struct lt_err *err)
{
	json_t *s = json_object();
	char when[16] = "";
	const char *event_id = lt_json_str(event, "event_id");
	lt_date_rfc3339_to_compact(lt_json_str(event, "occurred_at"), when, NULL);
	json_object_set_new(s, "HoSoBoSungId", json_string(event_id ? event_id : when));
	lt_json_put_str(s, "NguoiYeuCauBoSung", lt_json_str(event, "detail.requested_by"));
	lt_json_put_str(s, "NoiDungBoSung", lt_json_str(event, "detail.reason"));
	int rc = put_compact(s, "NgayBoSung", event, "occurred_at", err) ||
		 put_compact(s, "NgayHenTraTruoc", event, "detail.old_due_at", err) ||
		 put_compact(s, "NgayHenTraMoi", event, "detail.new_due_at", err);
	json_object_set_new(rec, "DanhSachHoSoBoSung", json_pack("[o]", s));
	return rc ? LT_ESCHEMA : LT_OK;
}

/* One DongBoHoSoMC record from a dossier-level event; NULL with err naming
 * the canonical field the portal needs and the event lacks. */
static json_t *sync_record(const json_t *event, const struct sync_type *st, struct lt_err *err)
{
	const char *type = st->type, *procedure = lt_json_str(event, "dossier.procedure.code");
	const char *channel = lt_json_str(event, "dossier.channel"), *atype = lt_json_str(event, "dossier.applicant.type");
	const char *via = lt_json_str(event, "dossier.return_via"), *kenh;
	int results = strcmp(type, "dossier.resolved") == 0 || strcmp(type, "dossier.returned") == 0;
	char status[4];
	if (!procedure) {
		lt_err_set(err, LT_ESCHEMA, "dossier.procedure.code is required by the portal (%s)", type);
		return NULL;
	}
	if (!channel) {
		lt_err_set(err, LT_ESCHEMA, "dossier.channel is required by the portal (%s)", type);
		return NULL;
	}
	if (!(kenh = to_wire(&lt_channel_codes, channel, "dossier.channel", err)) ||
	    (atype && !(atype = to_wire(&lt_applicant_type_codes, atype, "dossier.applicant.type", err))) ||
	    (via && !(via = to_wire(&lt_return_via_codes, via, "dossier.return_via", err))))
		return NULL;
	json_t *rec = json_object();
	lt_json_put_str(rec, "MaHoSo", lt_json_str(event, "dossier_code"));
	lt_json_put_str(rec, "MaTTHC", procedure);
	lt_json_put_str(rec, "TenTTHC", lt_json_str(event, "dossier.procedure.name"));
	lt_json_put_str(rec, "MaLinhVuc", lt_json_str(event, "dossier.field.code"));
	lt_json_put_str(rec, "TenLinhVuc", lt_json_str(event, "dossier.field.name"));
	lt_json_put_str(rec, "KenhThucHien", kenh);
	lt_json_put_str(rec, "ChuHoSo", lt_json_str(event, "dossier.applicant.name"));
	lt_json_put_str(rec, "LoaiDoiTuong", atype);
	lt_json_put_str(rec, "MaDoiTuong", lt_json_str(event, "dossier.applicant.id_number"));
	lt_json_put_str(rec, "Email", lt_json_str(event, "dossier.applicant.email"));
	lt_json_put_str(rec, "SoDienThoai", lt_json_str(event, "dossier.applicant.phone"));
	lt_json_put_str(rec, "TrichYeuHoSo", lt_json_str(event, "dossier.summary"));
	/* a receipt without received_at was received when it happened; an
	 * apology or supplement moves the due date to detail.new_due_at */
	const char *received = strcmp(type, "dossier.received") == 0 && !lt_json_str(event, "dossier.received_at")
				       ? "occurred_at" : "dossier.received_at";
	const char *due = lt_json_str(event, "dossier.due_at") ? "dossier.due_at" : "detail.new_due_at";
	snprintf(status, sizeof status, "%d", status_of(event, st));
	if (put_compact(rec, "NgayTiepNhan", event, received, err) || put_compact(rec, "NgayHenTra", event, due, err))
		goto fail;
	lt_json_put_str(rec, "TrangThaiHoSo", status);
	if (put_compact(rec, "NgayTra", event, "dossier.returned_at", err))
		goto fail;
	lt_json_put_str(rec, "HinhThuc", via);
	if (put_compact(rec, "NgayKetThucXuLy", event, "dossier.resolved_at", err))
		goto fail;
	const char *handler = lt_json_str(event, "detail.to_agency.name");
	if (!handler)
		handler = lt_json_str(event, "dossier.handling_agency.name");
	lt_json_put_str(rec, "DonViXuLy", handler ? handler : lt_json_str(event, "dossier.handling_agency.code"));
	lt_json_put_str(rec, "GhiChu", lt_json_str(event, "detail.reason"));
	put_papers(rec, event, results);
	put_fees(rec, event);
	if (strcmp(type, "dossier.supplement_requested") == 0 && put_supplement(rec, event, err))
		goto fail;
	return rec;
fail:
	json_decref(rec);
	return NULL;
}

/* One QuaTrinhXuLy record from a dossier.step event; NULL with err when the
 * event has no step to report. */
static json_t *progress_record(const json_t *event, struct lt_err *err)
{
	const json_t *step = lt_json_dig(event, "detail.step");
	const char *what = lt_json_str(step, "name"), *dept = lt_json_str(event, "detail.department");
	char status[4];
	if (!what)
		what = lt_json_str(step, "code");
	if (!what) {
		lt_err_set(err, LT_ESCHEMA, "detail.step.name (or code) is required by the portal (dossier.step)");
		return NULL;
	}
	json_t *rec = json_object();
	lt_json_put_str(rec, "MaHoSo", lt_json_str(event, "dossier_code"));
	lt_json_put_str(rec, "NguoiXuLy", lt_json_str(step, "handler"));
	lt_json_put_str(rec, "ChucDanh", lt_json_str(event, "detail.handler_title"));
	if (put_compact(rec, "ThoiDiemXuLy", event, "occurred_at", err))
		goto fail;
	lt_json_put_str(rec, "PhongBanXuLy", dept ? dept : lt_json_str(event, "dossier.handling_agency.name"));
	lt_json_put_str(rec, "NoiDungXuLy", what);
	snprintf(status, sizeof status, "%d", status_of(event, NULL));
	lt_json_put_str(rec, "TrangThai", status);
	if (put_compact(rec, "NgayBatDau", event, "occurred_at", err) ||
	    put_compact(rec, "NgayKetThucTheoQuyDinh", event, "detail.step.deadline_at", err))
		goto fail;
	return rec;
fail:
	json_decref(rec);
	return NULL;
}

/* dossier.step → CapNhatTienDoHoSoMC; dossier-level events → DongBoHoSoMC
 * (a create for dossier.received unless ctx->flags has LT_FLAG_UPDATE, an
 * update for the rest). Needs ctx->session (LT_EAUTH without: log in first)
 * and param.madonvi (LT_ECONFIG). LT_EINVAL for events the portal does not
 * take; LT_ESCHEMA naming the canonical field the portal needs. */
static int provincial_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			     struct lt_request *out, struct lt_err *err)
{
	const char *type = lt_json_str(event, "type"), *madonvi = lt_peer_param(peer, "madonvi");
	const char *path = lt_peer_param(peer, "service_path");
	struct sync_type row;
	const struct sync_type *st = sync_type_of(type, &row);
	int is_step = type && strcmp(type, "dossier.step") == 0;
	if (!st && !is_step)
		return lt_err_set(err, LT_EINVAL, "the portal takes no %.64s events", type ? type : "untyped");
	if (!madonvi || !*madonvi)
		return lt_err_set(err, LT_ECONFIG, "peer %s: param.madonvi (the unit code on the portal) is not set",
				  peer->name);
	if (!ctx->session || !*ctx->session)
		return lt_err_set(err, LT_EAUTH, "no portal session for peer %s: log in first", peer->name);
	json_t *rec = is_step ? progress_record(event, err) : sync_record(event, st, err);
	if (!rec)
		return err ? err->code : LT_ESCHEMA;
	json_t *body = json_object();
	json_object_set_new(body, "session", json_string(ctx->session));
	json_object_set_new(body, "madonvi", json_string(madonvi));
	if (is_step) {
		json_object_set_new(body, "service", json_string("CapNhatTienDoHoSoMC"));
		json_object_set_new(body, "QuaTrinhXuLy", json_pack("[o]", rec));
	} else {
		int update = strcmp(type, "dossier.received") != 0 || (ctx->flags & LT_FLAG_UPDATE);
		json_object_set_new(body, "service", json_string("DongBoHoSoMC"));
		json_object_set_new(body, "isUpdating", json_boolean(update));
		json_object_set_new(body, "data", json_pack("[o]", rec));
	}
	snprintf(out->path, sizeof out->path, "%s", path ? path : "");
	int rc = dump_into(body, out, err);
	json_decref(body);
	return rc;
}

/* ---- outcome and session -------------------------------------------------- */

/* The portal's way of saying the session is gone: error_code 401, or a
 * message about the session (or "phiên") having expired ("hết hạn"). */
static int session_expired(const json_t *answer)
{
	const char *m = json_string_value(json_object_get(answer, "message"));
	long code;
	if (error_code_of(answer, &code) && code == 401)
		return 1;
	if (!m)
		return 0;
	int about = strcasestr(m, "session") || strstr(m, "phiên") || strstr(m, "Phiên");
	return about && (strstr(m, "hết hạn") || strstr(m, "Hết hạn") || strcasestr(m, "expired"));
}

/* {"error_code":0} done; "đã tồn tại" (3 / -3) to a create → LT_RESEND with
 * LT_FLAG_UPDATE; an expired session (or HTTP 401) → LT_RELOGIN; other error
 * codes dead with the portal's message; other non-2xx by lt_outcome_default.
 * The portal's answers carry no events. */
static enum lt_verdict provincial_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
					  const struct lt_response *rsp, json_t *out, struct lt_err *err)
{
	json_t *answer = rsp->len ? json_loadb(rsp->body, rsp->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(answer, "message"));
	const char *type = lt_json_str(event, "type"), *code_of_dossier = lt_json_str(event, "dossier_code");
	struct lt_err e = { 0 };
	enum lt_verdict v;
	long code = 0;
	(void)out;
	if (rsp->status == 401 || (answer && session_expired(answer))) {
		lt_err_set(err, LT_EAUTH, "portal session expired (HTTP %ld%s%.200s)", rsp->status, msg ? ": " : "",
			   msg ? msg : "");
		v = LT_RELOGIN;
	} else if (rsp->status < 200 || rsp->status >= 300) {
		v = lt_outcome_default(rsp, err);
	} else if (!answer) {
		lt_err_set(err, LT_EINVAL, "portal answer is not JSON");
		v = LT_DEAD;
	} else if (lt_schema_validate(schemas[S_ANSWER], answer, &e) || !error_code_of(answer, &code)) {
		lt_err_set(err, LT_EINVAL, "portal answer is not {\"error_code\":…}: %.300s", e.msg);
		v = LT_DEAD;
	} else if (code == 0) {
		v = LT_DONE;
	} else if ((code == 3 || code == -3) && msg && strstr(msg, "đã tồn tại") && !(ctx->flags & LT_FLAG_UPDATE) &&
		   type && strcmp(type, "dossier.received") == 0) {
		ctx->flags |= LT_FLAG_UPDATE;
		lt_err_set(err, LT_ECONFLICT, "portal already has %.64s: sending it again as an update",
			   code_of_dossier ? code_of_dossier : "the dossier");
		v = LT_RESEND;
	} else {
		lt_err_set(err, LT_EINVAL, "portal %s refused (error_code %ld): %.300s", peer->name, code,
			   msg ? msg : "no message");
		v = LT_DEAD;
	}
	json_decref(answer);
	return v;
}

/* POST {"username","password"} to param.login_path (default "/login");
 * LT_ECONFIG when param.username or param.password is not set. */
static int provincial_login(const struct lt_peer *peer, struct lt_request *out, struct lt_err *err)
{
	const char *user = lt_peer_param(peer, "username"), *pass = lt_peer_param(peer, "password");
	const char *path = lt_peer_param(peer, "login_path");
	if (!user || !*user || !pass || !*pass)
		return lt_err_set(err, LT_ECONFIG, "peer %s: param.%s is not set (the portal login needs it)",
				  peer->name, !user || !*user ? "username" : "password");
	json_t *body = json_pack("{s:s,s:s}", "username", user, "password", pass);
	snprintf(out->path, sizeof out->path, "%s", path && *path ? path : "/login");
	int rc = body ? dump_into(body, out, err)
		      : lt_err_set(err, LT_ECONFIG, "peer %s: param.username or param.password is not UTF-8", peer->name);
	json_decref(body);
	return rc;
}

/* {"session":…,"error_code":0} → session; error_code ≠ 0 or HTTP 401/403 →
 * LT_EAUTH with the portal's message; other non-2xx → LT_EIO (try later);
 * an answer that is not a login answer → LT_EINVAL. */
static int provincial_login_result(const struct lt_peer *peer, const struct lt_response *rsp, char session[512],
				   struct lt_err *err)
{
	if (rsp->status == 401 || rsp->status == 403)
		return lt_err_set(err, LT_EAUTH, "portal %s refused the login with HTTP %ld", peer->name, rsp->status);
	if (rsp->status < 200 || rsp->status >= 300)
		return lt_err_set(err, LT_EIO, "portal %s: login answered HTTP %ld", peer->name, rsp->status);
	json_t *answer = json_loadb(rsp->body, rsp->len, 0, NULL);
	const char *s = json_string_value(json_object_get(answer, "session"));
	const char *msg = json_string_value(json_object_get(answer, "message"));
	struct lt_err e = { 0 };
	long code = -1;
	int rc = LT_OK;
	if (!answer)
		rc = lt_err_set(err, LT_EINVAL, "portal %s: login answer is not JSON", peer->name);
	else if (lt_schema_validate(schemas[S_LOGIN_ANSWER], answer, &e) || !error_code_of(answer, &code))
		rc = lt_err_set(err, LT_EINVAL, "portal %s: login answer is not {\"session\",\"error_code\"}: %.300s",
				peer->name, e.msg);
	else if (code != 0)
		rc = lt_err_set(err, LT_EAUTH, "portal %s refused the login (error_code %ld): %.300s", peer->name, code,
				msg ? msg : "no message");
	else if (!s || !*s || strlen(s) >= 512)
		rc = lt_err_set(err, LT_EINVAL, "portal %s: login answer has no usable session", peer->name);
	else
		snprintf(session, 512, "%s", s);
	json_decref(answer);
	return rc;
}

static const struct lt_adapter_param params[] = {
	{ "madonvi", 1, NULL, "the office's unit code on the portal", "000.00.12.H12" },
	{ "username", 1, NULL, "the session login's user", "lienthong" },
	{ "password", 1, NULL, "the session login's password: set it with password_file = FILE (mode 0600)", "secret" },
	{ "login_path", 0, "/login", "where the login is posted, after the peer's url", "/login" },
	{ "service_path", 0, "the peer's url", "where sync and progress are posted", "/api" },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct lt_adapter lt_adapter_provincial = {
	.name = "provincial",
	.about = "the provincial portal: online dossiers in; dossier sync and progress out, with a session login",
	.params = params,
	.content_type = "application/json",
	.init = provincial_init,
	.decode = provincial_decode,
	.encode = provincial_encode,
	.outcome = provincial_outcome,
	.login = provincial_login,
	.login_result = provincial_login_result,
	.codes = code_tables,
	/* a progress record names its step; a sync record its procedure and channel */
	.requires = "dossier.step: detail.step.name|detail.step.code; *: dossier.procedure.code dossier.channel",
};
