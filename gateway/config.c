/* config.c — INI parsing and checking with a line number for every mistake.
 *
 * Written by hand rather than with inih: we need the line of every key to
 * report all mistakes at once, which the Debian build of inih does not give. */
#include "config.h"
#include "adapter.h"
#include "http.h"
#include "sla.h"
#include "mapping.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static void cfg_error(struct lt_buf *errors, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void cfg_error(struct lt_buf *errors, const char *path, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lt_buf_printf(errors, "%s:%d: %s\n", path, line, msg);
}

/* s starts with digits and an optional fraction (no sign, space, exponent,
 * hex, inf or nan: what strtod alone would take): their value and the rest. */
static int decimal_prefix(const char *s, double *v, const char **rest)
{
	const char *p = s;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == s)
		return LT_EINVAL;
	if (*p == '.') {
		const char *f = ++p;
		while (isdigit((unsigned char)*p))
			p++;
		if (p == f)
			return LT_EINVAL;
	}
	*v = strtod(s, NULL);   /* finite, or +inf past 309 digits: both compare with a limit */
	*rest = p;
	return LT_OK;
}

/* "1111111111111111111111111…" for a value quoted in a message */
#define SHOWN(v) 40, (v), strlen(v) > 40 ? "…" : ""

int lt_parse_duration(const char *s, int64_t *ms, struct lt_err *err)
{
	double v, mul;
	const char *end;
	if (decimal_prefix(s, &v, &end))
		goto bad;
	if (strcmp(end, "ms") == 0) mul = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0') mul = 1000;
	else if (strcmp(end, "m") == 0) mul = 60000;
	else if (strcmp(end, "h") == 0) mul = 3600000;
	else if (strcmp(end, "d") == 0) mul = 86400000;
	else goto bad;
	if (!(v <= (double)LT_DURATION_MAX_MS / mul))
		return lt_err_set(err, LT_ETOOBIG, "\"%.*s%s\" is over the limit of 366d", SHOWN(s));
	*ms = (int64_t)(v * mul);
	return LT_OK;
bad:
	return lt_err_set(err, LT_EINVAL, "\"%.*s%s\" is not a duration", SHOWN(s));
}

