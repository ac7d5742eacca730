/* http_guard.c — the connection guard of the peer listener.
 *
 * libevent 2.1's evhttp leaves three openings to a hostile client: its read timeout
 * starts again at every byte, so a head or body sent a byte at a time holds a
 * connection for hours; it has no server hook between a request's head and its body,
 * so a Content-Length over max_body is read (up to its own cap) before we see it; and
 * it answers an oversized head with an HTML page of its own, unlogged. So every peer
 * connection has a guard that
 *   - holds back the bytes of each request head until the head is complete and screens
 *     it (request line, head size, header lines, Content-Length against max_body,
 *     Transfer-Encoding) before evhttp reads a byte of it;
 *   - closes the connection when its request (TLS handshake, head and body) is not
 *     complete read_timeout after it began, however slowly the bytes come.
 * A refused head is replaced by a stand-in request of our own with "Connection: close",
 * so that the refusal goes out through evhttp as our JSON error (answered and logged by
 * http.c like any other), and the connection closes after it; what the client sends
 * after it is dropped, and the socket lingers until the client closes. */
#include "http_guard.h"
#include "log.h"
#include "security.h"
#include "tls_refusals.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn;
struct linger_sock;

struct lt_guard {
	struct lt_gateway *gw;
	struct conn *conns;              /* every peer connection's guard */
	struct conn **by_fd;             /* attached guards by socket */
	size_t nfd;
	struct linger_sock *lingering;   /* refused connections being drained */
};

#define LT_HTTP_MAX_REQUEST_LINE 8192   /* bytes; a longer request line gets 414 */
#define LT_HTTP_MAX_HEADER_LINES 100    /* header fields in one head; more get 431 */

static const char standin[] = "GET /v1/inbound/-refused HTTP/1.1\r\nConnection: close\r\n\r\n";

enum conn_state {
	CONN_HEAD,      /* reading a head: its bytes are held back from evhttp */
	CONN_BODY,      /* the head passed: evhttp reads the rest of the request */
	CONN_BUSY,      /* the request is complete and ours until its answer is sent */
	CONN_REFUSING,  /* the stand-in carries our refusal; whatever else comes is dropped */
};

struct conn {
	struct lt_guard *g;
	struct bufferevent *bev;
	struct evhttp_connection *evcon;  /* NULL until attached */
	evutil_socket_t fd;
	enum conn_state state;
	int moving;                       /* our own moves in the input buffer are not news */
	int64_t began_ms;                 /* when the current request began; 0: none yet */
	struct event *deadline;           /* began_ms + read_timeout */
	struct event *kick;               /* soon: attach; later: screen held bytes again */
	struct evbuffer *held;            /* the head so far, not shown to evhttp yet */
	size_t scanned;                   /* bytes of held already split into lines */
	int lines;                        /* complete lines in held, the request line first */
	int status;                       /* the refusal the stand-in carries */
	char code[24];
	char peer[64];                    /* {peer} of /v1/inbound/{peer}, when it is a valid name */
	char detail[240];
	struct conn *prev, *next;
};

