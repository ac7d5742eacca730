/* test_retry.c — what follows a delivery attempt (retry.h): done, again after
 * a backoff, at once for a re-login or a resend (up to the cap), dead at
 * retry.max_age; Retry-After; whether a peer counts as down for its breaker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retry.h"

#define MIN 60000LL
static const struct lt_retry_policy policy = { .initial_ms = 1000, .max_delay_ms = 10 * MIN, .max_age_ms = 72 * 60 * MIN };
#define CREATED 1800000000000LL

static struct lt_retry_decision decide(enum lt_verdict v, int attempt, int resends, int64_t now, uint64_t jitter)
{
	struct lt_attempt_end e = { .verdict = v, .attempt = attempt, .resends = resends, .created_ms = CREATED,
				    .now_ms = now, .jitter = jitter };
	struct lt_retry_decision d;
	lt_retry_decide(&policy, &e, &d);
	return d;
}

static void test_accepted_is_done_and_refused_for_good_is_dead(void **state)
{
	(void)state;
	struct lt_retry_decision d = decide(LT_DONE, 1, 0, CREATED, 7);
	assert_int_equal(d.next, LT_DS_DONE);
	assert_int_equal(d.delay_ms, 0);
	d = decide(LT_DEAD, 1, 0, CREATED, 7);
	assert_int_equal(d.next, LT_DS_DEAD);
	assert_false(d.expired);
	assert_false(d.relogin);
}

static void test_a_retry_waits_a_jittered_backoff_that_doubles_up_to_max_delay(void **state)
{
	(void)state;
	/* the jitter's draw, modulo the cap + 1: the largest draw gives the cap */
	int64_t caps[] = { 1000, 2000, 4000, 8000 };
	for (int attempt = 1; attempt <= 4; attempt++) {
		struct lt_retry_decision d = decide(LT_RETRY, attempt, 0, CREATED, (uint64_t)caps[attempt - 1]);
		assert_int_equal(d.next, LT_DS_PENDING);
		assert_int_equal(d.delay_ms, caps[attempt - 1]);
		assert_null(d.why);
	}
	assert_int_equal(decide(LT_RETRY, 3, 0, CREATED, 4001).delay_ms, 0);        /* full jitter: from 0 */
	assert_int_equal(decide(LT_RETRY, 40, 0, CREATED, 10 * MIN).delay_ms, 10 * MIN);
	assert_int_equal(decide(LT_RETRY, 40, 0, CREATED, UINT64_MAX).delay_ms,
			 (int64_t)(UINT64_MAX % (uint64_t)(10 * MIN + 1)));
}

