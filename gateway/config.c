/* config.c — INI parsing and checking with a line number for every mistake.
 *
 * Written by hand rather than with inih: we need the line of every key to
 * report all mistakes at once, which the Debian build of inih does not give. */
#include "config.h"
#include "adapter.h"
#include "http.h"
#include "sla.h"
#include "dates.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

static void cfg_error(struct lt_buf *errors, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void cfg_error(struct lt_buf *errors, const char *path, int line, const char *fmt, ...)
{
	char msg[1024];       /* an unknown key lists its section's keys */
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

/* ---- keys with their own reading ---- */

/* adapter = NAME: one of the registry's adapters. */
static int set_adapter(const struct lt_config_key *key, void *obj, const char *name, const char *v, struct lt_err *err)
{
	(void)key;
	(void)name;
	struct lt_peer *p = obj;
	set_str(&p->adapter_name, v);
	p->adapter = lt_adapter_find(v);
	return p->adapter ? LT_OK
			  : lt_err_set(err, LT_ECONFIG, "unknown adapter \"%s\" (known: %s)", v, lt_adapter_names());
}

/* signer = CN=…: the subject CN of the peer's XML signing certificate. */
static int set_signer(const struct lt_config_key *key, void *obj, const char *name, const char *v, struct lt_err *err)
{
	(void)key;
	(void)name;
	struct lt_peer *p = obj;
	set_str(&p->signer, strncmp(v, "CN=", 3) == 0 ? v + 3 : v);
	if (!*p->signer || strchr(p->signer, '='))
		return lt_err_set(err, LT_ECONFIG, "signer must be the subject CN of its signing certificate, like "
				  "CN=%s-signing, not \"%s\"", p->name, v);
	return LT_OK;
}

/* param.NAME = value: an adapter's setting. */
static int set_param(const struct lt_config_key *key, void *obj, const char *name, const char *v, struct lt_err *err)
{
	(void)key;
	(void)err;
	json_object_set_new(((struct lt_peer *)obj)->params, name + strlen("param."), json_string(v));
	return LT_OK;
}

/* password_file = PATH: a peer's password (the portal's login) from a file
 * only its owner can read; kept as the adapter parameter "password", never
 * logged. */
static int set_password_file(const struct lt_config_key *key, void *obj, const char *name, const char *path,
			     struct lt_err *err)
{
	(void)key;
	(void)name;
	struct lt_peer *p = obj;
	struct stat sb;
	if (stat(path, &sb))
		return lt_err_set(err, LT_ECONFIG, "password_file %s: %s", path, strerror(errno));
	if (sb.st_mode & 077)
		return lt_err_set(err, LT_ECONFIG, "password_file %s is readable by others (mode %04o); chmod 600 it",
				  path, (unsigned)(sb.st_mode & 07777));
	FILE *f = fopen(path, "r");
	char buf[512] = "";
	int rc = LT_OK;
	if (!f || !fgets(buf, sizeof buf, f)) {
		rc = lt_err_set(err, LT_ECONFIG, "password_file %s is empty or unreadable", path);
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		json_object_set_new(p->params, "password", json_string(buf));
	}
	if (f)
		fclose(f);
	return rc;
}

/* holidays = DAY DAY..DAY …: checked by the calendar that will use them. */
static int set_holidays(const struct lt_config_key *key, void *obj, const char *name, const char *v, struct lt_err *err)
{
	(void)key;
	(void)name;
	struct lt_config *c = obj;
	struct lt_calendar cal;
	int rc = lt_calendar_parse(v, &cal, err);
	lt_calendar_free(&cal);
	set_str(&c->holidays, v);
	return rc ? LT_ECONFIG : LT_OK;
}

/* url = https://…: a URL libcurl takes (http:// for tests). */
static int set_url(const struct lt_config_key *key, void *obj, const char *name, const char *v, struct lt_err *err)
{
	(void)key;
	(void)name;
	struct lt_peer *p = obj;
	set_str(&p->url, v);
	char why[160] = "";
	if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
		return lt_err_set(err, LT_ECONFIG, "url must start with https:// (or http:// for tests), not \"%s\"", v);
	if (!valid_url(v, why, sizeof why))
		return lt_err_set(err, LT_ECONFIG, "url \"%s\" is not a valid URL: %s", v, why);
	return LT_OK;
}

/* pin = sha256//BASE64[;…]: what curl's CURLOPT_PINNEDPUBLICKEY takes. */
static int set_pin(const struct lt_config_key *key, void *obj, const char *name, const char *v, struct lt_err *err)
{
	(void)key;
	(void)name;
	struct lt_peer *p = obj;
	set_str(&p->pin, v);
	if (!valid_pins(v))
		return lt_err_set(err, LT_ECONFIG, "pin must be sha256// and the base64 of a 32-byte SHA-256 (44 "
				  "characters), several joined by ';', not \"%s\"", v);
	return LT_OK;
}

/* listen, admin_listen = HOST:PORT or [V6]:PORT. */
static int set_hostport(const struct lt_config_key *key, void *obj, const char *name, const char *v,
			struct lt_err *err)
{
	char host[256];
	int port;
	set_str((char **)((char *)obj + key->field), v);
	if (lt_split_hostport(v, host, sizeof host, &port))
		return lt_err_set(err, LT_ECONFIG, "%s must be HOST:PORT (or [V6]:PORT) with a port from 1 to 65535, not "
				  "\"%.*s%s\"", name, SHOWN(v));
	return LT_OK;
}

/* retention: off, or how long a finished dossier's events are kept — a
 * duration, or whole days past the durations' 366d (records are often kept
 * for years: up to 3660d) */
#define RETENTION_MAX_DAYS 3660
static int set_retention(const struct lt_config_key *key, void *obj, const char *name, const char *v,
			 struct lt_err *err)
{
	int64_t *f = (int64_t *)((char *)obj + key->field), ms = 0;
	if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0) {
		*f = 0;
		return LT_OK;
	}
	size_t digits = strspn(v, "0123456789");
	if (digits && digits < 6 && strcmp(v + digits, "d") == 0) {
		long days = strtol(v, NULL, 10);
		ms = (int64_t)days * 86400000;
		if (days >= 1 && days <= RETENTION_MAX_DAYS) {
			*f = ms;
			return LT_OK;
		}
	} else if (lt_parse_duration(v, &ms, NULL) == 0 && ms >= 1000) {
		*f = ms;
		return LT_OK;
	}
	return lt_err_set(err, LT_ECONFIG, "%s must be off or a duration of at least 1s like 400d (at most %dd), not "
			  "\"%.*s%s\"", name, RETENTION_MAX_DAYS, SHOWN(v));
}

/* ---- the table ---- */

#define GW LT_SECTION_GATEWAY
#define RETRY LT_SECTION_RETRY
#define SLA LT_SECTION_SLA
#define PEER LT_SECTION_PEER
#define ROUTE LT_SECTION_ROUTE
#define C(f) offsetof(struct lt_config, f)
#define P(f) offsetof(struct lt_peer, f)
#define R(f) offsetof(struct lt_route, f)
#define KEY(...) { __VA_ARGS__, NULL, 0 }

/* name, section, type, field, min, max, words, rule (NULL: from words), help [, set, line field] */
const struct lt_config_key lt_config_keys[] = {
	KEY("node_id", GW, LT_KEY_STRING, C(node_id), 0, 0, NULL, NULL, "this server's name in logs and claims (gw-1)"),
	{ "listen", GW, LT_KEY_CUSTOM, C(listen), 0, 0, NULL, NULL, "the peer-facing listener, HOST:PORT (0.0.0.0:8443)",
	  set_hostport, 0 },
	{ "admin_listen", GW, LT_KEY_CUSTOM, C(admin_listen), 0, 0, NULL, NULL,
	  "the admin listener (127.0.0.1:8081); elsewhere than loopback only with admin_token_file or admin_trust",
	  set_hostport, 0 },
	KEY("admin_tls_cert", GW, LT_KEY_STRING, C(admin_tls_cert), 0, 0, NULL, NULL,
	    "the admin listener's certificate chain, PEM (tls_cert when not set)"),
	KEY("admin_tls_key", GW, LT_KEY_STRING, C(admin_tls_key), 0, 0, NULL, NULL, "its key, PEM (mode 0600)"),
	KEY("admin_trust", GW, LT_KEY_STRING, C(admin_trust), 0, 0, NULL, NULL,
	    "CAs of the operators' client certificates: the admin listener then takes them (TLS)"),
	KEY("admin_clients", GW, LT_KEY_STRING, C(admin_clients), 0, 0, NULL, NULL,
	    "the operators' certificate CNs allowed (CN=ops-1 CN=ops-2; all of admin_trust when not set)"),
	KEY("admin_token_file", GW, LT_KEY_STRING, C(admin_token_file), 0, 0, NULL, NULL,
	    "operators' tokens, NAME:SECRET or NAME:sha256:HEX a line (mode 0600): the admin listener then takes them (TLS)"),
	KEY("store", GW, LT_KEY_STRING, C(store), 0, 0, "sqlite: postgresql:// postgres://",
	    "must be sqlite:PATH or postgresql://…", "where messages, events and deliveries are kept (sqlite:lienthong.db)"),
	KEY("log_format", GW, LT_KEY_WORD, C(log_format), 0, 0, "json text", NULL, "log lines as JSON or text (json)"),
	KEY("log_level", GW, LT_KEY_WORD, C(log_level), 0, 0, "debug info warn error", NULL, "the least level logged (info)"),
	KEY("tls_cert", GW, LT_KEY_STRING, C(tls_cert), 0, 0, NULL, NULL, "the listener's certificate chain (PEM or .p12)"),
	KEY("tls_key", GW, LT_KEY_STRING, C(tls_key), 0, 0, NULL, NULL, "its key (mode 0600)"),
	KEY("trust", GW, LT_KEY_STRING, C(trust), 0, 0, NULL, NULL, "CAs of the peers' client certificates"),
	KEY("sign_cert", GW, LT_KEY_STRING, C(sign_cert), 0, 0, NULL, NULL, "the gateway's signing certificate"),
	KEY("sign_key", GW, LT_KEY_STRING, C(sign_key), 0, 0, NULL, NULL, "the gateway's signing key (mode 0600)"),
	KEY("key_password_file", GW, LT_KEY_STRING, C(key_password_file), 0, 0, NULL, NULL,
	    "the password of PKCS#12 or encrypted keys (mode 0600)"),
	KEY("codes_dir", GW, LT_KEY_STRING, C(codes_dir), 0, 0, NULL, NULL,
	    "code tables replacing the shipped ones (codes/ beside this file)"),
	KEY("mappings_dir", GW, LT_KEY_STRING, C(mappings_dir), 0, 0, NULL, NULL,
	    "mapping files for the mapped adapter (mappings/ beside this file)"),
	KEY("crl", GW, LT_KEY_STRING, C(crl), 0, 0, NULL, NULL, "CRLs of the trust's CAs (PEM or DER files)"),
	KEY("crl_stale", GW, LT_KEY_ENUM, C(crl_stale_warn), 0, 0, "refuse warn",
	    "must be refuse (a certificate its stale CRL covers is refused) or warn (accepted, with a warning)",
	    "what a CRL past its next update does (refuse)"),
	KEY("token_pin_file", GW, LT_KEY_STRING, C(token_pin_file), 0, 0, NULL, NULL,
	    "the PIN of the token a pkcs11: key is on (mode 0600)"),
	KEY("pkcs11_module", GW, LT_KEY_STRING, C(pkcs11_module), 0, 0, NULL, NULL, "the token's PKCS#11 module"),
	KEY("tls", GW, LT_KEY_ENUM, C(tls), 0, 0, "off on", "must be on or off", "off: plain HTTP, for tests only (on)"),
	KEY("tls_policy", GW, LT_KEY_ENUM, C(tls_policy), 0, 0, "intermediate modern",
	    "must be intermediate (TLS 1.2 with ECDHE and AEAD ciphers, and TLS 1.3) or modern (TLS 1.3 only)",
	    "the TLS versions and ciphers of the listener and outbound (intermediate)"),
	KEY("replay_window", GW, LT_KEY_DURATION, C(replay_window_ms), 1, 0, NULL, "must be a positive duration like 300s",
	    "how far a signed message's time may be from now (300s)"),
	{ "retention", GW, LT_KEY_CUSTOM, C(retention_ms), 0, 0, NULL, NULL,
	  "finished dossiers' events, deliveries, attempts, messages and audit rows older than it are pruned "
	  "hourly (off)", set_retention, 0 },
	KEY("retention_archive", GW, LT_KEY_STRING, C(retention_archive), 0, 0, NULL, NULL,
	    "the audit rows retention prunes are appended there, JSON lines, for audit verify --archive (none)"),
	KEY("lease", GW, LT_KEY_DURATION, C(lease_ms), 3000, 0, NULL, "must be a duration of at least 3s like 5m",
	    /* renewed about every second while the node lives: shorter would expire between renewals */
	    "PostgreSQL: how long a dead node's claims hold (5m)"),
	KEY("max_body", GW, LT_KEY_SIZE, C(max_body), 1, LT_MAX_BODY_LIMIT, "256m", "must be a size like 1m or 65536",
	    "a larger Content-Length gets 413 before the body is read (1m)"),
	KEY("max_headers", GW, LT_KEY_SIZE, C(max_headers), 1, LT_MAX_HEADERS_LIMIT, "1m", "must be a size like 16k or 8192",
	    "a larger request head gets 431 (16k)"),
	KEY("max_backlog", GW, LT_KEY_SIZE, C(max_backlog), 1, LT_MAX_BACKLOG_LIMIT, "1000000000", "must be a positive number",
	    "undelivered deliveries beyond which new messages get 503 (1000000)"),
	KEY("read_timeout", GW, LT_KEY_DURATION, C(read_timeout_ms), 1, 0, NULL, "must be a positive duration like 30s",
	    "a whole request must arrive within it (30s)"),
	KEY("max_json_depth", GW, LT_KEY_INT, C(max_json_depth), 1, 2048, NULL,
	    "must be 1..2048 (nesting levels of a JSON body)", "deeper JSON bodies get 400 (64)"),
	KEY("workers", GW, LT_KEY_INT, C(workers), 0, 64, NULL, "must be 0..64 (0 = one per CPU)",
	    "threads that verify, decode and sign (0 = one per CPU)"),
	/* one zone for logs, trail, reports and due dates; the peers' local
	 * date formats are Vietnamese time too, so only that zone for now */
	KEY("timezone", GW, LT_KEY_WORD, LT_KEY_NO_FIELD, 0, 0, LT_TZ_NAME " Asia/Saigon " LT_TZ_OFFSET,
	    "must be " LT_TZ_NAME " (UTC" LT_TZ_OFFSET ", used for logs, trails, reports and due dates)",
	    "the zone of logs, trails, reports and due dates (" LT_TZ_NAME ", the only one)"),

	KEY("initial", RETRY, LT_KEY_DURATION, C(retry_initial_ms), 1, 0, NULL,
	    "must be a positive duration like 1s, 10m or 72h", "the first backoff cap; doubles each attempt (1s)"),
	KEY("max_delay", RETRY, LT_KEY_DURATION, C(retry_max_delay_ms), 1, 0, NULL,
	    "must be a positive duration like 1s, 10m or 72h", "the longest backoff (10m)"),
	KEY("max_age", RETRY, LT_KEY_DURATION, C(retry_max_age_ms), 1, 0, NULL,
	    "must be a positive duration like 1s, 10m or 72h", "then the delivery is dead-lettered (72h)"),
	KEY("breaker_failures", RETRY, LT_KEY_INT, C(breaker_failures), 0, 1000, NULL,
	    "must be a number of attempts from 0 (no breaker) to 1000",
	    "attempts in a row finding a peer down before its breaker opens (5; 0 = none)"),

	{ "holidays", SLA, LT_KEY_CUSTOM, C(holidays), 0, 0, NULL, NULL,
	  "days off besides weekends: 2026-01-01 2026-02-16..2026-02-20", set_holidays, 0 },
	KEY("check_interval", SLA, LT_KEY_DURATION, C(sla_interval_ms), 1, 0, NULL, "must be a positive duration like 60s",
	    "how often the overdue watchdog looks (60s)"),

	{ "adapter", PEER, LT_KEY_CUSTOM, P(adapter_name), 0, 0, NULL, NULL, "the peer's wire format (required)",
	  set_adapter, 0 },
	KEY("inbound", PEER, LT_KEY_WORD, P(inbound), 0, 0, "push pull none", NULL,
	    "it POSTs to us, is polled, or sends nothing (push; none with a url)"),
	{ "url", PEER, LT_KEY_CUSTOM, P(url), 0, 0, NULL, NULL, "where deliveries to it go (https://)", set_url, 0 },
	KEY("identity", PEER, LT_KEY_STRING, P(identity), 0, 0, NULL, NULL, "its client certificate's CN (the peer's name)"),
	{ "keys", PEER, LT_KEY_STRING, P(keys), 0, 0, NULL, NULL, "the certificates it signs with (PEM files)", NULL,
	  P(keys_line) },
	{ "signer", PEER, LT_KEY_CUSTOM, P(signer), 0, 0, NULL, NULL,
	  "XML-DSig: its signing certificate's subject CN, instead of keys", set_signer, 0 },
	KEY("trust", PEER, LT_KEY_STRING, P(trust), 0, 0, NULL, NULL, "CAs of its server certificate (the gateway's trust)"),
	KEY("crl", PEER, LT_KEY_STRING, P(crl), 0, 0, NULL, NULL, "CRLs of its trust's CAs"),
	{ "pin", PEER, LT_KEY_CUSTOM, P(pin), 0, 0, NULL, NULL, "the SHA-256 of its server key: sha256//BASE64",
	  set_pin, 0 },
	{ "ocsp", PEER, LT_KEY_ENUM, P(ocsp), 0, 0, "off if-stapled require", NULL,
	  "its server's stapled OCSP response: off, checked if-stapled, or required (off)", NULL, P(ocsp_line) },
	KEY("verify", PEER, LT_KEY_WORD, P(verify), 0, 0, "jws xmldsig none", NULL,
	    "how what it sends is signed (by adapter)"),
	KEY("sign", PEER, LT_KEY_WORD, P(sign), 0, 0, "jws xmldsig none", NULL, "how what we send it is signed (by adapter)"),
	KEY("answers", PEER, LT_KEY_WORD, P(answers), 0, 0, "signed tls", NULL,
	    "its answers are verified, or taken on its TLS certificate (by adapter)"),
	KEY("concurrency", PEER, LT_KEY_INT, P(concurrency), 1, 1024, NULL, "must be 1..1024",
	    "attempts in flight at once (4)"),
	KEY("rate", PEER, LT_KEY_RATE, P(rate), 0, 0, NULL, "must look like 20/s: 0 (no limit) or from 0.001/s to 1000000/s",
	    "new attempts per second (0 = no limit)"),
	KEY("timeout", PEER, LT_KEY_DURATION, P(timeout_ms), 1, 0, NULL, "must be a positive duration like 30s",
	    "one attempt (30s)"),
	KEY("poll_interval", PEER, LT_KEY_DURATION, P(poll_interval_ms), 1, 0, NULL, "must be a positive duration like 30s",
	    "inbound = pull: the pause after a poll that found nothing (30s)"),
	{ "accept_unbound_xml", PEER, LT_KEY_ENUM, P(accept_unbound_xml), 0, 0, "no yes", "must be yes or no",
	  "signed XML peers: accept documents with no signed time or id (no)", NULL, P(accept_unbound_xml_line) },
	{ "password_file", PEER, LT_KEY_CUSTOM, LT_KEY_NO_FIELD, 0, 0, NULL, NULL,
	  "a session login's password (mode 0600)", set_password_file, 0 },
	{ "param.", PEER, LT_KEY_CUSTOM, LT_KEY_NO_FIELD, 0, 0, NULL, NULL, "an adapter's setting: param.NAME = value",
	  set_param, 0 },

	KEY("from", ROUTE, LT_KEY_STRING, R(from), 0, 0, NULL, NULL,
	    "the sending peer, " LT_GATEWAY_SOURCE " or * (required)"),
	KEY("events", ROUTE, LT_KEY_LIST, R(events), 0, 0, NULL, NULL, "event types (all)"),
	KEY("procedures", ROUTE, LT_KEY_LIST, R(procedures), 0, 0, NULL, NULL, "procedure codes (all)"),
	KEY("agencies", ROUTE, LT_KEY_LIST, R(agencies), 0, 0, NULL, NULL, "handling (else receiving) agency codes (all)"),
	KEY("to", ROUTE, LT_KEY_LIST, R(to), 0, 0, NULL, NULL, "the destination peers (required)"),
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0 },
};

