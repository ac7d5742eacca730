/* benchload.c — HTTP load for `make bench`: posts canonical events, each with
 * its own X-Message-Id, through libcurl multi, and prints the count of each
 * answer, the latency percentiles and its own CPU time as one JSON line.
 *
 *   benchload URL COUNT CONCURRENCY RUN_ID [DOSSIERS]
 *	closed loop: COUNT requests, CONCURRENCY in flight; a request's latency
 *	runs from its send.
 *   benchload --rate R --duration S [--warmup W] URL 0 MAX_IN_FLIGHT RUN_ID [DOSSIERS]
 *	open loop: R requests a second for W + S seconds, request i due at
 *	i/R; its latency runs from when it was due, so a request that waits
 *	for a free connection (the server is behind) counts that wait (no
 *	coordinated omission). The first W seconds' requests (connections
 *	being opened) are sent but not counted. "late" counts counted
 *	requests sent more than 1 ms after they were due.
 *
 * With LT_BENCH_CERT/KEY/CA in the environment it speaks mTLS; with
 * LT_BENCH_SIGN_KEY/CERT every body carries a detached JWS, all made before
 * the clock starts so the figures are the gateway's, not the client's
 * ("prep_cpu_ms"; "cpu_ms" is the CPU time of the sending alone). Unsigned
 * bodies are written as they are sent, so COUNT may be large (a store's fill). */
#include "sign_jws.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BODY_MAX 512

struct slot {
	CURL *easy;
	struct curl_slist *headers;
	double t0;
	int i;                 /* the request it carries */
	char body[BODY_MAX];
	struct slot *next_free;
};

static char **bodies, **sigs;
static int dossiers = 1000;
static int dossier_events;       /* > 0: each dossier takes this many events, then new ones open */
static int dossier_base;         /* the first dossier's number */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
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

/* Request i's dossier: the DOSSIERS open ones in turn, for ever (the default), or with
 * --dossier-events K each takes K events and then DOSSIERS new ones open, as dossiers
 * arrive over time. */
static int dossier_of(int i)
{
	if (dossier_events <= 0)
		return dossier_base + i % dossiers;
	return dossier_base + i % dossiers + dossiers * (i / (dossiers * dossier_events));
}

static void write_body(char *out, int i)
{
	snprintf(out, BODY_MAX,
		 "{\"type\":\"dossier.step\",\"occurred_at\":\"2026-11-24T09:00:00+07:00\","
		 "\"dossier_code\":\"000.00.12.H12-261124-%04d\",\"dossier\":{\"procedure\":{\"code\":\"2.000986\","
		 "\"name\":\"Đăng ký khai sinh\"},\"channel\":\"direct\",\"status\":4},\"detail\":{\"n\":%d}}",
		 dossier_of(i), i);
}

/* Send request i on slot s; t0 is when its latency starts (now, or when it was due). */
static void start(CURLM *m, struct slot *s, const char *url, const char *run, int i, double t0)
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
	if (!bodies)
		write_body(s->body, i);
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, bodies ? bodies[i] : s->body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
	s->t0 = t0;
	s->i = i;
	curl_multi_add_handle(m, s->easy);
}

