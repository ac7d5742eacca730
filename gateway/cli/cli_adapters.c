/* cli_adapters.c — `lienthong adapters`: every adapter of the registry, what
 * it carries each way, its content type and its parameters, read from the
 * adapters themselves (adapters/registry.c); nothing here names one. */
#include "cli.h"
#include "adapter.h"
#include "codes.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const char LT_CLI_ADAPTERS_HELP[] =
	"usage: lienthong adapters [--json | --names]\n"
	"List the adapters this build knows (`adapter = NAME` in a peer's section): what each\n"
	"connects, what it takes in (push: the peer POSTs to /v1/inbound/PEER; pull: the gateway\n"
	"polls it) and sends out, its content type, how messages and answers are signed, its\n"
	"param.NAME settings (required ones marked *) and its code tables (codes/README.md).\n"
	"--json: the same as one JSON document; --names: the names alone, one a line.\n";

/* jws or xmldsig: how a peer of this adapter signs, unless its section says otherwise. */
static const char *signing(const struct lt_adapter *a)
{
	return strstr(a->content_type, "xml") ? "xmldsig" : "jws";
}

static json_t *describe(const struct lt_adapter *a)
{
	json_t *in = json_array(), *out = json_array(), *params = json_array(), *codes = json_array();
	json_t *kinds = json_array();
	if (a->decode)
		json_array_append_new(in, json_string("push"));
	if (a->poll && a->poll_result)
		json_array_append_new(in, json_string("pull"));
	if (a->encode)
		json_array_append_new(out, json_string("deliveries"));
	if (a->login && a->login_result)
		json_array_append_new(out, json_string("session login"));
	for (const struct lt_adapter_param *p = a->params; p && p->name; p++)
		json_array_append_new(params, json_pack("{s:s,s:b,s:s?,s:s?,s:s?}", "name", p->name, "required", p->required,
							"default", p->dflt, "about", p->about, "example", p->example));
	for (const struct lt_code_table *const *t = a->codes; t && *t; t++)
		json_array_append_new(codes, json_string((*t)->id));
	for (const struct lt_xml_kind *k = a->xml_kinds; k && k->root; k++)
		json_array_append_new(kinds, json_string(k->root));
	return json_pack("{s:s,s:s?,s:s,s:o,s:o,s:s,s:s,s:o,s:o,s:o,s:s*}", "name", a->name, "about", a->about,
			 "content_type", a->content_type, "in", in, "out", out, "signs", signing(a), "answers",
			 a->answers_signed ? "signed" : "tls", "params", params, "codes", codes, "signed_xml_kinds", kinds,
			 "needs", a->requires_of ? "what its mapping's ! rules of [encode] read" : a->requires);
}

static void list_words(const json_t *a, const char *none)
{
	size_t i;
	json_t *v;
	if (!json_array_size(a))
		fputs(none, stdout);
	json_array_foreach(a, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
	putchar('\n');
}

static void print_text(const json_t *d)
{
	const char *about = json_string_value(json_object_get(d, "about"));
	printf("%s\n", json_string_value(json_object_get(d, "name")));
	if (about)
		printf("  %s\n", about);
	printf("  content type  %s\n", json_string_value(json_object_get(d, "content_type")));
	printf("  in            ");
	list_words(json_object_get(d, "in"), "nothing");
	printf("  out           ");
	list_words(json_object_get(d, "out"), "nothing");
	printf("  signatures    %s; its answers %s\n", json_string_value(json_object_get(d, "signs")),
	       strcmp(json_string_value(json_object_get(d, "answers")), "signed") == 0 ? "signed as well"
											: "trusted on its TLS server certificate");
	printf("  code tables   ");
	list_words(json_object_get(d, "codes"), "none");
	if (json_is_string(json_object_get(d, "needs")))        /* deliverable.h: filled from the dossier, or 422 */
		printf("  needs         %s\n", json_string_value(json_object_get(d, "needs")));
	const json_t *params = json_object_get(d, "params"), *p;
	size_t i;
	printf("  params%s\n", json_array_size(params) ? " (* required to send to it or poll it)" : "        none");
	json_array_foreach(params, i, p) {
		const char *dflt = json_string_value(json_object_get(p, "default"));
		printf("    %s%-20s %s", json_is_true(json_object_get(p, "required")) ? "*" : " ",
		       json_string_value(json_object_get(p, "name")), json_string_value(json_object_get(p, "about")));
		if (dflt)
			printf(" (default: %s)", dflt);
		putchar('\n');
	}
}

int lt_cli_adapters(int argc, char **argv)
{
	int as_json = 0, names = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			as_json = 1;
		} else if (strcmp(argv[i], "--names") == 0) {
			names = 1;
		} else {
			fprintf(stderr, "lienthong adapters: unknown option \"%s\" (see lienthong adapters --help)\n", argv[i]);
			return 2;
		}
	}
	json_t *all = json_array();
	for (size_t i = 0; i < lt_adapter_count(); i++)
		json_array_append_new(all, describe(lt_adapter_at(i)));
	size_t i;
	json_t *d;
	if (as_json) {
		char *s = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "[]");
		free(s);
	} else {
		json_array_foreach(all, i, d) {
			if (names)
				printf("%s\n", json_string_value(json_object_get(d, "name")));
			else
				print_text(d), putchar('\n');
		}
		const struct lt_code_table *t;
		const char *file;
		for (size_t k = 0; !names && (t = lt_codes_declared(lt_codes_in_use(), k, &file)); k++) {
			if (k == 0)   /* tables no adapter declares: a *.codes file's header row does */
				printf("tables declared by data (codes/README.md), for mapping files' code(TABLE, x):\n");
			printf("  %-22s", t->id);
			for (const struct lt_code_column *c = t->cols; c->name; c++)
				printf(" %s", c->name);
			printf("  (%s)\n", file);
		}
		if (!names)
			printf("%sA peer uses one with `adapter = NAME` in its [peer.NAME] section; settings are\n"
			       "`param.NAME = value` lines there. Writing a new one: adapters/README.md.\n",
			       lt_codes_declared(lt_codes_in_use(), 0, NULL) ? "\n" : "");
	}
	json_decref(all);
	return 0;
}