static void test_retry_after_is_the_least_delay(void **state)
{
	(void)state;
	struct lt_attempt_end e = { .verdict = LT_RETRY, .attempt = 1, .created_ms = CREATED, .now_ms = CREATED,
				    .retry_after_ms = 120000, .jitter = 5 };
	struct lt_retry_decision d;
	lt_retry_decide(&policy, &e, &d);
	assert_int_equal(d.delay_ms, 120000);
	assert_int_equal(lt_parse_retry_after("120", 0), 120000);
	assert_int_equal(lt_parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", 1767225600000LL), 120000);
	assert_int_equal(lt_parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", 1767225800000LL), 0);  /* past */
	assert_int_equal(lt_parse_retry_after("soon", 0), 0);
	assert_int_equal(lt_parse_retry_after("-5", 0), 0);
	assert_int_equal(lt_parse_retry_after("999999999", 0), LT_RETRY_AFTER_MAX_MS);   /* at most a day */
}

static void test_an_expired_session_logs_in_again_and_resends_at_once(void **state)
{
	(void)state;
	struct lt_retry_decision d = decide(LT_RELOGIN, 2, 0, CREATED, 999);
	assert_int_equal(d.next, LT_DS_PENDING);
	assert_true(d.relogin);
	assert_int_equal(d.delay_ms, 0);
	assert_string_equal(d.why, "session expired; logging in again");
}

static void test_resends_go_at_once_three_in_a_row_then_back_off(void **state)
{
	(void)state;
	for (int n = 0; n < LT_RETRY_MAX_RESENDS; n++) {
		struct lt_retry_decision d = decide(LT_RESEND, n + 1, n, CREATED, 999);
		assert_int_equal(d.next, LT_DS_PENDING);
		assert_int_equal(d.delay_ms, 0);
		assert_int_equal(d.resends, n + 1);
		assert_string_equal(d.why, "sending again at once as the peer asked");
	}
	struct lt_retry_decision d = decide(LT_RESEND, 4, LT_RETRY_MAX_RESENDS, CREATED, 999);
	assert_int_equal(d.next, LT_DS_PENDING);
	assert_int_equal(d.delay_ms, 999);              /* backoff: attempt 4's cap is 8 s */
	assert_int_equal(d.resends, LT_RETRY_MAX_RESENDS + 1);
	assert_null(d.why);
	/* and keeps backing off while the peer keeps asking */
	assert_int_equal(decide(LT_RESEND, 5, LT_RETRY_MAX_RESENDS + 1, CREATED, 999).delay_ms, 999);
	/* any other answer ends the run */
	assert_int_equal(decide(LT_RETRY, 6, LT_RETRY_MAX_RESENDS + 1, CREATED, 999).resends, 0);
	assert_int_equal(decide(LT_DONE, 6, LT_RETRY_MAX_RESENDS + 1, CREATED, 999).resends, 0);
	/* the count lives above the adapter's flags */
	int flags = LT_FLAGS_WITH_RESENDS(LT_FLAG_UPDATE, 3);
	assert_int_equal(flags & LT_FLAGS_ADAPTER, LT_FLAG_UPDATE);
	assert_int_equal(LT_FLAGS_RESENDS(flags), 3);
	assert_int_equal(LT_FLAGS_RESENDS(LT_FLAGS_WITH_RESENDS(flags, 0)), 0);
}

static void test_dead_when_the_next_attempt_would_pass_max_age(void **state)
{
	(void)state;
	int64_t end = CREATED + policy.max_age_ms;
	/* a backoff that ends on the edge is still allowed; one past it is not */
	struct lt_retry_decision d = decide(LT_RETRY, 30, 0, end - 1000, 1000);
	assert_int_equal(d.next, LT_DS_PENDING);
	d = decide(LT_RETRY, 30, 0, end - 1000, 1001);
	assert_int_equal(d.next, LT_DS_DEAD);
	assert_true(d.expired);
	assert_int_equal(d.delay_ms, 0);
	/* at once is too late too, once max_age passed: a resend, a re-login */
	d = decide(LT_RESEND, 30, 0, end + 1, 0);
	assert_int_equal(d.next, LT_DS_DEAD);
	assert_true(d.expired);
	assert_null(d.why);
	d = decide(LT_RELOGIN, 30, 0, end + 1, 0);
	assert_int_equal(d.next, LT_DS_DEAD);
	assert_true(d.relogin);         /* the session is still gone for the next delivery */
	/* an accepted answer is done, however late */
	assert_int_equal(decide(LT_DONE, 30, 0, end + 1, 0).next, LT_DS_DONE);
}

static void test_a_peer_is_down_when_it_does_not_answer_or_answers_5xx(void **state)
{
	(void)state;
	assert_true(lt_peer_down(0, 0));
	assert_true(lt_peer_down(1, 500));
	assert_true(lt_peer_down(1, 503));
	assert_false(lt_peer_down(1, 200));
	assert_false(lt_peer_down(1, 404));
	assert_false(lt_peer_down(1, 429));     /* busy, not down: backoff, not the breaker */
	/* three attempts finding it down open a breaker of threshold 3 */
	struct lt_breaker b = { 0 };
	assert_int_equal(lt_breaker_record(&b, lt_peer_down(0, 0), 0, 3, LT_BREAKER_MAX_MS), LT_BREAKER_SAME);
	assert_int_equal(lt_breaker_record(&b, lt_peer_down(1, 502), 0, 3, LT_BREAKER_MAX_MS), LT_BREAKER_SAME);
	assert_int_equal(lt_breaker_record(&b, lt_peer_down(1, 500), 0, 3, LT_BREAKER_MAX_MS), LT_BREAKER_OPENED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_is_done_and_refused_for_good_is_dead),
		cmocka_unit_test(test_a_retry_waits_a_jittered_backoff_that_doubles_up_to_max_delay),
		cmocka_unit_test(test_retry_after_is_the_least_delay),
		cmocka_unit_test(test_an_expired_session_logs_in_again_and_resends_at_once),
		cmocka_unit_test(test_resends_go_at_once_three_in_a_row_then_back_off),
		cmocka_unit_test(test_dead_when_the_next_attempt_would_pass_max_age),
		cmocka_unit_test(test_a_peer_is_down_when_it_does_not_answer_or_answers_5xx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
