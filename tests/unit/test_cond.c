/*
 * test_cond.c - RFC 9110 ranges and preconditions (gateway/cond.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"

#include "cond.h"
#include "http.h"
#include "util.h"

static int parse(const char *v, uint64_t len, struct gw_range *out)
{
    return gw_cond_parse_ranges(v, strlen(v), len, out);
}

START_TEST(ranges_forms)
{
    struct gw_range r[GW_RANGES_MAX];
    ck_assert_int_eq(parse("bytes=0-99", 1000, r), 1);
    ck_assert(r[0].first == 0 && r[0].last == 99);
    ck_assert_int_eq(parse("bytes=-10", 1000, r), 1);
    ck_assert(r[0].first == 990 && r[0].last == 999);
    ck_assert_int_eq(parse("bytes=-5000", 1000, r), 1);
    ck_assert(r[0].first == 0 && r[0].last == 999);
    ck_assert_int_eq(parse("bytes=990-", 1000, r), 1);
    ck_assert(r[0].first == 990 && r[0].last == 999);
    ck_assert_int_eq(parse("bytes=900-5000", 1000, r), 1);
    ck_assert(r[0].last == 999);
    ck_assert_int_eq(parse("Bytes = 1-2", 1000, r), 0); /* "bytes=" only */
    ck_assert_int_eq(parse("bytes=1-2 , 4-5", 1000, r), 2);
}
END_TEST

START_TEST(ranges_merge_and_sort)
{
    struct gw_range r[GW_RANGES_MAX];
    ck_assert_int_eq(parse("bytes=10-11,0-1,5-12", 1000, r), 2);
    ck_assert(r[0].first == 0 && r[0].last == 1);
    ck_assert(r[1].first == 5 && r[1].last == 12);
    ck_assert_int_eq(parse("bytes=0-4,5-9", 1000, r), 1); /* adjacent */
    ck_assert(r[0].first == 0 && r[0].last == 9);
}
END_TEST

START_TEST(ranges_bad_and_unsatisfiable)
{
    struct gw_range r[GW_RANGES_MAX];
    const char *ignored[] = {"bytes=abc", "pages=1-2", "bytes=5-1", "bytes=1", "bytes=",
                             "bytes=1-2;3-4", "bytes=99999999999999999999-",
                             ("bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,"
                              "13-13,14-14,15-15,16-16")};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        ck_assert_msg(parse(ignored[i], 1000, r) == 0, "%s not ignored", ignored[i]);
    ck_assert_int_eq(parse("bytes=1000-", 1000, r), -1);
    ck_assert_int_eq(parse("bytes=-0", 1000, r), -1);
    ck_assert_int_eq(parse("bytes=0-", 0, r), -1);
    ck_assert_int_eq(parse("bytes=2000-3000,0-1", 1000, r), 1); /* one satisfiable */
}
END_TEST

START_TEST(dates)
{
    const char *a = "Sun, 06 Nov 1994 08:49:37 GMT";
    const char *b = "Sunday, 06-Nov-94 08:49:37 GMT";
    const char *c = "Sun Nov  6 08:49:37 1994";
    ck_assert_int_eq(gw_cond_parse_date(a, strlen(a)), 784111777);
    ck_assert_int_eq(gw_cond_parse_date(b, strlen(b)), 784111777);
    ck_assert_int_eq(gw_cond_parse_date(c, strlen(c)), 784111777);
    ck_assert_int_eq(gw_cond_parse_date("yesterday", 9), -1);
    ck_assert_int_eq(gw_cond_parse_date("", 0), -1);
    /* IMF-fixdate is read without strptime: the same answers, the same refusals. */
    const struct {
        const char *s;
        int64_t t;
    } imf[] = {
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Tue, 29 Feb 2000 23:59:59 GMT", 951868799},
        {"Sat, 31 Dec 2050 12:34:56 GMT", 2556102896},
        {"Sun, 06 Foo 1994 08:49:37 GMT", -1},  /* no such month */
        {"Sun, 06 nov 1994 08:49:37 GMT", 784111777}, /* strptime takes any case */
        {"Sun, 06 Nov 1994 24:49:37 GMT", -1},
        {"Sun, 06 Nov 1994 08:60:37 GMT", -1},
        {"Sun, 00 Nov 1994 08:49:37 GMT", -1},
        {"Sun, 06 Nov 1994 08:49:37 UTC", -1},
        {"Sun, 06 Nov 19x4 08:49:37 GMT", -1},
        {"Sun, 06 Nov 1994 08:49:37 GMTx", -1},
    };
    for (size_t i = 0; i < sizeof(imf) / sizeof(imf[0]); i++)
        ck_assert_msg(gw_cond_parse_date(imf[i].s, strlen(imf[i].s)) == imf[i].t, "%s",
                      imf[i].s);
}
END_TEST

