/* test_codes.c — code tables are data: the shipped codes/ load and hold every
 * declared table; a deployment's directory replaces a table whole; every bad
 * entry is named with its file and line; a new set takes over lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"
#include "codes.h"

/* A fresh directory holding one file name with text; its path into dir. */
static void override_dir(char dir[64], const char *name, const char *text)
{
	char path[128];
	strcpy(dir, "/tmp/lt-codes-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* Loads codes/ with dir as the deployment's; the mistakes, or "" (malloc'd). */
static char *load_mistakes(const char *dir, struct lt_codes **out)
{
	struct lt_buf errors = { 0 };
	int rc = lt_codes_load("codes", dir, out, &errors);
	assert_int_equal(rc == 0, errors.len == 0);
	char *s = strdup(errors.data ? errors.data : "");
	lt_buf_free(&errors);
	return s;
}

static void test_shipped_tables_load_and_every_declared_table_has_rows(void **state)
{
	(void)state;
	struct lt_codes *set = NULL;
	char *errors = load_mistakes(NULL, &set);
	assert_string_equal(errors, "");
	lt_codes_use(set);
	size_t n;
	const struct lt_code_table *const *all = lt_code_tables(&n);
	assert_true(n >= 15);
	for (size_t i = 0; i < n; i++)
		if (!all[i]->may_be_empty)
			assert_true(lt_code_count(all[i]) > 0);
	assert_string_equal(lt_code_to_canonical(&lt_channel_codes, "2", NULL), "online");
	assert_string_equal(lt_status_event_type(9), "dossier.resolved");
	assert_false(lt_status_valid(11));
	free(errors);
	lt_codes_shutdown();
}

static void test_a_deployment_table_replaces_the_shipped_one_whole(void **state)
{
	(void)state;
	char dir[64], said[512];
	override_dir(dir, "province.codes", "# this province's portal counts channels from 0\n"
		     "[portal.channel]\nKenhThucHien channel\n0 direct\n1 online\n2 postal\n");
	struct lt_codes *set = NULL;
	char *errors = load_mistakes(dir, &set);
	assert_string_equal(errors, "");
	lt_codes_describe(set, said, sizeof said);
	assert_non_null(strstr(said, "replaced: portal.channel ("));
	assert_non_null(strstr(said, "province.codes"));
	lt_codes_use(set);
	assert_string_equal(lt_code_to_canonical(&lt_channel_codes, "0", NULL), "direct");
	struct lt_err err = { 0 };
	assert_null(lt_code_to_canonical(&lt_channel_codes, "3", &err));    /* whole: the shipped 3 is gone */
	assert_non_null(strstr(err.msg, "channel (KenhThucHien): unknown code \"3\""));
	assert_string_equal(lt_code_to_canonical(&lt_applicant_type_codes, "1", NULL), "citizen");   /* the rest as shipped */
	free(errors);
	remove_dir(dir);
	lt_codes_shutdown();
}

static void test_every_bad_entry_is_named_with_its_file_and_line(void **state)
{
	(void)state;
	char dir[64], want[256];
	override_dir(dir, "bad.codes",
		     "[portal.channel]\n"                                    /* 1 */
		     "KenhThucHien channel\n"                                /* 2 */
		     "1 direct\n"                                            /* 3 */
		     "2 fax\n"                                               /* 4: not a canonical channel */
		     "1 postal\n"                                            /* 5: 1 twice */
		     "[onestop.nothing]\n"                                   /* 6: no such table */
		     "a b\n"                                                 /* 7 */
		     "[postal.tracking]\n"                                   /* 8 */
		     "code event returned meaning\n"                         /* 9: wrong header */
		     "[units]\n"                                             /* 10 */
		     "old new since\n"                                       /* 11 */
		     "A B 2025-02-30\n"                                      /* 12: no such day */
		     "C D 2025-07-01 extra\n"                                /* 13: one cell too many */
		     "[portal.status]\n"                                     /* 14 */
		     "TrangThaiHoSo event meaning\n"                         /* 15 */
		     "11 dossier.resolved too high\n"                        /* 16 */
		     "9 dossier.teleported\n"                                /* 17 */
		     "[civilreg.gender]\n"                                   /* 18 */
		     "GioiTinh gender\n"                                     /* 19 */
		     "1 m\xe1le\n");                                         /* 20: not UTF-8 */
	struct lt_codes *set = NULL;
	char *errors = load_mistakes(dir, &set);
	assert_non_null(set);           /* what was read, to check mapping files against: never used */
	lt_codes_free(set);
	static const struct { int line; const char *words; } cases[] = {
		{ 4, "channel \"fax\" is not a canonical dossier.channel" },
		{ 5, "KenhThucHien \"1\" is already on line 3" },
		{ 6, "unknown table [onestop.nothing]" },
		{ 9, "the header row must be \"statusCode event returned meaning\"" },
		{ 12, "since \"2025-02-30\" is not a day" },
		{ 13, "\"extra\" is one cell too many" },
		{ 16, "TrangThaiHoSo \"11\" is not a whole number from 1 to 10" },
		{ 17, "event \"dossier.teleported\" is not a canonical event.type" },
		{ 20, "not UTF-8" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(want, sizeof want, "%s/bad.codes:%d: ", dir, cases[i].line);
		char *at = strstr(errors, want);
		assert_non_null(at);
		char *eol = strchr(at, '\n');
		assert_non_null(eol);
		*eol = '\0';
		if (!strstr(at, cases[i].words))
			fail_msg("line %d: want \"%s\" in \"%s\"", cases[i].line, cases[i].words, at);
		*eol = '\n';
	}
	free(errors);
	remove_dir(dir);
}

/* A [VENDOR.NAME] section no C declares is a table declared by its header row;
 * its mistakes are named like any table's, and a built-in namespace is no vendor's. */
static void test_a_table_declared_by_data_is_checked_like_any_other(void **state)
{
	(void)state;
	char dir[64], want[160];
	override_dir(dir, "mine.codes",
		     "[acme.state]\n"                                        /* 1 */
		     "word status meaning\n"                                 /* 2 */
		     "open 1 Mới\n"                                          /* 3 */
		     "open 2\n"                                              /* 4: open twice */
		     "shut 11 too high\n"                                    /* 5: not a TrangThaiHoSo */
		     "gone -\n"                                              /* 6: the canonical value empty */
		     "[acme.kind]\n"                                         /* 7 */
		     "code\n"                                                /* 8: one column */
		     "[acme.mode]\n"                                         /* 9 */
		     "code code\n"                                           /* 10: a name twice */
		     "[acme.way]\n"                                          /* 11 */
		     "code channel\n"                                        /* 12 */
		     "1 fax\n"                                               /* 13: not a canonical channel */
		     "[portal.state]\n"                                      /* 14: portal is a built-in namespace */
		     "a b\n"
		     "[mapped.state]\n"                                      /* 16: an adapter's name */
		     "a b\n"
		     "[acme.state]\n"                                        /* 18: twice */
		     "word status\n");
	struct lt_codes *set = NULL;
	char *errors = load_mistakes(dir, &set);
	assert_non_null(set);           /* what was read, to check mapping files against: never used */
	lt_codes_free(set);
	static const struct { int line; const char *words; } cases[] = {
		{ 4, "table acme.state: word \"open\" is already on line 3" },
		{ 5, "status \"11\" is not a whole number from 1 to 10" },
		{ 6, "status may not be empty" },
		{ 8, "table acme.kind: its header row names 1 column" },
		{ 10, "table acme.mode: column code is named twice" },
		{ 13, "channel \"fax\" is not a canonical dossier.channel" },
		{ 14, "unknown table [portal.state]" },
		{ 16, "unknown table [mapped.state]" },
		{ 18, "table acme.state is defined twice" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(want, sizeof want, "%s/mine.codes:%d: ", dir, cases[i].line);
		char *at = strstr(errors, want);
		if (!at)
			fail_msg("line %d: no mistake in \"%s\"", cases[i].line, errors);
		char *eol = strchr(at, '\n');
		*eol = '\0';
		if (!strstr(at, cases[i].words))
			fail_msg("line %d: want \"%s\" in \"%s\"", cases[i].line, cases[i].words, at);
		*eol = '\n';
	}
	free(errors);
	remove_dir(dir);
}

static void test_a_declared_table_is_looked_up_and_a_reload_replaces_it(void **state)
{
	(void)state;
	char dir[64];
	struct lt_codes *set = NULL;
	char *errors = load_mistakes(NULL, &set);
	lt_codes_use(set);
	const struct lt_code_table *shipped = lt_code_table_named("opencps.status");   /* codes/opencps.codes */
	assert_non_null(shipped);
	assert_string_equal(lt_code_to_canonical(shipped, "done", NULL), "10");
	assert_string_equal(lt_code_to_wire(shipped, "4", NULL), "processing");   /* the first row with 4 */
	free(errors);
	override_dir(dir, "opencps.codes", "[opencps.status]\nword status\nxong 10\n");   /* declared again, its own columns */
	errors = load_mistakes(dir, &set);
	assert_string_equal(errors, "");
	const char *file = NULL;
	assert_non_null(lt_codes_declared(set, 0, &file));
	assert_non_null(strstr(file, dir));
	char text[1024];
	lt_codes_describe(set, text, sizeof text);
	assert_non_null(strstr(text, "declared by data: opencps.status ("));
	assert_non_null(strstr(text, "replaced: opencps.status ("));
	lt_codes_use(set);
	const struct lt_code_table *t = lt_code_table_named("opencps.status");
	assert_string_equal(t->cols[0].name, "word");
	assert_string_equal(lt_code_to_canonical(t, "xong", NULL), "10");
	/* one who held the replaced set's declaration finds the new rows by name */
	assert_string_equal(lt_code_to_canonical(shipped, "xong", NULL), "10");
	assert_null(lt_code_to_canonical(shipped, "done", NULL));
	free(errors);
	remove_dir(dir);
	lt_codes_shutdown();
}

static void test_a_shipped_table_missing_is_a_mistake(void **state)
{
	(void)state;
	char dir[64];
	override_dir(dir, "portal.codes", "[portal.channel]\nKenhThucHien channel\n1 direct\n");
	struct lt_codes *set = NULL;
	struct lt_buf errors = { 0 };
	assert_int_equal(lt_codes_load(dir, NULL, &set, &errors), LT_ECONFIG);   /* as if it were the shipped dir */
	lt_codes_free(set);
	assert_non_null(strstr(errors.data, "table [onestop.status] is missing"));
	assert_non_null(strstr(errors.data, "table [units] is missing"));
	lt_buf_free(&errors);
	remove_dir(dir);
}

static void test_a_new_set_takes_over_lookups_and_the_old_strings_stay_valid(void **state)
{
	(void)state;
	struct lt_codes *set = NULL;
	char *errors = load_mistakes(NULL, &set);
	lt_codes_use(set);
	const char *before = lt_code_to_wire(&lt_channel_codes, "postal", NULL);
	char dir[64];
	override_dir(dir, "x.codes", "[portal.channel]\nKenhThucHien channel\n1 direct\n2 online\n9 postal\n");
	free(errors);
	errors = load_mistakes(dir, &set);       /* a reload: loading again gives a new set */
	lt_codes_use(set);
	assert_string_equal(lt_code_to_wire(&lt_channel_codes, "postal", NULL), "9");
	assert_string_equal(before, "3");        /* still readable by whoever held it */
	free(errors);
	remove_dir(dir);
	lt_codes_shutdown();
}

static void test_units_may_be_empty_and_trailing_optional_cells_may_be_left_out(void **state)
{
	(void)state;
	char dir[64];
	override_dir(dir, "units.codes", "[units]\nold new since\n60 68\n000.20.12.H12 000.20.15.H68 2025-07-01 # merged\n");
	struct lt_codes *set = NULL;
	char *errors = load_mistakes(dir, &set);
	assert_string_equal(errors, "");
	lt_codes_use(set);
	assert_int_equal(lt_code_count(&lt_unit_codes), 2);
	assert_null(lt_code_cell(&lt_unit_codes, 0, 2));
	assert_string_equal(lt_code_cell(&lt_unit_codes, 1, 2), "2025-07-01");
	free(errors);
	remove_dir(dir);
	lt_codes_shutdown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_tables_load_and_every_declared_table_has_rows),
		cmocka_unit_test(test_a_deployment_table_replaces_the_shipped_one_whole),
		cmocka_unit_test(test_every_bad_entry_is_named_with_its_file_and_line),
		cmocka_unit_test(test_a_table_declared_by_data_is_checked_like_any_other),
		cmocka_unit_test(test_a_declared_table_is_looked_up_and_a_reload_replaces_it),
		cmocka_unit_test(test_a_shipped_table_missing_is_a_mistake),
		cmocka_unit_test(test_a_new_set_takes_over_lookups_and_the_old_strings_stay_valid),
		cmocka_unit_test(test_units_may_be_empty_and_trailing_optional_cells_may_be_left_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
