/* secreload.c — the configuration and its security material swapped in while the gateway
 * runs (see secreload.h). */
#include "secreload.h"
#include "adapter.h"
#include "codes.h"
#include "log.h"
#include "mapped.h"
#include "pool.h"
#include "security.h"
#include "store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct stamp {
	char *path;
	struct stat st;
	int missing;
};

struct lt_secreload {
	struct lt_gateway *gw;
	struct event *timer;
	struct lt_job job;
	int running, again, again_full;
	int full;                       /* the whole file (SIGHUP), not only the security material */
	char why[300];
	struct lt_config *base;         /* the running configuration when the job began (a reference) */
	struct lt_security *fresh;      /* worker's result: a generation holding its configuration */
	struct lt_codes *codes;         /* full: the new code tables and mapping files */
	struct lt_mappings *maps;
	struct lt_buf errors, warnings, restart;
	struct stamp *files;
	size_t nfiles;
	int64_t done, failed;
};

static void add_files(struct lt_secreload *r, const char *list)
{
	char *copy = strdup(list ? list : ""), *save = NULL;
	for (char *f = strtok_r(copy, " ,", &save); f; f = strtok_r(NULL, " ,", &save)) {
		struct stamp *v = realloc(r->files, (r->nfiles + 1) * sizeof *v);
		if (!v)
			break;
		r->files = v;
		struct stamp *s = &r->files[r->nfiles++];
		memset(s, 0, sizeof *s);
		s->path = strdup(f);
		s->missing = stat(f, &s->st) != 0;
	}
	free(copy);
}

/* The first CRL file whose stamp changed (all stamps are brought up to date), or NULL. */
static const char *changed_file(struct lt_secreload *r)
{
	const char *first = NULL;
	for (size_t i = 0; i < r->nfiles; i++) {
		struct stamp *s = &r->files[i];
		struct stat st;
		int missing = stat(s->path, &st) != 0;
		int same = missing == s->missing &&
			   (missing || (st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
					st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec && st.st_size == s->st.st_size &&
					st.st_ino == s->st.st_ino));
		if (!same && !first)
			first = s->path;
		s->missing = missing;
		if (!missing)
			s->st = st;
	}
	return first;
}

static void reset_stamps(struct lt_secreload *r);

/* Settings the running gateway cannot change: a reload keeps the running value. */
enum kind { STR, INT, I64 };
static const struct restart_key {
	const char *name;
	size_t field;
	enum kind kind;
} restart_keys[] = {
	{ "node_id", offsetof(struct lt_config, node_id), STR },
	{ "listen", offsetof(struct lt_config, listen), STR },
	{ "admin_listen", offsetof(struct lt_config, admin_listen), STR },
	/* the admin listener's credentials: read once when it starts (admin_auth.c) */
	{ "admin_tls_cert", offsetof(struct lt_config, admin_tls_cert), STR },
	{ "admin_tls_key", offsetof(struct lt_config, admin_tls_key), STR },
	{ "admin_trust", offsetof(struct lt_config, admin_trust), STR },
	{ "admin_clients", offsetof(struct lt_config, admin_clients), STR },
	{ "admin_token_file", offsetof(struct lt_config, admin_token_file), STR },
	{ "store", offsetof(struct lt_config, store), STR },
	{ "workers", offsetof(struct lt_config, workers), INT },
	{ "lease", offsetof(struct lt_config, lease_ms), I64 },
	{ "tls", offsetof(struct lt_config, tls), INT },
	{ "log_format", offsetof(struct lt_config, log_format), STR },
	{ "log_level", offsetof(struct lt_config, log_level), STR },
	{ "token_pin_file", offsetof(struct lt_config, token_pin_file), STR },
	{ "pkcs11_module", offsetof(struct lt_config, pkcs11_module), STR },
	{ "holidays", offsetof(struct lt_config, holidays), STR },      /* [sla]: the store's calendar */
};

