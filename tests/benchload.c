/* benchload.c — fixed-count HTTP load for `make bench`: posts N canonical
 * events with C requests in flight (libcurl multi), each with its own
 * X-Message-Id, and prints the count of each answer and the latency
 * percentiles as one JSON line.
 *
 * With LT_BENCH_CERT/KEY/CA in the environment it speaks mTLS; with
 * LT_BENCH_SIGN_KEY/CERT every body carries a detached JWS, all made before
 * the clock starts so the figures are the gateway's, not the client's. */
#include "sign_jws.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
	CURL *easy;
	struct curl_slist *headers;
	double t0;
};

static char **bodies, **sigs;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void start(CURLM *m, struct slot *s, const char *url, const char *run, int i)
{
	char h[128];
	curl_easy_reset(s->easy);
	curl_slist_free_all(s->headers);
	s->headers = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(h, sizeof h, "X-Message-Id: %s-%d", run, i);
	s->headers = curl_slist_append(s->headers, h);
	s->headers = curl_slist_append(s->headers, "Expect:");
	if (sigs) {
		char *sh = malloc(strlen(sigs[i]) + 16);
		sprintf(sh, "X-Signature: %s", sigs[i]);
		s->headers = curl_slist_append(s->headers, sh);
		free(sh);
	}
	const char *cert = getenv("LT_BENCH_CERT"), *key = getenv("LT_BENCH_KEY"), *ca = getenv("LT_BENCH_CA");
	if (cert && key && ca) {
		curl_easy_setopt(s->easy, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(s->easy, CURLOPT_SSLKEY, key);
		curl_easy_setopt(s->easy, CURLOPT_CAINFO, ca);
	}
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, bodies[i]);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
	s->t0 = now_ms();
	curl_multi_add_handle(m, s->easy);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: benchload URL COUNT CONCURRENCY RUN_ID [DOSSIERS]\n");
		return 2;
	}
	const char *url = argv[1], *run = argv[4];
	int count = atoi(argv[2]), conc = atoi(argv[3]);
	int dossiers = argc > 5 ? atoi(argv[5]) : 1000;
	if (count < 1 || conc < 1 || conc > 1024 || dossiers < 1)
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	bodies = calloc((size_t)count, sizeof *bodies);
	for (int i = 0; i < count; i++) {
		bodies[i] = malloc(512);
		snprintf(bodies[i], 512,
			 "{\"type\":\"dossier.step\",\"occurred_at\":\"2026-11-24T09:00:00+07:00\","
			 "\"dossier_code\":\"000.00.12.H12-261124-%04d\",\"dossier\":{\"procedure\":{\"code\":\"2.000986\","
			 "\"name\":\"Đăng ký khai sinh\"},\"channel\":\"direct\",\"status\":4},\"detail\":{\"n\":%d}}",
			 i % dossiers, i);
	}
	const char *sk = getenv("LT_BENCH_SIGN_KEY"), *sc = getenv("LT_BENCH_SIGN_CERT");
	double sign_ms = 0;
	if (sk && sc) {
		struct lt_err err = { 0 };
		struct lt_jws_signer *signer = lt_jws_signer_new(sk, sc, NULL, NULL, &err);
		if (!signer) {
			fprintf(stderr, "benchload: %s\n", err.msg);
			return 2;
		}
		sigs = calloc((size_t)count, sizeof *sigs);
		double s0 = now_ms();
		for (int i = 0; i < count; i++) {
			char mid[128];
			snprintf(mid, sizeof mid, "%s-%d", run, i);
			if (lt_jws_sign(signer, bodies[i], strlen(bodies[i]), mid, (int64_t)time(NULL), &sigs[i], &err)) {
				fprintf(stderr, "benchload: %s\n", err.msg);
				return 2;
			}
		}
		sign_ms = now_ms() - s0;
		lt_jws_signer_free(signer);
	}
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
	struct slot *slots = calloc((size_t)conc, sizeof *slots);
	double *lat = calloc((size_t)count, sizeof *lat);
	long by_status[600] = { 0 };
	int sent = 0, done = 0, errors = 0;
	double t0 = now_ms();
	for (int i = 0; i < conc && sent < count; i++) {
		slots[i].easy = curl_easy_init();
		start(m, &slots[i], url, run, sent++);
	}
	while (done < count) {
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			long st = 0;
			if (msg->data.result == CURLE_OK)
				curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &st);
			else
				errors++;
			if (st > 0 && st < 600)
				by_status[st]++;
			lat[done++] = now_ms() - s->t0;
			curl_multi_remove_handle(m, s->easy);
			if (sent < count)
				start(m, s, url, run, sent++);
		}
		if (done < count)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	double elapsed = now_ms() - t0;
	qsort(lat, (size_t)count, sizeof *lat, cmp);
	printf("{\"count\":%d,\"elapsed_ms\":%.1f,\"per_s\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,"
	       "\"errors\":%d,\"client_sign_ms\":%.1f,\"by_status\":{",
	       count, elapsed, count / (elapsed / 1e3), lat[count / 2], lat[(int)(count * 0.99)], lat[count - 1],
	       errors, sign_ms);
	int first = 1;
	for (int i = 0; i < 600; i++)
		if (by_status[i]) {
			printf("%s\"%d\":%ld", first ? "" : ",", i, by_status[i]);
			first = 0;
		}
	printf("}}\n");
	for (int i = 0; i < conc; i++) {
		if (slots[i].easy)
			curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].headers);
	}
	free(slots);
	free(lat);
	for (int i = 0; i < count; i++) {
		free(bodies[i]);
		if (sigs)
			free(sigs[i]);
	}
	free(bodies);
	free(sigs);
	curl_multi_cleanup(m);
	curl_global_cleanup();
	return errors ? 1 : 0;
}
