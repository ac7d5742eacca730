/* admin_query.c — the admin API's reads of the store: a dossier's trail,
 * the dead letters, the report, the refusals and the audit trail verified
 * (query.h: the same code as the CLI's). Each request runs on the admin's
 * own query thread with a read-only view of its own, so that a long report
 * stalls neither the event loop, nor the store thread's group commits, nor
 * the workers that verify and sign. Every route is behind admin.c's gate. */
#include "admin.h"
#include "http.h"
#include "pool.h"
#include "query.h"
#include "query_audit.h"
#include "query_report.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLQ_PAGE 1000           /* dead letters in one answer at most ("more": true past it) */
#define REFUSALS_MAX 1000

enum kind { Q_TRAIL, Q_DLQ_LIST, Q_DLQ_ONE, Q_REPORT, Q_REFUSALS, Q_AUDIT };

struct lt_admin_queries {
	struct lt_gateway *gw;
	struct lt_pool *pool;
};

struct qjob {
	struct lt_job job;      /* first */
	struct lt_gateway *gw;
	struct lt_config *cfg;  /* a reference: the query thread reads it while a reload may swap gw->cfg */
	struct evhttp_request *req;
	enum kind kind;
	char *code, *dest;
	int64_t id, from, to;
	int limit, csv;
	int rc;
	struct lt_err err;
	json_t *doc;
};

static void qjob_run(struct lt_job *job)
{
	struct qjob *j = (struct qjob *)job;
	struct lt_query *q = NULL;
	if ((j->rc = lt_query_open(j->cfg->store, &q, &j->err)))
		return;
	lt_query_set_config(q, j->cfg);
	switch (j->kind) {
	case Q_TRAIL: j->rc = lt_query_trail(q, j->code, lt_now_ms(), &j->doc, &j->err); break;
	case Q_DLQ_LIST: j->rc = lt_query_dlq_list(q, j->dest, j->code, j->limit, &j->doc, &j->err); break;
	case Q_DLQ_ONE: j->rc = lt_query_dlq_show(q, j->id, &j->doc, &j->err); break;
	case Q_REPORT: j->rc = lt_query_report(q, j->from, j->to, &j->doc, &j->err); break;
	case Q_REFUSALS: j->rc = lt_query_refusals(q, j->limit, &j->doc, &j->err); break;
	case Q_AUDIT: j->rc = lt_query_audit_verify(q, &j->doc, &j->err); break;
	}
	lt_query_close(q);
}

static void qjob_free(struct qjob *j)
{
	json_decref(j->doc);
	lt_config_free(j->cfg);
	free(j->code);
	free(j->dest);
	free(j);
}

static void qjob_done(struct lt_job *job)
{
	struct qjob *j = (struct qjob *)job;
	if (j->rc == LT_ENOTFOUND) {
		lt_http_reply_error(j->req, 404, "not_found", j->err.msg, 0);
	} else if (j->rc == LT_ECONFLICT) {
		lt_http_reply_error(j->req, 409, "conflict", j->err.msg, 0);
	} else if (j->rc) {
		lt_http_reply_error(j->req, 503, "store_unavailable", j->err.msg, 5);
	} else if (j->csv) {
		struct lt_buf csv = { 0 };
		lt_query_report_csv(j->doc, &csv);
		char name[128];
		snprintf(name, sizeof name, "attachment; filename=\"lienthong-report-%.10s-%.10s.csv\"",
			 json_string_value(json_object_get(j->doc, "from")), json_string_value(json_object_get(j->doc, "to")));
		struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
		evhttp_add_header(h, "Content-Type", "text/csv; charset=utf-8");
		evhttp_add_header(h, "Content-Disposition", name);
		struct evbuffer *out = evbuffer_new();
		evbuffer_add(out, csv.data ? csv.data : "", csv.len);
		evhttp_send_reply(j->req, 200, "OK", out);
		evbuffer_free(out);
		lt_buf_free(&csv);
	} else {
		lt_http_reply_json(j->req, 200, json_incref(j->doc), 0);
	}
	qjob_free(j);
}

static void submit(struct lt_admin_queries *aq, struct qjob *j)
{
	j->gw = aq->gw;
	j->cfg = lt_config_ref(aq->gw->cfg);
	j->job.run = qjob_run;
	j->job.done = qjob_done;
	if (lt_pool_submit(aq->pool, &j->job)) {
		lt_http_reply_error(j->req, 503, "busy", "too many queries are waiting: ask again in a moment", 2);
		qjob_free(j);
	}
}

/* A query parameter, NULL when absent. The caller frees the list. */
static const char *param(struct evkeyvalq *kv, const char *name)
{
	return evhttp_find_header(kv, name);
}

/* 1 when path is one of the query routes (answered, now or from the query
 * thread), 0 when it is not. */