int main(int argc, char **argv)
{
	double rate = 0, duration = 0, warmup = 0;
	int a = 1;
	while (a + 1 < argc && strncmp(argv[a], "--", 2) == 0) {
		if (strcmp(argv[a], "--rate") == 0)
			rate = atof(argv[a + 1]);
		else if (strcmp(argv[a], "--duration") == 0)
			duration = atof(argv[a + 1]);
		else if (strcmp(argv[a], "--warmup") == 0)
			warmup = atof(argv[a + 1]);
		else if (strcmp(argv[a], "--dossier-events") == 0)
			dossier_events = atoi(argv[a + 1]);
		else if (strcmp(argv[a], "--dossier-base") == 0)
			dossier_base = atoi(argv[a + 1]);
		else
			break;
		a += 2;
	}
	if (argc - a < 4 || (rate > 0) != (duration > 0)) {
		fprintf(stderr, "usage: benchload [--rate PER_S --duration S [--warmup S]] [--dossier-events K] [--dossier-base B] "
			"URL COUNT CONCURRENCY RUN_ID [DOSSIERS]\n");
		return 2;
	}
	const char *url = argv[a], *run = argv[a + 3];
	int count = atoi(argv[a + 1]), conc = atoi(argv[a + 2]);
	if (argc - a > 4)
		dossiers = atoi(argv[a + 4]);
	int skip = 0;             /* warm-up requests: sent, not counted */
	if (rate > 0) {
		skip = warmup > 0 ? (int)(rate * warmup) : 0;
		count = (int)(rate * duration);
	}
	int total = count + skip;
	if (count < 1 || conc < 1 || conc > 4096 || dossiers < 1 || dossier_events < 0 || dossier_base < 0 ||
	    dossier_base > 1000000000) {
		fprintf(stderr, "benchload: COUNT (or rate × duration) must be ≥ 1, CONCURRENCY 1..4096, DOSSIERS ≥ 1, "
			"--dossier-events ≥ 0, --dossier-base 0..1000000000\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *sk = getenv("LT_BENCH_SIGN_KEY"), *sc = getenv("LT_BENCH_SIGN_CERT");
	double sign_ms = 0;
	if (sk && sc) {
		bodies = calloc((size_t)total, sizeof *bodies);
		for (int i = 0; i < total; i++) {
			bodies[i] = malloc(BODY_MAX);
			write_body(bodies[i], i);
		}
		struct lt_err err = { 0 };
		struct lt_jws_signer *signer = lt_jws_signer_new(sk, sc, NULL, NULL, &err);
		if (!signer) {
			fprintf(stderr, "benchload: %s\n", err.msg);
			return 2;
		}
		sigs = calloc((size_t)total, sizeof *sigs);
		double s0 = now_ms();
		for (int i = 0; i < total; i++) {
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
	/* keep every connection: by default the cache holds 4 × the handles added at the time,
	 * few in the open loop at a low rate, and each connection closed costs a new handshake */
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc);
	struct slot *slots = calloc((size_t)conc, sizeof *slots), *free_slots = NULL;
	for (int i = conc; i-- > 0;) {
		slots[i].easy = curl_easy_init();
		slots[i].next_free = free_slots;
		free_slots = &slots[i];
	}
	double *lat = calloc((size_t)count, sizeof *lat);
	/* LT_BENCHLOAD_TRACE=FILE: one line per counted request, "due_ms latency_ms status" (due from
	 * the start), to see when the slow ones were due */
	const char *trace_path = getenv("LT_BENCHLOAD_TRACE");
	FILE *trace = trace_path ? fopen(trace_path, "w") : NULL;
	long by_status[600] = { 0 };
	int sent = 0, done = 0, measured = 0, errors = 0, late = 0;
	double prep_cpu = cpu_ms();
	double t0 = now_ms();
	while (done < total) {
		/* send what is due: everything up to the slots (closed loop), or what the clock has reached */
		double now = now_ms();
		while (sent < total && free_slots) {
			double due = rate > 0 ? t0 + sent * 1e3 / rate : now;
			if (due > now)
				break;
			if (now - due > 1.0 && sent >= skip)
				late++;
			struct slot *s = free_slots;
			free_slots = s->next_free;
			start(m, s, url, run, sent++, due);
		}
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			done++;
			if (s->i < skip) {
				curl_multi_remove_handle(m, s->easy);
				s->next_free = free_slots;
				free_slots = s;
				continue;
			}
			long st = 0;
			if (msg->data.result == CURLE_OK)
				curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &st);
			else
				errors++;
			if (st > 0 && st < 600)
				by_status[st]++;
			lat[measured++] = now_ms() - s->t0;
			if (trace)
				fprintf(trace, "%.3f %.3f %ld\n", s->t0 - t0, lat[measured - 1], st);
			curl_multi_remove_handle(m, s->easy);
			s->next_free = free_slots;
			free_slots = s;
		}
		if (done >= total)
			break;
		int wait = 100;
		if (rate > 0 && sent < total && free_slots) {
			/* whole milliseconds, rounded up: no spinning; a request leaves < 1 ms late,
			 * and its latency counts that from when it was due */
			double due = t0 + sent * 1e3 / rate - now_ms();
			wait = due <= 0 ? 0 : (int)ceil(due);
		} else if (rate <= 0 && sent < total && free_slots) {
			wait = 0;
		}
		if (wait > 0 || running)
			curl_multi_poll(m, NULL, 0, wait, NULL);
	}
	double elapsed = now_ms() - t0 - (rate > 0 ? warmup * 1e3 : 0);
	if (trace)
		fclose(trace);
	double load_cpu = cpu_ms() - prep_cpu;
	qsort(lat, (size_t)count, sizeof *lat, cmp);
	printf("{\"sent\":%d,\"count\":%d,\"elapsed_ms\":%.1f,\"per_s\":%.1f,\"offered_per_s\":%.1f,\"p50_ms\":%.2f,"
	       "\"p99_ms\":%.2f,\"p999_ms\":%.2f,\"max_ms\":%.2f,\"late\":%d,\"errors\":%d,\"client_sign_ms\":%.1f,"
	       "\"prep_cpu_ms\":%.1f,\"cpu_ms\":%.1f,\"by_status\":{",
	       total, count, elapsed, count / (elapsed / 1e3), rate, lat[count / 2], lat[(int)(count * 0.99)],
	       lat[(int)(count * 0.999)], lat[count - 1], late, errors, sign_ms, prep_cpu, load_cpu);
	int first = 1;
	for (int i = 0; i < 600; i++)
		if (by_status[i]) {
			printf("%s\"%d\":%ld", first ? "" : ",", i, by_status[i]);
			first = 0;
		}
	printf("}}\n");
	for (int i = 0; i < conc; i++) {
		curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].headers);
	}
	free(slots);
	free(lat);
	if (bodies)
		for (int i = 0; i < total; i++)
			free(bodies[i]);
	if (sigs)
		for (int i = 0; i < total; i++)
			free(sigs[i]);
	free(bodies);
	free(sigs);
	curl_multi_cleanup(m);
	curl_global_cleanup();
	return errors ? 1 : 0;
}
