/* admin.c — health, readiness, Prometheus metrics, a JSON status, and the
 * operator's actions on dead letters (replay, purge).
 * Queue figures come from the store thread (a stats op), never from the loop.
 *
 * On loopback (the default) the listener asks no credentials: it trusts
 * whoever reaches its address, and a web page in a browser on the same host
 * reaches it too. Elsewhere it is HTTPS and asks for a client certificate or
 * a bearer token (admin_auth.c); a change is written to the audit trail with
 * who asked. In both cases one gate (admin_gate) stands before every route:
 * the request must name this listener as its Host (a DNS-rebinding page names its own), come from no
 * other origin's page (Origin, Sec-Fetch-Site), and a change must be
 * application/json, which a page elsewhere cannot send without a CORS
 * preflight that nothing here ever grants. */
#include "admin.h"
#include "secreload.h"
#include "token.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "dates.h"
#include "mapping.h"
#include "security.h"
#include "store.h"
#include "tls_refusals.h"
#include "prune.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Why the gate refused a request: a label of lienthong_admin_refused_total. */
enum refusal { R_HOST, R_DUPLICATE, R_TARGET, R_ORIGIN, R_FETCH_SITE, R_CONTENT_TYPE, R_CREDENTIALS, R_COUNT };
static const char *const refusal_names[R_COUNT] = { "host", "duplicate_header", "target", "origin", "fetch_site",
						    "content_type", "credentials" };

#define MAX_HOSTS 24

struct lt_admin {
	struct evhttp *http;
	char hosts[MAX_HOSTS][80];      /* the Host values a local client sends for this listener */
	int nhosts;
	struct lt_buf expected;         /* the hosts for an error message: "127.0.0.1:8081, localhost:8081" */
	int64_t refused[R_COUNT];
	struct lt_admin_queries *queries;   /* the store's reads, on their own thread */
	struct lt_admin_auth *auth;     /* NULL: plain HTTP on loopback, no credentials */
	int port;
};

/* One latency histogram of the store, in seconds. */
static void hist_metric(struct lt_buf *b, const char *name, const char *help, const struct lt_hist *h)
{
	lt_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < LT_HIST_BUCKETS; i++)
		lt_buf_printf(b, "%s_bucket{le=\"%g\"} %lld\n", name, h->bounds_ms[i] / 1000, (long long)h->buckets[i]);
	lt_buf_printf(b, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.6f\n%s_count %lld\n", name, (long long)h->count, name,
		      h->sum_ms / 1000, name, (long long)h->count);
}

struct stats_req {
	struct lt_stats st;
	struct lt_gateway *gw;
	struct evhttp_request *req;
	int json;
};

