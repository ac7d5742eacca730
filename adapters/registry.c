/* registry.c — the one place that lists every adapter, and what they share. */
#include "adapter.h"
#include "jsonschema.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct lt_adapter *const adapters[] = {
	&lt_adapter_canonical,
	&lt_adapter_onestop,
	&lt_adapter_provincial,
	&lt_adapter_postal,
	&lt_adapter_civilreg,
	&lt_adapter_edxml,
};

#define NADAPTERS (sizeof adapters / sizeof *adapters)

const char *const lt_event_types[] = {
	"dossier.received", "dossier.rejected", "dossier.step", "dossier.transferred",
	"dossier.supplement_requested", "dossier.supplemented", "dossier.fee_requested",
	"dossier.fee_paid", "dossier.withdrawn", "dossier.suspended", "dossier.resolved",
	"dossier.returned", "dossier.overdue", "dossier.apology", "registry.submitted",
	"registry.registered", "registry.refused", "postal.order_created", "postal.collected",
	"postal.delivered", "postal.failed", "dossier.feedback", NULL,
};

int lt_event_type_known(const char *type)
{
	for (const char *const *t = lt_event_types; *t; t++)
		if (strcmp(*t, type) == 0)
			return 1;
	return 0;
}

const struct lt_adapter *lt_adapter_find(const char *name)
{
	for (size_t i = 0; i < NADAPTERS; i++)
		if (strcmp(adapters[i]->name, name) == 0)
			return adapters[i];
	return NULL;
}

const char *lt_adapter_names(void)
{
	static char names[256];
	if (!names[0])
		for (size_t i = 0; i < NADAPTERS; i++) {
			size_t n = strlen(names);
			snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", adapters[i]->name);
		}
	return names;
}

int lt_adapters_init(struct lt_err *err)
{
	for (size_t i = 0; i < NADAPTERS; i++)
		if (adapters[i]->init) {
			int rc = adapters[i]->init(err);
			if (rc)
				return rc;
		}
	return LT_OK;
}

static int is_dir_with(const char *dir, const char *file)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	return access(p, R_OK) == 0;
}

#ifndef LT_DATADIR
#define LT_DATADIR "/usr/local/share/lienthong"   /* make install's $(PREFIX)/share/lienthong */
#endif

const char *lt_schema_dir(void)
{
	static char dir[PATH_MAX];
	if (dir[0])
		return dir;
	const char *env = getenv("LT_SCHEMA_DIR");
	if (env && *env) {
		snprintf(dir, sizeof dir, "%s", env);
		return dir;
	}
	if (is_dir_with("schemas", "canonical-event.schema.json")) {
		snprintf(dir, sizeof dir, "schemas");
		return dir;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char cand[PATH_MAX];
			/* the build tree (build/lienthong), then an installed tree
			 * (PREFIX/bin/lienthong beside PREFIX/share/lienthong) */
			static const char *const rel[] = { "../schemas", "../share/lienthong/schemas" };
			for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
				snprintf(cand, sizeof cand, "%.*s/%s", (int)(sizeof cand - 32), exe, rel[i]);
				if (is_dir_with(cand, "canonical-event.schema.json")) {
					snprintf(dir, sizeof dir, "%s", cand);
					return dir;
				}
			}
		}
	}
	snprintf(dir, sizeof dir, "%s/schemas", LT_DATADIR);
	return dir;
}

int lt_adapter_load_schemas(const char *const *files, struct lt_schema **out, int n, struct lt_err *err)
{
	char path[1024];
	for (int i = 0; i < n; i++) {
		if (out[i])
			continue;
		snprintf(path, sizeof path, "%s/%s", lt_schema_dir(), files[i]);
		if (!(out[i] = lt_schema_load(path, err)))
			return err ? err->code : LT_EIO;
	}
	return LT_OK;
}

enum lt_verdict lt_outcome_default(const struct lt_response *rsp, struct lt_err *err)
{
	long s = rsp->status;
	if (s >= 200 && s < 300)
		return LT_DONE;
	if (s == 0 || s == 408 || s == 425 || s == 429 || s >= 500) {
		lt_err_set(err, LT_EIO, s ? "peer answered %ld" : "no answer from peer", s);
		return LT_RETRY;
	}
	lt_err_set(err, LT_EINVAL, "peer refused with %ld", s);
	return LT_DEAD;
}
