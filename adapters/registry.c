/* registry.c — the one place that lists every adapter, and what they share. */
#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "mapped.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one list of adapters, one line each: ADAPTER(name) is the constant
 * table lt_adapter_<name> of adapters/<name>.c, known in config files as
 * `adapter = <name>`. A build may add adapters compiled elsewhere with
 * -D'LT_EXTRA_ADAPTERS(ADAPTER)=ADAPTER(name)' (the tests' worked example). */
#define ADAPTERS(ADAPTER) \
	ADAPTER(canonical)  \
	ADAPTER(onestop)    \
	ADAPTER(provincial) \
	ADAPTER(postal)     \
	ADAPTER(civilreg)   \
	ADAPTER(edxml)      \
	ADAPTER(mapped)

#ifndef LT_EXTRA_ADAPTERS
#define LT_EXTRA_ADAPTERS(ADAPTER)
#endif
#define DECLARE(name) extern const struct lt_adapter lt_adapter_##name;
#define LIST(name) &lt_adapter_##name,
ADAPTERS(DECLARE)
LT_EXTRA_ADAPTERS(DECLARE)
static const struct lt_adapter *const adapters[] = { ADAPTERS(LIST) LT_EXTRA_ADAPTERS(LIST) };

#define NADAPTERS (sizeof adapters / sizeof *adapters)

size_t lt_adapter_count(void)
{
	return NADAPTERS;
}

const struct lt_adapter *lt_adapter_at(size_t i)
{
	return i < NADAPTERS ? adapters[i] : NULL;
}

/* The canonical schema as JSON, read once (its enums are the lists of
 * event types, channels…); NULL with why when it cannot be read. */
static json_t *canonical_doc;
static char canonical_why[400];

static void load_canonical(void)
{
	char path[1024];
	json_error_t jerr;
	snprintf(path, sizeof path, "%s/canonical-event.schema.json", lt_schema_dir());
	if (!(canonical_doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)))
		snprintf(canonical_why, sizeof canonical_why, "cannot read the canonical schema %s: %s", path, jerr.text);
}

const json_t *lt_canonical_schema(struct lt_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, load_canonical);
	if (!canonical_doc)
		lt_err_set(err, LT_EIO, "%s", canonical_why);
	return canonical_doc;
}

const json_t *lt_canonical_enum(const char *where, struct lt_err *err)
{
	char def[64];
	const char *dot = strchr(where, '.');
	if (!lt_canonical_schema(err))
		return NULL;
	snprintf(def, sizeof def, "%.*s", dot ? (int)(dot - where) : 0, where);
	const json_t *e = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
		canonical_doc, "$defs"), def), "properties"), dot ? dot + 1 : ""), "enum");
	if (!json_is_array(e))
		lt_err_set(err, LT_EIO, "the canonical schema has no enum at $defs/%s/properties/%s", def, dot ? dot + 1 : "");
	return json_is_array(e) ? e : NULL;
}

int lt_event_type_known(const char *type)
{
	const json_t *types = lt_canonical_enum("event.type", NULL), *t;
	size_t i;
	json_array_foreach(types, i, t)
		if (type && strcmp(json_string_value(t), type) == 0)
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

/* The first directory holding `probe`: $env, ./sub, next to the executable
 * (../sub in the build tree, ../share/lienthong/sub installed), else
 * LT_DATADIR/sub; into dir (PATH_MAX), once. */
static const char *data_dir(char *dir, const char *env_name, const char *sub, const char *probe)
{
	if (dir[0])
		return dir;
	const char *env = getenv(env_name);
	if (env && *env) {
		snprintf(dir, PATH_MAX, "%s", env);
		return dir;
	}
	if (is_dir_with(sub, probe)) {
		snprintf(dir, PATH_MAX, "%s", sub);
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
			static const char *const rel[] = { "..", "../share/lienthong" };
			for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
				snprintf(cand, sizeof cand, "%.*s/%s/%s", (int)(sizeof cand - 64), exe, rel[i], sub);
				if (is_dir_with(cand, probe)) {
					snprintf(dir, PATH_MAX, "%s", cand);
					return dir;
				}
			}
		}
	}
	snprintf(dir, PATH_MAX, "%s/%s", LT_DATADIR, sub);
	return dir;
}

const char *lt_schema_dir(void)
{
	static char dir[PATH_MAX];
	return data_dir(dir, "LT_SCHEMA_DIR", "schemas", "canonical-event.schema.json");
}

const char *lt_codes_dir(void)
{
	static char dir[PATH_MAX];
	return data_dir(dir, "LT_CODES_DIR", "codes", "portal.codes");
}

const char *lt_mappings_dir(void)
{
	static char dir[PATH_MAX];
	return data_dir(dir, "LT_MAPPINGS_DIR", "mappings", "onestop.map");
}

int lt_adapters_check_peers(const struct lt_config *cfg, struct lt_buf *errors)
{
	int rc = LT_OK;
	for (size_t i = 0; i < cfg->npeers; i++) {
		const struct lt_peer *p = &cfg->peers[i];
		struct lt_err err = { 0 };
		if (p->adapter && p->adapter->check_peer && p->adapter->check_peer(p, &err)) {
			lt_buf_printf(errors, "%s:%d: %s\n", cfg->path, p->line, err.msg);
			rc = LT_ECONFIG;
		}
	}
	return rc;
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
