/* answer.c — checking a peer's answer before it is read, and the trust record
 * that says what vouched for it (see answer.h). */
#include "answer.h"
#include "log.h"
#include "security.h"
#include "sign_jws.h"
#include "verify_xml.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_answer_signed(const struct lt_peer *peer)
{
	if (peer->answers)
		return strcmp(peer->answers, "signed") == 0;
	return peer->adapter && peer->adapter->answers_signed;
}

void lt_trust_signature(char trust[LT_TRUST_MAX], const char *method, const char *kid, const char *cn)
{
	snprintf(trust, LT_TRUST_MAX, "signature;%s;kid=%s;CN=%s", method, kid ? kid : "", cn ? cn : "");
}

void lt_trust_client(char trust[LT_TRUST_MAX], const char *client_cn)
{
	if (client_cn && *client_cn)
		snprintf(trust, LT_TRUST_MAX, "tls-client;CN=%s", client_cn);
	else
		snprintf(trust, LT_TRUST_MAX, "none;plain http");
}

/* An unsigned answer: what its connection proved. */
static void trust_server(char trust[LT_TRUST_MAX], const struct lt_answer *a)
{
	if (a->server_sha256 && *a->server_sha256)
		snprintf(trust, LT_TRUST_MAX, "tls;sha256=%s;CN=%s", a->server_sha256, a->server_cn ? a->server_cn : "");
	else
		snprintf(trust, LT_TRUST_MAX, "none;plain http");
}

int lt_answer_check(const struct lt_gateway *gw, const struct lt_peer *peer, const struct lt_answer *a,
		    char trust[LT_TRUST_MAX], struct lt_err *err)
{
	const struct lt_response *rsp = a->rsp;
	const struct lt_peer_security *ps = &(a->sec ? a->sec : gw->sec)->peers[peer->index];
	int64_t now = lt_now_ms();
	int64_t window = (a->sec ? a->sec : gw->sec)->cfg->replay_window_ms;
	struct lt_err e = { 0 };
	trust[0] = '\0';
	if (!lt_answer_signed(peer)) {
		trust_server(trust, a);
		return LT_OK;
	}
	if (strcmp(peer->verify, "xmldsig") == 0) {
		struct lt_xml_info info;
		if (!ps->xml_trust)
			return lt_err_set(err, LT_EAUTH, "answer not trusted: peer %s has no trust for XML signatures",
					  peer->name);
		if (lt_xml_verify(ps->xml_trust, rsp->body, rsp->len, now / 1000, &info, NULL, &e))
			return lt_err_set(err, LT_EAUTH, "answer not trusted: %s", e.msg);
		lt_trust_signature(trust, "xmldsig", info.signer_kid, info.signer_cn);
		if (a->signed_digest)
			snprintf(a->signed_digest, 65, "%s", info.content_sha256);
		return LT_OK;
	}
	if (strcmp(peer->verify, "jws") == 0) {
		struct lt_jws_info info;
		if (!ps->jws_keys)
			return lt_err_set(err, LT_EAUTH, "answer not trusted: peer %s has no keys for JWS", peer->name);
		if (a->signatures > 1)
			return lt_err_set(err, LT_EAUTH, "answer not trusted: %d X-Signature headers, one expected",
					  a->signatures);
		if (lt_jws_verify(ps->jws_keys, a->signature, rsp->body, rsp->len, now / 1000, &info, &e))
			return lt_err_set(err, LT_EAUTH, "answer not trusted: %s", e.msg);
		/* the signed jti binds the answer to the request: an answer to another
		 * request, replayed, names another message id */
		if (!a->request_id || strcmp(info.jti, a->request_id))
			return lt_err_set(err, LT_EAUTH, "answer not trusted: jti \"%.64s\" of its signature is not the "
					  "message id of the request it answers (%.64s)", info.jti,
					  a->request_id ? a->request_id : "none");
		if (info.iat < (now - window) / 1000 || info.iat > (now + window) / 1000)
			return lt_err_set(err, LT_EAUTH, "answer not trusted: timestamp out of window: iat is %lld s from "
					  "now, the window is %lld s", (long long)info.iat - (long long)(now / 1000),
					  (long long)(window / 1000));
		lt_trust_signature(trust, "jws", info.kid, info.signer_cn);
		return LT_OK;
	}
	return lt_err_set(err, LT_EAUTH, "answer not trusted: peer %s: answers = signed but verify = %s", peer->name,
			  peer->verify);
}

/* The value of `key` ("kid=") in a trust record, up to the next ';' (the CN,
 * last, up to the end); *n its length. "" when absent. */
static const char *field(const char *trust, const char *key, int *n)
{
	size_t k = strlen(key);
	for (const char *p = trust; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
		if (strncmp(p, key, k))
			continue;
		p += k;
		const char *end = strcmp(key, "CN=") == 0 ? p + strlen(p) : strchr(p, ';');
		*n = (int)((end ? end : p + strlen(p)) - p);
		return p;
	}
	*n = 0;
	return "";
}

void lt_trust_phrase(const char *trust, char *out, size_t n)
{
	int cn_n, x_n, m_n;
	const char *cn = field(trust, "CN=", &cn_n);
	out[0] = '\0';
	if (!trust || !*trust)
		return;
	if (strncmp(trust, "signature;", 10) == 0) {
		const char *method = trust + 10, *kid = field(trust, "kid=", &x_n);
		m_n = (int)strcspn(method, ";");
		snprintf(out, n, "signed by CN=%.*s (%.*s, kid %.*s)", cn_n, cn, m_n, method, x_n, kid);
	} else if (strncmp(trust, "tls;", 4) == 0) {
		const char *sha = field(trust, "sha256=", &x_n);
		snprintf(out, n, "trusted by TLS server certificate CN=%.*s (sha256 %.*s)", cn_n, cn, x_n, sha);
	} else if (strncmp(trust, "tls-client;", 11) == 0) {
		snprintf(out, n, "trusted by TLS client certificate CN=%.*s", cn_n, cn);
	} else if (strncmp(trust, "none;", 5) == 0) {
		snprintf(out, n, "trusted by nothing: %s, unsigned", trust + 5);
	} else {
		snprintf(out, n, "%s", trust);
	}
}

static void refusal_done(struct lt_store_op *op)
{
	free(op);
}

void lt_answer_refused(struct lt_gateway *gw, const struct lt_peer *peer, const char *what, const char *message_id,
		       const struct lt_response *rsp, const struct lt_err *why)
{
	struct lt_refusal *r = calloc(1, sizeof *r);
	if (!r)
		return;
	r->op.kind = LT_OP_REFUSAL;
	r->op.done = refusal_done;
	snprintf(r->peer, sizeof r->peer, "%s", peer->name);
	snprintf(r->message_id, sizeof r->message_id, "%s", message_id ? message_id : "");
	snprintf(r->reason, sizeof r->reason, "%s %s from %s: %s", what, r->message_id, peer->name, why->msg);
	r->status = 0;
	r->at_ms = lt_now_ms();
	lt_sha256_hex(rsp->body ? rsp->body : "", rsp->body ? rsp->len : 0, r->digest);
	lt_log(LT_WARN, "security.refused",
	       json_pack("{s:s,s:s,s:i,s:s,s:s}", "peer", peer->name, "message_id", r->message_id, "status",
			 (int)rsp->status, "error", "answer_signature", "body_sha256", r->digest),
	       "refused the %s %s from %s: %s; nothing in it was read", what, r->message_id, peer->name, why->msg);
	if (lt_store_submit(gw->store, &r->op))
		free(r);
}
