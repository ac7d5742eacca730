/* test_config_keys.c — the typed table of configuration keys: each type's
 * reading and limits, what a mistake says, and every key documented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "config.h"
#include "config_keys.h"

static const struct lt_config_key *key(enum lt_config_section s, const char *name)
{
	const struct lt_config_key *k = lt_config_key_find(s, name);
	assert_non_null(k);
	return k;
}

/* Set a [gateway] key on a fresh config; the error message, "" when accepted. */
static const char *set_gw(struct lt_config *c, const char *name, const char *v)
{
	static struct lt_err err;
	memset(&err, 0, sizeof err);
	int rc = lt_config_key_set(key(LT_SECTION_GATEWAY, name), c, name, v, &err);
	assert_int_equal(rc, err.code);
	return rc ? err.msg : "";
}

static void test_every_section_finds_its_keys_and_only_its_own(void **state)
{
	(void)state;
	assert_non_null(lt_config_key_find(LT_SECTION_GATEWAY, "trust"));
	assert_non_null(lt_config_key_find(LT_SECTION_PEER, "trust"));
	assert_ptr_not_equal(lt_config_key_find(LT_SECTION_GATEWAY, "trust"), lt_config_key_find(LT_SECTION_PEER, "trust"));
	assert_null(lt_config_key_find(LT_SECTION_GATEWAY, "concurrency"));
	assert_null(lt_config_key_find(LT_SECTION_RETRY, "max_body"));
	assert_null(lt_config_key_find(LT_SECTION_PEER, "bogus"));
	/* a prefix key takes what is under it, not itself */
	assert_non_null(lt_config_key_find(LT_SECTION_PEER, "param.madonvi"));
	assert_null(lt_config_key_find(LT_SECTION_PEER, "param."));
	assert_null(lt_config_key_find(LT_SECTION_PEER, "parameter"));
}

static void test_durations_read_units_and_hold_their_minimum(void **state)
{
	(void)state;
	struct lt_config c = { 0 };
	assert_string_equal(set_gw(&c, "read_timeout", "250ms"), "");
	assert_int_equal(c.read_timeout_ms, 250);
	assert_string_equal(set_gw(&c, "read_timeout", "2m"), "");
	assert_int_equal(c.read_timeout_ms, 120000);
	assert_string_equal(set_gw(&c, "replay_window", "1.5h"), "");
	assert_int_equal(c.replay_window_ms, 5400000);
	assert_string_equal(set_gw(&c, "read_timeout", "0"), "read_timeout must be a positive duration like 30s, not \"0\"");
	assert_string_equal(set_gw(&c, "read_timeout", "soon"),
			    "read_timeout must be a positive duration like 30s, not \"soon\"");
	assert_string_equal(set_gw(&c, "read_timeout", "-1s"), "read_timeout must be a positive duration like 30s, not \"-1s\"");
	assert_int_equal(c.read_timeout_ms, 120000);   /* a refused value leaves the field as it was */
	/* at most 366 days, checked before the conversion */
	assert_string_equal(set_gw(&c, "read_timeout", "366d"), "");
	assert_int_equal(c.read_timeout_ms, 366 * 86400000LL);
	assert_string_equal(set_gw(&c, "read_timeout", "367d"), "read_timeout = 367d is out of range: a duration is at most 366d");
	assert_string_equal(set_gw(&c, "read_timeout", "1e300s"), "read_timeout must be a positive duration like 30s, not \"1e300s\"");
	/* the lease has a floor of 3 s */
	assert_string_equal(set_gw(&c, "lease", "3s"), "");
	assert_int_equal(c.lease_ms, 3000);
	assert_string_equal(set_gw(&c, "lease", "2999ms"), "lease must be a duration of at least 3s like 5m, not \"2999ms\"");
	assert_int_equal(c.lease_ms, 3000);
}

static void test_sizes_read_k_and_m_and_refuse_zero(void **state)
{
	(void)state;
	struct lt_config c = { 0 };
	assert_string_equal(set_gw(&c, "max_body", "64k"), "");
	assert_int_equal(c.max_body, 65536);
	assert_string_equal(set_gw(&c, "max_headers", "1MiB"), "");
	assert_int_equal(c.max_headers, 1048576);
	assert_string_equal(set_gw(&c, "max_backlog", "1000"), "");
	assert_int_equal(c.max_backlog, 1000);
	assert_string_equal(set_gw(&c, "max_body", "0"), "max_body = 0 is out of range: it must be from 1 to 256m (268435456)");
	assert_string_equal(set_gw(&c, "max_body", "257m"),
			    "max_body = 257m is out of range: it must be from 1 to 256m (268435456)");
	assert_string_equal(set_gw(&c, "max_body", "256m"), "");
	assert_string_equal(set_gw(&c, "max_body", "-1"), "max_body must be a size like 1m or 65536, not \"-1\"");
	assert_string_equal(set_gw(&c, "max_body", "1g"), "max_body must be a size like 1m or 65536, not \"1g\"");
	assert_string_equal(set_gw(&c, "max_backlog", "x"), "max_backlog must be a positive number, not \"x\"");
	assert_int_equal(c.max_body, 256 << 20);
}