/* Client bytes quoted in a detail: printable ASCII only, cut to cap. */
static void quote_printable(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i = 0;
	for (; i < n && i + 1 < cap; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static void conn_arm(struct conn *c)
{
	int64_t left = c->began_ms + c->g->gw->cfg->read_timeout_ms - lt_now_ms();
	struct timeval tv = { 0, 0 };
	if (left > 0) {
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	}
	evtimer_add(c->deadline, &tv);
}

/* Replace what is held by the stand-in that carries this refusal. Returns 1: ready for evhttp. */
static int conn_refuse(struct conn *c, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int conn_refuse(struct conn *c, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof c->detail, fmt, ap);
	va_end(ap);
	c->status = status;
	snprintf(c->code, sizeof c->code, "%s", code);
	c->state = CONN_REFUSING;
	evbuffer_drain(c->held, evbuffer_get_length(c->held));
	evbuffer_add(c->held, standin, sizeof standin - 1);
	return 1;
}

/* Hand what is held to evhttp. Outside the bufferevent's own read (in_read = 0) the
 * input's end may be frozen (socket bufferevents) and evhttp must be told there is
 * something to read; that may answer or free the connection, so c may be gone after. */
static void conn_release(struct conn *c, int in_read)
{
	struct evbuffer *input = bufferevent_get_input(c->bev);
	c->moving = 1;
	if (evbuffer_add_buffer(input, c->held) < 0) {
		evbuffer_unfreeze(input, 0);
		evbuffer_add_buffer(input, c->held);
		evbuffer_freeze(input, 0);
	}
	c->moving = 0;
	c->scanned = 0;
	c->lines = 0;
	if (c->state == CONN_HEAD)
		c->state = CONN_BODY;
	if (!in_read)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
}

static int method_allowed(const char *m, size_t n)
{
	static const char *const allowed[] = { "POST", "GET", "PUT", "DELETE", "HEAD" };
	for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
		if (n == strlen(allowed[i]) && memcmp(m, allowed[i], n) == 0)
			return 1;
	return 0;
}

/* The head held[0..end) is complete: check what evhttp would otherwise take on
 * trust. Returns 1 (ready for evhttp: the head itself, or a stand-in). */
static int conn_check_head(struct conn *c, size_t end)
{
	const struct lt_config *cfg = c->g->gw->cfg;
	const char *p = (const char *)evbuffer_pullup(c->held, (ev_ssize_t)end), *e = p + end;
	char q[80];

	c->peer[0] = '\0';

	const char *nl = memchr(p, '\n', end);
	size_t rl = (size_t)(nl - p) - (nl > p && nl[-1] == '\r');
	const char *sp1 = memchr(p, ' ', rl), *sp2 = sp1 ? memchr(sp1 + 1, ' ', rl - (size_t)(sp1 + 1 - p)) : NULL;
	if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1 || sp1[1] != '/' ||
	    !((size_t)(p + rl - sp2 - 1) == 8 && (memcmp(sp2 + 1, "HTTP/1.1", 8) == 0 || memcmp(sp2 + 1, "HTTP/1.0", 8) == 0))) {
		quote_printable(q, 60, p, rl);
		return conn_refuse(c, 400, "bad_request", "malformed request line \"%s\": expected METHOD /path HTTP/1.1", q);
	}
	const char *target = sp1 + 1, *prefix = "/v1/inbound/";
	size_t tlen = (size_t)(sp2 - target), plen = strlen(prefix);
	if (tlen > plen && memcmp(target, prefix, plen) == 0) {
		size_t n = strcspn(target + plen, "?/ ");
		int ok = n < sizeof c->peer;
		for (size_t i = 0; ok && i < n; i++)
			ok = strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", target[plen + i]) != NULL;
		if (ok)
			snprintf(c->peer, sizeof c->peer, "%.*s", (int)n, target + plen);
	}
	if (!method_allowed(p, (size_t)(sp1 - p))) {
		quote_printable(q, 32, p, (size_t)(sp1 - p));
		return conn_refuse(c, 405, "method_not_allowed", "method %s is not allowed; peers POST to /v1/inbound/{peer}", q);
	}

	int have_cl = 0, have_te = 0, chunked = 0;
	unsigned long long cl = 0;
	for (const char *s = nl + 1; s < e;) {
		const char *t = memchr(s, '\n', (size_t)(e - s));
		size_t n = (size_t)(t - s) - (t > s && t[-1] == '\r');
		if (n == 0)
			break;
		if (*s == ' ' || *s == '\t')
			return conn_refuse(c, 400, "bad_request", "obsolete line folding in the request head is not accepted");
		const char *colon = memchr(s, ':', n);
		if (!colon || colon == s) {
			quote_printable(q, 40, s, n);
			return conn_refuse(c, 400, "bad_request", "header line \"%s\" has no field name and colon", q);
		}
		size_t kn = (size_t)(colon - s);
		const char *v = colon + 1, *ve = s + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (kn == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
			unsigned long long x = 0;
			const char *d = v;
			for (; d < ve && *d >= '0' && *d <= '9' && x <= 99999999999999ULL; d++)
				x = x * 10 + (unsigned)(*d - '0');
			if (d == v || d != ve || (have_cl && x != cl)) {
				quote_printable(q, 24, v, (size_t)(ve - v));
				return conn_refuse(c, 400, "bad_request", have_cl && d == ve ?
						   "conflicting Content-Length headers" :
						   "Content-Length \"%s\" is not a number of bytes", q);
			}
			have_cl = 1;
			cl = x;
		} else if (kn == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
			have_te = 1;
			chunked = (size_t)(ve - v) == 7 && strncasecmp(v, "chunked", 7) == 0;
			if (!chunked) {
				quote_printable(q, 40, v, (size_t)(ve - v));
				return conn_refuse(c, 400, "bad_request",
						   "Transfer-Encoding \"%s\" is not accepted (send Content-Length, or chunked)", q);
			}
		}
		s = t + 1;
	}
	if (have_cl && have_te)
		return conn_refuse(c, 400, "bad_request", "both Content-Length and Transfer-Encoding: send one of them");
	if (have_cl && cl > cfg->max_body)
		return conn_refuse(c, 413, "too_large", "Content-Length %llu is over the limit of %zu bytes (max_body); "
				   "the body was not read", cl, cfg->max_body);
	return 1;
}

/* Split what is held into lines until the head ends, refusing what breaks a limit.
 * Returns 1 when held is ready for evhttp, 0 while the head is incomplete. */
static int conn_screen(struct conn *c)
{
	const struct lt_config *cfg = c->g->gw->cfg;
	size_t len = evbuffer_get_length(c->held);
	for (;;) {
		struct evbuffer_ptr at;
		size_t eol = 0;
		if (evbuffer_ptr_set(c->held, &at, c->scanned, EVBUFFER_PTR_SET) < 0)
			break;
		struct evbuffer_ptr found = evbuffer_search_eol(c->held, &at, &eol, EVBUFFER_EOL_CRLF);
		if (found.pos < 0)
			break;
		size_t line = (size_t)found.pos - c->scanned;
		c->scanned = (size_t)found.pos + eol;
		if (c->lines++ == 0) {
			if (line > LT_HTTP_MAX_REQUEST_LINE)
				break;
			continue;
		}
		if (line == 0)
			return c->scanned > cfg->max_headers ? conn_refuse(c, 431, "headers_too_large",
				"the request head is %zu bytes, over the limit of %zu bytes (max_headers)",
				c->scanned, cfg->max_headers) : conn_check_head(c, c->scanned);
		if (c->lines > LT_HTTP_MAX_HEADER_LINES + 1)
			return conn_refuse(c, 431, "headers_too_large", "more than %d header lines in the request head",
					   LT_HTTP_MAX_HEADER_LINES);
	}
	size_t first = c->lines ? 0 : len;
	if (c->lines) {
		struct evbuffer_ptr at;
		evbuffer_ptr_set(c->held, &at, 0, EVBUFFER_PTR_SET);
		size_t eol = 0;
		struct evbuffer_ptr found = evbuffer_search_eol(c->held, &at, &eol, EVBUFFER_EOL_CRLF);
		first = found.pos < 0 ? len : (size_t)found.pos;
	}
	if (first > LT_HTTP_MAX_REQUEST_LINE)
		return conn_refuse(c, 414, "uri_too_long", "the request line is longer than %d bytes",
				   LT_HTTP_MAX_REQUEST_LINE);
	if (len > cfg->max_headers)
		return conn_refuse(c, 431, "headers_too_large",
				   "the request head is over the limit of %zu bytes (max_headers)", cfg->max_headers);
	return 0;
}

/* Every byte the client sends lands here before evhttp reads it. */
static void conn_input_cb(struct evbuffer *input, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (c->moving || info->n_added == 0)
		return;
	c->moving = 1;
	switch (c->state) {
	case CONN_BODY:
		break;
	case CONN_REFUSING: {
		/* keep the stand-in (if evhttp has not read it yet), drop the rest unread */
		size_t keep = evbuffer_get_length(input) - info->n_added;
		evbuffer_remove_buffer(input, c->held, keep);
		evbuffer_drain(input, info->n_added);
		evbuffer_add_buffer(input, c->held);
		break;
	}
	case CONN_BUSY:
		/* the next request, early: screened once this one is answered */
		evbuffer_add_buffer(c->held, input);
		break;
	case CONN_HEAD:
		if (!c->began_ms) {
			c->began_ms = lt_now_ms();
			conn_arm(c);
		}
		evbuffer_add_buffer(c->held, input);
		if (conn_screen(c)) {
			c->moving = 0;
			conn_release(c, 1);
			return;
		}
		break;
	}
	c->moving = 0;
}

static void conn_free(struct conn *c, int bev_alive)
{
	struct lt_guard *g = c->g;
	if (bev_alive)
		evbuffer_remove_cb(bufferevent_get_input(c->bev), conn_input_cb, c);
	if (c->fd >= 0 && (size_t)c->fd < g->nfd && g->by_fd[c->fd] == c)
		g->by_fd[c->fd] = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	event_free(c->deadline);
	event_free(c->kick);
	evbuffer_free(c->held);
	free(c);
}

/* After a refusal the client may still be sending what we will not read: closing
 * at once would answer those bytes with a reset, which can destroy our answer
 * before the client reads it. So a duplicate of the socket (evhttp closes its
 * own) stops sending and drops what still comes until the client closes, for at
 * most read_timeout. */
struct linger_sock {
	struct lt_guard *g;
	struct event *ev;
	evutil_socket_t fd;
	int64_t until_ms;
	struct linger_sock *prev, *next;
};

static void linger_free(struct linger_sock *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		l->g->lingering = l->next;
	if (l->next)
		l->next->prev = l->prev;
	event_free(l->ev);
	close(l->fd);
	free(l);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct linger_sock *l = arg;
	char drop[16384];
	ssize_t n = -1;
	errno = 0;
	for (int i = 0; (what & EV_READ) && i < 64 && (n = recv(fd, drop, sizeof drop, MSG_DONTWAIT)) > 0; i++)
		;
	if ((n > 0 || errno == EAGAIN || errno == EWOULDBLOCK) && !(what & EV_TIMEOUT) && lt_now_ms() < l->until_ms)
		return;
	linger_free(l);
}

static void linger_start(struct lt_guard *g, evutil_socket_t fd)
{
	struct linger_sock *l = calloc(1, sizeof *l);
	if (!l || (l->fd = dup(fd)) < 0) {
		free(l);
		return;
	}
	shutdown(l->fd, SHUT_WR);
	l->g = g;
	l->until_ms = lt_now_ms() + g->gw->cfg->read_timeout_ms;
	struct timeval tv = { (time_t)(g->gw->cfg->read_timeout_ms / 1000),
			      (suseconds_t)(g->gw->cfg->read_timeout_ms % 1000) * 1000 };
	if (!(l->ev = event_new(g->gw->base, l->fd, EV_READ | EV_PERSIST, linger_cb, l)) || event_add(l->ev, &tv)) {
		if (l->ev)
			event_free(l->ev);
		close(l->fd);
		free(l);
		return;
	}
	l->next = g->lingering;
	if (g->lingering)
		g->lingering->prev = l;
	g->lingering = l;
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct conn *c = arg;
	if (c->state == CONN_REFUSING && c->fd >= 0)
		linger_start(c->g, c->fd);
	conn_free(c, 1);
}

/* The request (TLS handshake, head, body) took longer than read_timeout. A head
 * still being read is answered 408 through a stand-in; otherwise the connection
 * is closed as it is. */
static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	const struct lt_config *cfg = c->g->gw->cfg;
	if (!c->evcon || c->state == CONN_BUSY)
		return;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	int handshaking = ssl && !SSL_is_init_finished(ssl);
	long long took = (long long)(lt_now_ms() - c->began_ms);
	if (c->state == CONN_HEAD && !handshaking) {
		conn_refuse(c, 408, "read_timeout", "the request head was not complete %lld ms after it began "
			    "(read_timeout is %lld ms); the connection is closed", took, (long long)cfg->read_timeout_ms);
		c->began_ms = lt_now_ms();   /* a last read_timeout to take the answer */
		conn_arm(c);
		conn_release(c, 0);
		return;
	}
	lt_log(LT_WARN, "ingress.refused",
	       json_pack("{s:s?,s:i,s:s}", "peer", c->peer[0] ? c->peer : NULL, "status", 408, "error", "read_timeout"),
	       "closed a slow connection: %s was not complete %lld ms after it began (read_timeout is %lld ms)",
	       handshaking ? "the TLS handshake" : c->state == CONN_BODY ? "the request body" : "the answer to a refusal",
	       took, (long long)cfg->read_timeout_ms);
	evhttp_connection_free(c->evcon);   /* conn_closed frees c */
}

