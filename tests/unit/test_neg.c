/*
 * test_neg.c - the negative cache (gateway/neg.c): remembered for the ttl,
 * forgotten on demand, never more than its budget (oldest first), its
 * counters, and many threads at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "neg.h"
#include "stats.h"
#include "unit.h"
#include "util.h"

static void key_n(uint64_t n, uint8_t key[GW_CACHE_KEY_LEN])
{
    char name[32];
    snprintf(name, sizeof(name), "%llu", (unsigned long long)n);
    gw_cache_key("c", name, key);
}

/* The value of a metric line "name value" in the rendered text. */
static long long metric(const char *name)
{
    struct gw_buf b = {0};
    gw_stats_render(&b);
    gw_buf_append(&b, "", 1);
    char want[128];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *p = strstr(b.data, want);
    long long v = p ? atoll(p + strlen(want)) : -1;
    gw_buf_free(&b);
    return v;
}

START_TEST(off_when_zero)
{
    ck_assert_ptr_null(gw_neg_new(0, 1000));
    ck_assert_ptr_null(gw_neg_new(10, 0));
    uint8_t k[GW_CACHE_KEY_LEN];
    key_n(1, k);
    /* NULL is a table that remembers nothing. */
    gw_neg_put(NULL, k, 5);
    ck_assert_int_eq(gw_neg_get(NULL, k, 5), 0);
    ck_assert_int_eq(gw_neg_forget(NULL, k), 0);
    ck_assert_uint_eq(gw_neg_count(NULL), 0);
    gw_neg_free(NULL);
}
END_TEST

START_TEST(remembered_for_the_ttl)
{
    gw_stats_init(1);
    struct gw_neg *n = gw_neg_new(10, 1000);
    uint8_t a[GW_CACHE_KEY_LEN], b[GW_CACHE_KEY_LEN];
    key_n(1, a);
    key_n(2, b);
    gw_neg_put(n, a, 5000);
    ck_assert_int_eq(gw_neg_get(n, a, 5000), 1);
    ck_assert_int_eq(gw_neg_get(n, a, 5999), 1);
    ck_assert_int_eq(gw_neg_get(n, b, 5000), 0);
    ck_assert_int_eq(metric("swiftgate_negative_hits_total"), 2);
    /* Expired: not a hit, and dropped. */
    ck_assert_int_eq(gw_neg_get(n, a, 6000), 0);
    ck_assert_uint_eq(gw_neg_count(n), 0);
    /* Put again: a new expiry. */
    gw_neg_put(n, a, 7000);
    gw_neg_put(n, a, 7500);
    ck_assert_uint_eq(gw_neg_count(n), 1);
    ck_assert_int_eq(gw_neg_get(n, a, 8400), 1);
    ck_assert_int_eq(gw_neg_forget(n, a), 1);
    ck_assert_int_eq(gw_neg_forget(n, a), 0);
    ck_assert_int_eq(gw_neg_get(n, a, 8400), 0);
    ck_assert_int_eq(metric("swiftgate_negative_entries"), 0);
    gw_neg_free(n);
    gw_stats_free();
}
END_TEST

/* Full: the oldest goes first, the count never exceeds the budget. */
START_TEST(budget_evicts_the_oldest)
{
    gw_stats_init(1);
    const uint64_t max = 100;
    struct gw_neg *n = gw_neg_new(max, 60000);
    uint8_t k[GW_CACHE_KEY_LEN];
    for (uint64_t i = 0; i < 3 * max; i++) {
        key_n(i, k);
        gw_neg_put(n, k, 1000 + i);
        ck_assert_uint_le(gw_neg_count(n), max);
    }
    ck_assert_uint_eq(gw_neg_count(n), max);
    ck_assert_int_eq(metric("swiftgate_negative_entries"), (long long)max);
    ck_assert_int_eq(metric("swiftgate_negative_evictions_total"), (long long)(2 * max));
    for (uint64_t i = 0; i < 3 * max; i++) {
        key_n(i, k);
        ck_assert_int_eq(gw_neg_get(n, k, 2000), i >= 2 * max);
    }
    gw_neg_free(n);
    gw_stats_free();
}
END_TEST

/* Expired entries make room before anything fresh is evicted. */
START_TEST(expired_go_before_evictions)
{
    gw_stats_init(1);
    struct gw_neg *n = gw_neg_new(4, 100);
    uint8_t k[GW_CACHE_KEY_LEN];
    for (uint64_t i = 0; i < 4; i++) {
        key_n(i, k);
        gw_neg_put(n, k, 1000);
    }
    key_n(10, k);
    gw_neg_put(n, k, 1100); /* the four expired at 1100 */
    ck_assert_uint_eq(gw_neg_count(n), 1);
    ck_assert_int_eq(metric("swiftgate_negative_evictions_total"), 0);
    gw_neg_free(n);
    gw_stats_free();
}
END_TEST

/* Enough keys to grow the buckets several times; every one still found. */
START_TEST(grows_and_finds_all)
{
    gw_stats_init(1);
    const uint64_t max = 20000;
    struct gw_neg *n = gw_neg_new(max, 60000);
    uint8_t k[GW_CACHE_KEY_LEN];
    for (uint64_t i = 0; i < max; i++) {
        key_n(i, k);
        gw_neg_put(n, k, 1);
    }
    for (uint64_t i = 0; i < max; i++) {
        key_n(i, k);
        ck_assert_int_eq(gw_neg_get(n, k, 2), 1);
    }
    key_n(max, k);
    ck_assert_int_eq(gw_neg_get(n, k, 2), 0);
    gw_neg_free(n);
    gw_stats_free();
}
END_TEST

#define NTHREADS 4
#define PER_THREAD 20000

struct worker {
    struct gw_neg *n;
    int id;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    uint8_t k[GW_CACHE_KEY_LEN];
    for (uint64_t i = 0; i < PER_THREAD; i++) {
        key_n((uint64_t)w->id * PER_THREAD + i, k);
        gw_neg_put(w->n, k, i);
        (void)gw_neg_get(w->n, k, i);
        if (i % 3 == 0) (void)gw_neg_forget(w->n, k);
    }
    return NULL;
}

START_TEST(threads_keep_the_budget)
{
    gw_stats_init(1);
    const uint64_t max = 500;
    struct gw_neg *n = gw_neg_new(max, 1000000);
    pthread_t t[NTHREADS];
    struct worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){n, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
    ck_assert_uint_eq(gw_neg_count(n), max);
    ck_assert_int_eq(metric("swiftgate_negative_entries"), (long long)max);
    gw_neg_free(n);
    gw_stats_free();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("neg");
    TCase *t = tcase_create("neg");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, off_when_zero);
    tcase_add_test(t, remembered_for_the_ttl);
    tcase_add_test(t, budget_evicts_the_oldest);
    tcase_add_test(t, expired_go_before_evictions);
    tcase_add_test(t, grows_and_finds_all);
    tcase_add_test(t, threads_keep_the_budget);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
