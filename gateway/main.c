/* main.c — the one binary: `lienthong run` (the daemon) and the CLI. */
#include "admin.h"
#include "adapter.h"
#include "cli.h"
#include "dates.h"
#include "dispatch.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "mapped.h"
#include "pool.h"
#include "prune.h"
#include "pull.h"
#include "sla.h"
#include "watchdog.h"
#include "security.h"
#include "secreload.h"
#include "service.h"
#include "sign_xml.h"
#include "store.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SHUTDOWN_GRACE_MS 20000

/* ---- the gateway's parts ---- */

static int calendar_start(struct lt_gateway *gw, struct lt_err *err)
{
	(void)err;
	gw->calendar = calloc(1, sizeof *gw->calendar);
	lt_calendar_parse(gw->cfg->holidays, gw->calendar, NULL);   /* checked when the config was read */
	return LT_OK;
}

static void calendar_free(struct lt_gateway *gw)
{
	if (gw->calendar)
		lt_calendar_free(gw->calendar);
	free(gw->calendar);
	gw->calendar = NULL;
}

static int store_start(struct lt_gateway *gw, struct lt_err *err)
{
	struct lt_store_node node = { gw->cfg->node_id, gw->cfg->lease_ms };
	return lt_store_open(gw->cfg->store, gw->calendar, &node, gw->base, &gw->store, err);
}

static void store_stop(struct lt_gateway *gw)
{
	lt_store_close(gw->store);
	gw->store = NULL;
}

static int pool_start(struct lt_gateway *gw, struct lt_err *err)
{
	gw->pool = lt_pool_new(gw->base, gw->cfg->workers);
	return gw->pool ? LT_OK : lt_err_set(err, LT_ENOMEM, "cannot start the worker threads");
}

static void pool_stop(struct lt_gateway *gw)
{
	lt_pool_free(gw->pool);     /* finishes queued jobs; their callbacks may still use the store */
	gw->pool = NULL;
}

static int watchdog_start(struct lt_gateway *gw, struct lt_err *err)
{
	(void)err;
	return lt_watchdog_start(gw);
}

/* The parts in the order they start; they stop in reverse, in two rounds:
 * every `stop` (end what is in flight: attempts aborted, the pool's jobs
 * finished, the store's last commit and callbacks), then every `free` — the
 * store's last callbacks may still use any part. A part whose start fails
 * is stopped and freed with those before it (each hook takes a part never
 * or half started). `drain` (a stop signal: take no new work, in reverse
 * order) and `busy` (work the shutdown waits for) are optional too, as is
 * `reload` (SIGHUP swapped in a new configuration, secreload.c: take it). */
static const struct part {
	const char *name;
	int (*start)(struct lt_gateway *gw, struct lt_err *err);
	void (*reload)(struct lt_gateway *gw);  /* a reload swapped in gw->cfg: follow it */
	void (*drain)(struct lt_gateway *gw);
	int (*busy)(struct lt_gateway *gw);
	void (*stop)(struct lt_gateway *gw);
	void (*free)(struct lt_gateway *gw);
} parts[] = {
	{ "calendar", calendar_start, NULL, NULL, NULL, NULL, calendar_free },
	{ "store", store_start, NULL, NULL, NULL, store_stop, NULL },
	{ "pool", pool_start, NULL, NULL, NULL, pool_stop, NULL },
	{ "dispatch", lt_dispatch_start, lt_dispatch_reconfigure, lt_dispatch_drain, lt_dispatch_busy, lt_dispatch_abort,
	  lt_dispatch_free },
	{ "pull", lt_pull_start, lt_pull_reconfigure, NULL, lt_pull_busy, NULL, lt_pull_free },
	{ "watchdog", watchdog_start, NULL, NULL, lt_watchdog_busy, NULL, lt_watchdog_free },
	{ "prune", lt_prune_start, lt_prune_reconfigure, NULL, lt_prune_busy, NULL, lt_prune_free },
	{ "admin", lt_admin_start, NULL, NULL, NULL, NULL, lt_admin_free },
	{ "http", lt_http_start, lt_http_reconfigure, lt_http_stop_accepting, lt_http_pending, NULL, lt_http_free },
	/* its reloads run on the pool: freed once the pool is */
	{ "secreload", lt_secreload_start, NULL, NULL, NULL, NULL, lt_secreload_free },
};
#define NPARTS (sizeof parts / sizeof *parts)

