/* xfer.h — one outbound HTTP exchange with a peer, on libcurl's multi
 * interface driven by the gateway's event loop. Deliveries, logins and polls
 * all go through it, so TLS, pinning, signatures and headers are set in one
 * place. */
#ifndef LT_XFER_H
#define LT_XFER_H

#include <curl/curl.h>
#include "adapter.h"
#include "gateway.h"
#include "security.h"

#define LT_XFER_KEEP 65536      /* bytes of an answer kept */
#define LT_XFER_SIG_MAX 16384   /* bytes of an answer's X-Signature kept (more fails its check) */

struct lt_xfer;
typedef void (*lt_xfer_done_fn)(struct lt_xfer *x);

struct lt_xfer {
	/* set by the caller */
	const struct lt_peer *peer;
	struct lt_request req;          /* owned: released by lt_xfer_release */
	char message_id[64];            /* X-Message-Id and Idempotency-Key; "" = none */
	char dossier_code[72];          /* X-Dossier-Code; "" = none */
	char session[512];              /* copy of the peer session for the adapter */
	lt_xfer_done_fn done;           /* runs on the loop when the exchange ends */
	void *arg;
	struct lt_security *sec;        /* the security generation it goes out with (a reference:
					 * taken by lt_xfer_start unless set, dropped by lt_xfer_release) */
	/* results */
	int aborted;                    /* 1: the gateway is stopping; no answer */
	CURLcode cc;
	long status;                    /* 0 when no answer */
	char error[CURL_ERROR_SIZE];
	struct lt_buf rsp;
	char retry_after[64];
	char content_type[128];
	char *signature;                /* the answer's X-Signature (malloc'd), or NULL */
	int signatures;                 /* how many X-Signature headers the answer had */
	char server_cn[128];            /* the verified TLS server certificate's CN and the */
	char server_sha256[65];         /* hex SHA-256 of its DER; "" over plain HTTP */
	int64_t started_ms;             /* wall clock */
	int64_t duration_ms;
	/* private */
	struct lt_tls_conn tls;         /* lt_tls_curl_ctx's argument: a TLS refusal's reason */
	CURL *easy;
	struct curl_slist *headers;
	int64_t t0;
	struct lt_xfer *next, **prev;
};

int lt_xfer_init(struct lt_gateway *gw, struct lt_err *err);
/* The connections kept open follow the peers' concurrency (at start, and after a reload). */
void lt_xfer_reconfigure(struct lt_gateway *gw);
/* Start the exchange; x->done runs later (never from inside this call). */
void lt_xfer_start(struct lt_gateway *gw, struct lt_xfer *x);
/* The answer as an adapter sees it. */
void lt_xfer_response(const struct lt_xfer *x, struct lt_response *out);
/* Free what the exchange holds (not x itself). */
void lt_xfer_release(struct lt_xfer *x);
/* End every exchange at once: each done callback runs with aborted = 1. */
void lt_xfer_abort_all(struct lt_gateway *gw);
void lt_xfer_free(struct lt_gateway *gw);

/* Sign a request for a peer per its `sign` setting — a detached JWS in
 * X-Signature, or an enveloped XML-DSig in the body — with the signers of sec
 * (a generation the caller holds; any thread). A signing key that is
 * unavailable (a token removed or locked) is LT_EBUSY: try again later. */
struct lt_security;
int lt_xfer_sign(const struct lt_security *sec, const struct lt_peer *peer, const char *message_id,
		 struct lt_request *req, struct lt_err *err);

#endif