static void test_integers_hold_both_ends_of_their_range(void **state)
{
	(void)state;
	struct lt_config c = { 0 };
	assert_string_equal(set_gw(&c, "max_json_depth", "1"), "");
	assert_int_equal(c.max_json_depth, 1);
	assert_string_equal(set_gw(&c, "max_json_depth", "2048"), "");
	assert_int_equal(c.max_json_depth, 2048);
	assert_string_equal(set_gw(&c, "max_json_depth", "2049"),
			    "max_json_depth must be 1..2048 (nesting levels of a JSON body), not \"2049\"");
	assert_string_equal(set_gw(&c, "max_json_depth", "0"),
			    "max_json_depth must be 1..2048 (nesting levels of a JSON body), not \"0\"");
	assert_string_equal(set_gw(&c, "max_json_depth", "12x"),
			    "max_json_depth must be 1..2048 (nesting levels of a JSON body), not \"12x\"");
	assert_string_equal(set_gw(&c, "max_json_depth", "99999999999999999999"),
			    "max_json_depth must be 1..2048 (nesting levels of a JSON body), not \"99999999999999999999\"");
	assert_int_equal(c.max_json_depth, 2048);
	assert_string_equal(set_gw(&c, "workers", "0"), "");   /* 0 = one per CPU */
	struct lt_err err = { 0 };
	assert_int_equal(lt_config_key_set(key(LT_SECTION_RETRY, "breaker_failures"), &c, "breaker_failures", "1001", &err),
			 LT_ECONFIG);
	assert_string_equal(err.msg, "breaker_failures must be a number of attempts from 0 (no breaker) to 1000, not \"1001\"");
}

static void test_words_and_switches_take_only_their_values(void **state)
{
	(void)state;
	struct lt_config c = { 0 };
	assert_string_equal(set_gw(&c, "log_format", "text"), "");
	assert_string_equal(c.log_format, "text");
	assert_string_equal(set_gw(&c, "log_level", "loud"), "log_level must be debug, info, warn or error, not \"loud\"");
	assert_string_equal(set_gw(&c, "log_format", "xml"), "log_format must be json or text, not \"xml\"");
	/* a switch is the position of its word */
	c.tls = 1;
	assert_string_equal(set_gw(&c, "tls", "off"), "");
	assert_int_equal(c.tls, 0);
	assert_string_equal(set_gw(&c, "tls", "on"), "");
	assert_int_equal(c.tls, 1);
	assert_string_equal(set_gw(&c, "tls", "yes"), "tls must be on or off, not \"yes\"");
	assert_string_equal(set_gw(&c, "tls_policy", "modern"), "");
	assert_int_equal(c.tls_policy, LT_TLS_MODERN);
	assert_string_equal(set_gw(&c, "tls_policy", "intermediate"), "");
	assert_int_equal(c.tls_policy, LT_TLS_INTERMEDIATE);
	/* the one time zone, under its names */
	assert_string_equal(set_gw(&c, "timezone", "Asia/Saigon"), "");
	assert_string_equal(set_gw(&c, "timezone", "+07:00"), "");
	assert_non_null(strstr(set_gw(&c, "timezone", "UTC"), "timezone must be Asia/Ho_Chi_Minh (UTC+07:00"));
	/* a string with prefixes */
	assert_string_equal(set_gw(&c, "listen", "[::1]:8443"), "");
	assert_string_equal(set_gw(&c, "listen", "0.0.0.0:70000"),
			    "listen must be HOST:PORT (or [V6]:PORT) with a port from 1 to 65535, not \"0.0.0.0:70000\"");
	free(c.listen);
	assert_string_equal(set_gw(&c, "store", "postgresql://db/lt"), "");
	assert_string_equal(set_gw(&c, "store", "mysql://db"), "store must be sqlite:PATH or postgresql://…, not \"mysql://db\"");
	free(c.log_format);
	free(c.log_level);
	free(c.store);
}