/* Put the running value of every restart-only key into fresh; one line each that differed. */
static void keep_restart_keys(const struct lt_config *run, struct lt_config *fresh, struct lt_buf *out)
{
	for (size_t i = 0; i < sizeof restart_keys / sizeof *restart_keys; i++) {
		const struct restart_key *k = &restart_keys[i];
		const void *was = (const char *)run + k->field;
		void *now = (char *)fresh + k->field;
		int same;
		if (k->kind == STR) {
			const char *a = *(char *const *)was, *b = *(char **)now;
			same = (!a && !b) || (a && b && strcmp(a, b) == 0);
			if (!same) {
				free(*(char **)now);
				*(char **)now = a ? strdup(a) : NULL;
			}
		} else if (k->kind == INT) {
			same = *(const int *)was == *(int *)now;
			*(int *)now = *(const int *)was;
		} else {
			same = *(const int64_t *)was == *(int64_t *)now;
			*(int64_t *)now = *(const int64_t *)was;
		}
		int line = lt_config_line(fresh, k->name);     /* [gateway] keys; 0 for [sla] holidays */
		char at[16] = "";
		if (line)
			snprintf(at, sizeof at, ":%d", line);
		if (!same)
			lt_buf_printf(out, "%s%s: %s%s changed: it needs a restart; the running value is kept until then\n",
				      fresh->path, at, strcmp(k->name, "holidays") ? "" : "[sla] ", k->name);
	}
}

/* Worker thread: read and check everything a start would (check-config's checks, in one
 * pass), or only the security material of the running configuration. */
static void reload_run(struct lt_job *job)
{
	struct lt_secreload *r = (struct lt_secreload *)((char *)job - offsetof(struct lt_secreload, job));
	lt_buf_reset(&r->errors);
	lt_buf_reset(&r->warnings);
	lt_buf_reset(&r->restart);
	r->fresh = NULL;
	r->codes = NULL;
	r->maps = NULL;
	if (!r->full) {
		lt_security_load(r->base, &r->fresh, &r->errors, &r->warnings);
		return;
	}
	struct lt_config *cfg = NULL;
	int bad = lt_config_load_all(r->base->path, &cfg, &r->errors);
	if (!cfg)
		return;
	keep_restart_keys(r->base, cfg, &r->restart);
	/* files that did not change keep their set (NULL here): a reload of the
	 * same files would keep one more copy in memory (retired sets stay until
	 * exit: a worker may still read one) */
	int same_codes = lt_codes_unchanged(cfg->codes_dir);
	if (!same_codes && lt_codes_load(NULL, cfg->codes_dir, &r->codes, &r->errors))
		bad = 1;
	lt_codes_try(r->codes);         /* the mapping files and the peers are checked with the new tables */
	/* new tables: the mapping files are read (and checked) again with them */
	if (!(same_codes && lt_mappings_unchanged(cfg->mappings_dir)) &&
	    lt_mappings_load(NULL, cfg->mappings_dir, &r->maps, &r->errors))
		bad = 1;
	lt_mappings_try(r->maps);
	if (lt_adapters_check_peers(cfg, &r->errors))
		bad = 1;
	lt_mappings_try(NULL);
	lt_codes_try(NULL);
	struct lt_security *sec = NULL;
	if (lt_security_load(cfg, &sec, &r->errors, &r->warnings) == 0 && !bad)
		r->fresh = sec;
	else
		lt_security_free(sec);
	lt_config_free(cfg);            /* the generation holds it */
	if (!r->fresh) {
		lt_codes_free(r->codes);
		lt_mappings_free(r->maps);
		r->codes = NULL;
		r->maps = NULL;
	}
}

/* The counters of every peer of cfg, in its order, then those of peers it no longer has. */
void lt_secreload_counters(struct lt_gateway *gw, const struct lt_config *cfg)
{
	size_t n = cfg->npeers;
	struct lt_peer_counters *v = calloc(n + gw->ncounters + 1, sizeof *v);
	if (!v)
		return;         /* the old slots stay: counts of a new peer go to the spare one */
	for (size_t i = 0; i < cfg->npeers; i++) {
		const struct lt_peer *p = &cfg->peers[i];
		const struct lt_peer_counters *was = lt_counters(gw, p);
		if (was != &gw->spare)
			v[i] = *was;
		snprintf(v[i].peer, sizeof v[i].peer, "%s", p->name);
	}
	for (size_t i = 0; i < gw->ncounters; i++)
		if (!lt_config_peer(cfg, gw->counters[i].peer))
			v[n++] = gw->counters[i];
	free(gw->counters);
	gw->counters = v;
	gw->ncounters = n;
}

/* After a reload removed peers: how many deliveries to each wait in the store. */
struct removed_stats {
	struct lt_stats st;     /* first: the store op */
	char names[16][64];
	size_t n;
};

static void removed_stats_done(struct lt_store_op *op)
{
	struct removed_stats *rs = (struct removed_stats *)op;
	for (size_t i = 0; i < rs->n; i++) {
		long long waiting = 0;
		for (int k = 0; !op->rc && k < rs->st.n; k++)
			if (strcmp(rs->st.peers[k].dest, rs->names[i]) == 0)
				waiting = (long long)(rs->st.peers[k].pending + rs->st.peers[k].inflight +
						      rs->st.peers[k].blocked);
		lt_log(LT_WARN, "config.peer_removed", json_pack("{s:s,s:I}", "peer", rs->names[i], "waiting", (json_int_t)waiting),
		       "peer %s was removed by the reload: %lld deliveries to it wait in the store (not lost; they are "
		       "sent when the peer is configured again); its inbound messages are refused",
		       rs->names[i], waiting);
	}
	free(rs->st.peers);
	free(rs);
}