static void metrics_text(struct lt_gateway *gw, const struct lt_stats *st, struct lt_buf *b)
{
	const struct lt_config *cfg = gw->cfg;
	int64_t now = lt_now_ms();
	lt_buf_printf(b, "# HELP lienthong_up 1 while the gateway runs.\n# TYPE lienthong_up gauge\nlienthong_up 1\n");
	lt_buf_printf(b, "# HELP lienthong_uptime_seconds Seconds since start.\n# TYPE lienthong_uptime_seconds gauge\n"
			 "lienthong_uptime_seconds %.1f\n", (double)(now - gw->started_ms) / 1000);
	lt_buf_printf(b, "# HELP lienthong_admin_refused_total Admin requests refused as cross-site or for another host.\n"
			 "# TYPE lienthong_admin_refused_total counter\n");
	for (int i = 0; i < R_COUNT; i++)
		lt_buf_printf(b, "lienthong_admin_refused_total{reason=\"%s\"} %lld\n", refusal_names[i],
			      (long long)gw->admin->refused[i]);
	lt_buf_printf(b, "# HELP lienthong_messages_in_total Inbound messages by peer and answer.\n"
			 "# TYPE lienthong_messages_in_total counter\n");
	for (size_t i = 0; i < cfg->npeers; i++)
		for (int k = 0; k < 8; k++)
			if (gw->counters[i].messages_in[k])
				lt_buf_printf(b, "lienthong_messages_in_total{peer=\"%s\",answer=\"%s\"} %lld\n",
					      cfg->peers[i].name, lt_answer_names[k],
					      (long long)gw->counters[i].messages_in[k]);
	lt_buf_printf(b, "# HELP lienthong_events_in_total Events accepted (durable) by source peer.\n"
			 "# TYPE lienthong_events_in_total counter\n");
	for (size_t i = 0; i < cfg->npeers; i++)
		lt_buf_printf(b, "lienthong_events_in_total{peer=\"%s\"} %lld\n", cfg->peers[i].name,
			      (long long)gw->counters[i].events_in);
	lt_buf_printf(b, "# HELP lienthong_events_unrouted_total Events that matched no route (kept).\n"
			 "# TYPE lienthong_events_unrouted_total counter\nlienthong_events_unrouted_total %lld\n",
		      (long long)gw->events_unrouted);
	lt_buf_printf(b, "# HELP lienthong_deliveries_total Delivery attempts by destination and outcome.\n"
			 "# TYPE lienthong_deliveries_total counter\n");
	for (size_t i = 0; i < cfg->npeers; i++) {
		if (!cfg->peers[i].url)
			continue;
		const struct lt_peer_counters *c = &gw->counters[i];
		lt_buf_printf(b, "lienthong_deliveries_total{peer=\"%s\",outcome=\"done\"} %lld\n"
				 "lienthong_deliveries_total{peer=\"%s\",outcome=\"retry\"} %lld\n"
				 "lienthong_deliveries_total{peer=\"%s\",outcome=\"dead\"} %lld\n",
			      cfg->peers[i].name, (long long)c->delivered, cfg->peers[i].name, (long long)c->retried,
			      cfg->peers[i].name, (long long)c->dead);
	}
	lt_buf_printf(b, "# HELP lienthong_inflight Deliveries in flight per destination.\n# TYPE lienthong_inflight gauge\n");
	for (size_t i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].url)
			lt_buf_printf(b, "lienthong_inflight{peer=\"%s\"} %lld\n", cfg->peers[i].name,
				      (long long)gw->counters[i].inflight);
	lt_buf_printf(b, "# HELP lienthong_peer_breaker_open 1 while the peer's circuit breaker holds deliveries back.\n"
			 "# TYPE lienthong_peer_breaker_open gauge\n");
	for (size_t i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].url)
			lt_buf_printf(b, "lienthong_peer_breaker_open{peer=\"%s\"} %d\n", cfg->peers[i].name,
				      gw->counters[i].breaker_open);
	/* one family at a time: Prometheus wants each family's samples together */
	static const struct {
		const char *name, *help;
	} queue_families[] = {
		{ "lienthong_queue_depth", "Deliveries not yet done (pending, in flight, waiting for order)." },
		{ "lienthong_queue_oldest_age_seconds", "Age of the oldest delivery not yet done." },
		{ "lienthong_dead_letters", "Dead letters waiting for an operator (lienthong dlq list)." },
	};
	for (size_t f = 0; f < sizeof queue_families / sizeof *queue_families; f++) {
		lt_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", queue_families[f].name, queue_families[f].help,
			      queue_families[f].name);
		for (size_t i = 0; i < cfg->npeers; i++) {
			if (!cfg->peers[i].url)
				continue;
			const struct lt_peer_stats *p = NULL;
			for (int k = 0; k < st->n; k++)
				if (strcmp(st->peers[k].dest, cfg->peers[i].name) == 0)
					p = &st->peers[k];
			lt_buf_printf(b, "%s{peer=\"%s\"} ", queue_families[f].name, cfg->peers[i].name);
			if (f == 0)
				lt_buf_printf(b, "%lld\n", p ? (long long)(p->pending + p->inflight + p->blocked) : 0LL);
			else if (f == 1)
				lt_buf_printf(b, "%.3f\n", p && p->oldest_created_ms ?
						   (double)(now - p->oldest_created_ms) / 1000 : 0.0);
			else
				lt_buf_printf(b, "%lld\n", p ? (long long)p->dead : 0LL);
		}
	}
	struct lt_hist commits, fsyncs;
	lt_store_commit_stats(gw->store, &commits, &fsyncs);
	hist_metric(b, "lienthong_store_commit_seconds", "Group commit latency (fsync included).", &commits);
	hist_metric(b, "lienthong_store_fsync_seconds", "The SQLite store's fsyncs of its log, each making every "
		    "commit before it durable (how slow the disk is; none with PostgreSQL).", &fsyncs);
	if (gw->pool) {
		struct lt_hist waits;
		lt_pool_wait_stats(gw->pool, &waits);
		hist_metric(b, "lienthong_pool_queue_wait_seconds", "How long jobs waited for a worker ([gateway] "
			    "workers): ingest's verify and decode, deliveries' encode and answers, polls.", &waits);
	}
	int64_t retries[2];
	lt_store_retries(gw->store, retries);
	lt_buf_printf(b, "# HELP lienthong_store_retries_total Batches run again at once because the database ended "
			 "their transaction in a conflict with another node's.\n# TYPE lienthong_store_retries_total counter\n"
			 "lienthong_store_retries_total{reason=\"deadlock\"} %lld\n"
			 "lienthong_store_retries_total{reason=\"serialization\"} %lld\n",
		      (long long)retries[0], (long long)retries[1]);
	int64_t checkpoints;
	double checkpoint_s;
	lt_store_checkpoints(gw->store, &checkpoints, &checkpoint_s);
	lt_buf_printf(b, "# HELP lienthong_store_checkpoints_total Checkpoints of the SQLite log the store thread ran "
			 "between batches.\n# TYPE lienthong_store_checkpoints_total counter\n"
			 "lienthong_store_checkpoints_total %lld\n"
			 "# HELP lienthong_store_checkpoint_seconds_total The store thread's time in them (no batch "
			 "is written meanwhile).\n# TYPE lienthong_store_checkpoint_seconds_total counter\n"
			 "lienthong_store_checkpoint_seconds_total %.6f\n", (long long)checkpoints, checkpoint_s);
	lt_buf_printf(b, "# HELP lienthong_store_queue Operations waiting for the store thread.\n"
			 "# TYPE lienthong_store_queue gauge\nlienthong_store_queue %d\n", lt_store_queue_len(gw->store));
	lt_buf_printf(b, "# HELP lienthong_events_stored Events in the store.\n"
			 "# TYPE lienthong_events_stored gauge\nlienthong_events_stored %lld\n", (long long)st->events);
	lt_buf_printf(b, "# HELP lienthong_backlog Deliveries not yet done or dead; at max_backlog input gets 503.\n"
			 "# TYPE lienthong_backlog gauge\nlienthong_backlog %lld\n"
			 "# HELP lienthong_max_backlog The max_backlog setting.\n"
			 "# TYPE lienthong_max_backlog gauge\nlienthong_max_backlog %zu\n",
		      (long long)lt_store_backlog(gw->store), gw->cfg->max_backlog);
	/* in seconds, Prometheus' base unit (promtool refuses days); counted from now, not from load */
	lt_tls_refusals_metrics(b);
	lt_prune_metrics(gw, b);
	lt_buf_printf(b, "# HELP lienthong_certificate_expiry_seconds Seconds until each configured certificate "
			 "expires (negative: expired).\n# TYPE lienthong_certificate_expiry_seconds gauge\n");
	for (size_t i = 0; gw->sec && i < gw->sec->ncerts; i++) {
		const struct lt_cert_report *r = &gw->sec->certs[i];
		lt_buf_printf(b, "lienthong_certificate_expiry_seconds{what=\"%s\",cn=\"%s\"} %lld\n", r->what, r->cn,
			      (long long)(r->seconds_left - (now - gw->sec->loaded_ms) / 1000));
	}
	int soon = 0;
	for (size_t i = 0; gw->sec && i < gw->sec->ncerts; i++)
		soon += gw->sec->certs[i].seconds_left - (now - gw->sec->loaded_ms) / 1000 < 30 * 86400LL;
	lt_buf_printf(b, "# HELP lienthong_certificates_expiring Certificates in use (the gateway's, its trust's, "
			 "peers' keys) that expire within 30 days or have expired: renew them.\n"
			 "# TYPE lienthong_certificates_expiring gauge\nlienthong_certificates_expiring %d\n", soon);
	lt_buf_printf(b, "# HELP lienthong_crl_next_update_seconds Seconds until each CRL's next update "
			 "(negative: past it, stale; crl_stale says whether what it covers is refused).\n"
			 "# TYPE lienthong_crl_next_update_seconds gauge\n");
	for (size_t i = 0; gw->sec && i < gw->sec->ncrl_reports; i++) {
		const struct lt_crl_report *r = &gw->sec->crl_reports[i];
		if (r->next_update)
			lt_buf_printf(b, "lienthong_crl_next_update_seconds{file=\"%s\",issuer=\"%s\"} %lld\n", r->path,
				      r->issuer_cn, (long long)(r->next_update - now / 1000));
	}
	int64_t reloads, reload_failures;
	lt_secreload_counts(gw, &reloads, &reload_failures);
	lt_buf_printf(b, "# HELP lienthong_security_reloads_total Keys, certificates, trust and CRLs reloaded "
			 "while running (SIGHUP, a changed CRL), by result.\n# TYPE lienthong_security_reloads_total counter\n"
			 "lienthong_security_reloads_total{result=\"done\"} %lld\n"
			 "lienthong_security_reloads_total{result=\"failed\"} %lld\n",
		      (long long)reloads, (long long)reload_failures);
	lt_buf_printf(b, "# HELP lienthong_config_reloads_total Configuration reloads asked for by SIGHUP, by result "
			 "(refused: the file had mistakes, the running configuration stayed).\n"
			 "# TYPE lienthong_config_reloads_total counter\n"
			 "lienthong_config_reloads_total{result=\"ok\"} %lld\n"
			 "lienthong_config_reloads_total{result=\"refused\"} %lld\n",
		      (long long)gw->reloads_ok, (long long)gw->reloads_refused);
	lt_buf_printf(b, "# HELP lienthong_config_generation The running configuration's generation (1 at start, one "
			 "more per reload).\n# TYPE lienthong_config_generation gauge\nlienthong_config_generation %lld\n"
			 "# HELP lienthong_config_loaded_timestamp_seconds When the running configuration was read.\n"
			 "# TYPE lienthong_config_loaded_timestamp_seconds gauge\n"
			 "lienthong_config_loaded_timestamp_seconds %.3f\n",
		      (long long)gw->generation, (double)gw->cfg->loaded_ms / 1000);
}

