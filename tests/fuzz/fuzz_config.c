/* fuzz_config.c — libFuzzer harness for the INI config parser and checker. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/lt-fuzz-config-%d.ini", (int)getpid());
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	struct lt_config *c = NULL;
	struct lt_buf errors = { 0 };
	if (lt_config_load(path, &c, &errors) == 0)
		lt_config_free(c);
	lt_buf_free(&errors);
	return 0;
}
