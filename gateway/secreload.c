/* secreload.c — security material swapped in while the gateway runs (see secreload.h). */
#include "secreload.h"
#include "log.h"
#include "pool.h"
#include "security.h"

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
	int running, again;
	char why[300];
	struct lt_security *fresh;      /* worker's result */
	struct lt_buf errors, warnings;
	struct stamp *files;
	size_t nfiles;
	char config_sha256[65];
	int64_t done, failed;
};

static void file_digest(const char *path, char out[65])
{
	struct lt_buf b = { 0 };
	char chunk[8192];
	size_t n;
	FILE *f = fopen(path, "rb");
	out[0] = '\0';
	if (!f)
		return;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		lt_buf_append(&b, chunk, n);
	fclose(f);
	lt_sha256_hex(b.data ? b.data : "", b.len, out);
	lt_buf_free(&b);
}

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

static void reload_run(struct lt_job *job)
{
	struct lt_secreload *r = (struct lt_secreload *)((char *)job - offsetof(struct lt_secreload, job));
	lt_buf_reset(&r->errors);
	lt_buf_reset(&r->warnings);
	r->fresh = NULL;
	lt_security_load(r->gw->cfg, &r->fresh, &r->errors, &r->warnings);
}

static void reload_done(struct lt_job *job)
{
	struct lt_secreload *r = (struct lt_secreload *)((char *)job - offsetof(struct lt_secreload, job));
	struct lt_gateway *gw = r->gw;
	r->running = 0;
	if (!r->fresh) {
		r->failed++;
		lt_log(LT_ERROR, "security.reload_failed",
		       json_pack("{s:s,s:s}", "reason", r->why, "mistakes", r->errors.data ? r->errors.data : ""),
		       "%s: keys and certificates not reloaded, the running ones stay: %s", r->why,
		       r->errors.data ? r->errors.data : "");
	} else {
		struct lt_security *old = gw->sec;
		gw->sec = r->fresh;
		r->fresh = NULL;
		lt_security_free(old);  /* freed when the last request or delivery using it ends */
		r->done++;
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
	}
	if (r->again && !gw->stopping) {
		r->again = 0;
		lt_secreload_request(gw, "another reload was asked for while one ran");
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
		lt_secreload_request(r->gw, why);
	}
}

int lt_secreload_start(struct lt_gateway *gw, struct lt_err *err)
{
	struct lt_secreload *r = calloc(1, sizeof *r);
	if (!r)
		return lt_err_set(err, LT_ENOMEM, "out of memory");
	r->gw = gw;
	add_files(r, gw->cfg->crl);
	for (size_t i = 0; i < gw->cfg->npeers; i++)
		add_files(r, gw->cfg->peers[i].crl);
	file_digest(gw->cfg->path, r->config_sha256);
	r->job.run = reload_run;
	r->job.done = reload_done;
	lt_security_log_keys(gw->sec);
	if (r->nfiles) {
		struct timeval tv = { LT_CRL_CHECK_MS / 1000, (LT_CRL_CHECK_MS % 1000) * 1000 };
		r->timer = event_new(gw->base, -1, EV_PERSIST, on_timer, r);
		if (!r->timer || event_add(r->timer, &tv)) {
			if (r->timer)
				event_free(r->timer);
			free(r);
			return lt_err_set(err, LT_ENOMEM, "cannot start the CRL watch");
		}
	}
	gw->secreload = r;
	return LT_OK;
}

void lt_secreload_request(struct lt_gateway *gw, const char *why)
{
	struct lt_secreload *r = gw->secreload;
	if (!r)
		return;
	if (r->running) {
		r->again = 1;
		return;
	}
	changed_file(r);        /* what is loaded now is the reference for the next change */
	snprintf(r->why, sizeof r->why, "%s", why);
	r->running = 1;
	if (lt_pool_submit(gw->pool, &r->job)) {
		r->running = 0;
		r->failed++;
		lt_log(LT_ERROR, "security.reload_failed", json_pack("{s:s}", "reason", why),
		       "%s: the worker pool is full; keys and certificates not reloaded (send SIGHUP again)", why);
	}
}

int lt_secreload_config_changed(struct lt_gateway *gw)
{
	char now[65];
	if (!gw->secreload)
		return 0;
	file_digest(gw->cfg->path, now);
	return strcmp(now, gw->secreload->config_sha256) != 0;
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
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	lt_buf_free(&r->errors);
	lt_buf_free(&r->warnings);
	free(r);
	gw->secreload = NULL;
}
