/* peersim_sign.c — answers made the way a peer that signs its answers makes them.
 *
 * Before an answer goes out, "{{message_id}}" in its body becomes the request's X-Message-Id
 * and "{{now}}" the current time (RFC 3339, +07:00), so one reply serves every delivery the way
 * a registry names the request it answers.  Then, as the rule or reply says ("sign"):
 *   "xmldsig"  an enveloped XML-DSig appended to the body (lienthong's own signer, the profile
 *              of DESIGN.md §3);
 *   "jws"      a detached JWS over the body in the answer's X-Signature, jti = the request's
 *              X-Message-Id, iat = now;
 * with the key and certificate the rule names ("sign_key", "sign_cert") or the command line's
 * --sign-key / --sign-cert.  "tamper" changes the body after signing, so the signature no
 * longer holds: what a forger who cannot sign sends. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "dates.h"
#include "peersim.h"
#include "sign_jws.h"
#include "sign_xml.h"

#define MAX_SIGNERS 16

/* Signers loaded so far, by key and certificate path; kept until exit. */
static struct signer {
	char *key, *cert;
	struct lt_xml_signer *xml;
	struct lt_jws_signer *jws;
} signers[MAX_SIGNERS];
static size_t nsigners;

/* The signer of how ("xmldsig" or "jws") for key and cert (NULL: the command line's), loaded
 * once; NULL with a sentence in err. */
static struct signer *signer_for(const char *how, const char *key, const char *cert, char *err, size_t errlen)
{
	struct lt_err e = { 0 };
	struct signer *s = NULL;

	key = key ? key : sim.sign_key;
	cert = cert ? cert : sim.sign_cert;
	if (!key || !cert) {
		snprintf(err, errlen, "\"sign\" needs a key: start peersim with --sign-key and --sign-cert, "
			 "or give \"sign_key\" and \"sign_cert\"");
		return NULL;
	}
	for (size_t i = 0; i < nsigners && !s; i++)
		if (!strcmp(signers[i].key, key) && !strcmp(signers[i].cert, cert))
			s = &signers[i];
	if (!s) {
		if (nsigners == MAX_SIGNERS) {
			snprintf(err, errlen, "at most %d signing keys", MAX_SIGNERS);
			return NULL;
		}
		s = &signers[nsigners++];
		*s = (struct signer){ sim_strdup(key), sim_strdup(cert), NULL, NULL };
	}
	if (!strcmp(how, "xmldsig") && !s->xml) {
		if (lt_xml_init(&e) || !(s->xml = lt_xml_signer_new(key, cert, NULL, &e))) {
			snprintf(err, errlen, "cannot sign XML with %s: %s", key, e.msg);
			return NULL;
		}
	} else if (!strcmp(how, "jws") && !s->jws && !(s->jws = lt_jws_signer_new(key, cert, NULL, NULL, &e))) {
		snprintf(err, errlen, "cannot sign JWS with %s: %s", key, e.msg);
		return NULL;
	}
	return s;
}

/* Fill s from the "sign", "sign_key", "sign_cert" and "tamper" members of o (absent: not
 * signed), loading the key now so that a mistake is refused at once.  0, or -1 with a
 * sentence in err. */
int sim_sign_parse(json_t *o, struct sim_sign *s, char *err, size_t errlen)
{
	json_t *how = json_object_get(o, "sign"), *key = json_object_get(o, "sign_key");
	json_t *cert = json_object_get(o, "sign_cert"), *tamper = json_object_get(o, "tamper");

	memset(s, 0, sizeof *s);
	if (!how && !key && !cert && !tamper)
		return 0;
	if (!json_is_string(how) || (strcmp(json_string_value(how), "xmldsig") && strcmp(json_string_value(how), "jws"))) {
		snprintf(err, errlen, "\"sign\" must be \"xmldsig\" or \"jws\" (and is needed with \"sign_key\", "
			 "\"sign_cert\" or \"tamper\")");
		return -1;
	}
	if ((key && !json_is_string(key)) || (cert && !json_is_string(cert)) || (!key != !cert)) {
		snprintf(err, errlen, "\"sign_key\" and \"sign_cert\" are file names and go together");
		return -1;
	}
	if (tamper && !json_is_boolean(tamper)) {
		snprintf(err, errlen, "\"tamper\" must be true or false");
		return -1;
	}
	if (!signer_for(json_string_value(how), json_string_value(key), json_string_value(cert), err, errlen))
		return -1;
	s->how = sim_strdup(json_string_value(how));
	s->key = sim_strdup(json_string_value(key));
	s->cert = sim_strdup(json_string_value(cert));
	s->tamper = json_is_true(tamper);
	return 0;
}