static void test_peer_keys_rate_url_signer_adapter_and_params(void **state)
{
	(void)state;
	struct lt_peer p = { .name = "cong-dvc-tinh", .params = json_object() };
	struct lt_err err = { 0 };
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "rate"), &p, "rate", "20/s", &err), 0);
	assert_true(p.rate == 20.0);
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "rate"), &p, "rate", "0.5", &err), 0);
	assert_true(p.rate == 0.5);
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "rate"), &p, "rate", "20/m", &err), LT_ECONFIG);
	assert_string_equal(err.msg, "rate must look like 20/s: 0 (no limit) or from 0.001/s to 1000000/s, not \"20/m\"");
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "rate"), &p, "rate", "2000000/s", &err), LT_ECONFIG);
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "rate"), &p, "rate", "nan/s", &err), LT_ECONFIG);
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "rate"), &p, "rate", "0", &err), 0);
	assert_true(p.rate == 0);
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "url"), &p, "url", "ftp://x", &err), LT_ECONFIG);
	assert_string_equal(err.msg, "url must start with https:// (or http:// for tests), not \"ftp://x\"");
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "url"), &p, "url", "https://", &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "url \"https://\" is not a valid URL"));
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "url"), &p, "url", "https://dvc.example/api", &err), 0);
	assert_string_equal(p.url, "https://dvc.example/api");
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "signer"), &p, "signer", "CN=dvc-signing", &err), 0);
	assert_string_equal(p.signer, "dvc-signing");
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "signer"), &p, "signer", "O=x", &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "like CN=cong-dvc-tinh-signing, not \"O=x\""));
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "adapter"), &p, "adapter", "provincial", &err), 0);
	assert_ptr_equal(p.adapter, lt_adapter_find("provincial"));
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "adapter"), &p, "adapter", "martian", &err), LT_ECONFIG);
	assert_non_null(strstr(err.msg, "unknown adapter \"martian\" (known: canonical"));
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "param.madonvi"), &p, "param.madonvi", "000.00.12.H12", &err), 0);
	assert_string_equal(lt_peer_param(&p, "madonvi"), "000.00.12.H12");
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "accept_unbound_xml"), &p, "accept_unbound_xml", "yes", &err),
			 0);
	assert_int_equal(p.accept_unbound_xml, 1);
	assert_int_equal(lt_config_key_set(key(LT_SECTION_PEER, "password_file"), &p, "password_file", "/nonexistent", &err),
			 LT_ECONFIG);
	assert_string_equal(err.msg, "password_file /nonexistent: No such file or directory");
	free(p.url);
	free(p.signer);
	free(p.adapter_name);
	json_decref(p.params);
}

static void test_route_lists_split_on_spaces_and_commas(void **state)
{
	(void)state;
	struct lt_route r = { .name = "r" };
	struct lt_err err = { 0 };
	assert_int_equal(lt_config_key_set(key(LT_SECTION_ROUTE, "to"), &r, "to", "hotich-tinh, cong-dvc-tinh  buudien", &err), 0);
	assert_string_equal(r.to[0], "hotich-tinh");
	assert_string_equal(r.to[1], "cong-dvc-tinh");
	assert_string_equal(r.to[2], "buudien");
	assert_null(r.to[3]);
	/* set again: the new list replaces the old */
	assert_int_equal(lt_config_key_set(key(LT_SECTION_ROUTE, "to"), &r, "to", "x", &err), 0);
	assert_string_equal(r.to[0], "x");
	assert_null(r.to[1]);
	free(r.to[0]);
	free(r.to);
}

/* Every key of the table has a line in the manual page of the file. */
static void test_every_key_is_documented_in_the_manual(void **state)
{
	(void)state;
	FILE *f = fopen("doc/lienthong.conf.5.scd", "r");
	assert_non_null(f);
	char *man = calloc(1, 1 << 16);
	size_t n = fread(man, 1, (1 << 16) - 1, f);
	fclose(f);
	assert_true(n > 0);
	for (const struct lt_config_key *k = lt_config_keys; k->name; k++) {
		char word[80];
		snprintf(word, sizeof word, "*%s*", k->name);
		if (!strstr(man, word))
			fail_msg("doc/lienthong.conf.5.scd does not document %s", k->name);
		assert_non_null(k->help);
	}
	free(man);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_section_finds_its_keys_and_only_its_own),
		cmocka_unit_test(test_durations_read_units_and_hold_their_minimum),
		cmocka_unit_test(test_sizes_read_k_and_m_and_refuse_zero),
		cmocka_unit_test(test_integers_hold_both_ends_of_their_range),
		cmocka_unit_test(test_words_and_switches_take_only_their_values),
		cmocka_unit_test(test_peer_keys_rate_url_signer_adapter_and_params),
		cmocka_unit_test(test_route_lists_split_on_spaces_and_commas),
		cmocka_unit_test(test_every_key_is_documented_in_the_manual),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