static json_t *status_json(struct lt_gateway *gw, const struct lt_stats *st)
{
	json_t *peers = json_array();
	for (size_t i = 0; i < gw->cfg->npeers; i++) {
		const struct lt_peer *peer = &gw->cfg->peers[i];
		const struct lt_peer_counters *c = &gw->counters[i];
		const struct lt_peer_stats *p = NULL;
		for (int k = 0; k < st->n; k++)
			if (strcmp(st->peers[k].dest, peer->name) == 0)
				p = &st->peers[k];
		/* a destination's circuit breaker: open while the peer looks down (probed, not sent to) */
		const char *breaker = !peer->url ? "none" : !gw->cfg->breaker_failures ? "off"
				      : c->breaker_open ? "open" : "closed";
		json_t *oldest = p && p->oldest_created_ms ? json_integer((lt_now_ms() - p->oldest_created_ms) / 1000)
							  : json_null();
		json_array_append_new(peers, json_pack("{s:s,s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
						       "name", peer->name, "adapter", peer->adapter_name,
						       "destination", peer->url != NULL, "breaker", breaker,
						       "events_in", (json_int_t)c->events_in,
						       "delivered", (json_int_t)c->delivered,
						       "retried", (json_int_t)c->retried, "dead_total", (json_int_t)c->dead,
						       "pending", (json_int_t)(p ? p->pending : 0),
						       "inflight", (json_int_t)(p ? p->inflight : 0),
						       "waiting_for_order", (json_int_t)(p ? p->blocked : 0),
						       "dead_letters", (json_int_t)(p ? p->dead : 0),
						       "oldest_age_s", oldest));
		/* since start: when it last took a delivery, and the last failure */
		json_t *last = json_array_get(peers, json_array_size(peers) - 1);
		char when[32];
		if (c->last_done_ms) {
			lt_date_format_rfc3339(c->last_done_ms / 1000, when);
			json_object_set_new(last, "last_success", json_string(when));
		}
		if (c->last_failed_ms) {
			lt_date_format_rfc3339(c->last_failed_ms / 1000, when);
			json_object_set_new(last, "last_error", json_pack("{s:s,s:s}", "at", when, "error", c->last_error));
		}
	}
	/* every configured certificate and its days left, counted from now */
	json_t *certs = json_array();
	int64_t since = (lt_now_ms() - gw->started_ms) / 1000;
	for (size_t i = 0; gw->sec && i < gw->sec->ncerts; i++) {
		const struct lt_cert_report *r = &gw->sec->certs[i];
		int64_t left = r->seconds_left - since;
		json_array_append_new(certs, json_pack("{s:s,s:s,s:s,s:I}", "what", r->what, "cn", r->cn, "path", r->path,
						       "days_left", (json_int_t)(left >= 0 ? left / 86400 : -((-left + 86399) / 86400))));
	}
	char loaded[32];
	lt_date_format_rfc3339(gw->cfg->loaded_ms / 1000, loaded);
	json_t *config = json_pack("{s:s,s:I,s:s,s:I,s:I}", "file", gw->cfg->path, "generation", (json_int_t)gw->generation,
				   "loaded_at", loaded, "reloads_ok", (json_int_t)gw->reloads_ok, "reloads_refused",
				   (json_int_t)gw->reloads_refused);
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:b,s:o,s:o,s:o}", "node_id", gw->cfg->node_id, "version", LT_VERSION,
			 "uptime_s", (json_int_t)((lt_now_ms() - gw->started_ms) / 1000),
			 "events_stored", (json_int_t)st->events, "messages_stored", (json_int_t)st->messages,
			 "store_healthy", lt_store_healthy(gw->store), "peers", peers, "certificates", certs, "config",
			 config);
}