static int key_is(const struct lt_config_key *k, const char *name)
{
	size_t n = strlen(k->name);
	if (k->name[n - 1] == '.')
		return strncmp(name, k->name, n) == 0 && name[n];
	return strcmp(name, k->name) == 0;
}

const struct lt_config_key *lt_config_key_find(enum lt_config_section section, const char *name)
{
	for (const struct lt_config_key *k = lt_config_keys; k->name; k++)
		if (k->section == section && key_is(k, name))
			return k;
	return NULL;
}

/* The position of v among the space-separated words, or -1. */
static int word_index(const char *words, const char *v)
{
	size_t n = strlen(v);
	int i = 0;
	for (const char *w = words; *w; i++) {
		size_t len = strcspn(w, " ");
		if (len == n && strncmp(w, v, n) == 0)
			return i;
		w += len;
		w += *w == ' ';
	}
	return -1;
}

/* "must be A, B or C" from the words. */
static void rule_of_words(const char *words, char *out, size_t size)
{
	size_t n = 0, count = 0;
	for (const char *w = words; *w; count++) {
		w += strcspn(w, " ");
		w += *w == ' ';
	}
	n += (size_t)snprintf(out, size, "must be ");
	size_t i = 0;
	for (const char *w = words; *w && n < size; i++) {
		size_t len = strcspn(w, " ");
		n += (size_t)snprintf(out + n, size - n, "%s%.*s", i == 0 ? "" : i + 1 == count ? " or " : ", ", (int)len, w);
		w += len;
		w += *w == ' ';
	}
}