void sim_sign_free(struct sim_sign *s)
{
	free(s->how);
	free(s->key);
	free(s->cert);
	memset(s, 0, sizeof *s);
}

void sim_sign_copy(struct sim_sign *d, const struct sim_sign *a)
{
	struct sim_sign c = { sim_strdup(a->how), sim_strdup(a->key), sim_strdup(a->cert), a->tamper };

	sim_sign_free(d);
	*d = c;
}

/* body with every "{{name}}" replaced by value; a new string. */
static char *replace_all(const char *body, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value), count = 0;
	char *out, *w;

	for (const char *p = strstr(body, name); p; p = strstr(p + n, name))
		count++;
	if (!(out = malloc(strlen(body) + count * v + 1)))
		sim_die("out of memory");
	w = out;
	for (const char *p = body, *q; ; p = q + n) {
		q = strstr(p, name);
		if (!q) {
			strcpy(w, p);
			break;
		}
		memcpy(w, p, (size_t)(q - p));
		w += q - p;
		memcpy(w, value, v);
		w += v;
	}
	return out;
}

/* Change the first digit of the signed content (before any Signature element), or the first
 * character after the root's start tag: the signature no longer holds. */
static void tamper_with(char *body)
{
	char *end = strstr(body, "Signature");
	char *p = strchr(body, '>');

	while (body[0] == '<' && body[1] == '?' && p && p[-1] == '?')
		p = strchr(p + 1, '>');         /* past the XML declaration */
	for (char *q = p ? p : body; *q && (!end || q < end); q++)
		if (*q >= '0' && *q <= '9') {
			*q = *q == '9' ? '0' : (char)(*q + 1);
			return;
		}
	if (p && p[1])
		p[1] = p[1] == 'X' ? 'Y' : 'X';
	else if (body[0])
		body[0] = body[0] == ' ' ? '\t' : ' ';
}

/* The answer to req as o says: the body filled in and signed (malloc'd, in *body) and, for a
 * JWS, the X-Signature value (malloc'd, in *signature; NULL otherwise).  0, or -1 with a
 * sentence in err. */
int sim_answer_make(struct evhttp_request *req, const struct sim_outcome *o, char **body, char **signature,
		    char *err, size_t errlen)
{
	const char *mid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Message-Id");
	const struct sim_sign *s = o->sign;
	struct lt_err e = { 0 };
	struct signer *sg;
	char now[32], *filled;

	*body = *signature = NULL;
	lt_date_format_rfc3339(sim_now_ms() / 1000, now);
	filled = replace_all(o->body, "{{message_id}}", mid ? mid : "");
	*body = replace_all(filled, "{{now}}", now);
	free(filled);
	if (!s || !s->how)
		return 0;
	if (!(sg = signer_for(s->how, s->key, s->cert, err, errlen)))
		return -1;
	if (!strcmp(s->how, "xmldsig")) {
		size_t n;
		char *out = NULL;

		if (lt_xml_sign(sg->xml, *body, strlen(*body), &out, &n, &e)) {
			snprintf(err, errlen, "cannot sign the answer: %s", e.msg);
			return -1;
		}
		free(*body);
		*body = out;
	} else if (lt_jws_sign(sg->jws, *body, strlen(*body), mid && *mid ? mid : "none", sim_now_ms() / 1000,
			       signature, &e)) {
		snprintf(err, errlen, "cannot sign the answer: %s", e.msg);
		return -1;
	}
	if (s->tamper)
		tamper_with(*body);
	return 0;
}

void sim_sign_stop(void)
{
	for (size_t i = 0; i < nsigners; i++) {
		lt_xml_signer_free(signers[i].xml);
		lt_jws_signer_free(signers[i].jws);
		free(signers[i].key);
		free(signers[i].cert);
	}
	nsigners = 0;
}
