/* admin_ui.c — GET /ui on the admin listener: the operator's console, one
 * self-contained page (no assets from elsewhere): the peers (refreshed every
 * 5 s), dead letters with replay and purge, a dossier's trail, the report
 * with its CSV, certificates and refusals, in Vietnamese or English. Its
 * script is gateway/admin_ui.js; its render functions also run under node,
 * so the tests render real answers with them, and tests/browser drives the
 * page in a real browser. */
#include "admin.h"

#include <stdio.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

static const char head[] =
	"<!doctype html>\n"
	"<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>lienthong</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<style>\n"
	"body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2733;background:#f5f7fa}\n"
	"header{display:flex;gap:1em;align-items:center;flex-wrap:wrap;padding:.6em 1.2em;background:#0b4f8a;color:#fff}\n"
	"header h1{font-size:1.2em;margin:0}nav{display:flex;gap:.3em;flex-wrap:wrap;flex:1}\n"
	"nav button,#lang{border:0;border-radius:4px;padding:.35em .8em;background:#1d6fb8;color:#fff;cursor:pointer}\n"
	"nav button.on{background:#fff;color:#0b4f8a;font-weight:600}\n"
	"section{padding:1em 1.2em}.bar{display:flex;gap:.5em;align-items:center;flex-wrap:wrap;margin-bottom:.8em}\n"
	"table{border-collapse:collapse;background:#fff;margin-bottom:1em}td,th{padding:.3em .6em;border-bottom:1px solid #dde3ea;text-align:left;vertical-align:top}\n"
	"th{background:#eef2f6;font-weight:600}table.report{font-size:12px}table.report td:not(:first-child){text-align:right}tr.total td{font-weight:600}\n"
	".bad{color:#b00020;font-weight:600}.ok{color:#116d2e}small{color:#56606b}\n"
	"dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{color:#56606b}dd{margin:0}\n"
	"ol.timeline{list-style:none;padding:0;border-left:3px solid #1d6fb8;margin-left:.4em}\n"
	"ol.timeline li{padding:.25em .8em;position:relative}ol.timeline li.ev{font-weight:500}\n"
	"ol.timeline time{color:#56606b;font-variant-numeric:tabular-nums}ol.holders li{margin:.2em 0}\n"
	"button,input,select{font:inherit}\n"
	"#auth:not([hidden]){display:flex;gap:.5em;align-items:center;padding:.6em 1.2em;background:#fff4d6}\n"
	"</style></head><body>\n"
	"<header><h1 id=\"title\">lienthong</h1><nav id=\"nav\"></nav><button id=\"lang\"></button></header>\n"
	"<div id=\"auth\" hidden><label id=\"token-label\" "
	"for=\"token\"></label><input type=\"password\" id=\"token\" size=\"40\" autocomplete=\"off\">"
	"<button id=\"token-go\"></button></div>\n"
	"<section id=\"tab0\"><div id=\"overview\">…</div></section>\n"
	"<section id=\"tab1\" hidden><div class=\"bar\"><select id=\"dlq-peer\"></select><button id=\"dlq-reload\"></button>"
	"<button id=\"dlq-replay\"></button><button id=\"dlq-purge\"></button><span id=\"dlq-said\"></span></div>"
	"<div id=\"dlq\"></div></section>\n"
	"<section id=\"tab2\" hidden><div class=\"bar\"><input id=\"trail-code\" size=\"44\" autocomplete=\"off\">"
	"<button id=\"trail-go\"></button></div><div id=\"trail\"></div></section>\n"
	"<section id=\"tab3\" hidden><div class=\"bar\"><label id=\"report-from-label\" for=\"report-from\"></label>"
	"<input type=\"date\" id=\"report-from\"><label id=\"report-to-label\" for=\"report-to\"></label>"
	"<input type=\"date\" id=\"report-to\"><button id=\"report-go\"></button><a id=\"report-csv\" download></a></div>"
	"<div id=\"report\"></div></section>\n"
	"<section id=\"tab4\" hidden><div id=\"certs\"></div></section>\n"
	"<section id=\"tab5\" hidden><div id=\"refusals\"></div></section>\n"
	"<script>";

/* The one script (gateway/admin_ui.js, made a C string at build time); the
 * Content-Security-Policy allows it by its hash. */
static const char script[] =
#include "admin_ui_js.h"
	;

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