static void stats_done(struct lt_store_op *op)
{
	struct stats_req *r = (struct stats_req *)op;
	if (op->rc) {
		lt_http_reply_error(r->req, 503, "store_unavailable", op->err.msg, 5);
	} else if (r->json) {
		lt_http_reply_json(r->req, 200, status_json(r->gw, &r->st), 0);
	} else {
		struct lt_buf b = { 0 };
		metrics_text(r->gw, &r->st, &b);
		struct evbuffer *out = evbuffer_new();
		evbuffer_add(out, b.data, b.len);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
				  "text/plain; version=0.0.4");
		evhttp_send_reply(r->req, 200, "OK", out);
		evbuffer_free(out);
		lt_buf_free(&b);
	}
	free(r->st.peers);
	free(r);
}

/* ---- dead letters: POST /v1/admin/dlq/replay and /v1/admin/dlq/purge ---- */

struct dlq_req {
	struct lt_dlq op;
	struct lt_gateway *gw;
	struct evhttp_request *req;
	json_t *body;                   /* the request: owns the filters' strings */
	char who[LT_TRUST_MAX];         /* who asked, written to the audit trail with each delivery */
};

static void dlq_done(struct lt_store_op *op)
{
	struct dlq_req *r = (struct dlq_req *)op;
	const char *verb = r->op.action == LT_DLQ_REPLAY ? "replay" : "purge";
	if (op->rc) {
		lt_log(LT_ERROR, "dlq.failed", json_pack("{s:s,s:s}", "action", verb, "error", op->err.msg),
		       "dead letters: %s failed: %s", verb, op->err.msg);
		lt_http_reply_error(r->req, 503, "store_unavailable", op->err.msg, 5);
	} else {
		size_t i;
		json_t *d;
		json_array_foreach(r->op.deliveries, i, d) {
			json_object_set_new(d, "by", json_string(r->who));
			lt_log(LT_INFO, r->op.action == LT_DLQ_REPLAY ? "dlq.replayed" : "dlq.purged", json_incref(d),
			       r->op.action == LT_DLQ_REPLAY ? "dead letter back in the queue of %s (operator)"
							     : "dead letter to %s purged (operator)",
			       json_string_value(json_object_get(d, "peer")));
			if (r->op.action == LT_DLQ_REPLAY)
				lt_dispatch_kick(r->gw, json_string_value(json_object_get(d, "peer")));
		}
		size_t n = json_array_size(r->op.deliveries);
		lt_http_reply_json(r->req, 200,
				   json_pack("{s:s,s:I,s:b,s:O}", "action", verb, "count", (json_int_t)n, "more",
					     n == LT_DLQ_BATCH, "deliveries", r->op.deliveries),
				   0);
	}
	json_decref(r->op.deliveries);
	json_decref(r->body);
	free(r);
}

