/* xmltool.c — sign and verify XML-DSig documents from the command line with lienthong's
 * own code (gateway/sign_xml.c, verify_xml.c); used by tests/interop/check_xmldsig.sh.
 *
 *   xmltool sign KEY CERT [PASSWORD_FILE] < in.xml > out.xml
 *   xmltool verify TRUST.pem [PINNED.pem] < in.xml
 *
 * verify prints {"ok":true,"signer":"CN"} and exits 0, or {"ok":false,"error":"…"} and
 * exits 1. sign prints the error on stderr and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sign_xml.h"
#include "verify_xml.h"

#define XMLTOOL_MAX_INPUT (64u << 20)

static void usage(void)
{
	fprintf(stderr, "usage: xmltool sign KEY CERT [PASSWORD_FILE] < in.xml > out.xml\n"
			"       xmltool verify TRUST.pem [PINNED.pem] < in.xml\n");
	exit(2);
}

static char *read_stdin(size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			if (cap >= XMLTOOL_MAX_INPUT) {
				fprintf(stderr, "xmltool: input larger than %u bytes\n", XMLTOOL_MAX_INPUT);
				free(buf);
				return NULL;
			}
			char *b = realloc(buf, cap *= 2);
			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
		}
		size_t got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			*len = n;
			return buf;
		}
	}
	return NULL;
}

static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static int do_sign(int argc, char **argv, const char *xml, size_t len)
{
	struct lt_err err = { 0 };
	if (argc < 4 || argc > 5)
		usage();
	struct lt_xml_signer *s = lt_xml_signer_new(argv[2], argv[3], argc == 5 ? argv[4] : NULL, &err);
	if (!s) {
		fprintf(stderr, "xmltool: %s\n", err.msg);
		return 1;
	}
	char *out = NULL;
	size_t outlen = 0;
	int rc = lt_xml_sign(s, xml, len, &out, &outlen, &err);
	lt_xml_signer_free(s);
	if (rc) {
		fprintf(stderr, "xmltool: %s\n", err.msg);
		return 1;
	}
	fwrite(out, 1, outlen, stdout);
	free(out);
	return 0;
}

static int do_verify(int argc, char **argv, const char *xml, size_t len)
{
	struct lt_err err = { 0 };
	struct lt_xml_info info;
	if (argc < 3 || argc > 4)
		usage();
	struct lt_xml_trust *t = lt_xml_trust_new(argv[2], argc == 4 ? argv[3] : NULL, &err);
	int rc = t ? lt_xml_verify(t, xml, len, 0, &info, NULL, &err) : err.code;
	lt_xml_trust_free(t);
	if (rc) {
		printf("{\"ok\":false,\"error\":");
		json_string(err.msg);
		printf("}\n");
		return 1;
	}
	printf("{\"ok\":true,\"signer\":");
	json_string(info.signer_cn);
	printf("}\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct lt_err err = { 0 };
	size_t len = 0;
	if (argc < 2 || (strcmp(argv[1], "sign") != 0 && strcmp(argv[1], "verify") != 0))
		usage();
	if (lt_xml_init(&err)) {
		fprintf(stderr, "xmltool: %s\n", err.msg);
		return 1;
	}
	char *xml = read_stdin(&len);
	if (!xml) {
		lt_xml_shutdown();
		return 1;
	}
	int rc = strcmp(argv[1], "sign") == 0 ? do_sign(argc, argv, xml, len)
					       : do_verify(argc, argv, xml, len);
	free(xml);
	lt_xml_shutdown();
	return rc;
}
