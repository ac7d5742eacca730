/* peersim.c — the peer simulator used by lienthong's integration tests, demo and benchmark.
 *
 * A real HTTP/HTTPS server (libevent evhttp, one thread) that records every delivery and fails
 * on demand.  Paths under /_sim/ are the control API (peersim_ctl.c); every other request is a
 * delivery (peersim_rec.c): it is recorded in memory (and as one JSONL line in --record once
 * answered) and answered with the default reply, or as the first active failure rule that
 * matches says.  This file is the process: command line, TLS, listeners, request routing.
 * Run `peersim --help` for the command line. */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "peersim.h"

struct sim_state sim;

/* Print a message and exit 2; for start-up mistakes and out-of-memory. */
void sim_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "peersim: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* strdup that dies on out-of-memory; NULL in, NULL out. */
char *sim_strdup(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		sim_die("out of memory");
	return d;
}

/* Wall-clock milliseconds since the epoch. */
int64_t sim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* json_dump_callback sink appending to the evbuffer data. */
int sim_dump_to_evbuffer(const char *buf, size_t size, void *data)
{
	return evbuffer_add(data, buf, size);
}

/* Answer req with code and the JSON j (reference stolen). */
void sim_send_json(struct evhttp_request *req, int code, json_t *j)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	json_dump_callback(j, sim_dump_to_evbuffer, out, JSON_COMPACT);
	json_decref(j);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", SIM_JSON);
	evhttp_send_reply(req, code, NULL, NULL);
}

/* Answer req with code and {"error":error,"detail":detail}. */
void sim_send_error(struct evhttp_request *req, int code, const char *error, const char *detail)
{
	sim_send_json(req, code, json_pack("{s:s,s:s}", "error", error, "detail", detail));
}

/* evhttp callback for both listeners; arg is non-NULL on the control listener, which serves
 * only /_sim/. */
static void on_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);

	if (strncmp(uri, "/_sim/", 6) == 0)
		sim_control(req);
	else if (arg)
		sim_send_error(req, 404, "not_found", "the control listener serves only /_sim/");
	else
		sim_deliver(req, uri);
}

/* Verify callback when client certificates are optional: accept any (or none); the record's
 * client_verified says whether it chained to --ca. */
static int verify_any(int ok UNUSED, X509_STORE_CTX *ctx UNUSED)
{
	return 1;
}

/* evhttp bevcb: a TLS server bufferevent for each new connection (arg is the SSL_CTX). */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	else
		SSL_free(ssl);
	return bev;
}

/* Server side of status_request: staple the DER OCSP response in the --ocsp-response file
 * (arg), read at each handshake so that a test can swap it; no file, no staple. */
static int staple_ocsp(SSL *ssl, void *arg)
{
	FILE *f = fopen(arg, "rb");
	unsigned char *der = NULL;
	long len = 0;

	if (!f)
		return SSL_TLSEXT_ERR_NOACK;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && len < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (der = OPENSSL_malloc((size_t)len)) &&
	    fread(der, 1, (size_t)len, f) == (size_t)len) {
		fclose(f);
		SSL_set_tlsext_status_ocsp_resp(ssl, der, len);   /* takes der */
		return SSL_TLSEXT_ERR_OK;
	}
	fclose(f);
	OPENSSL_free(der);
	return SSL_TLSEXT_ERR_NOACK;
}

/* Build the server TLS context (TLS 1.2+, or TLS 1.2 with only tls12_ciphers when given);
 * always asks for a client certificate, which is required and checked against ca only when
 * require is set. */
static SSL_CTX *tls_new(const char *cert, const char *key, const char *ca, int require, const char *tls12_ciphers)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		sim_die("cannot create a TLS context");
	/* A peer stuck in the past: TLS 1.2 only, with just these suites. */
	if (tls12_ciphers && (!SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) ||
			      SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1))
		sim_die("OpenSSL refuses --tls12-ciphers %s", tls12_ciphers);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		sim_die("cannot load certificate %s", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		sim_die("cannot load key %s or it does not match %s", key, cert);
	if (ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);

		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 || !names)
			sim_die("cannot load CA bundle %s", ca);
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"peersim", 7);
	if (require)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_any);
	return ctx;
}

/* Create an evhttp with peersim's limits, bound to spec ("HOST:PORT" or "[V6]:PORT"); returns
 * it and stores the bound port in *port.  Dies on failure. */
