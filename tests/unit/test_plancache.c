/*
 * test_plancache.c - decoded plans kept by (cache key, blob id): found only
 * for the very entry they came from, kept within their byte budget (least
 * recently used dropped first), alive while held after they are dropped,
 * and counted in /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "manifest.h"
#include "plancache.h"
#include "stats.h"
#include "unit.h"
#include "util.h"

/* A DLO plan of n one-byte segments named "<tag>/<i>". */
static void make_plan(struct gw_plan *p, const char *tag, size_t n)
{
    size_t cap = n * 90 + 16, o = 0;
    char *b = gw_malloc(cap);
    b[o++] = '[';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(b + o, cap - o,
                              "%s{\"name\": \"%s/%06zu\", \"hash\": "
                              "\"0123456789abcdef0123456789abcdef\", \"bytes\": 1}",
                              i ? "," : "", tag, i);
    b[o++] = ']';
    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(gw_dlo_listing_add(p, b, o, "fractals_segments", NULL, NULL, 0, NULL), 0);
    gw_dlo_finish(p);
    free(b);
}

static void key_of(uint8_t key[GW_CACHE_KEY_LEN], int k)
{
    memset(key, 0, GW_CACHE_KEY_LEN);
    key[0] = (uint8_t)k;
    key[9] = (uint8_t)(k * 7);
}

static long long metric(const char *series)
{
    struct gw_buf b = {0};
    gw_stats_render(&b);
    gw_buf_append(&b, "", 1);
    char line[128];
    snprintf(line, sizeof(line), "\n%s ", series);
    const char *p = strstr(b.data, line);
    long long v = p ? strtoll(p + strlen(line), NULL, 10) : -1;
    free(b.data);
    return v;
}

START_TEST(test_keyed_by_entry)
{
    gw_stats_init(1);
    gw_plancache_init(1 << 20);
    uint8_t k1[GW_CACHE_KEY_LEN], k2[GW_CACHE_KEY_LEN];
    key_of(k1, 1);
    key_of(k2, 2);
    struct gw_plan p;
    make_plan(&p, "a", 10);
    ck_assert_ptr_null(gw_plancache_get(k1, 7));
    struct gw_plan_ref *r = gw_plancache_put(k1, 7, &p);
    ck_assert_uint_eq(p.n, 0); /* taken over */
    ck_assert_uint_eq(gw_plan_ref_plan(r)->n, 10);
    struct gw_plan_ref *again = gw_plancache_get(k1, 7);
    ck_assert_ptr_eq(again, r);
    /* Another blob of the same key (the entry replaced), another key: not found. */
    ck_assert_ptr_null(gw_plancache_get(k1, 8));
    ck_assert_ptr_null(gw_plancache_get(k2, 7));
    ck_assert_int_eq(metric("swiftgate_plan_cache_hits_total"), 1);
    ck_assert_int_eq(metric("swiftgate_plan_cache_plans"), 1);
    ck_assert_int_gt(metric("swiftgate_plan_cache_bytes"), 10 * (long long)sizeof(struct gw_segment));
    gw_plan_ref_drop(again);
    gw_plan_ref_drop(r);
    gw_plancache_free();
    ck_assert_int_eq(metric("swiftgate_plan_cache_bytes"), 0);
    gw_stats_free();
}
END_TEST

START_TEST(test_bounded_lru)
{
    gw_stats_init(1);
    /* Room for a few plans of 100 segments (about 20 KB each), not 20. */
    gw_plancache_init(100 * 1024);
    uint8_t key[GW_CACHE_KEY_LEN];
    struct gw_plan_ref *held = NULL;
    for (int i = 0; i < 20; i++) {
        struct gw_plan p;
        char tag[16];
        snprintf(tag, sizeof(tag), "t%d", i);
        make_plan(&p, tag, 100);
        key_of(key, i);
        struct gw_plan_ref *r = gw_plancache_put(key, 1, &p);
        if (i == 0)
            held = r; /* still used by a request while it is dropped */
        else
            gw_plan_ref_drop(r);
        /* Plan 1 used all along: it stays, as the most recently used. */
        if (i >= 2) {
            key_of(key, 1);
            struct gw_plan_ref *one = gw_plancache_get(key, 1);
            ck_assert_ptr_nonnull(one);
            gw_plan_ref_drop(one);
        }
        ck_assert_int_le(metric("swiftgate_plan_cache_bytes"), 100 * 1024);
    }
    key_of(key, 0);
    ck_assert_ptr_null(gw_plancache_get(key, 1)); /* the oldest went */
    key_of(key, 19);
    struct gw_plan_ref *last = gw_plancache_get(key, 1);
    ck_assert_ptr_nonnull(last);
    gw_plan_ref_drop(last);
    /* The dropped plan is whole while held. */
    ck_assert_uint_eq(gw_plan_ref_plan(held)->n, 100);
    ck_assert_str_eq(gw_plan_ref_plan(held)->seg[99].object, "t0/000099");
    gw_plan_ref_drop(held);
    ck_assert_int_lt(metric("swiftgate_plan_cache_plans"), 20);
    gw_plancache_free();
    gw_stats_free();
}
END_TEST

START_TEST(test_too_big_or_off)
{
    gw_stats_init(1);
    uint8_t key[GW_CACHE_KEY_LEN];
    key_of(key, 3);
    struct gw_plan p;
    /* A plan over half the budget is handed back, not kept. */
    gw_plancache_init(8 * 1024);
    make_plan(&p, "big", 100);
    struct gw_plan_ref *r = gw_plancache_put(key, 1, &p);
    ck_assert_uint_eq(gw_plan_ref_plan(r)->n, 100);
    ck_assert_ptr_null(gw_plancache_get(key, 1));
    gw_plan_ref_drop(r);
    gw_plancache_free();
    /* Budget 0: nothing kept. */
    gw_plancache_init(0);
    make_plan(&p, "small", 1);
    r = gw_plancache_put(key, 1, &p);
    ck_assert_ptr_null(gw_plancache_get(key, 1));
    gw_plan_ref_drop(r);
    ck_assert_int_eq(metric("swiftgate_plan_cache_plans"), 0);
    gw_plancache_free();
    gw_stats_free();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plancache");
    TCase *tc = tcase_create("plancache");
    tcase_add_test(tc, test_keyed_by_entry);
    tcase_add_test(tc, test_bounded_lru);
    tcase_add_test(tc, test_too_big_or_off);
    suite_add_tcase(s, tc);
    return unit_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
