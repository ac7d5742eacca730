/* jwstool.c — the gateway's detached JWS from the command line, for interop checks.
 *
 *   jwstool sign KEY CERT JTI [ALG] < body      prints the X-Signature value
 *   jwstool verify CERTS.pem [MORE.pem…] < body  verifies $SIG; prints the info as JSON
 *   jwstool kid CERT                            prints the certificate's kid
 *
 * KEY may be PEM or PKCS#12 (then $JWSTOOL_PASSWORD_FILE names its password
 * file). iat and the validity check use the current time. Exits 0 on
 * success, 1 with the reason on stderr on failure, 2 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "keys.h"
#include "sign_jws.h"

static int usage(void)
{
	fprintf(stderr, "usage: jwstool sign KEY CERT JTI [ALG] < body\n"
			"       SIG=... jwstool verify CERTS.pem [MORE.pem...] < body\n"
			"       jwstool kid CERT\n");
	return 2;
}

/* All of stdin into a malloc'd buffer; NULL on a read error or out of memory. */
static char *read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0, r;
	char *p = malloc(cap);
	while (p && (r = fread(p + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap) {
			char *q = realloc(p, cap * 2);
			if (!q) {
				free(p);
				return NULL;
			}
			p = q;
			cap *= 2;
		}
	}
	if (p && ferror(stdin)) {
		free(p);
		return NULL;
	}
	*len = n;
	return p;
}

static int do_sign(int argc, char **argv)
{
	struct lt_err err = { 0 };
	size_t len;
	char *body, *sig = NULL;
	if (argc < 5 || argc > 6)
		return usage();
	struct lt_jws_signer *s = lt_jws_signer_new(argv[2], argv[3], getenv("JWSTOOL_PASSWORD_FILE"),
						    argc == 6 ? argv[5] : NULL, &err);
	if (!s) {
		fprintf(stderr, "jwstool: %s\n", err.msg);
		return 1;
	}
	if (!(body = read_stdin(&len)) ||
	    lt_jws_sign(s, body, len, argv[4], (int64_t)time(NULL), &sig, &err) != 0) {
		fprintf(stderr, "jwstool: %s\n", body ? err.msg : "cannot read stdin");
		free(body);
		lt_jws_signer_free(s);
		return 1;
	}
	printf("%s\n", sig);
	free(sig);
	free(body);
	lt_jws_signer_free(s);
	return 0;
}

static int do_verify(int argc, char **argv)
{
	struct lt_err err = { 0 };
	struct lt_jws_info info;
	size_t len;
	char *body = NULL;
	int rc = 1;
	if (argc < 3)
		return usage();
	struct lt_jws_keyset *ks = lt_jws_keyset_new();
	for (int i = 2; i < argc; i++)
		if (lt_jws_keyset_add_file(ks, argv[i], &err) != 0)
			goto out;
	if (!(body = read_stdin(&len))) {
		snprintf(err.msg, sizeof err.msg, "cannot read stdin");
		goto out;
	}
	if (lt_jws_verify(ks, getenv("SIG"), body, len, (int64_t)time(NULL), &info, &err) != 0)
		goto out;
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s}", "alg", info.alg, "kid", info.kid,
			      "iat", (json_int_t)info.iat, "jti", info.jti, "signer_cn", info.signer_cn);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (text)
		printf("%s\n", text);
	rc = text ? 0 : 1;
	free(text);
	json_decref(j);
out:
	if (rc)
		fprintf(stderr, "jwstool: %s\n", err.msg);
	free(body);
	lt_jws_keyset_free(ks);
	return rc;
}

static int do_kid(int argc, char **argv)
{
	struct lt_err err = { 0 };
	char kid[LT_KID_MAX];
	if (argc != 3)
		return usage();
	X509 *c = lt_cert_load(argv[2], getenv("JWSTOOL_PASSWORD_FILE"), &err);
	if (!c) {
		fprintf(stderr, "jwstool: %s\n", err.msg);
		return 1;
	}
	lt_cert_kid(c, kid);
	printf("%s\n", kid);
	X509_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "sign") == 0)
		return do_sign(argc, argv);
	if (strcmp(argv[1], "verify") == 0)
		return do_verify(argc, argv);
	if (strcmp(argv[1], "kid") == 0)
		return do_kid(argc, argv);
	return usage();
}