/* A request head with the given header lines, parsed by llhttp. */
static void head(struct gw_http_req *r, llhttp_t *p, const char *lines)
{
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "GET /x HTTP/1.1\r\nHost: h\r\n%s\r\n", lines);
    gw_http_req_init(r, 16384, 100, 8192, 0);
    llhttp_init(p, HTTP_REQUEST, &gw_http_settings);
    p->data = r;
    size_t used;
    ck_assert_int_eq(gw_http_feed(p, r, buf, (size_t)n, &used), GW_HTTP_REQUEST);
}

static enum gw_precond eval(const char *lines)
{
    struct gw_http_req r;
    llhttp_t p;
    head(&r, &p, lines);
    enum gw_precond v = gw_cond_evaluate(&r, "abc", "Sun, 06 Nov 1994 08:49:37 GMT");
    gw_http_req_free(&r);
    return v;
}

START_TEST(preconditions_in_order)
{
    ck_assert_int_eq(eval(""), GW_PRECOND_PASS);
    ck_assert_int_eq(eval("If-None-Match: \"abc\"\r\n"), GW_PRECOND_304);
    ck_assert_int_eq(eval("If-None-Match: W/\"abc\"\r\n"), GW_PRECOND_304);
    ck_assert_int_eq(eval("If-None-Match: \"x\", \"abc\"\r\n"), GW_PRECOND_304);
    ck_assert_int_eq(eval("If-None-Match: *\r\n"), GW_PRECOND_304);
    ck_assert_int_eq(eval("If-None-Match: \"abd\"\r\n"), GW_PRECOND_PASS);
    ck_assert_int_eq(eval("If-Match: \"abc\"\r\n"), GW_PRECOND_PASS);
    ck_assert_int_eq(eval("If-Match: W/\"abc\"\r\n"), GW_PRECOND_412); /* strong */
    ck_assert_int_eq(eval("If-Match: \"x\"\r\n"), GW_PRECOND_412);
    ck_assert_int_eq(eval("If-Match: \"x\"\r\nIf-None-Match: \"abc\"\r\n"), GW_PRECOND_412);
    ck_assert_int_eq(eval("If-Unmodified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n"),
                     GW_PRECOND_412);
    ck_assert_int_eq(eval("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
                     GW_PRECOND_304);
    ck_assert_int_eq(eval("If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n"),
                     GW_PRECOND_PASS);
    /* If-None-Match present: If-Modified-Since is ignored. */
    ck_assert_int_eq(eval("If-None-Match: \"x\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 "
                          "08:49:37 GMT\r\n"),
                     GW_PRECOND_PASS);
    /* A date in the future is invalid. */
    ck_assert_int_eq(eval("If-Modified-Since: Sun, 06 Nov 2094 08:49:37 GMT\r\n"),
                     GW_PRECOND_PASS);
}
END_TEST

START_TEST(if_range)
{
    struct gw_http_req r;
    llhttp_t p;
    struct gw_range out[GW_RANGES_MAX];
    head(&r, &p, "Range: bytes=0-9\r\nIf-Range: \"abc\"\r\n");
    ck_assert_int_eq(gw_cond_ranges(&r, 100, "abc", "", out), 1);
    ck_assert_int_eq(gw_cond_ranges(&r, 100, "abd", "", out), 0);
    gw_http_req_free(&r);
    head(&r, &p, "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    ck_assert_int_eq(gw_cond_ranges(&r, 100, "abc", "Sun, 06 Nov 1994 08:49:37 GMT", out), 1);
    ck_assert_int_eq(gw_cond_ranges(&r, 100, "abc", "Sun, 06 Nov 1994 08:49:38 GMT", out), 0);
    gw_http_req_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cond");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ranges_forms);
    tcase_add_test(tc, ranges_merge_and_sort);
    tcase_add_test(tc, ranges_bad_and_unsatisfiable);
    tcase_add_test(tc, dates);
    tcase_add_test(tc, preconditions_in_order);
    tcase_add_test(tc, if_range);
    suite_add_tcase(s, tc);
    return unit_run(s) ? 1 : 0;
}
