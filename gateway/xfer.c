/* xfer.c — libcurl multi on the libevent loop, and the per-exchange setup:
 * mutual TLS with the gateway's client certificate, the peer's trust and
 * optional pin, the message-id and signature headers. */
#include "xfer.h"
#include "keys.h"
#include "security.h"
#include "sign_jws.h"
#include "sign_xml.h"

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LT_XFER_IDLE_MAX 256   /* easy handles kept for reuse */

struct lt_xfers {
	CURLM *multi;
	struct event *timeout;
	struct lt_xfer *live;
	struct lt_gateway *gw;
	/* easy handles of finished exchanges, reset for the next (a reset costs a third of
	 * curl_easy_init + cleanup). The connections (and their TLS) live in the multi's
	 * cache, not in the handle. */
	CURL *idle[LT_XFER_IDLE_MAX];
	size_t nidle;
};

struct sock_ctx {
	struct event *ev;
};

static struct lt_xfers *xf(struct lt_gateway *gw)
{
	return gw->xfers;
}

static void check_done(struct lt_xfers *x);

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct lt_xfers *x = arg;
	int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(x->multi, fd, flags, &running);
	check_done(x);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lt_xfers *x = arg;
	int running;
	curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(x);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	(void)easy;
	struct lt_xfers *x = userp;
	struct sock_ctx *ctx = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (ctx) {
			event_free(ctx->ev);
			free(ctx);
			curl_multi_assign(x->multi, s, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!ctx) {
		ctx = calloc(1, sizeof *ctx);
		curl_multi_assign(x->multi, s, ctx);
	} else {
		event_free(ctx->ev);
	}
	ctx->ev = event_new(x->gw->base, s, kind, on_socket_event, x);
	event_add(ctx->ev, NULL);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct lt_xfers *x = userp;
	if (timeout_ms < 0) {
		evtimer_del(x->timeout);
	} else {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		evtimer_add(x->timeout, &tv);
	}
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct lt_xfer *t = arg;
	size_t len = size * n;
	if (t->rsp.len < LT_XFER_KEEP)
		lt_buf_append(&t->rsp, p, len < LT_XFER_KEEP - t->rsp.len ? len : LT_XFER_KEEP - t->rsp.len);
	return len;
}

/* The server certificate of the connection the answer comes on, while the
 * transfer holds it (the SSL pointer is only valid during the transfer). */
static void note_server_cert(struct lt_xfer *t)
{
	struct curl_tlssessioninfo *info = NULL;
	t->server_cn[0] = t->server_sha256[0] = '\0';
	if (curl_easy_getinfo(t->easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info ||
	    info->backend != CURLSSLBACKEND_OPENSSL || !info->internals)
		return;
	X509 *cert = SSL_get1_peer_certificate(info->internals);
	if (!cert)
		return;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	lt_cert_cn(cert, t->server_cn, sizeof t->server_cn);
	if (X509_digest(cert, EVP_sha256(), md, &n) == 1)
		for (unsigned int i = 0; i < n && i < 32; i++)
			snprintf(t->server_sha256 + 2 * i, 3, "%02x", md[i]);
	X509_free(cert);
}

/* A header value without the name, leading blanks and the line end. */
static void header_value(const char *p, size_t len, size_t name_len, size_t *v, size_t *e)
{
	*v = name_len;
	while (*v < len && (p[*v] == ' ' || p[*v] == '\t'))
		(*v)++;
	*e = len;
	while (*e > *v && (p[*e - 1] == '\r' || p[*e - 1] == '\n' || p[*e - 1] == ' '))
		(*e)--;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct lt_xfer *t = arg;
	size_t len = size * n;
	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a status line: the headers of this answer follow (none of an earlier 1xx count) */
		free(t->signature);
		t->signature = NULL;
		t->signatures = 0;
		note_server_cert(t);
	} else if (len > 12 && strncasecmp(p, "X-Signature:", 12) == 0) {
		size_t v, e;
		header_value(p, len, 12, &v, &e);
		if (!t->signatures++)
			t->signature = strndup(p + v, e - v < LT_XFER_SIG_MAX ? e - v : LT_XFER_SIG_MAX);
	} else if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t v, e;
		header_value(p, len, 12, &v, &e);
		snprintf(t->retry_after, sizeof t->retry_after, "%.*s", (int)(e - v), p + v);
	}
	return len;
}