/* Loop thread: the new generation goes in at once for everything that starts from now on. */
static void swap_in(struct lt_secreload *r)
{
	struct lt_gateway *gw = r->gw;
	struct lt_security *old = gw->sec;
	gw->sec = r->fresh;
	r->fresh = NULL;
	if (!r->full) {
		lt_security_free(old);  /* freed when the last request or delivery using it ends */
		return;
	}
	struct lt_config *was = gw->cfg;
	gw->cfg = lt_config_ref(gw->sec->cfg);
	gw->generation++;
	if (r->codes)                   /* NULL: the files did not change, the set in use stays */
		lt_codes_use(r->codes);
	if (r->maps)
		lt_mappings_use(r->maps);
	r->codes = NULL;
	r->maps = NULL;
	lt_secreload_counters(gw, gw->cfg);
	if (gw->apply_config)
		gw->apply_config(gw);   /* main.c: each part takes the new generation (queues, pollers, listener) */
	const char *removed[16];
	size_t nremoved = 0;
	for (size_t i = 0; i < was->npeers && nremoved < 16; i++) {
		const struct lt_peer *now = lt_config_peer(gw->cfg, was->peers[i].name);
		if (!now || (was->peers[i].url && !now->url))
			removed[nremoved++] = was->peers[i].name;
	}
	if (nremoved) {
		struct removed_stats *rs = calloc(1, sizeof *rs);
		for (size_t i = 0; i < nremoved; i++)
			snprintf(rs->names[rs->n++], sizeof rs->names[0], "%s", removed[i]);
		rs->st.op.kind = LT_OP_STATS;
		rs->st.op.done = removed_stats_done;
		if (lt_store_submit(gw->store, &rs->st.op))
			free(rs);
	}
	/* the running configuration's files (r->base, the stamps) follow the new one */
	lt_security_free(old);
	lt_config_free(was);
}

