/* config.c — reading a config file: its sections, [units] and [agencies], each
 * key = value handed to the table of keys (config_keys.c), then the checks that
 * need the whole file, with a line number for every mistake; and the loaded
 * config's lookups and lifetime.
 *
 * Written by hand rather than with inih: we need the line of every key to
 * report all mistakes at once, which the Debian build of inih does not give. */
#include "config.h"
#include "config_int.h"
#include "config_keys.h"
#include "adapter.h"
#include "http.h"
#include "dates.h"

#include <arpa/inet.h>
#include <ctype.h>
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

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return 0;
	for (const char *p = s; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
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
	char **cns = c->admin_clients ? lt_split_list(c->admin_clients) : NULL;
	for (char **p = cns; p && *p; p++)
		if (strncmp(*p, "CN=", 3) || !(*p)[3])
			ERR(lt_config_line(c, "admin_clients"), "admin_clients: \"%s\" is not CN=NAME", *p);
	lt_free_list(cns);
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
			r->events = lt_split_list("");
		if (!r->procedures)
			r->procedures = lt_split_list("");
		if (!r->agencies)
			r->agencies = lt_split_list("");
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
		lt_free_list(r->events); lt_free_list(r->procedures); lt_free_list(r->agencies); lt_free_list(r->to);
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