static void unlink_live(struct lt_xfer *t)
{
	if (!t->prev)
		return;
	*t->prev = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = NULL;
	t->next = NULL;
}

/* A handle of a finished exchange back to the idle list (or freed when it is full). */
static void put_easy(struct lt_xfers *x, CURL *e)
{
	curl_multi_remove_handle(x->multi, e);
	if (x->nidle < LT_XFER_IDLE_MAX) {
		curl_easy_reset(e);
		x->idle[x->nidle++] = e;
	} else {
		curl_easy_cleanup(e);
	}
}

static void finish(struct lt_xfers *x, struct lt_xfer *t, CURLcode cc)
{
	unlink_live(t);
	t->cc = cc;
	if (cc == CURLE_OK)
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
	char *ct = NULL;
	curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(t->content_type, sizeof t->content_type, "%s", ct ? ct : "");
	if (cc != CURLE_OK && t->tls.why[0])   /* OpenSSL's error alone would not say why */
		snprintf(t->error, sizeof t->error, "%s", t->tls.why);
	if (cc != CURLE_OK && !t->error[0])
		snprintf(t->error, sizeof t->error, "%s", curl_easy_strerror(cc));
	t->duration_ms = lt_mono_ms() - t->t0;
	put_easy(x, t->easy);
	t->easy = NULL;
	t->done(t);
}

static void check_done(struct lt_xfers *x)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(x->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct lt_xfer *t;
		CURLcode cc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		finish(x, t, cc);
	}
}

static void add_header(struct lt_xfer *t, const char *name, const char *value)
{
	char line[512];
	if ((size_t)snprintf(line, sizeof line, "%s: %s", name, value) < sizeof line) {
		t->headers = curl_slist_append(t->headers, line);
		return;
	}
	struct lt_buf h = { 0 };        /* a long one (a JWS with its certificate chain) */
	lt_buf_printf(&h, "%s: %s", name, value);
	t->headers = curl_slist_append(t->headers, h.data);
	lt_buf_free(&h);
}

void lt_xfer_start(struct lt_gateway *gw, struct lt_xfer *t)
{
	struct lt_xfers *x = xf(gw);
	const struct lt_peer *peer = t->peer;
	char url[2048];
	snprintf(url, sizeof url, "%s%s", peer->url, t->req.path);
	t->t0 = lt_mono_ms();
	t->started_ms = lt_now_ms();
	if (!t->sec)
		t->sec = lt_security_ref(gw->sec);
	CURL *e = t->easy = x->nidle ? x->idle[--x->nidle] : curl_easy_init();
	if (t->req.content_type[0])
		add_header(t, "Content-Type", t->req.content_type);
	if (t->message_id[0]) {
		add_header(t, "X-Message-Id", t->message_id);
		add_header(t, "Idempotency-Key", t->message_id);
	}
	if (t->dossier_code[0])
		add_header(t, "X-Dossier-Code", t->dossier_code);
	if (t->req.signature)
		add_header(t, "X-Signature", t->req.signature);
	for (char *line = t->req.headers, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char h[512];
		snprintf(h, sizeof h, "%.*s", (int)n, line);
		if (h[0])
			t->headers = curl_slist_append(t->headers, h);
		if (!nl)
			break;
	}
	t->headers = curl_slist_append(t->headers, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (strcmp(t->req.method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		if (strcmp(t->req.method, "POST"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->req.method);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body.data ? t->req.body.data : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->req.body.len);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)peer->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(peer->timeout_ms < 10000 ? peer->timeout_ms : 10000));
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "lienthong/" LT_VERSION);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (strncmp(url, "https://", 8) == 0) {
		const struct lt_peer_security *ps = &t->sec->peers[peer->index];
		if (ps->ca_file)
			curl_easy_setopt(e, CURLOPT_CAINFO, ps->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, lt_tls_curl_ctx);
		/* no TLS session kept in a reused handle: a resumed session brings no OCSP
		 * staple, and each new connection is checked as a first one */
		curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		t->tls.ps = &t->sec->peers[peer->index];
		t->tls.peer = peer->name;
		t->tls.why[0] = '\0';
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, (void *)&t->tls);
		if (peer->pin)
			curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, peer->pin);
	}
	t->next = x->live;
	if (x->live)
		x->live->prev = &t->next;
	t->prev = &x->live;
	x->live = t;
	curl_multi_add_handle(x->multi, e);
}

