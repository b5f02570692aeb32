/*
 * test_req.c - the request's ways as a state machine (req_int.h): every
 * move the table allows is taken, each clears the per-way state, and a
 * move it forbids aborts the process (a broken invariant, never a quiet
 * jump).  No loop, no Swift: a way whose state is empty has nothing to
 * let go of.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "req_int.h"
#include "unit.h"
#include "util.h"

static const struct gw_sink_ops no_ops; /* never called by req_goto() */

static struct gw_req *req_in(enum req_way way)
{
    static struct gw_sink sink;
    static struct gw_services svc;
    sink.ops = &no_ops;
    sink.peer = "test";
    struct gw_req *r = calloc(1, sizeof(*r));
    r->magic = REQ_MAGIC;
    r->sink = &sink;
    r->svc = &svc;
    r->way = way;
    strcpy(r->name, "00000000-0000-0000-0000-000000000000");
    return r;
}

/* The moves a request for an object makes, one path through each. */
START_TEST(allowed_moves)
{
    static const enum req_way paths[][6] = {
        {REQ_LOOKUP, REQ_HIT, REQ_DONE},
        {REQ_LOOKUP, REQ_HIT, REQ_FOLLOW, REQ_HIT, REQ_SEGMENTED, REQ_DONE},
        {REQ_LOOKUP, REQ_FOLLOW, REQ_FOLLOW, REQ_PASS, REQ_FOLLOW, REQ_DONE},
        {REQ_LOOKUP, REQ_FOLLOW, REQ_SEGMENTED, REQ_PASS, REQ_DONE},
        {REQ_LOOKUP, REQ_PASS, REQ_DONE},
        {REQ_LOOKUP, REQ_PURGE, REQ_DONE},
        {REQ_LOOKUP, REQ_DONE},
    };
    for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
        struct gw_req *r = req_in(paths[p][0]);
        for (int i = 1; i < 6 && (i == 1 || paths[p][i - 1] != REQ_DONE); i++) {
            /* Leave a mark in the union: the move must clear it. */
            memset(&r->u, 0, sizeof(r->u));
            r->u.follow.head_sent = 1;
            r->u.pass.head_sent = 1;
            req_goto(r, paths[p][i]);
            ck_assert_int_eq(r->way, paths[p][i]);
            ck_assert_int_eq(r->u.follow.head_sent, 0);
            ck_assert_int_eq(r->u.pass.head_sent, 0);
        }
        free(r);
    }
}
END_TEST

static void forbidden(enum req_way from, enum req_way to)
{
    struct gw_req *r = req_in(from);
    req_goto(r, to);
}

START_TEST(done_is_final)
{
    forbidden(REQ_DONE, REQ_HIT);
}
END_TEST

START_TEST(pass_never_becomes_a_hit)
{
    forbidden(REQ_PASS, REQ_HIT);
}
END_TEST

START_TEST(segmented_never_follows)
{
    forbidden(REQ_SEGMENTED, REQ_FOLLOW);
}
END_TEST

START_TEST(nothing_goes_back_to_lookup)
{
    forbidden(REQ_HIT, REQ_LOOKUP);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("req");
    TCase *t = tcase_create("ways");
    tcase_add_test(t, allowed_moves);
    tcase_add_test_raise_signal(t, done_is_final, SIGABRT);
    tcase_add_test_raise_signal(t, pass_never_becomes_a_hit, SIGABRT);
    tcase_add_test_raise_signal(t, segmented_never_follows, SIGABRT);
    tcase_add_test_raise_signal(t, nothing_goes_back_to_lookup, SIGABRT);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? 0 : 1;
}