/* Read the filters; every one given must match, and at least one is needed
 * (an empty request must not replay or purge everything by accident). */
static int dlq_filters(struct dlq_req *r, struct lt_err *err)
{
	json_t *b = r->body, *v;
	const char *key;
	json_object_foreach(b, key, v) {
		if (strcmp(key, "ids") && strcmp(key, "peer") && strcmp(key, "dossier_code") && strcmp(key, "before") &&
		    strcmp(key, "all"))
			return lt_err_set(err, LT_EINVAL, "unknown filter \"%s\" (ids, peer, dossier_code, before, all)",
					  key);
	}
	if ((v = json_object_get(b, "ids"))) {
		size_t i;
		json_t *id;
		if (!json_is_array(v) || !json_array_size(v))
			return lt_err_set(err, LT_EINVAL, "ids must be a non-empty array of delivery ids");
		json_array_foreach(v, i, id)
			if (!json_is_integer(id))
				return lt_err_set(err, LT_EINVAL, "ids[%zu] is not a delivery id (an integer)", i);
		r->op.ids = v;
	}
	if ((v = json_object_get(b, "peer"))) {
		if (!json_is_string(v) || !lt_config_peer(r->gw->cfg, json_string_value(v)))
			return lt_err_set(err, LT_EINVAL, "peer must be the name of a configured peer");
		r->op.dest = json_string_value(v);
	}
	if ((v = json_object_get(b, "dossier_code"))) {
		if (!json_is_string(v))
			return lt_err_set(err, LT_EINVAL, "dossier_code must be a string");
		r->op.dossier_code = json_string_value(v);
	}
	if ((v = json_object_get(b, "before"))) {
		int64_t t;
		struct lt_err e = { 0 };
		if (!json_is_string(v) || lt_date_parse_rfc3339(json_string_value(v), &t, &e))
			return lt_err_set(err, LT_EINVAL, "before must be an RFC 3339 time with offset (%s)",
					  e.msg[0] ? e.msg : "not a string");
		r->op.before_ms = t * 1000;
	}
	int all = json_is_true(json_object_get(b, "all"));
	if (!all && !r->op.ids && !r->op.dest && !r->op.dossier_code && !r->op.before_ms)
		return lt_err_set(err, LT_EINVAL, "say which dead letters: ids, peer, dossier_code, before, or all: true");
	return LT_OK;
}

