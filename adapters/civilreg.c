/* civilreg.c — the civil registry (Hệ thống đăng ký và quản lý hộ tịch): birth,
 * death and marriage registration requests as XML in urn:lienthong:civilreg:1,
 * signed by the gateway; the registry's answers and results (schemas/civilreg/).
 *
 * Wire kinds: request (HoSoDangKy, out), answer (KetQuaTiepNhan, the answer to a
 * request), result (KetQuaDangKy, in by callback), results (DanhSachKetQua: several
 * results, by callback or as the answer to a poll), poll (TraCuuKetQua, out).
 *
 * Params: ma_don_vi (the registry's unit code; required to encode and poll),
 * path (request path, default the peer url), poll_path (default /ketqua/tracuu).
 *
 * What the registry needs lives in the dossier.received event's
 * detail.registration (snake_case; every date "yyyy-mm-dd", every time RFC 3339):
 *   birth (module LTKS)    child {name*, gender* (male|female|undetermined),
 *                            birth_date*, birth_place*, ethnicity, nationality},
 *                          mother, father: person — at least one of the two
 *   death (LTKT)           deceased {name*, gender, birth_date, birth_year, id_number,
 *                            ethnicity, nationality, address, death_at* (RFC 3339),
 *                            death_place*, cause}
 *   marriage (LTKH)        husband*, wife*: person with birth_date*
 *   any                    requester {name*, relationship, id_number, address};
 *                          when absent, dossier.applicant (name, id_number, address)
 *   person = {name*, birth_date | birth_year, id_number, ethnicity, nationality, address}
 *   address = the canonical address; the registry needs province.code and
 *   commune.code, district.code is sent when present (before July 2025).
 * (* required.) The module comes from the procedure code (table civilreg.module).
 *
 * Results become canonical events by trangThai (table civilreg.result); each carries
 * detail.registry_dossier_id (maHoSoLT) and detail.status_code (trangThai). */
#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "mapping.h"
#include "xmlutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS "urn:lienthong:civilreg:1"
#define EPOCH "1970-01-01T07:00:00+07:00"

enum kind { K_REQUEST, K_ANSWER, K_RESULT, K_RESULTS, K_POLL, NKINDS };
static const char *const kind_names[NKINDS] = { "request", "answer", "result", "results", "poll" };
static const char *const root_names[NKINDS] = { "HoSoDangKy", "KetQuaTiepNhan", "KetQuaDangKy", "DanhSachKetQua",
						"TraCuuKetQua" };
static xmlSchemaPtr schemas[NKINDS];
static struct lt_schema *canonical;

/* ---- code tables (rows in codes/civilreg.codes) --------------------------- */