static struct evhttp *listen_on(const char *spec, int *port, void *arg)
{
	char host[256], *portstr;
	struct evutil_addrinfo hints = { 0 }, *ai = NULL;
	struct evconnlistener *l;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	struct evhttp *http;
	int rc;

	if (snprintf(host, sizeof host, "%s", spec) >= (int)sizeof host ||
	    !(portstr = strrchr(host, ':')))
		sim_die("listen address \"%s\" is not HOST:PORT", spec);
	*portstr++ = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 2 || host[n - 1] != ']')
			sim_die("listen address \"%s\": unbalanced [", spec);
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	if ((rc = evutil_getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai)) != 0)
		sim_die("listen address \"%s\": %s", spec, evutil_gai_strerror(rc));
	l = evconnlistener_new_bind(sim.base, NULL, NULL,
				    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    1024, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!l)
		sim_die("cannot listen on %s: %s", spec, strerror(errno));
	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &slen) < 0)
		sim_die("getsockname: %s", strerror(errno));
	/* accepted sockets inherit it: answers are not held back by Nagle */
	int one = 1;
	setsockopt(evconnlistener_get_fd(l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	if (!(http = evhttp_new(sim.base)) || !evhttp_bind_listener(http, l))
		sim_die("cannot start HTTP on %s", spec);
	evhttp_set_max_body_size(http, SIM_MAX_BODY);
	evhttp_set_max_headers_size(http, SIM_MAX_HEADERS);
	evhttp_set_timeout(http, 120);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, on_request, arg);
	return http;
}

/* Write {"listen":P,"control":Q,"tls":B,"pid":N} to path atomically (temp file + rename). */
static void write_port_file(const char *path, int port, int ctl_port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "w")))
		sim_die("cannot write %s: %s", tmp, strerror(errno));
	fprintf(f, "{\"listen\":%d,\"control\":%d,\"tls\":%s,\"pid\":%ld}\n", port, ctl_port,
		sim.ssl ? "true" : "false", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		sim_die("cannot write %s: %s", path, strerror(errno));
}

/* SIGTERM/SIGINT: leave the loop; main() then cleans up and exits 0. */
static void on_signal(evutil_socket_t sig UNUSED, short what UNUSED, void *arg UNUSED)
{
	event_base_loopexit(sim.base, NULL);
}

/* Print the command line summary to f. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: peersim --listen HOST:PORT [--control HOST:PORT] [--name NAME]\n"
		"               [--tls-cert PEM --tls-key PEM [--ca PEM] [--require-client-cert]\n"
		"                [--tls12-ciphers LIST] [--ocsp-response DER]]\n"
		"               (LIST: OpenSSL names; TLS 1.2 only, e.g. AES128-SHA; DER: an OCSP\n"
		"                response file stapled when the client asks, read at each handshake)\n"
		"               [--record FILE.jsonl] [--reply-status N] [--reply-body JSON]\n"
		"               [--reply-content-type T] [--port-file FILE]\n"
		"               [--sign-key PEM --sign-cert PEM [--reply-sign xmldsig|jws]]\n"
		"PORT 0 picks a free port (see --port-file). Control API under /_sim/.\n"
		"Answers may be signed as a peer signs them (see peersim_sign.c): --sign-key and\n"
		"--sign-cert are the key, --reply-sign signs the default reply; {{message_id}} and {{now}}\n"
		"in a body become the request's X-Message-Id and the time.\n");
}

/* The command line, as given. */
struct sim_opts {
	const char *listen, *control, *cert, *key, *ca, *record, *port_file, *tls12_ciphers, *ocsp;
	const char *status, *body, *ctype, *reply_sign;
	int require;
};