static void on_dlq(struct lt_gateway *gw, struct evhttp_request *req, enum lt_dlq_action action, const char *who)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		lt_http_reply_error(req, 405, "method_not_allowed", "POST a JSON object of filters", 0);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > 1 << 20) {
		lt_http_reply_error(req, 413, "too_large", "the filters are over 1 MiB", 0);
		return;
	}
	struct lt_err err = { 0 };
	json_t *body = lt_json_parse("the filters", (const char *)evbuffer_pullup(in, -1), len, 0, &err);
	if (body && !json_is_object(body)) {
		json_decref(body);
		body = NULL;
		lt_err_set(&err, LT_EINVAL, "the filters must be a JSON object");
	}
	if (!body) {
		lt_http_reply_error(req, 400, "bad_request", err.msg, 0);
		return;
	}
	struct dlq_req *r = calloc(1, sizeof *r);
	r->gw = gw;
	r->req = req;
	r->body = body;
	r->op.action = action;
	snprintf(r->who, sizeof r->who, "%s", who);
	r->op.who = r->who;
	r->op.now_ms = lt_now_ms();
	r->op.op.kind = LT_OP_DLQ;
	r->op.op.done = dlq_done;
	if (dlq_filters(r, &err)) {
		lt_http_reply_error(req, 400, "bad_request", err.msg, 0);
		json_decref(body);
		free(r);
		return;
	}
	if (lt_store_submit(gw->store, &r->op.op)) {
		json_decref(body);
		free(r);
		lt_http_reply_error(req, 503, "busy", "the store is not taking requests", 2);
	}
}

/* ---- the gate before every route ---- */

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "?";
}

/* Answer status with the sentence in detail, log one admin.refused line, count it. */
static void refuse(struct lt_admin *a, struct evhttp_request *req, const char *path, enum refusal why, int status,
		   const char *detail)
{
	char p[256];
	snprintf(p, sizeof p, "%s", path);
	lt_utf8_clean(p);
	a->refused[why]++;
	lt_log(LT_WARN, "admin.refused",
	       json_pack("{s:s,s:s,s:i,s:s}", "method", method_name(evhttp_request_get_command(req)), "path", p,
			 "status", status, "reason", refusal_names[why]),
	       "refused admin request: %s", detail);
	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"lienthong admin\"");
	lt_http_reply_error(req, status, status == 421 ? "misdirected_request" : status == 415 ? "unsupported_media_type"
				      : status == 403 ? "forbidden" : status == 401 ? "unauthorized" : "bad_request",
			    detail, 0);
}

/* One of the Host values a local client sends for this listener (any case). */
static int own_host(const struct lt_admin *a, const char *host)
{
	for (int i = 0; i < a->nhosts; i++)
		if (strcasecmp(host, a->hosts[i]) == 0)
			return 1;
	return 0;
}

/* application/json, with parameters or not (any case: media types are case-insensitive). */
static int is_json(const char *ct)
{
	ct += strspn(ct, " \t");
	return strncasecmp(ct, "application/json", 16) == 0 && strchr(" \t;", ct[16]);
}

/* 0 when the request may go on; otherwise its answer has been sent. For
 * every route, GET included, it refuses: Host, Origin, Sec-Fetch-Site or
 * Content-Type given twice, an absolute request target, a Host missing or
 * not this listener's, an Origin not this listener's, a Sec-Fetch-Site other
 * than same-origin or none; and anything but GET and HEAD that is not
 * application/json. */
