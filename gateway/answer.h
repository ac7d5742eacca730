/* answer.h — how far the gateway trusts what a peer answers to a delivery or a
 * poll, decided before any adapter reads a byte of it.
 *
 * A peer whose answers are signed (`answers = signed`, the default of the
 * civilreg and edxml adapters) has each answer verified like an inbound
 * message, with the peer's `verify` method, keys and trust: an enveloped
 * XML-DSig in the body, or a detached JWS in the answer's X-Signature whose
 * jti must be the X-Message-Id of the request it answers. Any other answer is
 * taken on the strength of the peer's TLS server certificate. Either way the
 * events an answer carries are stored with a trust record — in the audit
 * trail and shown by `lienthong trail` — saying which.
 *
 * A trust record (LT_TRUST_MAX bytes) is one of
 *   "signature;xmldsig;kid=KID;CN=CN"  verified signature (kid: x5t#S256 of the signer)
 *   "signature;jws;kid=KID;CN=CN"
 *   "tls;sha256=HEX;CN=CN"             the verified TLS server certificate (SHA-256 of its DER)
 *   "tls-client;CN=CN"                 an unsigned inbound message, on its client certificate
 *   "none;plain http"                  nothing vouched for it (tls = off or an http:// url)
 * the CN last, so that whatever it holds cannot be read as another field. */
#ifndef LT_ANSWER_H
#define LT_ANSWER_H

#include <stddef.h>
#include "adapter.h"
#include "gateway.h"

/* What the transport knew of one answer. Strings are borrowed. */
struct lt_security;

struct lt_answer {
	const struct lt_response *rsp;
	const char *signature;          /* its X-Signature header, or NULL */
	int signatures;                 /* how many X-Signature headers it had */
	const char *request_id;         /* the X-Message-Id of the request it answers */
	const char *server_cn;          /* the TLS server certificate's CN and SHA-256, */
	const char *server_sha256;      /* "" over plain HTTP */
	char *signed_digest;            /* out, 65 bytes or NULL: SHA-256 of what an XML signature
					 * covers (its C14N without the Signature), "" otherwise */
	const struct lt_security *sec;  /* the generation its exchange holds; NULL: the gateway's */
};

/* Whether the peer's answers are verified before they are read (answers =
 * signed, or its adapter's default when the peer was built without config). */
int lt_answer_signed(const struct lt_peer *peer);

/* Check an answer before anything reads it (any thread; pure CPU work, run it
 * on the worker pool: a signature over a large document is costly). With
 * answers = signed: the signature the peer's `verify` way, against its keys
 * and trust, and for JWS a jti equal to the request's message id and an iat
 * within replay_window. Otherwise nothing to check. Returns 0 with `trust`
 * filled (see above), or LT_EAUTH with err naming the failed check ("answer
 * not trusted: no signature", "…: bad digest", …). */
int lt_answer_check(const struct lt_gateway *gw, const struct lt_peer *peer, const struct lt_answer *a,
		    char trust[LT_TRUST_MAX], struct lt_err *err);

/* A trust record for what an inbound message rested on: the signer (method
 * "xmldsig" or "jws"; kid may be "") or, unsigned, its client certificate's
 * CN ("" when tls = off). */
void lt_trust_signature(char trust[LT_TRUST_MAX], const char *method, const char *kid, const char *cn);
void lt_trust_client(char trust[LT_TRUST_MAX], const char *client_cn);

/* A trust record as words for logs and the trail: "signed by CN=hotich-tinh
 * (xmldsig, kid …)", "trusted by TLS server certificate CN=… (sha256 …)",
 * "trusted by TLS client certificate CN=…", "trusted by nothing: plain HTTP,
 * unsigned"; "" for "" (rows written before trust was recorded). */
void lt_trust_phrase(const char *trust, char *out, size_t n);

/* Loop thread: an answer failed lt_answer_check. One "security.refused" log
 * line (peer, the request's message id, the reason, the body's SHA-256) and a
 * row in `refusals` (status 0: an answer the gateway refused, not one it
 * gave). `what` names the exchange ("answer to delivery", "answer to poll"). */
void lt_answer_refused(struct lt_gateway *gw, const struct lt_peer *peer, const char *what, const char *message_id,
		       const struct lt_response *rsp, const struct lt_err *why);

#endif
