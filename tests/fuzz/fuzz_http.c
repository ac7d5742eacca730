/* fuzz_http.c — libFuzzer harness for the peer listener: the input is the raw
 * bytes a client sends (request line, headers, body). They go over a real
 * loopback connection through libevent's HTTP parser into the ingress handler
 * of gateway/http.c — limits, peer lookup, signature check, decode, routing,
 * the SQLite commit — until the answer is written and the connection closed.
 *
 * The gateway is set up once, as `lienthong run` does, from a small config
 * (tls = off, a temp store): JSON and XML peers without signatures so that
 * the decoders are reached, one JWS and one XML-DSig peer, and a route to a
 * destination that is rate-limited so that nothing is ever sent. Run from the
 * repository root after make certs. The config and the store live in a new
 * directory under $TMPDIR (default /tmp), removed at a normal exit. */
#include "adapter.h"
#include "dispatch.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "security.h"
#include "sign_xml.h"
#include "sla.h"
#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ANSWER_WITHIN_MS 5000   /* a request still unanswered by then is a hang */

static struct lt_gateway gw;
static struct lt_calendar calendar;
static struct event *tick;       /* wakes the loop so the deadline is checked */
static int port;
static char tmpdir[200];         /* $TMPDIR/lt-fuzz-http-XXXXXX: config and store */
static char dbpath[240];

static const char *const config_fmt =
	"[gateway]\n"
	"listen = 127.0.0.1:%d\n"
	"store = sqlite:%s\n"
	"tls = off\n"
	"trust = build/certs/rsa/trust.pem\n"
	"max_body = 32k\n"
	"max_headers = 8k\n"
	"read_timeout = 2s\n"
	"workers = 1\n"
	"log_level = debug\n"
	"\n[peer.portal]\nadapter = canonical\nverify = none\n%s"
	"\n[peer.peer-a]\nadapter = canonical\nkeys = build/certs/rsa/peers/peer-a/sign.pem, "
	"build/certs/ec/peers/peer-a/sign.pem\n%s"
	"\n[peer.hotich]\nadapter = civilreg\nverify = none\n%s"
	"\n[peer.hotich-tinh]\nadapter = civilreg\nkeys = build/certs/rsa/peers/hotich-tinh/sign.pem\n%s"
	"\n[peer.vpcp]\nadapter = edxml\nverify = none\n%s"
	/* 0.001/s: the first delivery would start after 1000 s, i.e. never here */
	"\n[peer.sink]\nadapter = canonical\nurl = http://127.0.0.1:9/v1/inbound/lienthong\nsign = none\n"
	"concurrency = 1\nrate = 0.001/s\n"
	"\n[route.all]\nfrom = *\nto = sink\n";

/* the parameters the adapters read, as in fuzz_adapter.c */
static const char *const params =
	"param.madonvi = 000.00.12.H12\nparam.ma_don_vi = H12.01957\nparam.customer_code = C\n"
	"param.sender_address = A\nparam.sender_tel = 0\nparam.sender_province = 06\n";

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_http: %s: %s (run from the repository root after make certs)\n", what, detail);
	exit(1);
}

static void cleanup(void)
{
	char p[256];
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
		snprintf(p, sizeof p, "%s%s", dbpath, suffix[i]);
		unlink(p);
	}
	snprintf(p, sizeof p, "%s/lienthong.ini", tmpdir);
	unlink(p);
	rmdir(tmpdir);
}

/* A loopback port free right now (as the integration tests' free_port). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || getsockname(fd, (struct sockaddr *)&sa, &len))
		die("free port", "cannot bind 127.0.0.1:0");
	close(fd);
	return ntohs(sa.sin_port);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/lt-fuzz-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpdir))
		die("mkdtemp", tmpdir);
	atexit(cleanup);
	snprintf(dbpath, sizeof dbpath, "%s/store.db", tmpdir);
	char cfgpath[256];
	snprintf(cfgpath, sizeof cfgpath, "%s/lienthong.ini", tmpdir);
	port = free_port();
	FILE *f = fopen(cfgpath, "w");
	if (!f)
		die("config", cfgpath);
	fprintf(f, config_fmt, port, dbpath, params, params, params, params, params);
	fclose(f);

	struct lt_buf errors = { 0 }, warnings = { 0 };
	struct lt_err err = { 0 };
	struct lt_config *cfg;
	if (lt_config_load(cfgpath, &cfg, &errors) || lt_security_load(cfg, &gw.sec, &errors, &warnings))
		die("config", errors.data);
	lt_buf_free(&warnings);
	/* every log line is still formatted (hostile ids and details go through
	 * json_pack), but not kept: the fuzzer's own output stays readable */
	FILE *devnull = fopen("/dev/null", "w");
	lt_log_init(1, LT_DEBUG, devnull);
	if (lt_xml_init(&err) || lt_adapters_init(&err))
		die("adapters", err.msg);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	gw.cfg = cfg;
	gw.started_ms = lt_now_ms();
	gw.base = event_base_new();
	gw.counters = calloc(cfg->npeers, sizeof *gw.counters);
	gw.pool = lt_pool_new(gw.base, cfg->workers);
	lt_calendar_parse(cfg->holidays, &calendar, NULL);
	gw.calendar = &calendar;
	if (lt_store_open(cfg->store, &calendar, NULL, gw.base, &gw.store, &err) || lt_dispatch_start(&gw, &err) ||
	    lt_http_start(&gw, &err))
		die("start", err.msg);
	tick = event_new(gw.base, -1, EV_PERSIST, on_tick, NULL);
	return 0;
}

struct client {
	struct bufferevent *bev;
	int closed;                 /* the gateway closed the connection (or it failed) */
};

/* Everything sent: half-close, so that evhttp sees the end of an incomplete
 * request at once instead of waiting for its read timeout. */
static void on_sent(struct bufferevent *bev, void *arg)
{
	(void)arg;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}

/* LT_FUZZ_HTTP_ECHO=1: answers go to stderr (to see what seeds reach) */
static void on_answer(struct bufferevent *bev, void *arg)
{
	(void)arg;
	static int echo = -1;
	if (echo < 0)
		echo = getenv("LT_FUZZ_HTTP_ECHO") != NULL;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (echo)
		evbuffer_write(in, 2);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		on_answer(bev, arg);
		c->closed = 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || evutil_make_socket_nonblocking(fd))
		die("client socket", "cannot create");
	/* loopback: completes at once or is in progress until the loop accepts */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS)
		die("connect", strerror(errno));
	struct client c = { 0 };
	c.bev = bufferevent_socket_new(gw.base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c.bev, on_answer, on_sent, on_event, &c);
	bufferevent_enable(c.bev, EV_READ | EV_WRITE);
	if (size)
		bufferevent_write(c.bev, data, size);
	else
		shutdown(fd, SHUT_WR);
	struct timeval tv = { 0, 20000 };
	event_add(tick, &tv);
	/* until the gateway has closed the connection and holds no request
	 * waiting for its answer (a client gone early leaves one behind) */
	int64_t deadline = lt_mono_ms() + ANSWER_WITHIN_MS;
	while (!c.closed || lt_http_pending(&gw)) {
		if (lt_mono_ms() > deadline) {
			fprintf(stderr, "fuzz_http: no answer and no close within %d ms (%d requests pending)\n",
				ANSWER_WITHIN_MS, lt_http_pending(&gw));
			abort();
		}
		event_base_loop(gw.base, EVLOOP_ONCE);
	}
	event_del(tick);
	bufferevent_free(c.bev);
	return 0;
}