static int starts_with_one_of(const char *v, const char *words)
{
	for (const char *w = words; *w;) {
		size_t len = strcspn(w, " ");
		if (strncmp(v, w, len) == 0)
			return 1;
		w += len;
		w += *w == ' ';
	}
	return 0;
}

int lt_config_key_set(const struct lt_config_key *k, void *obj, const char *name, const char *v, struct lt_err *err)
{
	void *f = k->field == LT_KEY_NO_FIELD ? NULL : (char *)obj + k->field;
	int ok = 1, number = 0;
	switch (k->type) {
	case LT_KEY_STRING:
		set_str(f, v);
		ok = !k->words || starts_with_one_of(v, k->words);
		break;
	case LT_KEY_WORD:
		if (f)
			set_str(f, v);
		ok = word_index(k->words, v) >= 0;
		break;
	case LT_KEY_ENUM: {
		int i = word_index(k->words, v);
		*(int *)f = i < 0 ? 0 : i;
		ok = i >= 0;
		break;
	}
	case LT_KEY_INT: {
		int64_t n;
		number = 1;
		ok = lt_parse_int64(v, k->min, k->max, &n, NULL) == LT_OK;
		if (ok)
			*(int *)f = (int)n;
		break;
	}
	case LT_KEY_DURATION: {
		int64_t ms = 0;
		int rc = lt_parse_duration(v, &ms, NULL);
		if (rc == LT_ETOOBIG)
			return lt_err_set(err, LT_ECONFIG, "%s = %.*s%s is out of range: a duration is at most 366d", name,
					  SHOWN(v));
		number = 1;
		ok = !rc && ms >= k->min && ms > 0;
		if (ok)
			*(int64_t *)f = ms;
		break;
	}
	case LT_KEY_SIZE: {
		size_t n = 0;
		int rc = lt_parse_size(v, (uint64_t)k->max, &n, NULL);
		if (rc == LT_ETOOBIG)
			return lt_err_set(err, LT_ECONFIG, "%s = %.*s%s is out of range: it must be from 1 to %s (%llu)", name,
					  SHOWN(v), k->words, (unsigned long long)k->max);
		number = 1;
		ok = !rc;
		if (ok)
			*(size_t *)f = n;
		break;
	}
	case LT_KEY_RATE: {
		double r;
		const char *end;
		number = 1;
		ok = !decimal_prefix(v, &r, &end) && (!*end || strcmp(end, "/s") == 0) &&
		     (r == 0 || (r >= LT_RATE_MIN && r <= LT_RATE_MAX));
		if (ok)
			*(double *)f = r;
		break;
	}
	case LT_KEY_LIST:
		free_list(*(char ***)f);
		*(char ***)f = split_list(v);
		break;
	case LT_KEY_CUSTOM:
		return k->set(k, obj, name, v, err);
	}
	if (ok)
		return LT_OK;
	char rule[256];
	if (k->rule)
		snprintf(rule, sizeof rule, "%s", k->rule);
	else
		rule_of_words(k->words, rule, sizeof rule);
	if (number)     /* quoted short: a number can be any length */
		return lt_err_set(err, LT_ECONFIG, "%s %s, not \"%.*s%s\"", name, rule, SHOWN(v));
	return lt_err_set(err, LT_ECONFIG, "%s %s, not \"%s\"", name, rule, v);
}

