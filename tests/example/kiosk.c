/* kiosk.c — the worked example of adapters/README.md: a citizen-satisfaction
 * kiosk (hệ thống đánh giá mức độ hài lòng) at the one-stop counter.
 *
 * In: the kiosk pushes one rating a citizen gave for a dossier,
 *   {"maHoSo": "…", "mucDo": "HAI_LONG", "thoiGian": "15/03/2025 19:45:00", "yKien": "…"}
 * → a dossier.feedback event with detail.rating (1..5, from the table
 * kiosk.rating) and detail.comment.
 * Out: dossier.returned events, so that the kiosk can ask the citizen who
 * collects the result to rate it: POST {param.path}
 *   {"maCoQuan": param.ma_co_quan, "maHoSo", "tenTTHC", "ngayTra"}.
 * Answers: the default rule (2xx done, 5xx retried, other 4xx dead).
 *
 * It lives in tests/ so that it does not ship; a real adapter is the same
 * file in adapters/ plus ADAPTER(kiosk) in adapters/registry.c, its table in
 * codes/kiosk.codes and its wire schema in schemas/kiosk/. */
#include "adapter.h"
#include "config.h"
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mucDo → detail.rating: rows in kiosk.codes (codes/ for a shipped adapter). */
static const struct lt_code_column rating_cols[] = {
	{ "mucDo", LT_COL_CODE, NULL, 0, 0, LT_COL_UNIQUE },
	{ "rating", LT_COL_INT, NULL, 1, 5, LT_COL_UNIQUE },
	{ "meaning", LT_COL_TEXT, NULL, 0, 0, LT_COL_OPTIONAL },
	{ NULL, 0, NULL, 0, 0, 0 },
};
static const struct lt_code_table ratings = { "kiosk.rating", "rating (mucDo)", rating_cols, 0 };
static const struct lt_code_table *const code_tables[] = { &ratings, NULL };

/* The one text field of the rating at key: a non-empty string of at most max
 * bytes, or NULL with err naming it (when required). */
static const char *field(const json_t *doc, const char *key, size_t max, int required, struct lt_err *err)
{
	const json_t *v = json_object_get(doc, key);
	const char *s = json_string_value(v);
	if (!v && !required)
		return NULL;
	if (!s || !*s)
		lt_err_set(err, LT_ESCHEMA, "/%s: %s", key, v ? "must be a non-empty string" : "is required");
	else if (strlen(s) > max)
		lt_err_set(err, LT_ESCHEMA, "/%s: longer than %zu bytes", key, max);
	else
		return s;
	return NULL;
}

/* One rating → one dossier.feedback appended to out. LT_EINVAL for bad JSON,
 * LT_ESCHEMA naming the field; nothing appended then. */
static int kiosk_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out, struct lt_err *err)
{
	json_t *doc = lt_json_parse("body", body, len, 0, err), *ev = NULL;
	if (!doc)
		return err->code;
	int rc = LT_ESCHEMA;
	const char *code, *level, *when, *comment = NULL, *rating;
	char occurred[32], known[128];
	int64_t t;
	struct lt_err e = { 0 };
	if (!json_is_object(doc)) {
		lt_err_set(err, LT_ESCHEMA, "/: a rating is a JSON object");
		goto done;
	}
	if (!(code = field(doc, "maHoSo", 64, 1, err)) || !(level = field(doc, "mucDo", 32, 1, err)) ||
	    !(when = field(doc, "thoiGian", 19, 1, err)))
		goto done;
	if (json_object_get(doc, "yKien") && !(comment = field(doc, "yKien", 2000, 0, err)))
		goto done;
	if (!(rating = lt_code_to_canonical(&ratings, level, NULL))) {
		lt_err_set(err, LT_ESCHEMA, "/mucDo: unknown rating \"%s\" (known: %s)", level,
			   lt_code_list(&ratings, 0, known, sizeof known));
		goto done;
	}
	if (lt_date_parse_vn(when, &t, &e)) {
		lt_err_set(err, LT_ESCHEMA, "/thoiGian: %s", e.msg);
		goto done;
	}
	lt_date_format_rfc3339(t, occurred);
	ev = json_pack("{s:s,s:s,s:s,s:s,s:{s:i}}", "type", "dossier.feedback", "occurred_at", occurred, "source",
		       peer->name, "dossier_code", code, "detail", "rating", atoi(rating));
	lt_json_put_str(json_object_get(ev, "detail"), "comment", comment);
	if (lt_canonical_validate(ev, &e)) {     /* a last guard: the event must be canonical */
		lt_err_set(err, LT_ESCHEMA, "the rating makes no valid event: %s", e.msg);
		goto done;
	}
	json_array_append(out, ev);
	rc = LT_OK;
done:
	json_decref(ev);
	json_decref(doc);
	return rc;
}

/* dossier.returned → the invitation to rate. Other types: LT_EINVAL (the
 * kiosk takes none; a route should not send them). */
static int kiosk_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			struct lt_request *out, struct lt_err *err)
{
	(void)ctx;
	const char *type = lt_json_str(event, "type"), *agency = lt_peer_param(peer, "ma_co_quan");
	const char *path = lt_peer_param(peer, "path");
	char returned[20] = "";
	if (!type || strcmp(type, "dossier.returned"))
		return lt_err_set(err, LT_EINVAL, "the kiosk takes dossier.returned only, not %.64s", type ? type : "untyped");
	if (!agency)
		return lt_err_set(err, LT_ECONFIG, "peer %s: param.ma_co_quan is not set", peer->name);
	const char *at = lt_json_str(event, "dossier.returned_at");
	if (lt_date_rfc3339_to_vn(at ? at : lt_json_str(event, "occurred_at"), returned, err))
		return LT_ESCHEMA;
	json_t *body = json_pack("{s:s,s:s?,s:s?,s:s}", "maCoQuan", agency, "maHoSo", lt_json_str(event, "dossier_code"),
				 "tenTTHC", lt_json_str(event, "dossier.procedure.name"), "ngayTra", returned);
	char *s = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(body);
	if (!s)
		return lt_err_set(err, LT_ENOMEM, "cannot encode the invitation to rate");
	snprintf(out->method, sizeof out->method, "POST");
	snprintf(out->path, sizeof out->path, "%s", path ? path : "");
	snprintf(out->content_type, sizeof out->content_type, "application/json");
	lt_buf_append(&out->body, s, strlen(s));
	free(s);
	return LT_OK;
}

static enum lt_verdict kiosk_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
				     const struct lt_response *rsp, json_t *out, struct lt_err *err)
{
	(void)peer;
	(void)ctx;
	(void)event;
	(void)out;
	return lt_outcome_default(rsp, err);
}

static const struct lt_adapter_param params[] = {
	{ "ma_co_quan", 1, NULL, "the agency's code on the kiosk (maCoQuan)", "000.00.12.H12" },
	{ "path", 0, "the peer's url", "where invitations are posted, after the peer's url", "/moi-danh-gia" },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct lt_adapter lt_adapter_kiosk = {
	.name = "kiosk",
	.about = "a citizen-satisfaction kiosk (the worked example of adapters/README.md): ratings in, invitations out",
	.content_type = "application/json",
	.params = params,
	.decode = kiosk_decode,
	.encode = kiosk_encode,
	.outcome = kiosk_outcome,
	.codes = code_tables,
};
