/* onestop.c — the local one-stop software (iGate-shaped dossier JSON): the
 * events it pushes, the records the gateway pulls from its search endpoint,
 * and the deliveries it receives. Wire format: schemas/onestop/, PEERS.md.
 *
 * Peer params: inbound_path (deliveries, default /lienthong/events),
 * search_path (pull, default /dossiers/search), page_size (pull, 1..1000,
 * default 100), pull_since (pull: where the first poll starts, an ISO 8601
 * time with offset; default the epoch). */
#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* ---- code tables (rows in codes/onestop.codes) ----------------------------- */

/* applyMethod.id → channel. iGate counts from 0, unlike the portal's 1/2/3. */
static const struct lt_code_column apply_method_cols[] = {
	{ "id", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "channel", LT_COL_CANONICAL, "dossier.channel", 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table apply_methods = { "onestop.apply_method", "applyMethod", apply_method_cols, 0 };

/* status.id → portal TrangThaiHoSo 1..10. */
static const struct lt_code_column status_cols[] = {
	{ "id", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "TrangThaiHoSo", LT_COL_INT, NULL, 1, 10, LT_COL_UNIQUE },
	{ "meaning", LT_COL_TEXT, NULL, 0, 0, LT_COL_OPTIONAL },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table statuses = { "onestop.status", "status", status_cols, 0 };

/* Push `event` names that are iGate actions; canonical type names
 * ("dossier.step") are accepted as they are. */
static const struct lt_code_column action_cols[] = {
	{ "event", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "type", LT_COL_CANONICAL, "event.type", 0, 0, LT_COL_UNIQUE },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table actions = { "onestop.action", "event", action_cols, 0 };

static const struct lt_code_table *const code_tables[] = { &apply_methods, &statuses, &actions, NULL };
/* returnMethod.id uses the portal's HinhThuc numbers (0 counter, 1 post) and
 * applicant.type its LoaiDoiTuong (1..4): the shared tables of codes.h. */

/* Record dates ↔ canonical dossier dates. */
static const char *const dates[][2] = {
	{ "appliedDate", "received_at" }, { "appointmentDate", "due_at" },
	{ "completedDate", "resolved_at" }, { "returnedDate", "returned_at" },
};

static struct lt_schema *push_schema, *page_schema, *delivery_schema, *canonical_schema;

/* A pull cursor "TIME|ID": TIME in RFC 3339 with milliseconds, ID the record id. */
struct cursor {
	int64_t ms;
	char id[65];
};

/* ---- small helpers ------------------------------------------------------- */

/* A non-empty string member, or NULL (iGate sends null or "" for "none"). */
static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : NULL;
}

/* Set o[key] to the new reference v, when there is one. */
static void put(json_t *o, const char *key, json_t *v)
{
	if (v)
		json_object_set_new(o, key, v);
}

static void put_str(json_t *o, const char *key, const char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
}

/* A table code as text: integers in decimal, strings as they are; "" if absent. */
static void wire_code(const json_t *v, char out[32])
{
	if (json_is_integer(v))
		snprintf(out, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		snprintf(out, 32, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* A wire code for output: an integer when it is all digits, else a string. */
static json_t *wire_value(const char *code)
{
	if (code[0] && strspn(code, "0123456789") == strlen(code) && strlen(code) < 10)
		return json_integer(atoi(code));
	return json_string(code);
}

/* Table lookup whose refusal names the wire field:
 * `/dossier/applyMethod/id: unknown code "5"`. NULL when refused. */
static const char *lookup(const struct lt_code_table *t, const json_t *v, const char *ptr, const char *field,
			  struct lt_err *err)
{
	char code[32];
	wire_code(v, code);
	const char *c = lt_code_to_canonical(t, code, NULL);
	if (!c)
		lt_err_set(err, LT_ESCHEMA, "%s/%s: unknown code \"%s\"", ptr, field, code);
	return c;
}

/* A peer param as an integer in [1, max]; dflt when unset, -1 when malformed. */
static int param_int(const struct lt_peer *peer, const char *name, int dflt, int max)
{
	const char *s = lt_peer_param(peer, name);
	char *end;
	if (!s)
		return dflt;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= 1 && v <= max ? (int)v : -1;
}

static const char *param_str(const struct lt_peer *peer, const char *name, const char *dflt)
{
	const char *s = lt_peer_param(peer, name);
	return s && *s ? s : dflt;
}

/* ---- dates --------------------------------------------------------------- */

/* An iGate date ("2025-03-10T08:15:00.000+0700", or with +07:00, or Z) →
 * milliseconds since the epoch. 0, or LT_EINVAL when it is not a real time. */
static int igate_time(const char *s, int64_t *ms, struct lt_err *err)
{
	char buf[48];
	size_t n = s ? strlen(s) : 0;
	int64_t t;
	int frac = 0;
	if (n < 20 || n > 40)
		return lt_err_set(err, LT_EINVAL, "\"%.40s\" is not an ISO 8601 time with an offset", s ? s : "");
	memcpy(buf, s, n + 1);
	if ((buf[n - 5] == '+' || buf[n - 5] == '-') && strspn(buf + n - 4, "0123456789") == 4) {
		memmove(buf + n - 1, buf + n - 2, 3); /* +0700 → +07:00 */
		buf[n - 2] = ':';
	}
	if (lt_date_parse_rfc3339(buf, &t, err))
		return lt_err_set(err, LT_EINVAL, "\"%.40s\" is not a real date and time with an offset", s);
	if (buf[19] == '.')
		for (int i = 0, scale = 100; i < 3 && buf[20 + i] >= '0' && buf[20 + i] <= '9'; i++, scale /= 10)
			frac += (buf[20 + i] - '0') * scale;
	*ms = t * 1000 + frac;
	return LT_OK;
}

/* Whole seconds of a millisecond time, rounded down. */
static int64_t floor_s(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* Milliseconds → "2025-03-10T08:15:00.123+07:00" (the cursor's form), or
 * with igate set, "2025-03-10T08:15:00.123+0700" (what iGate emits). */
static void format_ms(int64_t ms, int igate, char out[40])
{
	int64_t s = floor_s(ms);
	char r[32];
	lt_date_format_rfc3339(s, r); /* yyyy-mm-ddThh:mm:ss+07:00 */
	snprintf(out, 40, "%.19s.%03d%s", r, (int)(ms - s * 1000), igate ? "+0700" : r + 19);
}

/* rec[field], an optional iGate date, → dst[key] in RFC 3339 (+07:00). */
static int take_date(json_t *dst, const char *key, const json_t *rec, const char *field, const char *ptr,
		     struct lt_err *err)
{
	const char *s = str(rec, field);
	int64_t ms;
	char out[32];
	if (!s)
		return LT_OK;
	if (igate_time(s, &ms, NULL))
		return lt_err_set(err, LT_ESCHEMA, "%s/%s: \"%.40s\" is not a real date and time", ptr, field, s);
	lt_date_format_rfc3339(floor_s(ms), out);
	put_str(dst, key, out);
	return LT_OK;
}

/* src[key], a canonical RFC 3339 time, → dst[field] in iGate's form. */
static int give_date(json_t *dst, const char *field, const json_t *src, const char *key, struct lt_err *err)
{
	const char *s = str(src, key);
	int64_t t;
	char out[40];
	if (!s)
		return LT_OK;
	if (lt_date_parse_rfc3339(s, &t, err))
		return lt_err_set(err, LT_EINVAL, "%s: \"%.40s\" is not RFC 3339", key, s);
	format_ms(t * 1000, 1, out);
	put_str(dst, field, out);
	return LT_OK;
}

/* ---- record → canonical event ------------------------------------------ */

/* {code, name} of an agency, sector, procedure or unit; NULL when it has neither. */
static json_t *named(const json_t *o)
{
	const char *c = str(o, "code"), *n = str(o, "name");
	if (!c && !n)
		return NULL;
	json_t *r = json_object();
	put_str(r, "code", c);
	put_str(r, "name", n);
	return r;
}

/* applicant {type, data {fullname, identityNumber, phoneNumber, email,
 * address {province, district?, ward, detail}}} → canonical applicant.
 * Both address shapes pass; a missing district stays missing. */
static int take_applicant(json_t *d, const json_t *a, const char *ptr, struct lt_err *err)
{
	const json_t *data = json_object_get(a, "data"), *type = json_object_get(a, "type");
	if (!json_is_object(data))
		return LT_OK;
	json_t *ca = json_object();
	json_object_set_new(d, "applicant", ca);
	if (json_is_integer(type) || str(a, "type")) {
		const char *t = lookup(&lt_applicant_type_codes, type, ptr, "applicant/type", err);
		if (!t)
			return LT_ESCHEMA;
		put_str(ca, "type", t);
	}
	put_str(ca, "name", str(data, "fullname"));
	put_str(ca, "id_number", str(data, "identityNumber"));
	put_str(ca, "phone", str(data, "phoneNumber"));
	put_str(ca, "email", str(data, "email"));
	const json_t *addr = json_object_get(data, "address");
	json_t *province = named(json_object_get(addr, "province")), *district = named(json_object_get(addr, "district")),
	       *ward = named(json_object_get(addr, "ward"));
	const char *detail = str(addr, "detail");
	if (!province && !district && !ward && !detail)
		return LT_OK;
	json_t *ad = json_object();
	json_object_set_new(ca, "address", ad);
	put(ad, "province", province);
	put(ad, "district", district);
	put(ad, "commune", ward);
	put_str(ad, "detail", detail);
	if ((!province || !ward) && !detail)
		return lt_err_set(err, LT_ESCHEMA, "%s/applicant/data/address: needs province and ward, or detail", ptr);
	return LT_OK;
}

/* The dossier record at `ptr` → occurred_at (updatedDate), dossier_code,
 * national_code and dossier of ev (which has its type), and detail.step
 * from currentTask[0]. LT_ESCHEMA naming the field. */
static int take_record(json_t *ev, json_t *detail, const json_t *rec, const char *ptr, struct lt_err *err)
{
	json_t *d = json_object(), *v;
	size_t i;
	if (take_date(ev, "occurred_at", rec, "updatedDate", ptr, err))
		return (json_decref(d), LT_ESCHEMA);
	put_str(ev, "dossier_code", str(rec, "code"));
	put_str(ev, "national_code", str(rec, "nationCode"));
	json_object_set_new(ev, "dossier", d);
	put(d, "procedure", named(json_object_get(rec, "procedure")));
	put(d, "field", named(json_object_get(rec, "sector")));
	put(d, "receiving_agency", named(json_object_get(rec, "agency")));
	put(d, "handling_agency", named(json_object_get(rec, "handlingAgency")));
	const char *channel = lookup(&apply_methods, json_object_get(json_object_get(rec, "applyMethod"), "id"), ptr,
				     "applyMethod/id", err);
	const char *status = channel ? lookup(&statuses, json_object_get(json_object_get(rec, "status"), "id"), ptr,
					      "status/id", err) : NULL;
	if (!status)
		return LT_ESCHEMA;
	put_str(d, "channel", channel);
	put(d, "status", json_integer(atoi(status)));
	if (take_applicant(d, json_object_get(rec, "applicant"), ptr, err))
		return LT_ESCHEMA;
	for (i = 0; i < COUNT(dates); i++)
		if (take_date(d, dates[i][1], rec, dates[i][0], ptr, err))
			return LT_ESCHEMA;
	const json_t *ret = json_object_get(json_object_get(rec, "returnMethod"), "id");
	if (ret) {
		const char *via = lookup(&lt_return_via_codes, ret, ptr, "returnMethod/id", err);
		if (!via)
			return LT_ESCHEMA;
		put_str(d, "return_via", via);
	}
	json_t *docs = json_array();
	json_array_foreach(json_object_get(rec, "attachments"), i, v) {
		json_t *doc = json_object();
		put_str(doc, "name", str(v, "name"));
		put_str(doc, "digest", str(v, "digest"));
		put_str(doc, "link", str(v, "url"));
		json_array_append_new(docs, doc);
	}
	put(d, "documents", json_array_size(docs) ? docs : (json_decref(docs), NULL));
	if (json_array_size(json_object_get(rec, "fees")))
		put(d, "fees", json_deep_copy(json_object_get(rec, "fees")));
	put_str(d, "summary", str(rec, "summary"));
	const json_t *task = json_array_get(json_object_get(rec, "currentTask"), 0);
	if (json_is_object(task)) { /* the step the dossier is at now */
		char p[300];
		json_t *step = json_object();
		json_object_set_new(detail, "step", step);
		put_str(step, "code", str(task, "code"));
		put_str(step, "name", str(task, "name"));
		put_str(step, "handler", str(json_object_get(task, "assignee"), "fullname"));
		snprintf(p, sizeof p, "%s/currentTask/0", ptr);
		if (take_date(step, "deadline_at", task, "dueDate", p, err))
			return LT_ESCHEMA;
	}
	return LT_OK;
}

/* Sets detail and source, checks ev against the canonical schema (a last
 * guard: the wire schemas mirror its limits) and appends it. Takes ev. */
static int finish(const struct lt_peer *peer, json_t *ev, json_t *detail, const char *ptr, json_t *events,
		  struct lt_err *err)
{
	struct lt_err e = { 0 };
	put(ev, "detail", json_object_size(detail) ? json_incref(detail) : NULL);
	json_object_set_new(ev, "source", json_string(peer->name));
	int rc = lt_schema_validate_def(canonical_schema, "event", ev, &e);
	if (rc)
		lt_err_set(err, LT_ESCHEMA, "%s: the canonical event it makes is invalid: %s", *ptr ? ptr : "/", e.msg);
	else
		json_array_append(events, ev);
	json_decref(ev);
	return rc ? LT_ESCHEMA : LT_OK;
}

/* apology / supplement {reason, oldAppointmentDate, newAppointmentDate} →
 * detail.reason, old_due_at, new_due_at; the new date becomes dossier.due_at.
 * Without oldAppointmentDate, the record's own appointmentDate is the old one. */
static int take_change(json_t *ev, json_t *detail, const json_t *c, const char *ptr, struct lt_err *err)
{
	json_t *d = json_object_get(ev, "dossier");
	if (!c)
		return LT_OK;
	put_str(detail, "reason", str(c, "reason"));
	if (take_date(detail, "old_due_at", c, "oldAppointmentDate", ptr, err) ||
	    take_date(detail, "new_due_at", c, "newAppointmentDate", ptr, err))
		return LT_ESCHEMA;
	const char *old = str(d, "due_at"), *nw = str(detail, "new_due_at");
	if (!json_object_get(detail, "old_due_at") && old && nw && strcmp(old, nw))
		put_str(detail, "old_due_at", old);
	if (nw)
		json_object_set(d, "due_at", json_object_get(detail, "new_due_at"));
	return LT_OK;
}

/* One push item {event, dossier, reason?, apology?, supplement?, transfer?,
 * detail?} at `base` → one canonical event appended to events. */
static int push_item(const struct lt_peer *peer, const json_t *item, const char *base, json_t *events,
		     struct lt_err *err)
{
	char ptr[300];
	const char *name = str(item, "event"), *type = lt_code_to_canonical(&actions, name, NULL);
	if (!type && name && lt_event_type_known(name))
		type = name;
	if (!type)
		return lt_err_set(err, LT_ESCHEMA, "%s/event: unknown event \"%.64s\"", base, name ? name : "");
	const json_t *apology = json_object_get(item, "apology"), *tr = json_object_get(item, "transfer");
	const json_t *rec = json_object_get(item, "dossier"), *given = json_object_get(item, "detail");
	if (!strcmp(type, "dossier.apology") && !apology)
		return lt_err_set(err, LT_ESCHEMA, "%s/apology: required with event \"%s\"", base, name);
	json_t *ev = json_pack("{s:s}", "type", type);
	json_t *detail = given ? json_deep_copy(given) : json_object();
	int rc;
	snprintf(ptr, sizeof ptr, "%s/dossier", base);
	if ((rc = take_record(ev, detail, rec, ptr, err)))
		goto out;
	put_str(detail, "reason", str(item, "reason"));
	snprintf(ptr, sizeof ptr, "%s/apology", base);
	if ((rc = take_change(ev, detail, apology, ptr, err)))
		goto out;
	snprintf(ptr, sizeof ptr, "%s/supplement", base);
	if ((rc = take_change(ev, detail, json_object_get(item, "supplement"), ptr, err)))
		goto out;
	if (!strcmp(type, "dossier.transferred")) { /* default: receiving → handling agency */
		json_t *from = named(json_object_get(tr, "fromAgency")), *to = named(json_object_get(tr, "toAgency"));
		put(detail, "from_agency", from ? from : named(json_object_get(rec, "agency")));
		put(detail, "to_agency", to ? to : named(json_object_get(rec, "handlingAgency")));
		put_str(detail, "reason", str(tr, "reason"));
		if (!json_object_get(detail, "to_agency")) {
			rc = lt_err_set(err, LT_ESCHEMA, "%s/transfer/toAgency: required when the dossier has "
					"no handlingAgency", base);
			goto out;
		}
	}
	rc = finish(peer, ev, detail, base, events, err);
	ev = NULL;
out:
	json_decref(ev);
	json_decref(detail);
	return rc;
}

/* One push item or {"events":[…]} (≤ 100) → events; nothing is kept unless
 * every item maps. LT_EINVAL for bad JSON, LT_ESCHEMA naming the field. */
static int onestop_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out,
			  struct lt_err *err)
{
	json_t *doc = lt_json_parse("body", body, len, 0, err);
	if (!doc)
		return err->code;
	int rc = lt_schema_validate(push_schema, doc, err);
	json_t *events = json_array(), *list = json_object_get(doc, "events"), *item;
	size_t i;
	if (!rc && list) {
		json_array_foreach(list, i, item) {
			char base[32];
			snprintf(base, sizeof base, "/events/%zu", i);
			if ((rc = push_item(peer, item, base, events, err)))
				break;
		}
	} else if (!rc) {
		rc = push_item(peer, doc, "", events, err);
	}
	if (!rc)
		json_array_extend(out, events);
	json_decref(events);
	json_decref(doc);
	return rc;
}

/* ---- pull ---------------------------------------------------------------- */

/* "TIME|ID" → c; LT_EINVAL naming the cursor when it is not one of ours. */
static int parse_cursor(const char *s, struct cursor *c, struct lt_err *err)
{
	static const char idchars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
	const char *bar = strchr(s, '|');
	char t[48];
	if (!bar || bar - s >= (long)sizeof t || strlen(bar + 1) >= sizeof c->id ||
	    strspn(bar + 1, idchars) != strlen(bar + 1))
		return lt_err_set(err, LT_EINVAL, "cursor \"%.80s\" is not TIME|ID", s);
	snprintf(t, sizeof t, "%.*s", (int)(bar - s), s);
	if (igate_time(t, &c->ms, NULL))
		return lt_err_set(err, LT_EINVAL, "cursor \"%.80s\": TIME is not an RFC 3339 time", s);
	snprintf(c->id, sizeof c->id, "%s", bar + 1);
	return LT_OK;
}

/* Order of record ids: numerically when both are digits, else bytewise
 * (ObjectIds are fixed-width hex, so bytewise is their order). */
static int idcmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la && lb && strspn(a, "0123456789") == la && strspn(b, "0123456789") == lb) {
		while (la > 1 && *a == '0')
			a++, la--;
		while (lb > 1 && *b == '0')
			b++, lb--;
		if (la != lb)
			return la < lb ? -1 : 1;
	}
	return strcmp(a, b);
}

/* GET {search_path}?updated-since={TIME}&after-id={ID}&size={page_size};
 * cursor "" starts at param pull_since (else the epoch) with no after-id.
 * LT_ECONFIG for a bad param, LT_EINVAL for a cursor that is not ours. */
static int onestop_poll(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const char *cursor,
			struct lt_request *out, struct lt_err *err)
{
	(void)ctx;
	struct cursor c = { 0 };
	const char *path = param_str(peer, "search_path", "/dossiers/search"), *since = lt_peer_param(peer, "pull_since");
	int size = param_int(peer, "page_size", 100, 1000);
	char t[40], enc[80], *e = enc;
	if (size < 0)
		return lt_err_set(err, LT_ECONFIG, "peer %s: param.page_size must be 1 to 1000", peer->name);
	if (cursor && *cursor) {
		if (parse_cursor(cursor, &c, err))
			return LT_EINVAL;
	} else if (since && igate_time(since, &c.ms, NULL)) {
		return lt_err_set(err, LT_ECONFIG, "peer %s: param.pull_since \"%.40s\" is not an ISO 8601 time "
				  "with an offset", peer->name, since);
	}
	format_ms(c.ms, 0, t);
	for (const char *p = t; *p; p++) /* '+' and ':' are not safe in a query */
		e += *p == '+' || *p == ':' ? sprintf(e, "%%%02X", *p) : sprintf(e, "%c", *p);
	int n = snprintf(out->path, sizeof out->path, "%s%cupdated-since=%s%s%s&size=%d", path,
			 strchr(path, '?') ? '&' : '?', enc, c.id[0] ? "&after-id=" : "", c.id, size);
	if (n < 0 || (size_t)n >= sizeof out->path)
		return lt_err_set(err, LT_ECONFIG, "peer %s: param.search_path is too long", peer->name);
	snprintf(out->method, sizeof out->method, "GET");
	out->content_type[0] = '\0';
	return LT_OK;
}

/* A search page {"content":[records], "last"} → one event per record, its
 * type from the status table (the adapter keeps no state to see changes).
 * next_cursor holds, on entry, the cursor the poll was built from, and on
 * success the (updatedDate, id) of the last record taken; records at or
 * before the entry cursor are skipped (the search is inclusive); an empty
 * page leaves it as it was. LT_EIO when the search failed (poll later). */
static int onestop_poll_result(const struct lt_peer *peer, const struct lt_response *rsp, json_t *out,
			       char next_cursor[512], struct lt_err *err)
{
	struct cursor from = { 0 }, last = { 0 };
	if (rsp->status < 200 || rsp->status > 299)
		return lt_err_set(err, LT_EIO, rsp->status ? "search answered %ld" : "no answer from search", rsp->status);
	if (next_cursor[0] && parse_cursor(next_cursor, &from, err))
		return LT_EINVAL;
	json_t *doc = lt_json_parse("search answer", rsp->body, rsp->len, 0, err);
	if (!doc)
		return err->code;
	int rc = lt_schema_validate(page_schema, doc, err), moved = 0;
	json_t *events = json_array(), *rec;
	size_t i;
	json_array_foreach(rc ? NULL : json_object_get(doc, "content"), i, rec) {
		char ptr[32], id[32];
		int64_t ms;
		snprintf(ptr, sizeof ptr, "/content/%zu", i);
		wire_code(json_object_get(rec, "id"), id);
		if (igate_time(str(rec, "updatedDate"), &ms, NULL)) {
			rc = lt_err_set(err, LT_ESCHEMA, "%s/updatedDate: \"%.40s\" is not a real date and time", ptr,
					str(rec, "updatedDate"));
			break;
		}
		if (next_cursor[0] && (ms < from.ms || (ms == from.ms && idcmp(id, from.id) <= 0)))
			continue; /* seen before: the search includes updated-since itself */
		const char *portal = lookup(&statuses, json_object_get(json_object_get(rec, "status"), "id"), ptr,
					    "status/id", err);
		const char *type = portal ? lt_status_event_type(atoi(portal)) : NULL;
		if (!type) {
			rc = portal ? lt_err_set(err, LT_ECONFIG, "status table maps to \"%s\", not a portal status",
						 portal) : LT_ESCHEMA;
			break;
		}
		json_t *ev = json_pack("{s:s}", "type", type), *detail = json_object();
		rc = take_record(ev, detail, rec, ptr, err);
		rc = rc ? (json_decref(ev), rc) : finish(peer, ev, detail, ptr, events, err);
		json_decref(detail);
		if (rc)
			break;
		last.ms = ms;
		snprintf(last.id, sizeof last.id, "%s", id);
		moved = 1;
	}
	if (!rc && moved) {
		char t[40];
		format_ms(last.ms, 0, t);
		snprintf(next_cursor, 512, "%s|%s", t, last.id);
	}
	if (!rc)
		json_array_extend(out, events);
	json_decref(events);
	json_decref(doc);
	return rc;
}

/* ---- canonical event → delivery ------------------------------------------ */

/* A canonical value → rec[key] = {"id": its code in table t}. */
static int give_code(json_t *rec, const char *key, const struct lt_code_table *t, const char *canonical,
		     struct lt_err *err)
{
	if (!canonical)
		return LT_OK;
	const char *w = lt_code_to_wire(t, canonical, NULL);
	if (!w)
		return lt_err_set(err, LT_ESCHEMA, "dossier: \"%s\" has no %s code", canonical, t->name);
	json_object_set_new(rec, key, json_pack("{s:o}", "id", wire_value(w)));
	return LT_OK;
}

/* The canonical applicant → iGate's {type, data {…, address {…, ward}}}. */
static int give_applicant(json_t *rec, const json_t *a, struct lt_err *err)
{
	const json_t *ca = json_object_get(a, "address");
	const char *type = str(a, "type"), *w = type ? lt_code_to_wire(&lt_applicant_type_codes, type, err) : NULL;
	json_t *data = json_object(), *addr = json_object(), *applicant = json_object();
	json_object_set_new(rec, "applicant", applicant);
	put(applicant, "type", w ? wire_value(w) : NULL);
	json_object_set_new(applicant, "data", data);
	put_str(data, "fullname", str(a, "name"));
	put_str(data, "identityNumber", str(a, "id_number"));
	put_str(data, "phoneNumber", str(a, "phone"));
	put_str(data, "email", str(a, "email"));
	put(addr, "province", json_deep_copy(json_object_get(ca, "province")));
	put(addr, "district", json_deep_copy(json_object_get(ca, "district")));
	put(addr, "ward", json_deep_copy(json_object_get(ca, "commune")));
	put_str(addr, "detail", str(ca, "detail"));
	put(data, "address", json_object_size(addr) ? addr : (json_decref(addr), NULL));
	return type && !w ? LT_ESCHEMA : LT_OK;
}

/* The canonical event's dossier (and detail.step) → the iGate record, built back. */
static int give_record(json_t *rec, const json_t *ev, struct lt_err *err)
{
	const json_t *d = json_object_get(ev, "dossier"), *v;
	const json_t *step = json_object_get(json_object_get(ev, "detail"), "step");
	char status[24] = "";
	size_t i;
	put_str(rec, "code", str(ev, "dossier_code"));
	put_str(rec, "nationCode", str(ev, "national_code"));
	put(rec, "procedure", json_deep_copy(json_object_get(d, "procedure")));
	put(rec, "sector", json_deep_copy(json_object_get(d, "field")));
	put(rec, "agency", json_deep_copy(json_object_get(d, "receiving_agency")));
	put(rec, "handlingAgency", json_deep_copy(json_object_get(d, "handling_agency")));
	if (json_is_integer(json_object_get(d, "status")))
		snprintf(status, sizeof status, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(d, "status")));
	if (give_code(rec, "applyMethod", &apply_methods, str(d, "channel"), err) ||
	    give_code(rec, "status", &statuses, status[0] ? status : NULL, err) ||
	    give_code(rec, "returnMethod", &lt_return_via_codes, str(d, "return_via"), err))
		return LT_ESCHEMA;
	if (json_object_get(d, "applicant") && give_applicant(rec, json_object_get(d, "applicant"), err))
		return LT_ESCHEMA;
	for (i = 0; i < COUNT(dates); i++)
		if (give_date(rec, dates[i][0], d, dates[i][1], err))
			return LT_EINVAL;
	if (give_date(rec, "updatedDate", ev, "occurred_at", err))
		return LT_EINVAL;
	if (str(step, "name") || str(step, "code")) {
		json_t *task = json_object();
		json_object_set_new(rec, "currentTask", json_pack("[o]", task));
		put_str(task, "code", str(step, "code"));
		put_str(task, "name", str(step, "name") ? str(step, "name") : str(step, "code"));
		put(task, "assignee", str(step, "handler") ? json_pack("{s:s}", "fullname", str(step, "handler")) : NULL);
		if (give_date(task, "dueDate", step, "deadline_at", err))
			return LT_EINVAL;
	}
	json_t *atts = json_array();
	json_array_foreach(json_object_get(d, "documents"), i, v) {
		json_t *att = json_object();
		put_str(att, "name", str(v, "name"));
		put_str(att, "digest", str(v, "digest"));
		put_str(att, "url", str(v, "link"));
		json_array_append_new(atts, att);
	}
	put(rec, "attachments", json_array_size(atts) ? atts : (json_decref(atts), NULL));
	put(rec, "fees", json_deep_copy(json_object_get(d, "fees")));
	put_str(rec, "summary", str(d, "summary"));
	return LT_OK;
}

/* POST {inbound_path} {"event": type, "dossier": record, "detail": canonical
 * detail unchanged}. LT_ESCHEMA/LT_EINVAL when the event cannot be said in
 * iGate's codes (a dead letter, never retried). */
static int onestop_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			  struct lt_request *out, struct lt_err *err)
{
	(void)ctx;
	struct lt_err e = { 0 };
	const char *path = param_str(peer, "inbound_path", "/lienthong/events"), *code = str(event, "dossier_code");
	json_t *rec = json_object(), *detail = json_object_get(event, "detail");
	json_t *body = json_pack("{s:s?,s:o}", "event", str(event, "type"), "dossier", rec);
	int rc = body ? give_record(rec, event, err) : lt_err_set(err, LT_EINVAL, "event cannot be packed");
	char *s = NULL;
	if (!rc && detail)
		json_object_set_new(body, "detail", json_deep_copy(detail));
	if (!rc && lt_schema_validate(delivery_schema, body, &e))
		rc = lt_err_set(err, LT_ESCHEMA, "delivery of dossier %s would not be valid: %s", code ? code : "?", e.msg);
	if (!rc && !(s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		rc = lt_err_set(err, LT_ENOMEM, "cannot encode delivery");
	if (!rc) {
		snprintf(out->method, sizeof out->method, "POST");
		snprintf(out->path, sizeof out->path, "%s", path);
		snprintf(out->content_type, sizeof out->content_type, "application/json");
		lt_buf_append(&out->body, s, strlen(s));
	}
	free(s);
	json_decref(body);
	return rc;
}

/* 2xx → done, unless the body says {"success":false,"message":…} (dead,
 * with the message); anything else by the default rule. */
static enum lt_verdict onestop_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
				       const struct lt_response *rsp, json_t *out, struct lt_err *err)
{
	(void)peer;
	(void)ctx;
	(void)event;
	(void)out;
	if (rsp->status < 200 || rsp->status > 299)
		return lt_outcome_default(rsp, err);
	json_t *doc = rsp->body ? json_loadb(rsp->body, rsp->len, 0, NULL) : NULL;
	enum lt_verdict v = LT_DONE;
	if (json_is_false(json_object_get(doc, "success"))) {
		const char *msg = json_string_value(json_object_get(doc, "message"));
		lt_err_set(err, LT_EINVAL, "one-stop system refused: %.400s", msg ? msg : "success false, no message");
		v = LT_DEAD;
	}
	json_decref(doc);
	return v;
}

/* Loads the wire schemas and the canonical one from lt_schema_dir(), once. */
static int onestop_init(struct lt_err *err)
{
	static const char *const files[] = { "onestop/push.schema.json", "onestop/search-page.schema.json",
					     "onestop/delivery.schema.json", "canonical-event.schema.json" };
	struct lt_schema **slots[] = { &push_schema, &page_schema, &delivery_schema, &canonical_schema };
	for (size_t i = 0; i < COUNT(files); i++) {
		char path[1024];
		if (*slots[i])
			continue;
		snprintf(path, sizeof path, "%s/%s", lt_schema_dir(), files[i]);
		if (!(*slots[i] = lt_schema_load(path, err)))
			return err ? err->code : LT_EIO;
	}
	return LT_OK;
}

static const struct lt_adapter_param params[] = {
	{ "inbound_path", 0, "/lienthong/events", "where deliveries are posted, after the peer's url", "/lienthong/events" },
	{ "search_path", 0, "/dossiers/search", "pull: the search endpoint polled for changed dossiers", "/dossiers/search" },
	{ "page_size", 0, "100", "pull: records asked for per poll (1 to 1000)", "100" },
	{ "pull_since", 0, "the epoch", "pull: where the first poll starts (ISO 8601 time with an offset)",
	  "2025-01-01T00:00:00+07:00" },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct lt_adapter lt_adapter_onestop = {
	.name = "onestop",
	.about = "the local one-stop software (iGate-shaped JSON): events pushed or pulled in, deliveries out",
	.params = params,
	.content_type = "application/json",
	.init = onestop_init,
	.decode = onestop_decode,
	.encode = onestop_encode,
	.outcome = onestop_outcome,
	.poll = onestop_poll,
	.poll_result = onestop_poll_result,
	.codes = code_tables,
};