/* ---- reading the file ---- */

struct parse_state {
	struct lt_config *c;
	struct lt_buf *errors;
	const char *path;
	int nerr;
	enum { SEC_NONE, SEC_GATEWAY, SEC_RETRY, SEC_SLA, SEC_UNITS, SEC_AGENCIES, SEC_PEER, SEC_ROUTE, SEC_UNKNOWN } sec;
	int gateway_line, retry_line;
};

#define ERR(line, ...) do { cfg_error(st->errors, st->path, line, __VA_ARGS__); st->nerr++; } while (0)

/* One key = value line of a section read by the table; `where` names the
 * section in messages: "[sla] ", "peer NAME: " or "" ([gateway], [retry]). */
static void table_key(struct parse_state *st, int line, enum lt_config_section section, void *obj, const char *where,
		      const char *k, const char *v)
{
	const struct lt_config_key *key = lt_config_key_find(section, k);
	if (!key) {
		struct lt_buf known = { 0 };
		for (const struct lt_config_key *o = lt_config_keys; o->name; o++)
			if (o->section == section)
				lt_buf_printf(&known, "%s%s%s", known.len ? ", " : "", o->name,
					      o->name[strlen(o->name) - 1] == '.' ? "NAME" : "");
		static const char *const names[] = { "gateway", "retry", "sla" };
		if (section == LT_SECTION_PEER || section == LT_SECTION_ROUTE)
			ERR(line, "%sunknown key \"%s\" (known: %s)", where, k, known.data);
		else
			ERR(line, "unknown key \"%s\" in [%s] (known: %s)", k, names[section], known.data);
		lt_buf_free(&known);
		return;
	}
	if (key->line_field)
		*(int *)((char *)obj + key->line_field) = line;
	if (section == LT_SECTION_GATEWAY) {     /* for lt_config_line: files named by a key */
		struct lt_config *c = st->c;
		c->key_lines = realloc(c->key_lines, (c->nkey_lines + 1) * sizeof *c->key_lines);
		c->key_lines[c->nkey_lines++] = (struct lt_key_line){ key->name, line };
	}
	struct lt_err err = { 0 };
	if (lt_config_key_set(key, obj, k, v, &err))
		ERR(line, "%s%s", where, err.msg);
}