/* Fill o from argv and check that the options fit together; dies with usage on a mistake. */
static void parse_args(int argc, char **argv, struct sim_opts *o)
{
	const struct { const char *flag, **dst; } opts[] = {
		{ "--listen", &o->listen }, { "--control", &o->control }, { "--name", &sim.name },
		{ "--tls-cert", &o->cert }, { "--tls-key", &o->key }, { "--ca", &o->ca },
		{ "--record", &o->record }, { "--port-file", &o->port_file },
		{ "--reply-status", &o->status }, { "--reply-body", &o->body },
		{ "--reply-content-type", &o->ctype }, { "--sign-key", &sim.sign_key },
		{ "--sign-cert", &sim.sign_cert }, { "--reply-sign", &o->reply_sign },
		{ "--tls12-ciphers", &o->tls12_ciphers }, { "--ocsp-response", &o->ocsp },
	};
	char *end;
	long st;

	for (int i = 1; i < argc; i++) {
		size_t k = 0;

		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(argv[i], "--require-client-cert")) {
			o->require = 1;
			continue;
		}
		while (k < sizeof opts / sizeof opts[0] && strcmp(argv[i], opts[k].flag) != 0)
			k++;
		if (k == sizeof opts / sizeof opts[0] || i + 1 == argc) {
			usage(stderr);
			sim_die("%s %s", argv[i], i + 1 == argc ? "needs a value" : "is not an option");
		}
		*opts[k].dst = argv[++i];
	}
	if (!o->listen) {
		usage(stderr);
		sim_die("--listen is required");
	}
	if (!o->cert != !o->key)
		sim_die("--tls-cert and --tls-key go together");
	if ((o->ca || o->require || o->tls12_ciphers || o->ocsp) && !o->cert)
		sim_die("--ca, --require-client-cert, --tls12-ciphers and --ocsp-response need --tls-cert and --tls-key");
	if (o->require && !o->ca)
		sim_die("--require-client-cert needs --ca to check client certificates against");
	st = o->status ? strtol(o->status, &end, 10) : 200;
	if (o->status && (*end || st < 200 || st > 599))
		sim_die("--reply-status must be from 200 to 599");
	if (!sim.sign_key != !sim.sign_cert)
		sim_die("--sign-key and --sign-cert go together");
	sim.cli = (struct sim_reply){ (int)st, sim_strdup(o->body ? o->body : "{\"status\":\"ok\"}"),
				      sim_strdup(o->ctype ? o->ctype : SIM_JSON), { 0 } };
	if (o->reply_sign) {
		char err[300];
		json_t *how = json_pack("{s:s}", "sign", o->reply_sign);

		if (sim_sign_parse(how, &sim.cli.sign, err, sizeof err) < 0)
			sim_die("--reply-sign: %s", err);
		json_decref(how);
	}
}

int main(int argc, char **argv)
{
	struct sim_opts o = { 0 };
	int port = 0, ctl_port = 0;
	struct event *sigterm, *sigint;

	sim.name = "peer";
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	sim_reply_set(&sim.dflt, &sim.cli);
	if (o.record && !(sim.record = fopen(o.record, "a")))
		sim_die("cannot open %s: %s", o.record, strerror(errno));
	if (!(sim.base = event_base_new()))
		sim_die("cannot create the event loop");
	if (o.cert)
		sim.ssl = tls_new(o.cert, o.key, o.ca, o.require, o.tls12_ciphers);
	if (o.ocsp && (SSL_CTX_set_tlsext_status_cb(sim.ssl, staple_ocsp) != 1 ||
		       SSL_CTX_set_tlsext_status_arg(sim.ssl, (void *)o.ocsp) != 1))
		sim_die("cannot staple OCSP responses");
	sim.http = listen_on(o.listen, &port, NULL);
	if (sim.ssl)
		evhttp_set_bevcb(sim.http, tls_bev, sim.ssl);
	ctl_port = port;
	if (o.control)
		sim.ctl = listen_on(o.control, &ctl_port, &sim);
	sigterm = evsignal_new(sim.base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(sim.base, SIGINT, on_signal, NULL);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
		sim_die("cannot watch signals");
	sim_rec_start();
	if (o.port_file)
		write_port_file(o.port_file, port, ctl_port);
	fprintf(stderr, "peersim %s listening on %s (port %d, %s%s), control port %d\n",
		sim.name, o.listen, port, sim.ssl ? "https" : "http",
		o.require ? ", client certificates required" : "", ctl_port);
	event_base_dispatch(sim.base);

	sim_rec_stop();
	evhttp_free(sim.http);
	if (sim.ctl)
		evhttp_free(sim.ctl);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(sim.base);
	sim_rules_prune(1);
	free(sim.dflt.body);
	free(sim.dflt.ctype);
	sim_sign_free(&sim.dflt.sign);
	free(sim.cli.body);
	free(sim.cli.ctype);
	sim_sign_free(&sim.cli.sign);
	sim_sign_stop();
	SSL_CTX_free(sim.ssl);
	if (sim.record)
		fclose(sim.record);
	fprintf(stderr, "peersim %s stopped\n", sim.name);
	return 0;
}