/* The evhttp connection exists once the accept callback that made the bufferevent
 * returns: learn it, and be told when it goes. */
static int conn_attach(struct conn *c)
{
	struct lt_guard *g = c->g;
	void *evcon = NULL;
	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	c->evcon = evcon;
	c->fd = bufferevent_getfd(c->bev);
	if (!c->evcon || c->fd < 0)
		return LT_EINVAL;
	if ((size_t)c->fd >= g->nfd) {
		size_t n = g->nfd ? g->nfd : 64;
		while (n <= (size_t)c->fd)
			n *= 2;
		struct conn **t = realloc(g->by_fd, n * sizeof *t);
		if (!t)
			return LT_ENOMEM;
		memset(t + g->nfd, 0, (n - g->nfd) * sizeof *t);
		g->by_fd = t;
		g->nfd = n;
	}
	g->by_fd[c->fd] = c;
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	conn_arm(c);
	return LT_OK;
}

static void conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (!c->evcon) {
		if (conn_attach(c)) {
			/* cannot be found again: leave this connection to evhttp's own limits */
			c->evcon = NULL;
			c->fd = -1;
			conn_free(c, 1);
		}
		return;
	}
	if (c->state == CONN_HEAD && evbuffer_get_length(c->held) && conn_screen(c))
		conn_release(c, 0);
}

