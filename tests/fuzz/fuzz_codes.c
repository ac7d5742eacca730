/* fuzz_codes.c — libFuzzer harness for the code-table reader (adapters/codes_load.c):
 * the input is a deployment's *.codes file, read over the shipped tables and,
 * when it loads, looked up — tables declared by data too (codes/opencps.codes,
 * among the seeds, is one). Run from the repository root (codes/, schemas/). */
#include "codes.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[64], path[96];
	snprintf(dir, sizeof dir, "%s/lt-fuzz-codes-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(path, sizeof path, "%s/x.codes", dir);
	mkdir(dir, 0700);
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	struct lt_codes *set = NULL;
	struct lt_buf errors = { 0 };
	if (lt_codes_load("codes", dir, &set, &errors) == 0) {
		lt_codes_use(set);
		lt_code_to_canonical(&lt_channel_codes, "1", NULL);
		lt_status_event_type(9);
		const struct lt_code_table *t = lt_code_table_named("opencps.status");   /* a table declared by data */
		if (t) {
			lt_code_to_canonical(t, "done", NULL);
			lt_code_to_wire(t, "4", NULL);
		}
		for (size_t k = 0; (t = lt_codes_declared(set, k, NULL)); k++)   /* one the input declared */
			lt_code_to_canonical(t, "1", NULL);
		lt_codes_shutdown();
	} else {
		lt_codes_free(set);     /* what was read despite the mistakes */
	}
	lt_buf_free(&errors);
	return 0;
}