int lt_admin_query_route(struct lt_admin_queries *aq, struct evhttp_request *req, const char *path)
{
	static const char trail_prefix[] = "/v1/admin/dossiers/", dlq_prefix[] = "/v1/admin/dlq/";
	size_t plen = strlen(path);
	int is_trail = strncmp(path, trail_prefix, sizeof trail_prefix - 1) == 0 && plen > sizeof trail_prefix + 5 &&
		       strcmp(path + plen - 6, "/trail") == 0;
	int is_dlq_one = strncmp(path, dlq_prefix, sizeof dlq_prefix - 1) == 0 &&
			 strspn(path + sizeof dlq_prefix - 1, "0123456789") == plen - (sizeof dlq_prefix - 1) &&
			 plen > sizeof dlq_prefix - 1 && plen - (sizeof dlq_prefix - 1) < 19;
	int is_audit = strcmp(path, "/v1/admin/audit/verify") == 0;
	if (!is_trail && !is_dlq_one && !is_audit && strcmp(path, "/v1/admin/dlq") && strcmp(path, "/v1/admin/report") &&
	    strcmp(path, "/v1/admin/refusals"))
		return 0;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD && !(is_audit && m == EVHTTP_REQ_POST)) {
		lt_http_reply_error(req, 405, "method_not_allowed", is_audit ? "GET or POST" : "GET: this reads the store",
				    0);
		return 1;
	}
	struct evkeyvalq kv;
	TAILQ_INIT(&kv);
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query && evhttp_parse_query_str(query, &kv)) {
		lt_http_reply_error(req, 400, "bad_request", "the query string is not name=value&...", 0);
		return 1;
	}
	struct qjob *j = calloc(1, sizeof *j);
	j->req = req;
	const char *problem = NULL;
	if (is_trail) {
		j->kind = Q_TRAIL;
		char *raw = strndup(path + sizeof trail_prefix - 1, plen - (sizeof trail_prefix - 1) - 6);
		j->code = evhttp_uridecode(raw, 0, NULL);
		free(raw);
		if (j->code)
			lt_utf8_clean(j->code);         /* it is quoted back in the answer */
		if (!j->code || !*j->code || strlen(j->code) > 100 || strchr(j->code, '/'))
			problem = "the dossier code must be 1 to 100 characters, without /";
	} else if (is_dlq_one) {
		j->kind = Q_DLQ_ONE;
		j->id = strtoll(path + sizeof dlq_prefix - 1, NULL, 10);
	} else if (is_audit) {
		j->kind = Q_AUDIT;
	} else if (strcmp(path, "/v1/admin/dlq") == 0) {
		j->kind = Q_DLQ_LIST;
		j->limit = DLQ_PAGE;
		const char *peer = param(&kv, "peer"), *dossier = param(&kv, "dossier_code");
		if (peer && !lt_config_peer(aq->gw->cfg, peer))
			problem = "peer must be the name of a configured peer";
		j->dest = peer && !problem ? strdup(peer) : NULL;
		j->code = dossier && *dossier ? strdup(dossier) : NULL;
		if (j->code)
			lt_utf8_clean(j->code);
	} else if (strcmp(path, "/v1/admin/refusals") == 0) {
		j->kind = Q_REFUSALS;
		const char *limit = param(&kv, "limit");
		j->limit = limit ? atoi(limit) : 100;
		if (j->limit < 1 || j->limit > REFUSALS_MAX)
			problem = "limit must be a number from 1 to 1000";
	} else {
		j->kind = Q_REPORT;
		const char *from = param(&kv, "from"), *to = param(&kv, "to"), *format = param(&kv, "format");
		if (!from || !to)
			problem = "give the period: ?from=DATE&to=DATE (YYYY-MM-DD, DD/MM/YYYY or RFC 3339)";
		else if (lt_query_parse_day("from", from, 0, &j->from, &j->err) ||
			 lt_query_parse_day("to", to, 1, &j->to, &j->err))
			problem = j->err.msg;
		else if (j->to <= j->from)
			problem = "to must come after from";
		else if (format && strcmp(format, "json") && strcmp(format, "csv"))
			problem = "format is json or csv";
		else
			j->csv = format && strcmp(format, "csv") == 0;
	}
	if (problem) {
		lt_http_reply_error(req, 400, "bad_request", problem, 0);
		qjob_free(j);
	} else {
		submit(aq, j);
	}
	evhttp_clear_headers(&kv);
	return 1;
}

struct lt_admin_queries *lt_admin_queries_new(struct lt_gateway *gw)
{
	struct lt_admin_queries *aq = calloc(1, sizeof *aq);
	aq->gw = gw;
	aq->pool = lt_pool_new(gw->base, 1);
	return aq;
}

void lt_admin_queries_free(struct lt_admin_queries *aq)
{
	if (!aq)
		return;
	lt_pool_free(aq->pool);
	free(aq);
}