/* Start every part; 0, or the first failure (logged) with every part stopped. */
static int parts_start(struct lt_gateway *gw)
{
	struct lt_err err = { 0 };
	size_t i;
	for (i = 0; i < NPARTS; i++)
		if (parts[i].start(gw, &err))
			break;
	if (i == NPARTS)
		return LT_OK;
	lt_log(LT_ERROR, "gateway.start_failed", json_pack("{s:s}", "part", parts[i].name), "%s", err.msg);
	for (size_t k = i + 1; k-- > 0;)
		if (parts[k].stop)
			parts[k].stop(gw);
	for (size_t k = i + 1; k-- > 0;)
		if (parts[k].free)
			parts[k].free(gw);
	return err.code ? err.code : LT_EIO;
}

static void parts_reload(struct lt_gateway *gw)
{
	for (size_t k = 0; k < NPARTS; k++)
		if (parts[k].reload)
			parts[k].reload(gw);
}

static void parts_drain(struct lt_gateway *gw)
{
	for (size_t k = NPARTS; k-- > 0;)
		if (parts[k].drain)
			parts[k].drain(gw);
}

static int parts_busy(struct lt_gateway *gw)
{
	int n = 0;
	for (size_t k = 0; k < NPARTS; k++)
		if (parts[k].busy)
			n += parts[k].busy(gw);
	return n;
}

static void parts_stop(struct lt_gateway *gw)
{
	for (size_t k = NPARTS; k-- > 0;)
		if (parts[k].stop)
			parts[k].stop(gw);
	for (size_t k = NPARTS; k-- > 0;)
		if (parts[k].free)
			parts[k].free(gw);
}

/* ---- running ---- */

struct shutdown {
	struct lt_gateway *gw;
	const char *config_path;
	struct event *tick;
	int64_t deadline;
};

/* Wait until every request has its answer and every attempt its recorded
 * outcome (or the grace period ran out), then leave the loop. */
static void on_shutdown_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct shutdown *sd = arg;
	struct lt_gateway *gw = sd->gw;
	int pending = lt_http_pending(gw), busy = parts_busy(gw) - pending;
	if ((pending == 0 && busy == 0) || lt_mono_ms() > sd->deadline) {
		if (pending || busy)
			lt_log(LT_WARN, "gateway.shutdown_timeout",
			       json_pack("{s:i,s:i}", "pending_requests", pending, "inflight", busy),
			       "grace period over; what is still in flight is sent again after restart");
		event_base_loopexit(gw->base, NULL);
		return;
	}
	struct timeval tv = { 0, 20000 };
	evtimer_add(sd->tick, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct shutdown *sd = arg;
	struct lt_gateway *gw = sd->gw;
	if (gw->stopping) {
		lt_log(LT_WARN, "gateway.shutdown_now", NULL, "second signal: stopping at once");
		event_base_loopexit(gw->base, NULL);
		return;
	}
	gw->stopping = 1;
	lt_log(LT_INFO, "gateway.stopping", json_pack("{s:i}", "signal", (int)sig),
	       "stopping: no new input; finishing in-flight work");
	lt_service_stopping("stopping: finishing in-flight work");
	parts_drain(gw);
	sd->deadline = lt_mono_ms() + SHUTDOWN_GRACE_MS;
	on_shutdown_tick(-1, 0, sd);
}

/* SIGHUP (systemctl reload): the configuration file is read and checked again, and if it
 * is valid its peers, routes, limits, code tables, mapping files, keys and certificates are
 * swapped in (secreload.c: config.reloaded, or config.mistake lines and
 * config.reload_refused, and the running configuration stays). */
static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct shutdown *sd = arg;
	if (!sd->gw->stopping)
		lt_secreload_request(sd->gw, "SIGHUP", 1);
}