void lt_xfer_response(const struct lt_xfer *t, struct lt_response *out)
{
	out->status = t->cc == CURLE_OK ? t->status : 0;
	out->body = t->rsp.data ? t->rsp.data : "";
	out->len = t->rsp.len;
	out->content_type = t->content_type;
}

void lt_xfer_release(struct lt_xfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	t->easy = NULL;
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	lt_buf_free(&t->req.body);
	free(t->req.signature);
	t->req.signature = NULL;
	lt_buf_free(&t->rsp);
	free(t->signature);
	t->signature = NULL;
	lt_security_free(t->sec);
	t->sec = NULL;
}

int lt_xfer_init(struct lt_gateway *gw, struct lt_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return lt_err_set(err, LT_EIO, "cannot initialise libcurl");
	struct lt_xfers *x = calloc(1, sizeof *x);
	x->gw = gw;
	x->multi = curl_multi_init();
	x->timeout = evtimer_new(gw->base, on_timeout, x);
	curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x);
	gw->xfers = x;
	lt_xfer_reconfigure(gw);
	return LT_OK;
}

void lt_xfer_reconfigure(struct lt_gateway *gw)
{
	struct lt_xfers *x = gw->xfers;
	if (!x)
		return;
	/* keep every peer's connections open between deliveries: by default libcurl keeps
	 * four per transfer in progress, so a dip in traffic closed connections that the
	 * next deliveries opened again (a TLS handshake, a new SSL_CTX and the CA file read
	 * each time; about one delivery in twelve, a third of the loop's CPU with ES256) */
	long keep = 0;
	for (size_t i = 0; i < gw->cfg->npeers; i++)
		keep += gw->cfg->peers[i].concurrency + 1;      /* + a poll or a login */
	curl_multi_setopt(x->multi, CURLMOPT_MAXCONNECTS, keep > 16 ? keep : 16);
}

void lt_xfer_abort_all(struct lt_gateway *gw)
{
	struct lt_xfers *x = xf(gw);
	if (!x)
		return;
	while (x->live) {
		struct lt_xfer *t = x->live;
		unlink_live(t);
		put_easy(x, t->easy);
		t->easy = NULL;
		t->aborted = 1;
		t->done(t);
	}
}

void lt_xfer_free(struct lt_gateway *gw)
{
	struct lt_xfers *x = xf(gw);
	if (!x)
		return;
	lt_xfer_abort_all(gw);
	while (x->nidle)
		curl_easy_cleanup(x->idle[--x->nidle]);
	curl_multi_cleanup(x->multi);
	event_free(x->timeout);
	free(x);
	gw->xfers = NULL;
	curl_global_cleanup();
}

/* Sign a request as the peer wants it — a detached JWS in X-Signature
 * (jti = the message id, iat = now), or an enveloped XML-DSig in the body.
 * Any thread. Deliveries are signed again on every attempt. */
int lt_xfer_sign(const struct lt_security *sec, const struct lt_peer *peer, const char *message_id,
		 struct lt_request *req, struct lt_err *err)
{
	if (strcmp(peer->sign, "jws") == 0 && req->body.len)
		return lt_jws_sign(sec->jws, req->body.data, req->body.len, message_id, lt_now_ms() / 1000,
				   &req->signature, err);
	if (strcmp(peer->sign, "xmldsig") == 0 && req->body.len) {
		char *out = NULL;
		size_t outlen = 0;
		int rc = lt_xml_sign(sec->xml, req->body.data, req->body.len, &out, &outlen, err);
		if (rc)
			return rc;
		lt_buf_reset(&req->body);
		lt_buf_append(&req->body, out, outlen);
		free(out);
	}
	return LT_OK;
}