static int admin_gate(struct lt_admin *a, struct evhttp_request *req, const char *path, char who[LT_TRUST_MAX])
{
	static const char *const single[] = { "Host", "Origin", "Sec-Fetch-Site", "Content-Type", "Authorization",
					      "X-Lienthong-Operator" };
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	char detail[512];
	for (size_t i = 0; i < sizeof single / sizeof *single; i++) {
		int n = 0;
		for (struct evkeyval *h = in->tqh_first; h; h = h->next.tqe_next)
			n += strcasecmp(h->key, single[i]) == 0;
		if (n > 1) {
			snprintf(detail, sizeof detail, "the %s header appears %d times", single[i], n);
			refuse(a, req, path, R_DUPLICATE, 400, detail);
			return -1;
		}
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	if (!uri || evhttp_uri_get_host(uri)) {
		refuse(a, req, path, R_TARGET, 400, "the request target must be a path (/...), not an absolute URI");
		return -1;
	}
	const char *host = evhttp_find_header(in, "Host");
	if (!host || !own_host(a, host)) {
		if (host)
			snprintf(detail, sizeof detail, "Host \"%.100s\" is not this admin listener: expected one of %s",
				 host, a->expected.data);
		else
			snprintf(detail, sizeof detail, "the Host header is missing: expected one of %s", a->expected.data);
		refuse(a, req, path, R_HOST, host ? 421 : 400, detail);
		return -1;
	}
	const char *origin = evhttp_find_header(in, "Origin");
	const char *scheme = a->auth ? "https://" : "http://";
	if (origin && (strncasecmp(origin, scheme, strlen(scheme)) || !own_host(a, origin + strlen(scheme)))) {
		snprintf(detail, sizeof detail, "Origin \"%.100s\" is not this admin listener (%s%s): requests "
			 "from other origins' pages are refused", origin, scheme, a->hosts[0]);
		refuse(a, req, path, R_ORIGIN, 403, detail);
		return -1;
	}
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
	if (site && strcasecmp(site, "same-origin") && strcasecmp(site, "none")) {
		snprintf(detail, sizeof detail, "Sec-Fetch-Site: %.40s: requests from other sites' pages are refused "
			 "(only same-origin or none)", site);
		refuse(a, req, path, R_FETCH_SITE, 403, detail);
		return -1;
	}
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const char *ct = evhttp_find_header(in, "Content-Type");
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD && (!ct || !is_json(ct))) {
		snprintf(detail, sizeof detail, "a %s needs Content-Type: application/json (got %s%.60s%s)",
			 method_name(m), ct ? "\"" : "none", ct ? ct : "", ct ? "\"" : "");
		refuse(a, req, path, R_CONTENT_TYPE, 415, detail);
		return -1;
	}
	/* the liveness probe and the page (no data in it; its fetches carry the credential) */
	int open_route = strcmp(path, "/healthz") == 0 || strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0;
	int status;
	if (!open_route && lt_admin_auth_check(a->auth, req, who, &status, detail, sizeof detail)) {
		refuse(a, req, path, R_CREDENTIALS, status, detail);
		return -1;
	}
	if (open_route)
		snprintf(who, LT_TRUST_MAX, "loopback");
	/* the CLI says which user runs it: taken as said on a listener that asks no
	 * credential (whoever reaches loopback may act anyway), added to one that does */
	const char *op = evhttp_find_header(in, "X-Lienthong-Operator");
	if (op && strncmp(op, "cli:", 4) == 0 && strlen(op) <= 40 && op[4] &&
	    strspn(op + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(op + 4)) {
		if (!a->auth)
			snprintf(who, LT_TRUST_MAX, "%s", op);
		else if (strlen(who) + strlen(op) + 4 < LT_TRUST_MAX)
			snprintf(who + strlen(who), LT_TRUST_MAX - strlen(who), " (%s)", op);
	}
	return 0;
}

static void on_admin(struct evhttp_request *req, void *arg)
{
	struct lt_gateway *gw = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || !*path)
		path = "/";
	/* no answer here is for another origin to read, or for a browser to sniff */
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Cross-Origin-Resource-Policy", "same-origin");
	evhttp_add_header(out, "Cache-Control", "no-store");
	char who[LT_TRUST_MAX];
	if (admin_gate(gw->admin, req, path, who))
		return;
	if (strcmp(path, "/healthz") == 0) {
		lt_http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"), 0);
	} else if (strcmp(path, "/readyz") == 0) {
		char token[400];
		int token_down = lt_token_unavailable(token, sizeof token);
		int ready = !gw->stopping && lt_store_healthy(gw->store) && !token_down;
		json_t *body = json_pack("{s:s,s:b,s:b}", "status", ready ? "ready" : "not_ready", "store_healthy",
					 lt_store_healthy(gw->store), "stopping", gw->stopping);
		if (token_down)     /* deliveries wait for it; input is still taken */
			json_object_set_new(body, "signing_key", json_string(token));
		lt_http_reply_json(req, ready ? 200 : 503, body, ready ? 0 : 5);
	} else if (strcmp(path, "/metrics") == 0 || strcmp(path, "/v1/admin/status") == 0) {
		struct stats_req *r = calloc(1, sizeof *r);
		r->gw = gw;
		r->req = req;
		r->json = path[1] == 'v';
		r->st.op.kind = LT_OP_STATS;
		r->st.op.done = stats_done;
		if (lt_store_submit(gw->store, &r->st.op)) {
			free(r);
			lt_http_reply_error(req, 503, "busy", "the store is not taking requests", 2);
		}
	} else if (strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0) {
		lt_admin_ui(req);
	} else if (strcmp(path, "/v1/admin/dlq/replay") == 0) {
		on_dlq(gw, req, LT_DLQ_REPLAY, who);
	} else if (strcmp(path, "/v1/admin/dlq/purge") == 0) {
		on_dlq(gw, req, LT_DLQ_PURGE, who);
	} else if (strcmp(path, "/v1/admin/prune") == 0) {
		lt_prune_http(gw, req);
	} else if (!lt_admin_query_route(gw->admin->queries, req, path)) {
		lt_http_reply_error(req, 404, "not_found",
				    "admin endpoints: /healthz /readyz /metrics /ui /v1/admin/status /v1/admin/dlq"
				    " /v1/admin/dlq/{id} /v1/admin/dlq/replay /v1/admin/dlq/purge /v1/admin/prune"
				    " /v1/admin/dossiers/{code}/trail /v1/admin/report?from=&to= /v1/admin/refusals"
				    " /v1/admin/audit/verify", 0);
	}
}