/* The answer went out and evhttp waits for the next request on this connection. */
static void conn_request_done(struct evhttp_request *req, void *arg)
{
	(void)req;
	struct conn *c = arg;
	struct evbuffer *input = bufferevent_get_input(c->bev);
	c->state = CONN_HEAD;
	c->began_ms = 0;
	c->peer[0] = '\0';
	c->moving = 1;
	evbuffer_prepend_buffer(c->held, input);   /* pipelined bytes are the next head */
	c->moving = 0;
	if (evbuffer_get_length(c->held)) {
		c->began_ms = lt_now_ms();
		conn_arm(c);
		event_active(c->kick, EV_TIMEOUT, 1);   /* once evhttp has its next request */
	}
}

struct bufferevent *lt_guard_bevcb(struct event_base *base, void *arg)
{
	struct lt_guard *g = arg;
	const struct lt_security *sec = g->gw->sec;
	struct bufferevent *bev = sec && sec->server_ctx ? lt_tls_bevcb(base, (void *)sec)
						      : bufferevent_socket_new(base, -1, 0);
	if (bev && sec && sec->server_ctx)
		lt_tls_refusals_watch(bufferevent_openssl_get_ssl(bev));
	struct conn *c = bev ? calloc(1, sizeof *c) : NULL;
	if (!c)
		return bev;
	c->g = g;
	c->bev = bev;
	c->fd = -1;
	c->began_ms = lt_now_ms();
	c->held = evbuffer_new();
	c->deadline = evtimer_new(base, conn_deadline_cb, c);
	c->kick = evtimer_new(base, conn_kick_cb, c);
	if (!c->held || !c->deadline || !c->kick || !evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, c)) {
		if (c->held)
			evbuffer_free(c->held);
		if (c->deadline)
			event_free(c->deadline);
		if (c->kick)
			event_free(c->kick);
		free(c);
		return bev;
	}
	c->next = g->conns;
	if (g->conns)
		g->conns->prev = c;
	g->conns = c;
	event_active(c->kick, EV_TIMEOUT, 1);
	return bev;
}

