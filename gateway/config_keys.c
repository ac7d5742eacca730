/* config_keys.c — the typed table of configuration keys (config_keys.h): every key of
 * [gateway], [retry], [sla], [peer.NAME] and [route.NAME] with its type, limits, rule and
 * help, the readers of its values (durations, sizes, rates, URLs, pins…) and of the keys
 * that need their own. config.c reads the file and hands each key = value here. */
#include "config.h"
#include "config_int.h"
#include "config_keys.h"
#include "adapter.h"
#include "http.h"
#include "sla.h"
#include "dates.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* Split a space- or comma-separated list into a NULL-terminated array. */
char **lt_split_list(const char *v)
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

void lt_free_list(char **l)
{
	for (char **p = l; p && *p; p++)
		free(*p);
	free(l);
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
		lt_free_list(*(char ***)f);
		*(char ***)f = lt_split_list(v);
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
