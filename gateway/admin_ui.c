/* admin_ui.c — GET /ui on the admin listener: one self-contained page (no
 * assets from elsewhere) that shows /v1/admin/status and /readyz every few
 * seconds, for an operator beside the gateway. Its script also runs under
 * node (module.exports.render), so the tests render a real status with it. */
#include "admin.h"

#include <stdio.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

static const char head[] =
	"<!doctype html>\n"
	"<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lienthong</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<style>\n"
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
	"table{border-collapse:collapse}td,th{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:right}\n"
	"td:first-child,th:first-child{text-align:left}.bad{color:#b00;font-weight:bold}.ok{color:#070}\n"
	"</style></head><body>\n"
	"<h1>lienthong</h1><div id=\"main\">loading…</div>\n"
	"<p><small>Every 5 s from <a href=\"/v1/admin/status\">/v1/admin/status</a>; figures for Prometheus at\n"
	"<a href=\"/metrics\">/metrics</a>. Dead letters: <code>lienthong dlq list</code>.</small></p>\n"
	"<script>";

/* The one script; the Content-Security-Policy allows it by its hash. */
static const char script[] =
	"\n'use strict';\n"
	"function esc(v) {\n"
	"  return String(v).replace(/[&<>\"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '\"': '&quot;', \"'\": '&#39;'})[c]);\n"
	"}\n"
	"function flag(good, text) { return '<span class=\"' + (good ? 'ok' : 'bad') + '\">' + esc(text) + '</span>'; }\n"
	"function row(p) {\n"
	"  const cells = [p.events_in, p.delivered, p.retried, p.pending, p.inflight, p.waiting_for_order];\n"
	"  return '<tr><td>' + esc(p.name) + '</td><td>' + esc(p.adapter) + '</td>' +\n"
	"    cells.map(n => '<td>' + esc(n) + '</td>').join('') +\n"
	"    '<td>' + (p.dead_letters ? flag(false, p.dead_letters) : '0') + '</td>' +\n"
	"    '<td>' + (p.breaker === 'open' ? flag(false, 'open') : esc(p.breaker)) + '</td></tr>';\n"
	"}\n"
	"function render(s, ready) {\n"
	"  const up = Math.floor(s.uptime_s / 3600) + ' h ' + Math.floor(s.uptime_s % 3600 / 60) + ' min';\n"
	"  return '<p>node <b>' + esc(s.node_id) + '</b>, version ' + esc(s.version) + ', up ' + up +\n"
	"    '; store ' + flag(s.store_healthy, s.store_healthy ? 'healthy' : 'FAILING') +\n"
	"    '; ' + flag(ready, ready ? 'ready' : 'NOT READY') + '; ' + esc(s.events_stored) + ' events from ' +\n"
	"    esc(s.messages_stored) + ' messages stored.</p>' +\n"
	"    '<table><tr><th>peer</th><th>adapter</th><th>events in</th><th>delivered</th><th>retried</th>' +\n"
	"    '<th>pending</th><th>in flight</th><th>waiting for order</th><th>dead letters</th><th>breaker</th></tr>' +\n"
	"    s.peers.map(row).join('') + '</table>';\n"
	"}\n"
	"async function tick() {\n"
	"  const main = document.getElementById('main');\n"
	"  try {\n"
	"    const s = await (await fetch('/v1/admin/status')).json();\n"
	"    const ready = (await fetch('/readyz')).ok;\n"
	"    main.innerHTML = render(s, ready);\n"
	"  } catch (e) {\n"
	"    main.innerHTML = flag(false, 'the gateway does not answer: ' + e);\n"
	"  }\n"
	"}\n"
	"if (typeof document !== 'undefined') { tick(); setInterval(tick, 5000); }\n"
	"if (typeof module !== 'undefined') module.exports = { render };\n";

static const char tail[] = "</script></body></html>\n";

void lt_admin_ui(struct evhttp_request *req)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char b64[64], csp[256];
	SHA256((const unsigned char *)script, sizeof script - 1, md);
	EVP_EncodeBlock((unsigned char *)b64, md, sizeof md);
	/* this page's script and same-origin fetches, nothing else; no other
	 * page may frame it (nosniff and no-store: on every admin answer) */
	snprintf(csp, sizeof csp, "default-src 'none'; script-src 'sha256-%s'; style-src 'unsafe-inline'; "
		 "connect-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'", b64);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Content-Security-Policy", csp);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_reference(out, head, sizeof head - 1, NULL, NULL);
	evbuffer_add_reference(out, script, sizeof script - 1, NULL, NULL);
	evbuffer_add_reference(out, tail, sizeof tail - 1, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}