/* The guard of the connection a complete request came on; NULL for one without. */
static struct conn *conn_of(struct lt_guard *g, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	struct conn *c = fd >= 0 && (size_t)fd < g->nfd ? g->by_fd[fd] : NULL;
	return c && c->evcon == evcon ? c : NULL;
}

int lt_guard_request(struct lt_guard *g, struct evhttp_request *req, struct lt_guard_refusal *r)
{
	struct conn *c = conn_of(g, req);
	if (!c)
		return 0;
	evtimer_del(c->deadline);   /* complete: ours until answered */
	c->began_ms = 0;
	if (c->state == CONN_REFUSING) {
		r->status = c->status;
		r->code = c->code;
		r->peer = c->peer[0] ? c->peer : NULL;
		r->detail = c->detail;
		return 1;
	}
	c->state = CONN_BUSY;
	evhttp_request_set_on_complete_cb(req, conn_request_done, c);
	return 0;
}

struct lt_guard *lt_guard_new(struct lt_gateway *gw)
{
	struct lt_guard *g = calloc(1, sizeof *g);
	if (g)
		g->gw = gw;
	return g;
}

void lt_guard_free(struct lt_guard *g)
{
	if (!g)
		return;
	while (g->conns)
		conn_free(g->conns, 0);
	while (g->lingering)
		linger_free(g->lingering);
	free(g->by_fd);
	free(g);
}