static void reload_done(struct lt_job *job)
{
	struct lt_secreload *r = (struct lt_secreload *)((char *)job - offsetof(struct lt_secreload, job));
	struct lt_gateway *gw = r->gw;
	r->running = 0;
	lt_config_free(r->base);
	r->base = NULL;
	if (!r->fresh && r->full) {
		r->failed++;
		gw->reloads_refused++;
		size_t n = 0;
		for (char *line = r->errors.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1, n++) {
			*nl = '\0';
			lt_log(LT_ERROR, "config.mistake", json_pack("{s:s,s:s}", "reason", r->why, "mistake", line), "%s", line);
		}
		lt_log(LT_ERROR, "config.reload_refused",
		       json_pack("{s:s,s:s,s:I}", "reason", r->why, "file", gw->cfg->path, "mistakes", (json_int_t)n),
		       "%s: %s has %zu mistake%s (logged above, each with FILE:LINE); nothing was applied: the running "
		       "configuration, keys and certificates stay (generation %lld)", r->why, gw->cfg->path, n,
		       n == 1 ? "" : "s", (long long)gw->generation);
	} else if (!r->fresh) {
		r->failed++;
		lt_log(LT_ERROR, "security.reload_failed",
		       json_pack("{s:s,s:s}", "reason", r->why, "mistakes", r->errors.data ? r->errors.data : ""),
		       "%s: keys and certificates not reloaded, the running ones stay: %s", r->why,
		       r->errors.data ? r->errors.data : "");
	} else {
		/* NULL: the files were the same bytes, the sets in use stay (reload_run) */
		const char *codes = r->codes ? "read again" : "unchanged", *maps = r->maps ? "read again" : "unchanged";
		swap_in(r);
		r->done++;
		if (r->full) {
			gw->reloads_ok++;
			for (char *line = r->restart.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
				*nl = '\0';
				lt_log(LT_WARN, "config.restart_needed", json_pack("{s:s}", "setting", line), "%s", line);
			}
			lt_log(LT_INFO, "config.reloaded",
			       json_pack("{s:s,s:s,s:I,s:i,s:i,s:s,s:s}", "reason", r->why, "file", gw->cfg->path, "generation",
					 (json_int_t)gw->generation, "peers", (int)gw->cfg->npeers, "routes", (int)gw->cfg->nroutes,
					 "code_tables", codes, "mapping_files", maps),
			       "%s: %s reloaded (generation %lld: %zu peers, %zu routes, limits, retry; code tables %s, "
			       "mapping files %s); new requests and attempts use it, those in flight finish with the previous one",
			       r->why, gw->cfg->path, (long long)gw->generation, gw->cfg->npeers, gw->cfg->nroutes, codes, maps);
		}
		lt_log(LT_INFO, "security.reloaded",
		       json_pack("{s:s,s:I,s:I}", "reason", r->why, "certificates", (json_int_t)gw->sec->ncerts, "crls",
				 (json_int_t)gw->sec->ncrl_reports),
		       "%s: keys, certificates, trust and CRLs reloaded (%zu certificates, %zu CRLs); new connections "
		       "and attempts use them, those in flight finish with the previous ones", r->why,
		       gw->sec->ncerts, gw->sec->ncrl_reports);
		lt_security_log_keys(gw->sec);
		for (char *line = r->warnings.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
			*nl = '\0';
			lt_log(LT_WARN, "certificate.expiring", NULL, "%s", line);
		}
		if (r->full)
			reset_stamps(r);
	}
	if (r->again && !gw->stopping) {
		int full = r->again_full;
		r->again = r->again_full = 0;
		lt_secreload_request(gw, "another reload was asked for while one ran", full);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_secreload *r = arg;
	const char *f = changed_file(r);
	char why[300];
	if (f) {
		snprintf(why, sizeof why, "crl file %s changed", f);
		lt_secreload_request(r->gw, why, 0);
	}
}

/* The CRL files and the file digest of the running configuration. */
static void reset_stamps(struct lt_secreload *r)
{
	const struct lt_config *cfg = r->gw->cfg;
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	r->files = NULL;
	r->nfiles = 0;
	add_files(r, cfg->crl);
	for (size_t i = 0; i < cfg->npeers; i++)
		add_files(r, cfg->peers[i].crl);
}

int lt_secreload_start(struct lt_gateway *gw, struct lt_err *err)
{
	struct lt_secreload *r = calloc(1, sizeof *r);
	if (!r)
		return lt_err_set(err, LT_ENOMEM, "out of memory");
	r->gw = gw;
	reset_stamps(r);
	r->job.run = reload_run;
	r->job.done = reload_done;
	lt_security_log_keys(gw->sec);
	/* the CRL files are looked at even when there are none yet: a reload may name some */
	struct timeval tv = { LT_CRL_CHECK_MS / 1000, (LT_CRL_CHECK_MS % 1000) * 1000 };
	r->timer = event_new(gw->base, -1, EV_PERSIST, on_timer, r);
	if (!r->timer || event_add(r->timer, &tv)) {
		if (r->timer)
			event_free(r->timer);
		free(r);
		return lt_err_set(err, LT_ENOMEM, "cannot start the CRL watch");
	}
	gw->secreload = r;
	return LT_OK;
}

void lt_secreload_request(struct lt_gateway *gw, const char *why, int full)
{
	struct lt_secreload *r = gw->secreload;
	if (!r)
		return;
	if (r->running) {
		r->again = 1;
		r->again_full |= full;
		return;
	}
	changed_file(r);        /* what is loaded now is the reference for the next change */
	snprintf(r->why, sizeof r->why, "%s", why);
	r->running = 1;
	r->full = full;
	r->base = lt_config_ref(gw->cfg);
	if (lt_pool_submit(gw->pool, &r->job)) {
		r->running = 0;
		r->failed++;
		lt_config_free(r->base);
		r->base = NULL;
		if (full)
			gw->reloads_refused++;
		lt_log(LT_ERROR, full ? "config.reload_refused" : "security.reload_failed", json_pack("{s:s}", "reason", why),
		       "%s: the worker pool is full; nothing was reloaded (send SIGHUP again)", why);
	}
}

void lt_secreload_counts(struct lt_gateway *gw, int64_t *done, int64_t *failed)
{
	*done = gw->secreload ? gw->secreload->done : 0;
	*failed = gw->secreload ? gw->secreload->failed : 0;
}

void lt_secreload_free(struct lt_gateway *gw)
{
	struct lt_secreload *r = gw->secreload;
	if (!r)
		return;
	if (r->timer)
		event_free(r->timer);
	lt_security_free(r->fresh);
	lt_config_free(r->base);
	lt_codes_free(r->codes);
	lt_mappings_free(r->maps);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	lt_buf_free(&r->errors);
	lt_buf_free(&r->warnings);
	lt_buf_free(&r->restart);
	free(r);
	gw->secreload = NULL;
}
