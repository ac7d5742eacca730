/* fuzz_jws.c — libFuzzer harness for the detached-JWS verifier: the input
 * up to the first newline is the X-Signature value, the rest the body. The
 * keyset is peer-a's dev signing certificates (make certs); "now" is the time
 * the harness started, so that signed seeds made by signed_seeds.py verify and
 * their iat, of any size, goes through the replay-window check as in http.c. */
#include "sign_jws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct lt_jws_keyset *ks;
static int64_t now;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct lt_err err = { 0 };
	now = (int64_t)time(NULL);
	ks = lt_jws_keyset_new();
	if (lt_jws_keyset_add_file(ks, "build/certs/rsa/peers/peer-a/sign.pem", &err) ||
	    lt_jws_keyset_add_file(ks, "build/certs/ec/peers/peer-a/sign.pem", &err)) {
		fprintf(stderr, "fuzz: %s (run make certs, from the repository root)\n", err.msg);
		exit(1);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl ? (size_t)(nl - data) : size;
	char *sig = malloc(hlen + 1);
	memcpy(sig, data, hlen);
	sig[hlen] = '\0';
	struct lt_jws_info info;
	struct lt_err err = { 0 };
	const uint8_t *body = nl ? nl + 1 : data + size;
	if (lt_jws_verify(ks, sig, body, size - (size_t)(body - data), now, &info, &err) == 0)
		lt_within_window(info.iat, now * 1000, 300000);
	free(sig);
	return 0;
}