static int cmd_run(const char *config_path)
{
	struct lt_buf errors = { 0 };
	struct lt_config *cfg;
	if (lt_config_load(config_path, &cfg, &errors)) {
		fprintf(stderr, "%s", errors.data);
		lt_buf_free(&errors);
		return 2;
	}
	enum lt_level lvl = LT_INFO;
	lt_log_parse_level(cfg->log_level, &lvl);
	lt_log_init(strcmp(cfg->log_format, "text") != 0, lvl, stderr);

	struct lt_err err = { 0 };
	struct lt_security *sec = NULL;
	struct lt_buf warnings = { 0 };
	if (lt_security_load(cfg, &sec, &errors, &warnings)) {
		lt_log(LT_ERROR, "gateway.start_failed", NULL, "keys and certificates: %s", errors.data);
		lt_buf_free(&errors);
		lt_buf_free(&warnings);
		lt_config_free(cfg);
		return 2;
	}
	for (char *line = warnings.data, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		lt_log(LT_WARN, "certificate.expiring", NULL, "%s", line);
	}
	lt_buf_reset(&warnings);
	lt_config_warnings(cfg, &warnings);
	for (char *line = warnings.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		lt_log(LT_WARN, "config.risk", NULL, "%s", line);
	}
	lt_buf_free(&warnings);
	struct lt_codes *codes = NULL;
	struct lt_mappings *maps = NULL;
	char codes_said[1024], maps_said[1024];
	int bad_codes = lt_codes_load(NULL, cfg->codes_dir, &codes, &errors);
	if (!bad_codes)
		lt_codes_use(codes);     /* a mapping's code() and a peer's check need them */
	else
		lt_codes_try(codes);    /* only to check the mapping files: nothing is used */
	int bad = lt_mappings_load(NULL, cfg->mappings_dir, &maps, &errors) || bad_codes;
	if (!bad) {
		lt_mappings_use(maps);
		bad = lt_adapters_check_peers(cfg, &errors);
	} else {
		lt_mappings_free(maps);         /* read only for its mistakes, beside the tables' */
	}
	lt_codes_try(NULL);
	if (bad) {
		if (bad_codes)
			lt_codes_free(codes);
		lt_log(LT_ERROR, "gateway.start_failed", json_pack("{s:s}", "mistakes", errors.data),
		       "code tables, mapping files or adapter settings: %s", errors.data);
		lt_buf_free(&errors);
		lt_security_free(sec);
		lt_config_free(cfg);
		return 2;
	}
	lt_codes_describe(codes, codes_said, sizeof codes_said);
	lt_mappings_describe(maps, maps_said, sizeof maps_said);
	/* before any XML is parsed (adapters load XSDs): libxml2 never loads
	 * external entities, DTDs or files on its own */
	if (lt_xml_init(&err) || lt_adapters_init(&err)) {
		lt_log(LT_ERROR, "gateway.start_failed", NULL, "adapters: %s", err.msg);
		lt_security_free(sec);
		lt_config_free(cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* glibc returns freed memory of worker arenas with madvise at once,
	 * which costs a TLB shootdown across CPUs per commit; keep a modest
	 * cushion instead (measured: a fifth of all CPU time under load). */
	mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	evthread_use_pthreads();
	/* gw owns the first reference to cfg; a reload replaces it (secreload.c) */
	struct lt_gateway gw = { .cfg = cfg, .sec = sec, .started_ms = lt_now_ms(), .generation = 1,
				 .apply_config = parts_reload };
	if (!cfg->tls)
		lt_log(LT_WARN, "gateway.insecure", NULL,
		       "tls = off: the peer listener is plain HTTP without client certificates; for tests only");
	gw.base = event_base_new();
	lt_secreload_counters(&gw, cfg);
	if (parts_start(&gw)) {
		event_base_free(gw.base);
		free(gw.counters);
		lt_security_free(sec);
		lt_config_free(cfg);
		return 1;
	}

	struct shutdown sd = { .gw = &gw, .config_path = config_path };
	sd.tick = evtimer_new(gw.base, on_shutdown_tick, &sd);
	struct event *sigterm = evsignal_new(gw.base, SIGTERM, on_signal, &sd);
	struct event *sigint = evsignal_new(gw.base, SIGINT, on_signal, &sd);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	struct event *sighup = evsignal_new(gw.base, SIGHUP, on_hangup, &sd);
	event_add(sighup, NULL);
	struct lt_service *service = lt_service_start(gw.base);
	lt_log(LT_INFO, "gateway.started",
	       json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "node_id", cfg->node_id, "listen", cfg->listen, "admin_listen",
			 cfg->admin_listen, "store", cfg->store, "peers", (int)cfg->npeers, "timezone",
			 LT_TZ_NAME " (UTC" LT_TZ_OFFSET ")", "codes", codes_said, "mappings", maps_said),
	       "lienthong %s ready", LT_VERSION);
	lt_service_ready("ready: accepting on the peer and admin listeners");

	event_base_dispatch(gw.base);

	lt_service_free(service);
	parts_stop(&gw);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_free(sd.tick);
	event_base_free(gw.base);
	lt_log(LT_INFO, "gateway.stopped", NULL, "store closed cleanly");
	free(gw.counters);
	lt_security_free(gw.sec);  /* the generation in use at the end (the first one, or a reload's) */
	lt_xml_shutdown();
	lt_mappings_shutdown();
	lt_codes_shutdown();
	lt_config_free(gw.cfg);
	libevent_global_shutdown();
	return 0;
}

int main(int argc, char **argv)
{
	/* before anything is created, for every command: whatever the gateway or
	 * SQLite writes (the store and its -wal, -shm, -journal) is its user's alone */
	umask(077);
	return lt_cli_main(argc, argv, cmd_run);
}
