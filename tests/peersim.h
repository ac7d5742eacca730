/* peersim.h — what the peer simulator's three files share.
 *
 *   peersim.c       the process: command line, TLS, listeners, request routing, small helpers
 *   peersim_rec.c   deliveries: record each one, answer it as the rules say (reply, delay, drop,
 *                   reset, hang, trickle), count what is in flight
 *   peersim_ctl.c   the control API under /_sim/ and the failure rules it manages
 *   peersim_sign.c  answers filled in ({{message_id}}, {{now}}) and signed as a peer signs them
 *
 * One thread, one event loop: the state below is touched only from the loop. */
#ifndef PEERSIM_H
#define PEERSIM_H

#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#define SIM_MAX_BODY    (16u << 20)
#define SIM_MAX_HEADERS (64u << 10)
#define SIM_MAX_RULES   256
#define SIM_MAX_DELAY   3600000L
#define SIM_JSON        "application/json"
#define UNUSED          __attribute__((unused))

/* How an answer is signed (peersim_sign.c); all zero: not signed.  Owns its strings. */
struct sim_sign {
	char *how;             /* "xmldsig" | "jws" | NULL */
	char *key, *cert;      /* NULL: the command line's --sign-key / --sign-cert */
	int tamper;            /* change the body after signing: the signature no longer holds */
};

/* The answer given when no rule applies. */
struct sim_reply {
	int status;
	char *body, *ctype;
	struct sim_sign sign;
};

/* One failure rule from POST /_sim/fail; owns its strings. */
struct sim_rule {
	int status;            /* 0: keep the default reply's status */
	int drop;              /* close the connection (FIN) without an answer */
	int reset;             /* reset the connection (RST) without an answer */
	int hang;              /* never answer; the delivery ends when the client leaves */
	long delay_ms;
	long trickle_ms;       /* send the body in pieces spread over this long */
	long count;            /* applications left; -1 = until cleared */
	double share;          /* chance to apply to a matching delivery; 1 = always */
	uint64_t rng;          /* splitmix64 state, seeded from "seed" */
	char *body, *ctype, *retry_after, *path_prefix;
	struct sim_sign sign;  /* how its answer is signed; with neither body nor sign, the default's */
};

/* How one delivery is answered.  Strings are borrowed (from a rule, the default reply or a
 * struct sim_pending) and must outlive the answer. */
struct sim_outcome {
	int status, drop, reset, hang;
	long delay_ms, trickle_ms;
	const char *body, *ctype, *retry_after;
	const struct sim_sign *sign;    /* how to sign body, or NULL */
	const char *signature;          /* the answer's X-Signature, or NULL */
};

/* One delivery: its JSON while the answer is pending, its compact JSON text once answered. */
struct sim_rec {
	json_t *live;
	char *text;
	char *path;
};

struct sim_pending;

extern struct sim_state {
	const char *name;
	struct event_base *base;
	struct evhttp *http, *ctl;
	SSL_CTX *ssl;
	FILE *record;
	struct sim_reply dflt, cli;     /* the current default reply; the command line's */
	struct sim_rule rules[SIM_MAX_RULES];
	size_t nrules;
	struct sim_rec *recs;           /* recs[i] has seq i + 1 */
	size_t nrecs, caprecs;
	unsigned gen;
	long by_status[600];
	long npending;                  /* records not yet answered */
	long inflight;                  /* deliveries received, not answered, client still there */
	long max_inflight;              /* the most ever in flight at once since the records reset */
	struct sim_pending *pend;
	struct event *reaper;
	const char *sign_key, *sign_cert;   /* --sign-key / --sign-cert: what answers are signed with */
} sim;

/* ---- peersim.c: helpers for the other two files ---- */

/* Print a message and exit 2; for start-up mistakes and out-of-memory. */
void sim_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* strdup that dies on out-of-memory; NULL in, NULL out. */
char *sim_strdup(const char *s);
/* Wall-clock milliseconds since the epoch. */
int64_t sim_now_ms(void);
/* json_dump_callback sink appending to the evbuffer data. */
int sim_dump_to_evbuffer(const char *buf, size_t size, void *data);
/* Answer req with code and the JSON j (reference stolen). */
void sim_send_json(struct evhttp_request *req, int code, json_t *j);
/* Answer req with code and {"error":error,"detail":detail}. */
void sim_send_error(struct evhttp_request *req, int code, const char *error, const char *detail);

/* ---- peersim_rec.c: deliveries ---- */

/* Start watching for clients that leave while their answer is pending. */
void sim_rec_start(void);
/* A delivery to uri: record it, then answer it now or later as the rules say. */
void sim_deliver(struct evhttp_request *req, const char *uri);
/* Forget every record; answers still pending for them are no longer counted. */
void sim_records_clear(void);
/* At exit: answer what still waits (503) so libevent frees it, stop the watch, free records. */
void sim_rec_stop(void);

/* ---- peersim_ctl.c: the control API and the failure rules ---- */

/* A /_sim/ request: route it, parse its JSON body and query, run the handler. */
void sim_control(struct evhttp_request *req);
/* Choose the answer for a delivery to uri: the first rule that matches (path prefix, share
 * roll) and has count left, else the default reply.  Consumes one count of that rule. */
void sim_pick_outcome(const char *uri, struct sim_outcome *o);
/* Remove every rule (all) or those whose count has run out; the others keep their order. */
void sim_rules_prune(int all);
/* Copy reply a into *d, freeing what *d held. */
void sim_reply_set(struct sim_reply *d, const struct sim_reply *a);

/* ---- peersim_sign.c: answers filled in and signed ---- */

/* Fill s from the "sign", "sign_key", "sign_cert" and "tamper" members of a rule or reply
 * (absent: not signed), loading the key at once.  0, or -1 with a sentence in err. */
int sim_sign_parse(json_t *o, struct sim_sign *s, char *err, size_t errlen);
/* Free what s holds; copy a into *d (freeing what *d held). */
void sim_sign_free(struct sim_sign *s);
void sim_sign_copy(struct sim_sign *d, const struct sim_sign *a);
/* The answer to req as o says: its body with {{message_id}} and {{now}} filled in and signed as
 * o->sign says (malloc'd, *body), and a JWS's X-Signature (malloc'd, *signature, else NULL).
 * 0, or -1 with a sentence in err. */
int sim_answer_make(struct evhttp_request *req, const struct sim_outcome *o, char **body, char **signature,
		    char *err, size_t errlen);
/* At exit: free the signing keys. */
void sim_sign_stop(void);

#endif