/* trangThai → the canonical event it becomes, and the step name of a dossier.step. */
static const struct lt_code_column result_cols[] = {
	{ "trangThai", LT_COL_INT, NULL, 0, 99, LT_COL_UNIQUE },
	{ "event", LT_COL_CANONICAL, "event.type", 0, 0, 0 },
	{ "step", LT_COL_TEXT, NULL, 0, 0, LT_COL_OPTIONAL },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table result_states = { "civilreg.result", "registry result state (trangThai)",
						    result_cols, 0 };
enum { R_CODE, R_EVENT, R_STEP };

static const struct lt_code_column gender_cols[] = {
	{ "GioiTinh", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "gender", LT_COL_WORD, "male female undetermined", 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table gender_codes = { "civilreg.gender", "gender (GioiTinh)", gender_cols, 0 };

/* Registry module (LTKS birth, LTKT death, LTKH marriage) of a procedure code. */
static const struct lt_code_column module_cols[] = {
	{ "module", LT_COL_WORD, "LTKS LTKT LTKH", 0, 0, 0 },
	{ "procedure", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table module_codes = { "civilreg.module", "civil registry module", module_cols, 0 };

static const struct lt_code_table *const code_tables[] = { &result_states, &gender_codes, &module_codes, NULL };

/* ---- detail.registration → XML: one table per role, in the XSD's order ---- */

enum conv { C_TEXT, C_GENDER, C_DATE, C_YEAR, C_DATETIME, C_ADDRESS };

struct field {
	const char *key;        /* JSON member */
	const char *wire;       /* element name after the role's prefix */
	enum conv conv;
	int required;
};

static const struct field child_fields[] = {
	{ "name", "HoTen", C_TEXT, 1 },          { "gender", "GioiTinh", C_GENDER, 1 },
	{ "birth_date", "NgaySinh", C_DATE, 1 }, { "birth_place", "NoiSinh", C_TEXT, 1 },
	{ "ethnicity", "DanToc", C_TEXT, 0 },    { "nationality", "QuocTich", C_TEXT, 0 },
	{ NULL, NULL, 0, 0 },
};
static const struct field parent_fields[] = {
	{ "name", "HoTen", C_TEXT, 1 },         { "birth_date", "NgaySinh", C_DATE, 0 },
	{ "birth_year", "NamSinh", C_YEAR, 0 }, { "id_number", "SoDinhDanh", C_TEXT, 0 },
	{ "ethnicity", "DanToc", C_TEXT, 0 },   { "nationality", "QuocTich", C_TEXT, 0 },
	{ "address", "NoiCuTru", C_ADDRESS, 0 }, { NULL, NULL, 0, 0 },
};
static const struct field deceased_fields[] = {
	{ "name", "HoTen", C_TEXT, 1 },           { "gender", "GioiTinh", C_GENDER, 0 },
	{ "birth_date", "NgaySinh", C_DATE, 0 },  { "birth_year", "NamSinh", C_YEAR, 0 },
	{ "id_number", "SoDinhDanh", C_TEXT, 0 }, { "ethnicity", "DanToc", C_TEXT, 0 },
	{ "nationality", "QuocTich", C_TEXT, 0 }, { "address", "NoiCuTru", C_ADDRESS, 0 },
	{ "death_at", "NgayChet", C_DATETIME, 1 }, { "death_place", "NoiChet", C_TEXT, 1 },
	{ "cause", "NguyenNhan", C_TEXT, 0 },     { NULL, NULL, 0, 0 },
};
static const struct field spouse_fields[] = {
	{ "name", "HoTen", C_TEXT, 1 },           { "birth_date", "NgaySinh", C_DATE, 1 },
	{ "id_number", "SoDinhDanh", C_TEXT, 0 }, { "ethnicity", "DanToc", C_TEXT, 0 },
	{ "nationality", "QuocTich", C_TEXT, 0 }, { "address", "NoiCuTru", C_ADDRESS, 0 },
	{ NULL, NULL, 0, 0 },
};
static const struct field requester_fields[] = {
	{ "name", "HoTen", C_TEXT, 1 },           { "relationship", "QuanHe", C_TEXT, 0 },
	{ "id_number", "SoDinhDanh", C_TEXT, 0 }, { "address", "NoiCuTru", C_ADDRESS, 0 },
	{ NULL, NULL, 0, 0 },
};

struct role {
	const char *key;        /* member of detail.registration */
	const char *prefix;     /* wire prefix: nks, me, cha, nkt, chong, vo */
	int required;
	const struct field *fields;
};

static const struct module {
	const char *code;       /* wire module */
	const char *what;
	struct role roles[3];
} modules[] = {
	{ "LTKS", "birth", { { "child", "nks", 1, child_fields }, { "mother", "me", 0, parent_fields },
			     { "father", "cha", 0, parent_fields } } },
	{ "LTKT", "death", { { "deceased", "nkt", 1, deceased_fields } } },
	{ "LTKH", "marriage", { { "husband", "chong", 1, spouse_fields }, { "wife", "vo", 1, spouse_fields } } },
};

static const struct role requester_role = { "requester", "nyc", 1, requester_fields };

/* The string member k of o, or NULL. */
static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* "2025-03-02" → "02/03/2025", refusing impossible dates. */
static int iso_to_vn_date(const char *s, char out[11], const char *field, struct lt_err *err)
{
	char probe[24];
	int64_t t;
	if (s && strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		snprintf(probe, sizeof probe, "%.2s/%.2s/%.4s 00:00:00", s + 8, s + 5, s);
		if (lt_date_parse_vn(probe, &t, NULL) == 0) {
			snprintf(out, 11, "%.10s", probe);
			return LT_OK;
		}
	}
	return lt_err_set(err, LT_ESCHEMA, "%s: \"%.40s\" is not a real date (yyyy-mm-dd)", field, s ? s : "");
}

/* "12/03/2025" → "2025-03-12", refusing impossible dates. */
static int vn_to_iso_date(const char *s, char out[11], const char *field, struct lt_err *err)
{
	char probe[24];
	int64_t t;
	snprintf(probe, sizeof probe, "%.10s 00:00:00", s ? s : "");
	if (!s || strlen(s) != 10 || lt_date_parse_vn(probe, &t, NULL))
		return lt_err_set(err, LT_ESCHEMA, "%s: \"%.40s\" is not a real date", field, s ? s : "");
	snprintf(out, 11, "%.4s-%.2s-%.2s", s + 6, s + 3, s);
	return LT_OK;
}

/* The registry files addresses by administrative-unit codes. */
static void put_address(struct lt_xmlu_w *w, xmlNodePtr parent, const char *name, const json_t *a,
			const char *field)
{
	const char *province = jstr(json_object_get(a, "province"), "code");
	const char *district = jstr(json_object_get(a, "district"), "code");
	const char *commune = jstr(json_object_get(a, "commune"), "code");
	if (w->rc)
		return;
	if (!province || !commune) {
		w->rc = lt_err_set(w->err, LT_ESCHEMA, "%s: the civil registry needs province.code and commune.code",
				   field);
		return;
	}
	xmlNodePtr el = lt_xmlu_add(w, parent, name, NULL, field);
	lt_xmlu_add(w, el, "maTinh", province, field);
	lt_xmlu_add_opt(w, el, "maHuyen", district, field);
	lt_xmlu_add(w, el, "maXa", commune, field);
	lt_xmlu_add_opt(w, el, "diaChiChiTiet", jstr(a, "detail"), field);
}

/* One person (a role of detail.registration) as prefixed elements. */
static void put_person(struct lt_xmlu_w *w, xmlNodePtr root, const struct role *r, const json_t *person,
		       const char *what)
{
	for (const struct field *f = r->fields; f->key && !w->rc; f++) {
		char field[128], name[48], buf[24];
		snprintf(field, sizeof field, "detail.registration.%s.%s", r->key, f->key);
		snprintf(name, sizeof name, "%s%s", r->prefix, f->wire);
		const json_t *v = json_object_get(person, f->key);
		const char *s = json_string_value(v);
		if (!v || json_is_null(v)) {
			if (f->required)
				w->rc = lt_err_set(w->err, LT_ESCHEMA, "%s: the civil registry needs it for a %s registration",
						   field, what);
			continue;
		}
		if (f->conv == C_ADDRESS) {
			if (!json_is_object(v))
				w->rc = lt_err_set(w->err, LT_ESCHEMA, "%s: must be an address object", field);
			else
				put_address(w, root, name, v, field);
			continue;
		}
		if (f->conv == C_YEAR && json_is_integer(v)) {
			snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
			s = buf;
		}
		if (!s) {
			w->rc = lt_err_set(w->err, LT_ESCHEMA, "%s: must be a string", field);
			continue;
		}
		if (f->conv == C_GENDER) {
			const char *g = lt_code_to_wire(&gender_codes, s, NULL);
			if (!g) {
				char known[128];
				w->rc = lt_err_set(w->err, LT_ESCHEMA, "%s: \"%.32s\" is not one of %s", field, s,
						   lt_code_list(&gender_codes, 1, known, sizeof known));
				continue;
			}
			s = g;
		} else if (f->conv == C_DATE) {
			if ((w->rc = iso_to_vn_date(s, buf, field, w->err)))
				continue;
			s = buf;
		} else if (f->conv == C_DATETIME) {
			if (lt_date_rfc3339_to_vn(s, buf, NULL)) {
				w->rc = lt_err_set(w->err, LT_ESCHEMA, "%s: \"%.40s\" is not an RFC 3339 time with offset",
						   field, s);
				continue;
			}
			s = buf;
		}
		lt_xmlu_add(w, root, name, s, field);
	}
}

/* The requester: detail.registration.requester, else the dossier's applicant
 * (its address only when it carries the codes the registry files by). */
static void put_requester(struct lt_xmlu_w *w, xmlNodePtr root, const json_t *reg, const json_t *dossier)
{
	const json_t *r = json_object_get(reg, "requester");
	if (r) {
		if (!json_is_object(r))
			w->rc = lt_err_set(w->err, LT_ESCHEMA, "detail.registration.requester: must be an object");
		else
			put_person(w, root, &requester_role, r, "civil-registry");
		return;
	}
	const json_t *app = json_object_get(dossier, "applicant");
	const json_t *addr = json_object_get(app, "address");
	if (!jstr(app, "name")) {
		w->rc = lt_err_set(w->err, LT_ESCHEMA, "detail.registration.requester: the civil registry needs the "
				   "requester (or dossier.applicant.name)");
		return;
	}
	lt_xmlu_add(w, root, "nycHoTen", jstr(app, "name"), "dossier.applicant.name");
	lt_xmlu_add_opt(w, root, "nycSoDinhDanh", jstr(app, "id_number"), "dossier.applicant.id_number");
	if (jstr(json_object_get(addr, "province"), "code") && jstr(json_object_get(addr, "commune"), "code"))
		put_address(w, root, "nycNoiCuTru", addr, "dossier.applicant.address");
}

/* dossier.documents → dinhKem ten/sha256/link. */
static void put_documents(struct lt_xmlu_w *w, xmlNodePtr root, const json_t *docs)
{
	size_t i;
	const json_t *d;
	json_array_foreach(docs, i, d) {
		char field[64];
		snprintf(field, sizeof field, "dossier.documents[%zu]", i);
		const char *digest = jstr(d, "digest");
		xmlNodePtr el = lt_xmlu_add(w, root, "dinhKem", NULL, field);
		lt_xmlu_set(w, el, "ten", jstr(d, "name"), field);
		lt_xmlu_set(w, el, "sha256", digest && strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest, field);
		lt_xmlu_set(w, el, "link", jstr(d, "link"), field);
	}
}

/* Once at start: compile the five XSDs and the canonical schema. */
static int civilreg_init(struct lt_err *err)
{
	if (canonical)
		return LT_OK;
	for (int k = 0; k < NKINDS; k++)
		if (!schemas[k] && !(schemas[k] = lt_xmlu_schema_load("civilreg", kind_names[k], err)))
			return err ? err->code : LT_ECONFIG;
	char path[1024];
	snprintf(path, sizeof path, "%s/canonical-event.schema.json", lt_schema_dir());
	canonical = lt_schema_load(path, err);
	return canonical ? LT_OK : (err ? err->code : LT_EIO);
}

/* POST of an XML body to path (NULL or "" = the peer's url). */
static void set_request(struct lt_request *out, const char *path)
{
	snprintf(out->method, sizeof out->method, "POST");
	snprintf(out->path, sizeof out->path, "%s", path ? path : "");
	snprintf(out->content_type, sizeof out->content_type, "application/xml; charset=utf-8");
}

/* dossier.received of a birth, death or marriage procedure → HoSoDangKy
 * (unsigned; the gateway appends the Signature). Refuses other events
 * (LT_EINVAL) and events without what the registry needs (LT_ESCHEMA). */
static int civilreg_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			   struct lt_request *out, struct lt_err *err)
{
	const char *type = jstr(event, "type");
	const json_t *dossier = json_object_get(event, "dossier");
	const char *proc = jstr(json_object_get(dossier, "procedure"), "code");
	if (!type || strcmp(type, "dossier.received") != 0)
		return lt_err_set(err, LT_EINVAL, "the civil registry takes dossier.received of a civil-registry "
				  "procedure, not %.64s", type ? type : "an event without a type");
	struct lt_err merr = { 0 };
	const char *module = lt_code_to_wire(&module_codes, proc, &merr);
	if (!module)
		return lt_err_set(err, LT_EINVAL, "the civil registry takes dossier.received of a civil-registry "
				  "procedure, not procedure %.32s (%s)", proc ? proc : "(missing)", merr.msg);
	const char *unit = lt_peer_param(peer, "ma_don_vi");
	if (!unit || !*unit)
		return lt_err_set(err, LT_EINVAL, "peer %s: param.ma_don_vi (the registry's unit code) is not set",
				  peer->name);
	if (!ctx || !ctx->message_id)
		return lt_err_set(err, LT_EINVAL, "no message id for the civil registry's maHoSoLT");
	const json_t *reg = json_object_get(json_object_get(event, "detail"), "registration");
	if (!json_is_object(reg))
		return lt_err_set(err, LT_ESCHEMA, "detail.registration: the civil registry needs the registration "
				  "data (child, parents, requester…; see adapters/civilreg.c)");
	const struct module *m = NULL;
	for (size_t i = 0; i < sizeof modules / sizeof *modules; i++)
		if (strcmp(modules[i].code, module) == 0)
			m = &modules[i];
	if (!m)
		return lt_err_set(err, LT_EINVAL, "module %s has no registration layout", module);

	char when[32], received[20];
	int64_t t;
	if (lt_date_parse_rfc3339(jstr(event, "occurred_at"), &t, &merr))
		return lt_err_set(err, LT_ESCHEMA, "occurred_at: %s", merr.msg);
	lt_date_format_rfc3339(t, when);
	if (lt_date_rfc3339_to_vn(jstr(dossier, "received_at"), received, &merr))
		return lt_err_set(err, LT_ESCHEMA, "dossier.received_at: the civil registry needs the receipt time "
				  "(%s)", merr.msg);

	struct lt_xmlu_w w;
	xmlNodePtr root = lt_xmlu_begin(&w, err, NS, NULL, "HoSoDangKy");
	lt_xmlu_set(&w, root, "messageId", ctx->message_id, "message id");
	lt_xmlu_set(&w, root, "thoiGian", when, "occurred_at");
	lt_xmlu_add(&w, root, "maDonVi", unit, "param.ma_don_vi");
	lt_xmlu_add(&w, root, "module", module, "dossier.procedure.code");
	lt_xmlu_add(&w, root, "maHoSoLT", ctx->message_id, "message id");
	lt_xmlu_add(&w, root, "maHoSoMCDT", jstr(event, "dossier_code"), "dossier_code");
	lt_xmlu_add(&w, root, "ngayTiepNhan", received, "dossier.received_at");
	for (int i = 0; i < 3 && m->roles[i].key && !w.rc; i++) {
		const struct role *r = &m->roles[i];
		const json_t *person = json_object_get(reg, r->key);
		if (!person && r->required)
			w.rc = lt_err_set(err, LT_ESCHEMA, "detail.registration.%s: the civil registry needs it for a "
					  "%s registration (%s)", r->key, m->what, m->code);
		else if (person && !json_is_object(person))
			w.rc = lt_err_set(err, LT_ESCHEMA, "detail.registration.%s: must be an object", r->key);
		else if (person)
			put_person(&w, root, r, person, m->what);
	}
	if (!w.rc && strcmp(m->code, "LTKS") == 0 && !json_object_get(reg, "mother") &&
	    !json_object_get(reg, "father"))
		w.rc = lt_err_set(err, LT_ESCHEMA, "detail.registration: a birth registration needs the mother or the "
				  "father");
	put_requester(&w, root, reg, dossier);
	put_documents(&w, root, json_object_get(dossier, "documents"));
	int rc = lt_xmlu_finish(&w, schemas[K_REQUEST], "civil registry request", &out->body);
	if (!rc)
		set_request(out, lt_peer_param(peer, "path"));
	return rc;
}

/* o[key] = v, unless v is NULL or empty. */
static void set_opt(json_t *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

enum { F_LT, F_MC, F_TT, F_ID, F_SO, F_QUYEN, F_TRANG, F_NGAY, F_LYDO, NF };
static const char *const result_fields[NF] = { "maHoSoLT", "maHoSoMCDT", "trangThai", "soDinhDanh", "soDangKy",
					       "quyenSo", "trangSo", "ngayDangKy", "lyDo" };

/* One validated KetQuaDangKy → its canonical event (appended to out); *when is
 * its thoiGian (unix seconds) and when_s the text. */
static int result_event(const struct lt_peer *peer, xmlNodePtr item, json_t *out, int64_t *when, char when_s[64],
			struct lt_err *err)
{
	char path[256], occurred[32], day[11];
	char *v[NF], *thoi = lt_xmlu_attr_text(item, "thoiGian");
	struct lt_err e = { 0 };
	json_t *detail = NULL, *ev = NULL;
	const char *const *st = NULL;
	int rc = LT_OK;
	lt_xmlu_path(item, path, sizeof path);
	for (int i = 0; i < NF; i++)
		v[i] = lt_xmlu_text(item, result_fields[i]);
	if (lt_date_parse_rfc3339(thoi, when, &e)) {
		rc = lt_err_set(err, LT_ESCHEMA, "%s/@thoiGian: %s", path, e.msg);
		goto done;
	}
	snprintf(when_s, 64, "%s", thoi);
	lt_date_format_rfc3339(*when, occurred);
	int64_t code = 0;       /* range-checked: a huge trangThai must not wrap onto a known one */
	if (v[F_TT] && lt_parse_int64(v[F_TT], 0, 99, &code, NULL))
		code = 0;
	char code_s[24], known[128];
	snprintf(code_s, sizeof code_s, "%d", (int)code);
	if (!(st = lt_code_find(&result_states, R_CODE, code_s))) {
		rc = lt_err_set(err, LT_ESCHEMA, "%s/trangThai: unknown status \"%.16s\" (known: %s)", path,
				v[F_TT] ? v[F_TT] : "", lt_code_list(&result_states, R_CODE, known, sizeof known));
		goto done;
	}
	detail = json_pack("{s:s,s:i}", "registry_dossier_id", v[F_LT] ? v[F_LT] : "", "status_code", (int)code);
	if (strcmp(st[R_EVENT], "registry.registered") == 0) {
		if (!v[F_SO]) {
			rc = lt_err_set(err, LT_ESCHEMA, "%s/soDangKy: a registered result (trangThai %s) needs the "
					"registration number", path, code_s);
			goto done;
		}
		set_opt(detail, "personal_id", v[F_ID]);
		set_opt(detail, "registration_number", v[F_SO]);
		set_opt(detail, "book", v[F_QUYEN]);
		set_opt(detail, "page", v[F_TRANG]);
		if (v[F_NGAY]) {
			char field[300];
			snprintf(field, sizeof field, "%s/ngayDangKy", path);
			if ((rc = vn_to_iso_date(v[F_NGAY], day, field, err)))
				goto done;
			json_object_set_new(detail, "registered_on", json_string(day));
		}
		xmlNodePtr cert = lt_xmlu_child(item, "giayChungNhan");
		if (cert) {
			char *ten = lt_xmlu_attr_text(cert, "ten"), *sha = lt_xmlu_attr_text(cert, "sha256");
			char *link = lt_xmlu_attr_text(cert, "link");
			json_t *doc = json_pack("{s:s}", "name", ten ? ten : "");
			if (sha)
				json_object_set_new(doc, "digest", json_sprintf("sha256:%s", sha));
			set_opt(doc, "link", link);
			json_object_set_new(detail, "certificate", doc);
			free(ten), free(sha), free(link);
		}
	} else if (st[R_STEP]) {
		json_object_set_new(detail, "step", json_pack("{s:s}", "name", st[R_STEP]));
	} else {
		set_opt(detail, "reason", v[F_LYDO]);
	}
	ev = json_pack("{s:s,s:s,s:s,s:s,s:O}", "type", st[R_EVENT], "occurred_at", occurred, "source", peer->name,
		       "dossier_code", v[F_MC] ? v[F_MC] : "", "detail", detail);
	if (!ev) {
		rc = lt_err_set(err, LT_ENOMEM, "out of memory building an event");
	} else if (lt_schema_validate_def(canonical, "event", ev, &e)) {
		rc = lt_err_set(err, LT_ESCHEMA, "%s: does not make a valid canonical event: %s", path, e.msg);
	} else {
		json_array_append(out, ev);
	}
done:
	json_decref(ev);
	json_decref(detail);
	for (int i = 0; i < NF; i++)
		free(v[i]);
	free(thoi);
	return rc;
}

/* Every result of a validated KetQuaDangKy or DanhSachKetQua → events, appended
 * to out only when all are good; *latest / latest_s: the newest thoiGian seen
 * (left alone when there is none). */
static int collect(const struct lt_peer *peer, xmlNodePtr root, json_t *out, int64_t *latest, char latest_s[64],
		   struct lt_err *err)
{
	json_t *events = json_array();
	int rc = LT_OK;
	int list = lt_xmlu_is(root, NS, "DanhSachKetQua");
	for (xmlNodePtr it = list ? lt_xmlu_child(root, "KetQuaDangKy") : root; it && !rc;
	     it = list ? lt_xmlu_next(it, "KetQuaDangKy") : NULL) {
		int64_t when;
		char when_s[64];
		rc = result_event(peer, it, events, &when, when_s, err);
		if (!rc && when >= *latest) {
			*latest = when;
			snprintf(latest_s, 64, "%s", when_s);
		}
	}
	if (!rc)
		json_array_extend(out, events);
	json_decref(events);
	return rc;
}

/* Parse and validate a document whose root must be kind `want` (or `alt`; -1 = none). */
static int load_doc(const char *body, size_t len, int want, int alt, xmlDocPtr *doc, struct lt_err *err)
{
	int rc = lt_xmlu_parse(body, len, doc, err);
	if (rc)
		return rc;
	xmlNodePtr root = xmlDocGetRootElement(*doc);
	int kind = lt_xmlu_is(root, NS, root_names[want]) ? want
		   : alt >= 0 && lt_xmlu_is(root, NS, root_names[alt]) ? alt : -1;
	if (kind < 0)
		rc = lt_err_set(err, LT_ESCHEMA, "/%.64s: expected %s%s%s in namespace " NS ", not in \"%.100s\"",
				(const char *)root->name, root_names[want], alt >= 0 ? " or " : "",
				alt >= 0 ? root_names[alt] : "", root->ns ? (const char *)root->ns->href : "");
	else
		rc = lt_xmlu_validate(schemas[kind], *doc, err);
	if (rc) {
		xmlFreeDoc(*doc);
		*doc = NULL;
	}
	return rc;
}

/* A result callback: KetQuaDangKy or DanhSachKetQua → one event per result.
 * The Signature the gateway verified is still in the document and ignored. */
static int civilreg_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out,
			   struct lt_err *err)
{
	xmlDocPtr doc;
	int rc = load_doc(body, len, K_RESULT, K_RESULTS, &doc, err);
	if (rc)
		return rc;
	int64_t latest = INT64_MIN;
	char latest_s[64] = "";
	rc = collect(peer, xmlDocGetRootElement(doc), out, &latest, latest_s, err);
	xmlFreeDoc(doc);
	return rc;
}

/* A carried event about the request's dossier, or NULL when the stored event
 * lacks a dossier code. */
static json_t *carried(const struct lt_peer *peer, const json_t *event, const char *type, json_t *detail)
{
	const char *code = jstr(event, "dossier_code");
	if (!code) {
		json_decref(detail);
		return NULL;
	}
	char now[32];
	lt_date_format_rfc3339(lt_now_ms() / 1000, now);
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:o}", "type", type, "occurred_at", now, "source", peer->name,
			       "dossier_code", code, "detail", detail);
	const json_t *proc = json_object_get(json_object_get(event, "dossier"), "procedure");
	if (ev && proc)
		json_object_set_new(ev, "dossier", json_pack("{s:O}", "procedure", proc));
	return ev;
}

/* The registry's KetQuaTiepNhan: accepted → LT_DONE + registry.submitted;
 * refused → LT_DEAD + registry.refused (the office learns why). Not 2xx →
 * the default rule; a 2xx that is not a valid answer, or one whose maHoSoLT
 * is not this request's (ctx->message_id) — an answer to another request,
 * replayed — → LT_RETRY and no event (the request is idempotent by maHoSoLT). */
static enum lt_verdict civilreg_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx,
					const json_t *event, const struct lt_response *rsp, json_t *out,
					struct lt_err *err)
{
	if (rsp->status < 200 || rsp->status >= 300)
		return lt_outcome_default(rsp, err);
	xmlDocPtr doc;
	struct lt_err e = { 0 };
	if (load_doc(rsp->body ? rsp->body : "", rsp->len, K_ANSWER, -1, &doc, &e)) {
		lt_err_set(err, LT_EIO, "%s answered %ld with no valid KetQuaTiepNhan: %s", peer->name, rsp->status,
			   e.msg);
		return LT_RETRY;
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	char *status = lt_xmlu_text(root, "status"), *code = lt_xmlu_text(root, "errorCode");
	char *desc = lt_xmlu_text(root, "errorDescription"), *id = lt_xmlu_text(root, "maHoSoLT");
	xmlFreeDoc(doc);
	const char *want = ctx && ctx->message_id ? ctx->message_id : NULL;
	if (!id || !want || strcmp(id, want)) {
		lt_err_set(err, LT_EIO, "%s answered about maHoSoLT \"%.64s\", not this request's \"%.64s\": not an "
			   "answer to it", peer->name, id ? id : "(none)", want ? want : "(none)");
		free(status), free(code), free(desc), free(id);
		return LT_RETRY;
	}
	int64_t n = 0;          /* errorCode, range-checked: "4294967296" is no 0 */
	int numeric = code && lt_parse_int64(code, -999999999, 999999999, &n, NULL) == LT_OK;
	int ok = status && strcmp(status, "1") == 0 && numeric && n == 0;
	const char *proc = jstr(json_object_get(json_object_get(event, "dossier"), "procedure"), "code");
	const char *module = lt_code_to_wire(&module_codes, proc, NULL);
	json_t *ev;
	if (ok) {
		json_t *d = json_pack("{s:s}", "registry_dossier_id", id);
		set_opt(d, "module", module);
		ev = carried(peer, event, "registry.submitted", d);
	} else {
		json_t *d = json_pack("{s:I}", "status_code", (json_int_t)n);
		set_opt(d, "reason", desc);
		set_opt(d, "registry_dossier_id", id);
		ev = carried(peer, event, "registry.refused", d);
		lt_err_set(err, LT_EINVAL, "the civil registry refused dossier %.64s: errorCode %s: %.300s",
			   jstr(event, "dossier_code") ? jstr(event, "dossier_code") : "?", code ? code : "?",
			   desc ? desc : "(no description)");
	}
	if (ev)
		json_array_append_new(out, ev);
	free(status), free(code), free(desc), free(id);
	return ok ? LT_DONE : LT_DEAD;
}

/* Pull mode: TraCuuKetQua for results after the cursor (an RFC 3339 time; the
 * epoch the first time), POSTed to param poll_path. */
static int civilreg_poll(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const char *cursor,
			 struct lt_request *out, struct lt_err *err)
{
	const char *unit = lt_peer_param(peer, "ma_don_vi");
	const char *path = lt_peer_param(peer, "poll_path");
	const char *from = cursor && *cursor ? cursor : EPOCH;
	int64_t t;
	struct lt_err e = { 0 };
	if (!unit || !*unit)
		return lt_err_set(err, LT_EINVAL, "peer %s: param.ma_don_vi (the registry's unit code) is not set",
				  peer->name);
	if (lt_date_parse_rfc3339(from, &t, &e))
		return lt_err_set(err, LT_EINVAL, "cursor of %s: %s", peer->name, e.msg);
	char now[32];
	lt_date_format_rfc3339(lt_now_ms() / 1000, now);
	struct lt_xmlu_w w;
	xmlNodePtr root = lt_xmlu_begin(&w, err, NS, NULL, "TraCuuKetQua");
	lt_xmlu_set(&w, root, "messageId", ctx && ctx->message_id ? ctx->message_id : "poll", "message id");
	lt_xmlu_set(&w, root, "thoiGian", now, "now");
	lt_xmlu_add(&w, root, "maDonVi", unit, "param.ma_don_vi");
	lt_xmlu_add(&w, root, "tuThoiDiem", from, "cursor");
	int rc = lt_xmlu_finish(&w, schemas[K_POLL], "civil registry poll", &out->body);
	if (!rc)
		set_request(out, path && *path ? path : "/ketqua/tracuu");
	return rc;
}

/* The poll's answer, a DanhSachKetQua → events; next_cursor becomes the newest
 * of: its value on entry (the old cursor, when the gateway passes it), the
 * echoed tuThoiDiem, and every result's thoiGian. An empty answer that echoes
 * nothing is refused, so the cursor is never lost. */
static int civilreg_poll_result(const struct lt_peer *peer, const struct lt_response *rsp, json_t *out,
				char next_cursor[512], struct lt_err *err)
{
	if (rsp->status < 200 || rsp->status >= 300)
		return lt_err_set(err, LT_EIO, "%s answered %ld", peer->name, rsp->status);
	xmlDocPtr doc;
	int rc = load_doc(rsp->body ? rsp->body : "", rsp->len, K_RESULTS, -1, &doc, err);
	if (rc)
		return rc;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	int64_t latest = INT64_MIN, t;
	char latest_s[64] = "";
	if (next_cursor[0] && !lt_date_parse_rfc3339(next_cursor, &t, NULL)) {
		latest = t;
		snprintf(latest_s, sizeof latest_s, "%.63s", next_cursor);
	}
	char *echo = lt_xmlu_attr_text(root, "tuThoiDiem");
	if (echo && !lt_date_parse_rfc3339(echo, &t, NULL) && t >= latest) {
		latest = t;
		snprintf(latest_s, sizeof latest_s, "%.63s", echo);
	}
	free(echo);
	size_t before = json_array_size(out);
	rc = collect(peer, root, out, &latest, latest_s, err);
	xmlFreeDoc(doc);
	if (rc)
		return rc;
	if (!latest_s[0] && json_array_size(out) == before)
		return lt_err_set(err, LT_ESCHEMA, "/DanhSachKetQua/@tuThoiDiem: an empty poll answer must echo "
				  "tuThoiDiem, or the cursor would be lost");
	snprintf(next_cursor, 512, "%s", latest_s);
	return LT_OK;
}

/* A registry document names itself on its root: messageId (the registry's id
 * of this message, which must be its X-Message-Id) and thoiGian (RFC 3339),
 * both signed. KetQuaDangKy requires them; the schema leaves them optional on
 * DanhSachKetQua and KetQuaTiepNhan, which may then come without. */
static int civilreg_bind(const xmlNode *root, struct lt_signed_fields *out, struct lt_err *err)
{
	char when[64];
	struct lt_err e = { 0 };
	snprintf(out->time_field, sizeof out->time_field, "/%.64s/@thoiGian", (const char *)root->name);
	snprintf(out->id_field, sizeof out->id_field, "/%.64s/@messageId", (const char *)root->name);
	out->id_is_message_id = 1;
	if (lt_xmlu_signed_text(root, "thoiGian", out->time_field, when, sizeof when, err) ||
	    lt_xmlu_signed_text(root, "messageId", out->id_field, out->id, 129, err))
		return LT_EAUTH;
	if (when[0] && lt_date_parse_rfc3339(when, &out->time, &e))
		return lt_err_set(err, LT_EAUTH, "%s of the signed document: %s", out->time_field, e.msg);
	out->has_time = when[0] != '\0';
	return LT_OK;
}

/* What the registry sends to the gateway signed: results by callback, and its
 * answers (should one come inbound, it is bound like the rest). */
static const struct lt_xml_kind xml_kinds[] = {
	{ NS, "KetQuaDangKy", civilreg_bind },
	{ NS, "DanhSachKetQua", civilreg_bind },
	{ NS, "KetQuaTiepNhan", civilreg_bind },
	{ NULL, NULL, NULL },
};

static const struct lt_adapter_param params[] = {
	{ "ma_don_vi", 1, NULL, "the office's unit code at the civil registry (maDonVi)", "H12.01957" },
	{ "path", 0, "the peer's url", "where requests are posted, after the peer's url", "/hoso" },
	{ "poll_path", 0, "/ketqua/tracuu", "pull: where result queries are posted", "/ketqua/tracuu" },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct lt_adapter lt_adapter_civilreg = {
	.name = "civilreg",
	.about = "the civil registry (signed XML): birth, death and marriage requests out, results in",
	.params = params,
	.content_type = "application/xml",
	.answers_signed = 1,            /* "request and callback alike" (PEERS.md) */
	.init = civilreg_init,
	.decode = civilreg_decode,
	.encode = civilreg_encode,
	.outcome = civilreg_outcome,
	.poll = civilreg_poll,
	.poll_result = civilreg_poll_result,
	.xml_kinds = xml_kinds,
	.codes = code_tables,
};