int lt_parse_size(const char *s, uint64_t max, size_t *out, struct lt_err *err)
{
	const char *end = s;
	uint64_t v = 0, mul = 1;
	int over = 0;
	while (isdigit((unsigned char)*end)) {
		unsigned d = (unsigned)(*end++ - '0');
		if (v > (UINT64_MAX - d) / 10)
			over = 1;
		else
			v = v * 10 + d;
	}
	if (end == s)
		goto bad;
	if (*end == 'k' || *end == 'K') { mul = 1024; end++; }
	else if (*end == 'm' || *end == 'M') { mul = 1024 * 1024; end++; }
	if (*end == 'i' || *end == 'B' || *end == 'b') end++;
	if (*end == 'B') end++;
	if (*end)
		goto bad;
	if (over || v > max / mul)  /* before the multiplication */
		return lt_err_set(err, LT_ETOOBIG, "\"%.*s%s\" is over the limit of %llu", SHOWN(s),
				  (unsigned long long)max);
	if (v == 0)
		return lt_err_set(err, LT_ETOOBIG, "\"%s\" is not at least 1 byte", s);
	*out = (size_t)(v * mul);
	return LT_OK;
bad:
	return lt_err_set(err, LT_EINVAL, "\"%.*s%s\" is not a size", SHOWN(s));
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Cut an inline comment: ";" or "#" preceded by whitespace. */
static void cut_comment(char *s)
{
	for (char *p = s; *p; p++)
		if ((*p == ';' || *p == '#') && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
}

/* Split a space- or comma-separated list into a NULL-terminated array. */
static char **split_list(const char *v)
{
	size_t n = 0, cap = 4;
	char **out = calloc(cap + 1, sizeof *out);
	char *copy = strdup(v), *save = NULL;
	for (char *t = strtok_r(copy, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
		if (n == cap) {
			cap *= 2;
			out = realloc(out, (cap + 1) * sizeof *out);
		}
		out[n++] = strdup(t);
	}
	out[n] = NULL;
	free(copy);
	return out;
}

static void free_list(char **l)
{
	for (char **p = l; p && *p; p++)
		free(*p);
	free(l);
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return 0;
	for (const char *p = s; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
}

/* "sha256//B64[;sha256//B64…]", each B64 the 44-character base64 of 32 bytes (what curl's
 * CURLOPT_PINNEDPUBLICKEY takes: refused there only at the first delivery otherwise). */
static int valid_pins(const char *v)
{
	while (*v) {
		if (strncmp(v, "sha256//", 8))
			return 0;
		v += 8;
		size_t n = strcspn(v, ";");
		if (n != 44 || v[43] != '=' || v[42] == '=')
			return 0;
		for (size_t i = 0; i < 43; i++)
			if (!isalnum((unsigned char)v[i]) && v[i] != '+' && v[i] != '/')
				return 0;
		v += n;
		if (*v == ';')
			v++;
	}
	return 1;
}

/* Whether libcurl, which will send to it, takes the URL (host, port, path). */
static int valid_url(const char *v, char *why, size_t n)
{
	CURLU *u = curl_url();
	CURLUcode rc = u ? curl_url_set(u, CURLUPART_URL, v, 0) : CURLUE_OUT_OF_MEMORY;
	char *host = NULL;
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (rc != CURLUE_OK)
		snprintf(why, n, "%s", curl_url_strerror(rc));
	else if (!*host)
		snprintf(why, n, "no host");
	curl_free(host);
	curl_url_cleanup(u);
	return rc == CURLUE_OK && *why == '\0';
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
}

struct parse_state {
	struct lt_config *c;
	struct lt_buf *errors;
	const char *path;
	int nerr;
	enum { SEC_NONE, SEC_GATEWAY, SEC_RETRY, SEC_SLA, SEC_UNITS, SEC_AGENCIES, SEC_PEER, SEC_ROUTE, SEC_UNKNOWN } sec;
	int gateway_line, retry_line, store_line, codes_dir_line, mappings_dir_line;
};

#define ERR(line, ...) do { cfg_error(st->errors, st->path, line, __VA_ARGS__); st->nerr++; } while (0)

/* key = a duration of at least min_ms (and at most 366d) into *dst; else one
 * error naming the key, and the limit when it is over it. */
static void duration_key(struct parse_state *st, int line, const char *key, const char *v, int64_t min_ms,
			 const char *like, int64_t *dst)
{
	int64_t ms = 0;
	int rc = lt_parse_duration(v, &ms, NULL);
	if (rc == LT_ETOOBIG)
		ERR(line, "%s = %.*s%s is out of range: a duration is at most 366d", key, SHOWN(v));
	else if (rc || ms < min_ms || ms <= 0) {
		char least[40] = "";
		if (min_ms >= 1000)
			snprintf(least, sizeof least, " of at least %llds", (long long)(min_ms / 1000));
		ERR(line, "%s must be a%s duration%s like %s, not \"%.*s%s\"", key, min_ms >= 1000 ? "" : " positive",
		    least, like, SHOWN(v));
	} else {
		*dst = ms;
	}
}

/* key = a size from 1 to max (limit: max as text, "256m") into *dst. */
static void size_key(struct parse_state *st, int line, const char *key, const char *v, uint64_t max,
		     const char *limit, const char *like, size_t *dst)
{
	size_t n = 0;
	int rc = lt_parse_size(v, max, &n, NULL);
	if (rc == LT_ETOOBIG)
		ERR(line, "%s = %.*s%s is out of range: it must be from 1 to %s (%llu)", key, SHOWN(v), limit,
		    (unsigned long long)max);
	else if (rc)
		ERR(line, "%s must be %s, not \"%.*s%s\"", key, like, SHOWN(v));
	else
		*dst = n;
}

/* key = a whole number in [lo, hi] into *dst; else the error "what". */
static void int_key(struct parse_state *st, int line, const char *v, int64_t lo, int64_t hi, int *dst,
		    const char *what)
{
	int64_t n;
	if (lt_parse_int64(v, lo, hi, &n, NULL))
		ERR(line, "%s, not \"%.*s%s\"", what, SHOWN(v));
	else
		*dst = (int)n;
}

static void gateway_key(struct parse_state *st, int line, const char *k, const char *v)
{
	struct lt_config *c = st->c;
	static const struct { const char *key; size_t off; } strs[] = {
		{ "node_id", offsetof(struct lt_config, node_id) },
		{ "listen", offsetof(struct lt_config, listen) },
		{ "admin_listen", offsetof(struct lt_config, admin_listen) },
		{ "store", offsetof(struct lt_config, store) },
		{ "log_format", offsetof(struct lt_config, log_format) },
		{ "log_level", offsetof(struct lt_config, log_level) },
		{ "tls_cert", offsetof(struct lt_config, tls_cert) },
		{ "tls_key", offsetof(struct lt_config, tls_key) },
		{ "trust", offsetof(struct lt_config, trust) },
		{ "sign_key", offsetof(struct lt_config, sign_key) },
		{ "sign_cert", offsetof(struct lt_config, sign_cert) },
		{ "key_password_file", offsetof(struct lt_config, key_password_file) },
		{ "codes_dir", offsetof(struct lt_config, codes_dir) },
		{ "mappings_dir", offsetof(struct lt_config, mappings_dir) },
		{ "crl", offsetof(struct lt_config, crl) },
		{ "token_pin_file", offsetof(struct lt_config, token_pin_file) },
		{ "pkcs11_module", offsetof(struct lt_config, pkcs11_module) },
	};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		if (strcmp(k, strs[i].key) == 0) {
			set_str((char **)((char *)c + strs[i].off), v);
			c->key_lines = realloc(c->key_lines, (c->nkey_lines + 1) * sizeof *c->key_lines);
			c->key_lines[c->nkey_lines++] = (struct lt_key_line){ strs[i].key, line };
			if (strcmp(k, "codes_dir") == 0)
				st->codes_dir_line = line;
			if (strcmp(k, "mappings_dir") == 0)
				st->mappings_dir_line = line;
			if (strcmp(k, "log_format") == 0 && strcmp(v, "json") && strcmp(v, "text"))
				ERR(line, "log_format must be json or text, not \"%s\"", v);
			if (strcmp(k, "log_level") == 0 && strcmp(v, "debug") && strcmp(v, "info") &&
			    strcmp(v, "warn") && strcmp(v, "error"))
				ERR(line, "log_level must be debug, info, warn or error, not \"%s\"", v);
			if (strcmp(k, "store") == 0)
				st->store_line = line;
			char host[256];
			int port;
			if ((strcmp(k, "listen") == 0 || strcmp(k, "admin_listen") == 0) &&
			    lt_split_hostport(v, host, sizeof host, &port))
				ERR(line, "%s must be HOST:PORT (or [V6]:PORT) with a port from 1 to 65535, not \"%.*s%s\"",
				    k, SHOWN(v));
			if (strcmp(k, "store") == 0 && strncmp(v, "sqlite:", 7) && strncmp(v, "postgresql://", 13) &&
			    strncmp(v, "postgres://", 11))
				ERR(line, "store must be sqlite:PATH or postgresql://…, not \"%s\"", v);
			return;
		}
	if (strcmp(k, "max_body") == 0) {
		size_key(st, line, k, v, LT_MAX_BODY_LIMIT, "256m", "a size like 1m or 65536", &c->max_body);
	} else if (strcmp(k, "max_headers") == 0) {
		size_key(st, line, k, v, LT_MAX_HEADERS_LIMIT, "1m", "a size like 16k or 8192", &c->max_headers);
	} else if (strcmp(k, "max_backlog") == 0) {
		size_key(st, line, k, v, LT_MAX_BACKLOG_LIMIT, "1000000000", "a positive number", &c->max_backlog);
	} else if (strcmp(k, "tls") == 0) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			ERR(line, "tls must be on or off, not \"%s\"", v);
		c->tls = strcmp(v, "on") == 0;
	} else if (strcmp(k, "crl_stale") == 0) {
		if (strcmp(v, "refuse") && strcmp(v, "warn"))
			ERR(line, "crl_stale must be refuse (a certificate its stale CRL covers is refused) or warn "
			    "(accepted, with a warning), not \"%s\"", v);
		c->crl_stale_warn = strcmp(v, "warn") == 0;
	} else if (strcmp(k, "tls_policy") == 0) {
		if (strcmp(v, "intermediate") && strcmp(v, "modern"))
			ERR(line, "tls_policy must be intermediate (TLS 1.2 with ECDHE and AEAD ciphers, and TLS 1.3) "
			    "or modern (TLS 1.3 only), not \"%s\"", v);
		c->tls_policy = strcmp(v, "modern") == 0 ? LT_TLS_MODERN : LT_TLS_INTERMEDIATE;
	} else if (strcmp(k, "replay_window") == 0) {
		duration_key(st, line, k, v, 1, "300s", &c->replay_window_ms);
	} else if (strcmp(k, "workers") == 0) {
		int_key(st, line, v, 0, 64, &c->workers, "workers must be 0..64 (0 = one per CPU)");
	} else if (strcmp(k, "max_json_depth") == 0) {
		int_key(st, line, v, 1, 2048, &c->max_json_depth,
			"max_json_depth must be 1..2048 (nesting levels of a JSON body)");
	} else if (strcmp(k, "lease") == 0) {
		/* renewed about every second while the node lives: shorter would expire between renewals */
		duration_key(st, line, k, v, 3000, "5m", &c->lease_ms);
	} else if (strcmp(k, "timezone") == 0) {
		/* one zone for logs, trail, reports and due dates; the peers' local
		 * date formats are Vietnamese time too, so only that zone for now */
		if (strcmp(v, LT_TZ_NAME) && strcmp(v, "Asia/Saigon") && strcmp(v, LT_TZ_OFFSET))
			ERR(line, "timezone must be %s (UTC%s, used for logs, trails, reports and due dates), not \"%s\"",
			    LT_TZ_NAME, LT_TZ_OFFSET, v);
	} else if (strcmp(k, "read_timeout") == 0) {
		duration_key(st, line, k, v, 1, "30s", &c->read_timeout_ms);
	} else {
		ERR(line, "unknown key \"%s\" in [gateway]", k);
	}
}

static void retry_key(struct parse_state *st, int line, const char *k, const char *v)
{
	if (strcmp(k, "breaker_failures") == 0) {
		int_key(st, line, v, 0, 1000, &st->c->breaker_failures,
			"breaker_failures must be a number of attempts from 0 (no breaker) to 1000");
		return;
	}
	int64_t *dst = strcmp(k, "initial") == 0 ? &st->c->retry_initial_ms :
		       strcmp(k, "max_delay") == 0 ? &st->c->retry_max_delay_ms :
		       strcmp(k, "max_age") == 0 ? &st->c->retry_max_age_ms : NULL;
	if (!dst)
		ERR(line, "unknown key \"%s\" in [retry] (known: initial, max_delay, max_age, breaker_failures)", k);
	else
		duration_key(st, line, k, v, 1, "1s, 10m or 72h", dst);
}

/* A peer's password (the portal's login) from a file only root can read;
 * kept as the adapter parameter "password", never logged. */
static void read_secret(struct parse_state *st, int line, struct lt_peer *p, const char *path)
{
	struct stat sb;
	if (stat(path, &sb)) {
		ERR(line, "peer %s: password_file %s: %s", p->name, path, strerror(errno));
		return;
	}
	if (sb.st_mode & 077) {
		ERR(line, "peer %s: password_file %s is readable by others (mode %04o); chmod 600 it", p->name, path,
		    (unsigned)(sb.st_mode & 07777));
		return;
	}
	FILE *f = fopen(path, "r");
	char buf[512] = "";
	if (!f || !fgets(buf, sizeof buf, f)) {
		ERR(line, "peer %s: password_file %s is empty or unreadable", p->name, path);
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		json_object_set_new(p->params, "password", json_string(buf));
	}
	if (f)
		fclose(f);
}

static void sla_key(struct parse_state *st, int line, const char *k, const char *v)
{
	if (strcmp(k, "holidays") == 0) {
		struct lt_calendar cal;
		struct lt_err err = { 0 };
		if (lt_calendar_parse(v, &cal, &err))
			ERR(line, "[sla] %s", err.msg);
		lt_calendar_free(&cal);
		set_str(&st->c->holidays, v);
	} else if (strcmp(k, "check_interval") == 0) {
		duration_key(st, line, "[sla] check_interval", v, 1, "60s", &st->c->sla_interval_ms);
	} else {
		ERR(line, "unknown key \"%s\" in [sla] (known: holidays, check_interval)", k);
	}
}

/* [units] OLD = NEW [since YYYY-MM-DD] */
static void units_key(struct parse_state *st, int line, const char *k, const char *v)
{
	struct lt_config *c = st->c;
	char code[128], word[16] = "", day[32] = "";
	int n = sscanf(v, "%127s %15s %31s", code, word, day);
	int64_t since = 0;
	if (n == 3 && strcmp(word, "since") == 0) {
		char stamp[48];
		snprintf(stamp, sizeof stamp, "%.10sT00:00:00+07:00", day);
		if (strlen(day) != 10 || lt_date_parse_rfc3339(stamp, &since, NULL)) {
			ERR(line, "[units] %s: \"%s\" is not a date like 2025-07-01", k, day);
			return;
		}
	} else if (n != 1) {
		ERR(line, "[units] expected OLD = NEW or OLD = NEW since 2025-07-01, not \"%s = %s\"", k, v);
		return;
	}
	c->units = realloc(c->units, (c->nunits + 1) * sizeof *c->units);
	struct lt_unit_map *u = &c->units[c->nunits++];
	u->old_code = strdup(k);
	u->new_code = strdup(code);
	u->since = since;
	u->line = line;
}

/* [agencies] CODE = name, for reports and the trail */
static void agencies_key(struct parse_state *st, int line, const char *k, const char *v)
{
	if (strlen(k) > 63 || strpbrk(k, " \t\"") || strlen(v) > 200) {
		ERR(line, "[agencies] expected CODE = name (a code of at most 63 characters without spaces, a name of "
		    "at most 200), not \"%.80s\"", k);
		return;
	}
	json_t *name = json_string(v);
	if (!name) {
		ERR(line, "[agencies] %s: the name is not UTF-8 text", k);
		return;
	}
	if (!st->c->agencies)
		st->c->agencies = json_object();
	json_object_set_new(st->c->agencies, k, name);
}

static void peer_key(struct parse_state *st, int line, const char *k, const char *v)
{
	struct lt_peer *p = &st->c->peers[st->c->npeers - 1];
	char what[120];
	if (strcmp(k, "adapter") == 0) {
		set_str(&p->adapter_name, v);
		p->adapter = lt_adapter_find(v);
		if (!p->adapter)
			ERR(line, "peer %s: unknown adapter \"%s\" (known: %s)", p->name, v, lt_adapter_names());
	} else if (strcmp(k, "inbound") == 0) {
		set_str(&p->inbound, v);
		if (strcmp(v, "push") && strcmp(v, "pull") && strcmp(v, "none"))
			ERR(line, "peer %s: inbound must be push, pull or none, not \"%s\"", p->name, v);
	} else if (strcmp(k, "url") == 0) {
		set_str(&p->url, v);
		char why[160] = "";
		if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
			ERR(line, "peer %s: url must start with https:// (or http:// for tests), not \"%s\"", p->name, v);
		else if (!valid_url(v, why, sizeof why))
			ERR(line, "peer %s: url \"%s\" is not a valid URL: %s", p->name, v, why);
	} else if (strcmp(k, "identity") == 0) {
		set_str(&p->identity, v);
	} else if (strcmp(k, "keys") == 0) {
		set_str(&p->keys, v);
		p->keys_line = line;
	} else if (strcmp(k, "signer") == 0) {
		set_str(&p->signer, strncmp(v, "CN=", 3) == 0 ? v + 3 : v);
		if (!*p->signer || strchr(p->signer, '='))
			ERR(line, "peer %s: signer must be the subject CN of its signing certificate, like "
			    "CN=%s-signing, not \"%s\"", p->name, p->name, v);
	} else if (strncmp(k, "param.", 6) == 0 && k[6]) {
		json_object_set_new(p->params, k + 6, json_string(v));
	} else if (strcmp(k, "trust") == 0) {
		set_str(&p->trust, v);
	} else if (strcmp(k, "crl") == 0) {
		set_str(&p->crl, v);
	} else if (strcmp(k, "pin") == 0) {
		set_str(&p->pin, v);
		if (!valid_pins(v))
			ERR(line, "peer %s: pin must be sha256// and the base64 of a 32-byte SHA-256 (44 characters), "
			    "several joined by ';', not \"%s\"", p->name, v);
	} else if (strcmp(k, "verify") == 0 || strcmp(k, "sign") == 0) {
		set_str(k[0] == 'v' ? &p->verify : &p->sign, v);
		if (strcmp(v, "jws") && strcmp(v, "xmldsig") && strcmp(v, "none"))
			ERR(line, "peer %s: %s must be jws, xmldsig or none, not \"%s\"", p->name, k, v);
	} else if (strcmp(k, "answers") == 0) {
		set_str(&p->answers, v);
		if (strcmp(v, "signed") && strcmp(v, "tls"))
			ERR(line, "peer %s: answers must be signed or tls, not \"%s\"", p->name, v);
	} else if (strcmp(k, "concurrency") == 0) {
		snprintf(what, sizeof what, "peer %s: concurrency must be 1..1024", p->name);
		int_key(st, line, v, 1, 1024, &p->concurrency, what);
	} else if (strcmp(k, "rate") == 0) {
		double r;
		const char *end;
		if (decimal_prefix(v, &r, &end) || (*end && strcmp(end, "/s")) ||
		    (r != 0 && !(r >= LT_RATE_MIN && r <= LT_RATE_MAX)))
			ERR(line, "peer %s: rate must look like 20/s: 0 (no limit) or from 0.001/s to 1000000/s, "
			    "not \"%.*s%s\"", p->name, SHOWN(v));
		else
			p->rate = r;
	} else if (strcmp(k, "poll_interval") == 0) {
		snprintf(what, sizeof what, "peer %s: poll_interval", p->name);
		duration_key(st, line, what, v, 1, "30s", &p->poll_interval_ms);
	} else if (strcmp(k, "accept_unbound_xml") == 0) {
		if (strcmp(v, "yes") && strcmp(v, "no"))
			ERR(line, "peer %s: accept_unbound_xml must be yes or no, not \"%s\"", p->name, v);
		p->accept_unbound_xml = strcmp(v, "yes") == 0;
		p->accept_unbound_xml_line = line;
	} else if (strcmp(k, "password_file") == 0) {
		read_secret(st, line, p, v);
	} else if (strcmp(k, "timeout") == 0) {
		snprintf(what, sizeof what, "peer %s: timeout", p->name);
		duration_key(st, line, what, v, 1, "30s", &p->timeout_ms);
	} else {
		ERR(line, "peer %s: unknown key \"%s\"", p->name, k);
	}
}

static void route_key(struct parse_state *st, int line, const char *k, const char *v)
{
	struct lt_route *r = &st->c->routes[st->c->nroutes - 1];
	char ***dst = strcmp(k, "events") == 0 ? &r->events :
		      strcmp(k, "procedures") == 0 ? &r->procedures :
		      strcmp(k, "agencies") == 0 ? &r->agencies :
		      strcmp(k, "to") == 0 ? &r->to : NULL;
	if (strcmp(k, "from") == 0) {
		set_str(&r->from, v);
	} else if (dst) {
		free_list(*dst);
		*dst = split_list(v);
	} else {
		ERR(line, "route %s: unknown key \"%s\" (known: from, events, procedures, agencies, to)", r->name, k);
	}
}

static void section(struct parse_state *st, int line, const char *name)
{
	struct lt_config *c = st->c;
	if (strcmp(name, "gateway") == 0) {
		st->sec = SEC_GATEWAY;
		st->gateway_line = line;
	} else if (strcmp(name, "retry") == 0) {
		st->sec = SEC_RETRY;
		st->retry_line = line;
	} else if (strcmp(name, "sla") == 0) {
		st->sec = SEC_SLA;
	} else if (strcmp(name, "units") == 0) {
		st->sec = SEC_UNITS;
	} else if (strcmp(name, "agencies") == 0) {
		st->sec = SEC_AGENCIES;
	} else if (strncmp(name, "peer.", 5) == 0) {
		st->sec = SEC_PEER;
		if (!valid_name(name + 5))
			ERR(line, "peer name \"%s\" must be 1-63 of a-z 0-9 . _ -", name + 5);
		if (lt_config_peer(c, name + 5))
			ERR(line, "peer %s is defined twice", name + 5);
		c->peers = realloc(c->peers, (c->npeers + 1) * sizeof *c->peers);
		struct lt_peer *p = &c->peers[c->npeers++];
		memset(p, 0, sizeof *p);
		p->name = strdup(name + 5);
		p->params = json_object();
		p->concurrency = 4;
		p->timeout_ms = 30000;
		p->poll_interval_ms = 30000;
		p->index = (int)c->npeers - 1;
		p->line = line;
	} else if (strncmp(name, "route.", 6) == 0) {
		st->sec = SEC_ROUTE;
		c->routes = realloc(c->routes, (c->nroutes + 1) * sizeof *c->routes);
		struct lt_route *r = &c->routes[c->nroutes++];
		memset(r, 0, sizeof *r);
		r->name = strdup(name + 6);
		r->line = line;
	} else {
		st->sec = SEC_UNKNOWN;
		ERR(line, "unknown section [%s] (known: gateway, retry, sla, units, agencies, peer.NAME, route.NAME)", name);
	}
}

/* [gateway] codes_dir and mappings_dir must be directories; unset, each is
 * NAME/ beside the config file when there is one (/etc/lienthong/codes). */
static void data_dir_check(struct parse_state *st, char **dir, int line, const char *key, const char *name)
{
	struct stat sb;
	if (*dir) {
		if (stat(*dir, &sb))
			ERR(line, "%s %s: %s", key, *dir, strerror(errno));
		else if (!S_ISDIR(sb.st_mode))
			ERR(line, "%s %s is not a directory", key, *dir);
		else
			return;
		free(*dir);     /* said once: the shipped files are checked alone */
		*dir = NULL;
		return;
	}
	char path[4096];
	const char *slash = strrchr(st->path, '/');
	snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - st->path + 1) : 0, st->path, name);
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		*dir = strdup(path);
}

/* The SQLite store's directory must exist and be writable by whoever runs this (the
 * service user, for `sudo -u lienthong lienthong check-config`): SQLite creates the
 * database, its WAL and lock beside it. */
static void check_store_dir(struct parse_state *st, const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int line = st->store_line ? st->store_line : st->gateway_line;
	struct stat sb;
	if (stat(dir, &sb))
		ERR(line, "store directory %s: %s (create it, owned by the user the gateway runs as, mode 0700)", dir,
		    strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		ERR(line, "store directory %s is not a directory", dir);
	else if (access(dir, W_OK | X_OK))
		ERR(line, "store directory %s is not writable by uid %d: %s", dir, (int)getuid(), strerror(errno));
}

/* Checks that need the whole file: references between sections, required keys. */
static void check_refs(struct parse_state *st)
{
	struct lt_config *c = st->c;
	for (size_t i = 0; i < c->npeers; i++) {
		struct lt_peer *p = &c->peers[i];
		if (!p->adapter_name)
			ERR(p->line, "peer %s: missing key \"adapter\"", p->name);
		if (!p->inbound)
			p->inbound = strdup(p->url ? "none" : "push");
		int talks_to_it = p->url != NULL;
		for (const struct lt_adapter_param *r = p->adapter && talks_to_it ? p->adapter->params : NULL; r && r->name;
		     r++)
			if (r->required && !lt_peer_param(p, r->name))
				ERR(p->line, "peer %s: adapter %s needs %s%s%s", p->name, p->adapter->name,
				    strcmp(r->name, "password") ? "param." : "password_file (or param.", r->name,
				    strcmp(r->name, "password") ? "" : ")");
		if (!p->identity)
			p->identity = strdup(p->name);
		else if (strncmp(p->identity, "CN=", 3) == 0)
			memmove(p->identity, p->identity + 3, strlen(p->identity) - 2);
		const char *wire = p->adapter && strstr(p->adapter->content_type, "xml") ? "xmldsig" : "jws";
		if (!p->verify)
			p->verify = strdup(wire);
		if (!p->sign)
			p->sign = strdup(wire);
		if (!p->answers)
			p->answers = strdup(p->adapter && p->adapter->answers_signed ? "signed" : "tls");
		int answers = p->url || strcmp(p->inbound, "pull") == 0;
		/* A signature proves who sent a message only if the signer is bound to this peer:
		 * its own certificates (keys) or, for XML-DSig, its signer's subject — for what it
		 * sends us and for its signed answers alike. */
		int xml = strcmp(p->verify, "xmldsig") == 0;
		int signs_to_us = strcmp(p->inbound, "none") || (answers && strcmp(p->answers, "signed") == 0);
		if (strcmp(p->verify, "none") && signs_to_us && !p->keys && !(xml && p->signer))
			ERR(p->line, "peer %s: verify = %s needs \"keys\" (the certificates it signs %s with)%s, or "
			    "verify = none", p->name, p->verify, strcmp(p->inbound, "none") ? "its messages" : "its answers",
			    xml ? " or \"signer\" (its signing certificate's subject, CN=…)" : "");
		if (p->signer && !xml)
			ERR(p->line, "peer %s: signer applies to verify = xmldsig only (this peer has verify = %s; JWS "
			    "signers are bound by keys)", p->name, p->verify);
		if (p->accept_unbound_xml && strcmp(p->verify, "xmldsig"))
			ERR(p->accept_unbound_xml_line, "peer %s: accept_unbound_xml applies to signed XML (verify = xmldsig), "
			    "not verify = %s", p->name, p->verify);
		if (answers && strcmp(p->answers, "signed") == 0 && strcmp(p->verify, "none") == 0)
			ERR(p->line, "peer %s: answers = signed%s needs verify = xmldsig or jws (how its answers are "
			    "signed), or answers = tls to trust them on its TLS server certificate", p->name,
			    p->adapter && p->adapter->answers_signed ? " (the default of its adapter)" : "");
		else if (answers && strcmp(p->answers, "signed") == 0 && strcmp(p->verify, "jws") == 0 && !p->keys)
			ERR(p->line, "peer %s: answers = signed with verify = jws needs \"keys\" (the certificates its "
			    "answers are signed with)", p->name);
		if (strcmp(p->sign, "none") && p->url && (!c->sign_key || !c->sign_cert))
			ERR(p->line, "peer %s: sign = %s needs sign_key and sign_cert in [gateway], or sign = none",
			    p->name, p->sign);
	}
	for (size_t i = 0; i < c->nroutes; i++) {
		struct lt_route *r = &c->routes[i];
		if (!r->from)
			ERR(r->line, "route %s: missing key \"from\"", r->name);
		else if (strcmp(r->from, "*") && strcmp(r->from, LT_GATEWAY_SOURCE) && !lt_config_peer(c, r->from))
			ERR(r->line, "route %s: from names unknown peer \"%s\"", r->name, r->from);
		if (!r->to || !r->to[0])
			ERR(r->line, "route %s: missing key \"to\" (destination peers)", r->name);
		for (char **t = r->to; t && *t; t++) {
			const struct lt_peer *p = lt_config_peer(c, *t);
			if (!p)
				ERR(r->line, "route %s: to names unknown peer \"%s\"", r->name, *t);
			else if (!p->url)
				ERR(r->line, "route %s: destination peer %s has no url", r->name, *t);
		}
		for (char **e = r->events; e && *e; e++)
			if (!lt_event_type_known(*e))
				ERR(r->line, "route %s: unknown event type \"%s\"", r->name, *e);
		if (!r->events)
			r->events = split_list("");
		if (!r->procedures)
			r->procedures = split_list("");
		if (!r->agencies)
			r->agencies = split_list("");
	}
	if (c->tls && (!c->tls_cert || !c->tls_key || !c->trust))
		ERR(st->gateway_line, "[gateway] tls_cert, tls_key and trust are required for the peer listener (or tls = off, for tests only)");
	data_dir_check(st, &c->codes_dir, st->codes_dir_line, "codes_dir", "codes");
	data_dir_check(st, &c->mappings_dir, st->mappings_dir_line, "mappings_dir", "mappings");
	if (!c->store)
		c->store = strdup("sqlite:lienthong.db");
	if (strncmp(c->store, "sqlite:", 7) == 0)
		check_store_dir(st, c->store + 7);
	if (!c->listen)
		c->listen = strdup("0.0.0.0:8443");
	if (!c->admin_listen)
		c->admin_listen = strdup("127.0.0.1:8081");
	else if (strncmp(c->admin_listen, "127.", 4) && strncmp(c->admin_listen, "[::1]:", 6) &&
		 strncmp(c->admin_listen, "localhost:", 10))
		ERR(st->gateway_line, "admin_listen = %s: the admin listener has no authentication and must be on "
		    "loopback (127.0.0.1:PORT or [::1]:PORT)", c->admin_listen);
	if (!c->node_id)
		c->node_id = strdup("gw-1");
	if (!c->log_format)
		c->log_format = strdup("json");
	if (!c->log_level)
		c->log_level = strdup("info");
	if (c->retry_max_delay_ms < c->retry_initial_ms)
		ERR(st->retry_line, "[retry] max_delay (%lld ms) is shorter than initial (%lld ms)",
		    (long long)c->retry_max_delay_ms, (long long)c->retry_initial_ms);
}

static int config_load(const char *path, struct lt_config **out, struct lt_buf *errors, int keep)
{
	*out = NULL;
	FILE *f = fopen(path, "r");
	if (!f) {
		lt_buf_printf(errors, "%s: cannot open: %s\n", path, strerror(errno));
		return LT_ECONFIG;
	}
	struct lt_config *c = calloc(1, sizeof *c);
	c->path = strdup(path);
	c->max_body = 1024 * 1024;
	c->max_headers = 16 * 1024;
	c->read_timeout_ms = 30000;
	c->max_json_depth = 64;
	c->max_backlog = 1000000;
	c->retry_initial_ms = 1000;
	c->retry_max_delay_ms = 600000;
	c->retry_max_age_ms = 72 * 3600000LL;
	c->breaker_failures = 5;
	c->tls = 1;
	c->sla_interval_ms = 60000;
	c->replay_window_ms = 300000;
	c->lease_ms = 5 * 60000;
	struct parse_state st_ = { .c = c, .errors = errors, .path = path, .sec = SEC_NONE };
	struct parse_state *st = &st_;

	char raw[4096];
	int line = 0;
	while (fgets(raw, sizeof raw, f)) {
		line++;
		if (!strchr(raw, '\n') && !feof(f)) {
			ERR(line, "line longer than %zu characters", sizeof raw - 1);
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		cut_comment(raw);
		char *s = trim(raw);
		if (!*s)
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e || e[1]) {
				ERR(line, "section header must look like [name]");
				st->sec = SEC_UNKNOWN;
				continue;
			}
			*e = '\0';
			section(st, line, trim(s + 1));
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			ERR(line, "expected key = value, got \"%s\"", s);
			continue;
		}
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		if (!*v) {
			ERR(line, "key \"%s\" has an empty value", k);
			continue;
		}
		switch (st->sec) {
		case SEC_NONE: ERR(line, "key \"%s\" outside any section", k); break;
		case SEC_GATEWAY: gateway_key(st, line, k, v); break;
		case SEC_RETRY: retry_key(st, line, k, v); break;
		case SEC_SLA: sla_key(st, line, k, v); break;
		case SEC_UNITS: units_key(st, line, k, v); break;
		case SEC_AGENCIES: agencies_key(st, line, k, v); break;
		case SEC_PEER: peer_key(st, line, k, v); break;
		case SEC_ROUTE: route_key(st, line, k, v); break;
		case SEC_UNKNOWN: break;
		}
	}
	fclose(f);
	check_refs(st);
	if (st->nerr && !keep) {
		lt_config_free(c);
		return LT_ECONFIG;
	}
	*out = c;
	return st->nerr ? LT_ECONFIG : LT_OK;
}

int lt_config_load(const char *path, struct lt_config **out, struct lt_buf *errors)
{
	return config_load(path, out, errors, 0);
}

int lt_config_line(const struct lt_config *c, const char *key)
{
	for (size_t i = 0; i < c->nkey_lines; i++)
		if (strcmp(c->key_lines[i].key, key) == 0)
			return c->key_lines[i].line;
	return 0;
}

int lt_config_load_all(const char *path, struct lt_config **out, struct lt_buf *errors)
{
	return config_load(path, out, errors, 1);
}

const char *lt_peer_param(const struct lt_peer *peer, const char *name)
{
	return json_string_value(json_object_get(peer->params, name));
}

const struct lt_peer *lt_config_peer(const struct lt_config *c, const char *name)
{
	for (size_t i = 0; i < c->npeers; i++)
		if (strcmp(c->peers[i].name, name) == 0)
			return &c->peers[i];
	return NULL;
}

void lt_config_warnings(const struct lt_config *c, struct lt_buf *out)
{
	for (size_t i = 0; i < c->npeers; i++) {
		const struct lt_peer *p = &c->peers[i];
		if (p->accept_unbound_xml)
			lt_buf_printf(out, "%s:%d: peer %s: accept_unbound_xml = yes: signed XML from it that carries no "
				      "signed time or message id is accepted however old it is; only its signed content "
				      "is remembered, so a captured copy this gateway has not received can be replayed "
				      "at any time\n",
				      c->path, p->accept_unbound_xml_line, p->name);
	}
}

void lt_config_free(struct lt_config *c)
{
	if (!c)
		return;
	free(c->key_lines);
	for (size_t i = 0; i < c->npeers; i++) {
		struct lt_peer *p = &c->peers[i];
		free(p->name); free(p->adapter_name); free(p->inbound); free(p->url);
		json_decref(p->params);
		free(p->identity); free(p->keys); free(p->signer); free(p->trust); free(p->crl); free(p->pin); free(p->verify); free(p->sign);
		free(p->answers);
	}
	for (size_t i = 0; i < c->nroutes; i++) {
		struct lt_route *r = &c->routes[i];
		free(r->name); free(r->from);
		free_list(r->events); free_list(r->procedures); free_list(r->agencies); free_list(r->to);
	}
	free(c->peers); free(c->routes);
	free(c->path); free(c->node_id); free(c->listen); free(c->admin_listen); free(c->store);
	free(c->log_format); free(c->log_level); free(c->tls_cert); free(c->tls_key);
	for (size_t i = 0; i < c->nunits; i++) {
		free(c->units[i].old_code);
		free(c->units[i].new_code);
	}
	free(c->units);
	json_decref(c->agencies);
	free(c->holidays);
	free(c->trust); free(c->crl); free(c->token_pin_file); free(c->pkcs11_module); free(c->sign_key); free(c->sign_cert); free(c->key_password_file);
	free(c->codes_dir);
	free(c->mappings_dir);
	free(c);
}