/* Accept Host name:port (and name alone on port 80, as a browser sends it). */
static void add_host(struct lt_admin *a, const char *name, int port)
{
	char h[sizeof *a->hosts];
	snprintf(h, sizeof h, "%s:%d", name, port);
	if (own_host(a, h) || a->nhosts + 2 > MAX_HOSTS)
		return;
	snprintf(a->hosts[a->nhosts++], sizeof *a->hosts, "%s", h);
	if (port == (a->auth ? 443 : 80))
		snprintf(a->hosts[a->nhosts++], sizeof *a->hosts, "%s", name);
	lt_buf_printf(&a->expected, "%s%s", a->expected.len ? ", " : "", h);
}

static void add_cert_name(void *arg, const char *name)
{
	struct lt_admin *a = arg;
	add_host(a, name, a->port);
}

/* The Host values a local client sends: admin_listen as configured,
 * localhost, and the address bound (127.0.0.1 or [::1], also when
 * admin_listen says localhost). A name that is not loopback by definition
 * never is: that is what a DNS-rebinding page sends. Over HTTPS, also the
 * names of the listener's certificate: a browser reaching it by another name
 * refuses the handshake, so a rebinding page never gets that far. */
static void admin_hosts(struct lt_admin *a, const char *listen, int fd, int port)
{
	char name[INET6_ADDRSTRLEN + 2], ip[INET6_ADDRSTRLEN];
	snprintf(name, sizeof name, "%.*s", (int)(strrchr(listen, ':') - listen), listen);
	add_host(a, name, port);
	add_host(a, "localhost", port);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip)) {
		snprintf(name, sizeof name, "[%s]", ip);
		add_host(a, name, port);
	} else if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip)) {
		add_host(a, ip, port);
	}
	lt_admin_auth_names(a->auth, add_cert_name, a);
}

int lt_admin_start(struct lt_gateway *gw, struct lt_err *err)
{
	char host[256];
	int port;
	if (lt_split_hostport(gw->cfg->admin_listen, host, sizeof host, &port))
		return lt_err_set(err, LT_ECONFIG, "admin_listen = %s: expected HOST:PORT", gw->cfg->admin_listen);
	struct lt_admin *a = calloc(1, sizeof *a);
	struct lt_buf errors = { 0 };
	if (lt_admin_auth_new(gw->cfg, gw->sec, &a->auth, &errors)) {
		lt_err_set(err, LT_ECONFIG, "the admin listener: %.*s", (int)strcspn(errors.data, "\n"), errors.data);
		lt_buf_free(&errors);
		free(a);
		return LT_ECONFIG;
	}
	lt_buf_free(&errors);
	a->port = port;
	a->http = evhttp_new(gw->base);
	if (a->auth)
		evhttp_set_bevcb(a->http, lt_admin_auth_bevcb, a->auth);
	evhttp_set_gencb(a->http, on_admin, gw);
	evhttp_set_timeout(a->http, 30);
	/* evhttp reads a body whole before the gate sees the request: bound it
	 * (the filters may be 1 MiB; over that on_dlq answers 413 in JSON) */
	evhttp_set_max_body_size(a->http, 2 << 20);
	evhttp_set_max_headers_size(a->http, 64 << 10);
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(a->http, host, (ev_uint16_t)port);
	if (!bound) {
		evhttp_free(a->http);
		lt_admin_auth_free(a->auth);
		free(a);
		return lt_err_set(err, LT_EIO, "cannot listen on admin address %s", gw->cfg->admin_listen);
	}
	lt_socket_nodelay(evhttp_bound_socket_get_fd(bound));
	admin_hosts(a, gw->cfg->admin_listen, evhttp_bound_socket_get_fd(bound), port);
	a->queries = lt_admin_queries_new(gw);
	gw->admin = a;
	return LT_OK;
}

void lt_admin_free(struct lt_gateway *gw)
{
	if (!gw->admin)
		return;
	lt_admin_queries_free(gw->admin->queries);     /* its answers go out before the listener closes */
	evhttp_free(gw->admin->http);
	lt_admin_auth_free(gw->admin->auth);
	lt_buf_free(&gw->admin->expected);
	free(gw->admin);
	gw->admin = NULL;
}