/* [units] OLD = NEW [since YYYY-MM-DD] */
static void units_key(struct parse_state *st, int line, const char *k, const char *v)
{
	struct lt_config *c = st->c;
	char code[128], word[16] = "", day[32] = "";
	int n = sscanf(v, "%127s %15s %31s", code, word, day);
	int64_t since = 0;
	if (n == 3 && strcmp(word, "since") == 0) {
		if (lt_date_parse_day(day, strlen(day), &since, NULL)) {
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
	int line = lt_config_line(st->c, "store") ? lt_config_line(st->c, "store") : st->gateway_line;
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
/* 1 when admin_listen's host is a loopback address (127.0.0.0/8, ::1) or localhost. */
static int admin_on_loopback(const char *listen)
{
	char host[256];
	int port;
	unsigned char a[16];
	if (lt_split_hostport(listen, host, sizeof host, &port))
		return 1;       /* already refused by its key */
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
}

/* The admin listener: loopback, or authenticated (a token file or client
 * certificates) and then always over TLS. */
static void admin_check(struct parse_state *st, struct lt_config *c)
{
	int at = lt_config_line(c, "admin_listen") ? lt_config_line(c, "admin_listen") : st->gateway_line;
	int auth = c->admin_trust || c->admin_token_file;
	if (!auth && !admin_on_loopback(c->admin_listen))
		ERR(at, "admin_listen = %s is not a loopback address: the admin listener is open to whoever reaches it "
		    "unless admin_token_file (operators' tokens) or admin_trust (operators' client certificates) is set, "
		    "and it then uses TLS", c->admin_listen);
	if (c->admin_clients && !c->admin_trust)
		ERR(lt_config_line(c, "admin_clients"), "admin_clients needs admin_trust (the CAs of the operators' "
		    "client certificates)");
	char **cns = c->admin_clients ? split_list(c->admin_clients) : NULL;
	for (char **p = cns; p && *p; p++)
		if (strncmp(*p, "CN=", 3) || !(*p)[3])
			ERR(lt_config_line(c, "admin_clients"), "admin_clients: \"%s\" is not CN=NAME", *p);
	free_list(cns);
	if (!c->admin_tls_cert != !c->admin_tls_key)
		ERR(lt_config_line(c, c->admin_tls_cert ? "admin_tls_cert" : "admin_tls_key"),
		    "admin_tls_cert and admin_tls_key go together (the admin listener's certificate and its key)");
	else if (auth && !c->admin_tls_cert && (!c->tls_cert || !c->tls_key))
		ERR(lt_config_line(c, c->admin_token_file ? "admin_token_file" : "admin_trust"),
		    "%s: the admin listener then uses TLS: set admin_tls_cert and admin_tls_key (or tls_cert and tls_key)",
		    c->admin_token_file ? "admin_token_file" : "admin_trust");
	else if (c->admin_tls_cert && !auth)
		ERR(lt_config_line(c, "admin_tls_cert"), "admin_tls_cert: TLS on the admin listener goes with "
		    "admin_token_file or admin_trust (who may use it)");
}

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
		if (p->ocsp != LT_OCSP_OFF && (!p->url || strncmp(p->url, "https://", 8) != 0))
			ERR(p->ocsp_line, "peer %s: ocsp applies to deliveries over TLS (url = https://…), and this peer "
			    "has %s", p->name, p->url ? "a plain http:// url" : "no url");
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
	data_dir_check(st, &c->codes_dir, lt_config_line(c, "codes_dir"), "codes_dir", "codes");
	data_dir_check(st, &c->mappings_dir, lt_config_line(c, "mappings_dir"), "mappings_dir", "mappings");
	if (!c->store)
		c->store = strdup("sqlite:lienthong.db");
	if (strncmp(c->store, "sqlite:", 7) == 0)
		check_store_dir(st, c->store + 7);
	if (!c->listen)
		c->listen = strdup("0.0.0.0:8443");
	if (!c->admin_listen)
		c->admin_listen = strdup("127.0.0.1:8081");
	admin_check(st, c);
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
	c->refs = 1;
	c->loaded_ms = lt_now_ms();
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

	char raw[4096], where[128];
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
		case SEC_GATEWAY: table_key(st, line, LT_SECTION_GATEWAY, c, "", k, v); break;
		case SEC_RETRY: table_key(st, line, LT_SECTION_RETRY, c, "", k, v); break;
		case SEC_SLA: table_key(st, line, LT_SECTION_SLA, c, "[sla] ", k, v); break;
		case SEC_UNITS: units_key(st, line, k, v); break;
		case SEC_AGENCIES: agencies_key(st, line, k, v); break;
		case SEC_PEER: {
			struct lt_peer *p = &c->peers[c->npeers - 1];
			snprintf(where, sizeof where, "peer %s: ", p->name);
			table_key(st, line, LT_SECTION_PEER, p, where, k, v);
			break;
		}
		case SEC_ROUTE: {
			struct lt_route *r = &c->routes[c->nroutes - 1];
			snprintf(where, sizeof where, "route %s: ", r->name);
			table_key(st, line, LT_SECTION_ROUTE, r, where, k, v);
			break;
		}
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

struct lt_config *lt_config_ref(const struct lt_config *c)
{
	struct lt_config *m = (struct lt_config *)c;     /* the count is the only thing that changes */
	if (m)
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void lt_config_free(struct lt_config *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
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
	free(c->path); free(c->node_id); free(c->listen); free(c->admin_listen); free(c->admin_tls_cert); free(c->admin_tls_key);
	free(c->admin_trust); free(c->admin_clients); free(c->admin_token_file); free(c->store);
	free(c->log_format); free(c->log_level); free(c->tls_cert); free(c->tls_key);
	for (size_t i = 0; i < c->nunits; i++) {
		free(c->units[i].old_code);
		free(c->units[i].new_code);
	}
	free(c->units);
	json_decref(c->agencies);
	free(c->holidays);
	free(c->trust); free(c->retention_archive); free(c->crl); free(c->token_pin_file); free(c->pkcs11_module); free(c->sign_key); free(c->sign_cert); free(c->key_password_file);
	free(c->codes_dir);
	free(c->mappings_dir);
	free(c);
}
