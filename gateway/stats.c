/*
 * stats.c - the counters behind /metrics.
 *
 * Fixed arrays, no allocation on the hot path: responses are counted by
 * status (the common codes each, the rest as "other") and cache result,
 * with their duration in a histogram of fixed buckets by cache result;
 * origin requests by kind and status class, with their latency in a
 * histogram of fixed buckets.  Per-worker counters show how the kernel's
 * SO_REUSEPORT spreads connections over the workers.
 *
 * What every request and connection counts lives in one block per worker,
 * each on cache lines of its own, written only by that worker's thread: a
 * relaxed load and store, no read-modify-write, and no cache line that
 * two workers write.  Calls from outside the workers (an id out of range)
 * count into one more block shared by them, with atomic additions.  A
 * scrape sums the blocks.  The rarer counters (origin requests, errors,
 * fills, joins, auth requests) stay single and shared, updated with
 * relaxed atomic additions.
 * Every counter is a C11 atomic: a scrape may see counters a request
 * apart, never a torn value.
 */
#include "stats.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

static const int status_codes[] = {200, 204, 206, 304, 400, 401, 404, 405, 408, 411, 412,
                                   413, 414, 416, 431, 500, 502, 503, 504, 505};
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]) + 1) /* + other */

static const char *const origin_kinds[] = {"object", "auth", "segment", "listing", "manifest"};
#define NKINDS (sizeof(origin_kinds) / sizeof(origin_kinds[0]))
#define NCLASS 6 /* 1xx..5xx, and 0 for no answer */
static const char *const class_names[NCLASS] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

static const double buckets_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets_s) / sizeof(buckets_s[0]))
/* A response's time, first byte of the request to the access log; hits take about a millisecond. */
static const double req_buckets_s[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10};
#define NREQ_BUCKETS (sizeof(req_buckets_s) / sizeof(req_buckets_s[0]))

static const char *const join_names[GW_JOIN_NKINDS] = {"object", "segment"};
static const char *const auth_names[GW_AUTH_NRESULTS] = {"ok", "refused", "failed"};

typedef atomic_uint_least64_t counter_t;

#define CACHE_LINE 64

/* A worker's counters: requests by status and result, their durations, its connections. */
struct block {
    _Alignas(CACHE_LINE) counter_t requests[NSTATUS][GW_CACHE_NRESULTS];
    counter_t duration[GW_CACHE_NRESULTS][NREQ_BUCKETS + 1];   /* per bucket, not cumulative */
    counter_t duration_ms[GW_CACHE_NRESULTS];
    counter_t bytes_out;
    counter_t conns_open;       /* a gauge: wraps below zero, the sum does not */
    counter_t conns_total;
};

static struct {
    struct block *workers;      /* nworkers blocks, one per worker */
    int nworkers;
    struct block outside;       /* calls with no worker of their own */
    counter_t origin[NKINDS][NCLASS];
    counter_t origin_hist[NKINDS][NBUCKETS + 1];
    counter_t origin_ms_sum[NKINDS];
    counter_t errors[GW_ERR_NKINDS];
    atomic_int_least64_t fills;
    counter_t joins[GW_JOIN_NKINDS];
    counter_t auth[GW_AUTH_NRESULTS];
    counter_t plan_decodes, plan_hits, plan_cached, plan_bytes;
    atomic_int cache_set;
    counter_t cache_entries, cache_bytes, cache_writes;
    counter_t neg_held, neg_evicted, neg_hits;
} st;

#define ADD(p, n) atomic_fetch_add_explicit((p), (n), memory_order_relaxed)
#define GET(p) atomic_load_explicit((p), memory_order_relaxed)
/* A counter of the calling worker's own block: it is the only writer. */
#define OWN_ADD(p, n) atomic_store_explicit((p), GET(p) + (n), memory_order_relaxed)

static const char *const cache_names[] = {"NONE", "HIT", "MISS", "STALE", "REVALIDATED", "PASS"};

static const char *const error_names[] = {
#define GW_STATS_ERR_NAME(name, text) text,
    GW_STATS_ERRORS(GW_STATS_ERR_NAME)
#undef GW_STATS_ERR_NAME
};

const char *gw_cache_result_name(enum gw_cache_result r)
{
    r = gw_cache_result_counted(r);
    return (unsigned)r < GW_CACHE_NRESULTS ? cache_names[r] : "NONE";
}

void gw_stats_init(int nworkers)
{
    memset(&st, 0, sizeof(st));
    if (nworkers <= 0) return;
    /* Aligned, so that no two workers' counters share a cache line. */
    st.workers = aligned_alloc(CACHE_LINE, (size_t)nworkers * sizeof(*st.workers));
    gw_assert(st.workers != NULL);
    memset(st.workers, 0, (size_t)nworkers * sizeof(*st.workers));
    st.nworkers = nworkers;
}

void gw_stats_free(void)
{
    st.nworkers = 0;
    free(st.workers);
    st.workers = NULL;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (status_codes[i] == status) return i;
    return NSTATUS - 1;
}

/* The bucket of bounds[0..n) (seconds) that ms falls in; n for +Inf. */
static size_t bucket_of(const double *bounds, size_t n, uint64_t ms)
{
    size_t i = 0;
    while (i < n && (double)ms / 1000.0 > bounds[i]) i++;
    return i;
}

void gw_stats_request(int worker, int status, enum gw_cache_result cache, uint64_t body_bytes,
                      uint64_t ms)
{
    size_t s = status_index(status);
    size_t d = bucket_of(req_buckets_s, NREQ_BUCKETS, ms);

    cache = gw_cache_result_counted(cache);
    if ((unsigned)cache >= GW_CACHE_NRESULTS) cache = GW_CACHE_NONE;
    if (worker >= 0 && worker < st.nworkers) {
        struct block *b = &st.workers[worker];
        OWN_ADD(&b->requests[s][cache], 1);
        OWN_ADD(&b->bytes_out, body_bytes);
        OWN_ADD(&b->duration[cache][d], 1);
        OWN_ADD(&b->duration_ms[cache], ms);
    } else {
        ADD(&st.outside.requests[s][cache], 1);
        ADD(&st.outside.bytes_out, body_bytes);
        ADD(&st.outside.duration[cache][d], 1);
        ADD(&st.outside.duration_ms[cache], ms);
    }
}

void gw_stats_conn_open(int worker)
{
    if (worker < 0 || worker >= st.nworkers) return;
    OWN_ADD(&st.workers[worker].conns_open, 1);
    OWN_ADD(&st.workers[worker].conns_total, 1);
}

void gw_stats_conn_close(int worker)
{
    if (worker < 0 || worker >= st.nworkers) return;
    /* Unsigned: adding the complement of 0 subtracts one. */
    OWN_ADD(&st.workers[worker].conns_open, ~(uint64_t)0);
}

void gw_stats_origin(const char *kind, int status, uint64_t ms)
{
    size_t k = 0;
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(origin_kinds[i], kind) == 0) k = i;
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    ADD(&st.origin[k][cls], 1);
    ADD(&st.origin_hist[k][bucket_of(buckets_s, NBUCKETS, ms)], 1);
    ADD(&st.origin_ms_sum[k], ms);
}

void gw_stats_error(enum gw_stats_error kind)
{
    if ((unsigned)kind < GW_ERR_NKINDS) ADD(&st.errors[kind], 1);
}

int gw_err_no_files(int err)
{
    return err == -EMFILE || err == -ENFILE;
}

void gw_stats_error_for(enum gw_stats_error kind, int err)
{
    gw_stats_error(gw_err_no_files(err) ? GW_ERR_NO_FILES : kind);
}

void gw_stats_fills(int delta)
{
    ADD(&st.fills, delta);
}

void gw_stats_joined(enum gw_stats_join kind)
{
    if ((unsigned)kind < GW_JOIN_NKINDS) ADD(&st.joins[kind], 1);
}

void gw_stats_auth(enum gw_auth_result result)
{
    if ((unsigned)result < GW_AUTH_NRESULTS) ADD(&st.auth[result], 1);
}

void gw_stats_plan_decoded(void)
{
    ADD(&st.plan_decodes, 1);
}

void gw_stats_plan_cache_hit(void)
{
    ADD(&st.plan_hits, 1);
}

void gw_stats_set_plan_cache(uint64_t plans, uint64_t bytes)
{
    atomic_store_explicit(&st.plan_cached, plans, memory_order_relaxed);
    atomic_store_explicit(&st.plan_bytes, bytes, memory_order_relaxed);
}

void gw_stats_set_cache(uint64_t entries, uint64_t bytes)
{
    atomic_store_explicit(&st.cache_entries, entries, memory_order_relaxed);
    atomic_store_explicit(&st.cache_bytes, bytes, memory_order_relaxed);
    atomic_store_explicit(&st.cache_set, 1, memory_order_release);
}

void gw_stats_set_cache_writes(uint64_t writes)
{
    atomic_store_explicit(&st.cache_writes, writes, memory_order_relaxed);
}

void gw_stats_neg_held(uint64_t held)
{
    atomic_store_explicit(&st.neg_held, held, memory_order_relaxed);
}

void gw_stats_neg_evicted(uint64_t n)
{
    ADD(&st.neg_evicted, n);
}

void gw_stats_neg_hit(void)
{
    ADD(&st.neg_hits, 1);
}

/* What the blocks counted, summed for one scrape. */
struct totals {
    uint64_t requests[NSTATUS][GW_CACHE_NRESULTS];
    uint64_t duration[GW_CACHE_NRESULTS][NREQ_BUCKETS + 1];
    uint64_t duration_ms[GW_CACHE_NRESULTS];
    uint64_t bytes_out;
    uint64_t conns_open;
};

static void totals_add(struct totals *t, struct block *b)
{
    for (size_t s = 0; s < NSTATUS; s++)
        for (int c = 0; c < GW_CACHE_NRESULTS; c++) t->requests[s][c] += GET(&b->requests[s][c]);
    for (int c = 0; c < GW_CACHE_NRESULTS; c++) {
        for (size_t i = 0; i <= NREQ_BUCKETS; i++) t->duration[c][i] += GET(&b->duration[c][i]);
        t->duration_ms[c] += GET(&b->duration_ms[c]);
    }
    t->bytes_out += GET(&b->bytes_out);
    t->conns_open += GET(&b->conns_open);
}

/* The requests one block counted. */
static uint64_t block_requests(struct block *b)
{
    uint64_t v = 0;
    for (size_t s = 0; s < NSTATUS; s++)
        for (int c = 0; c < GW_CACHE_NRESULTS; c++) v += GET(&b->requests[s][c]);
    return v;
}

static void render_requests(struct gw_buf *b, const struct totals *t)
{
    gw_buf_printf(b, "# HELP swiftgate_requests_total Responses by status and cache result.\n"
                     "# TYPE swiftgate_requests_total counter\n");
    for (size_t s = 0; s < NSTATUS; s++) {
        for (int c = 0; c < GW_CACHE_NRESULTS; c++) {
            uint64_t v = t->requests[s][c];
            if (v == 0) continue;
            if (s < NSTATUS - 1)
                gw_buf_printf(b, "swiftgate_requests_total{status=\"%d\",cache=\"%s\"} %llu\n",
                              status_codes[s], cache_names[c], (unsigned long long)v);
            else
                gw_buf_printf(b, "swiftgate_requests_total{status=\"other\",cache=\"%s\"} %llu\n",
                              cache_names[c], (unsigned long long)v);
        }
    }
    gw_buf_printf(b, "# HELP swiftgate_response_body_bytes_total Body bytes sent to clients.\n"
                     "# TYPE swiftgate_response_body_bytes_total counter\n"
                     "swiftgate_response_body_bytes_total %llu\n",
                  (unsigned long long)t->bytes_out);
}

/*
 * One histogram's series for one label: counts[0..n] per bucket of
 * bounds[0..n) and +Inf (not cumulative), their sum in milliseconds.
 */
static void render_histogram(struct gw_buf *b, const char *name, const char *label,
                             const char *value, const double *bounds, size_t n,
                             const uint64_t *counts, uint64_t sum_ms)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += counts[i];
        if (i < n)
            gw_buf_printf(b, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label, value,
                          bounds[i], (unsigned long long)cum);
        else
            gw_buf_printf(b, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", name, label, value,
                          (unsigned long long)cum);
    }
    gw_buf_printf(b, "%s_sum{%s=\"%s\"} %.3f\n%s_count{%s=\"%s\"} %llu\n", name, label, value,
                  (double)sum_ms / 1000.0, name, label, value, (unsigned long long)cum);
}

static void render_durations(struct gw_buf *b, const struct totals *t)
{
    gw_buf_printf(b, "# HELP swiftgate_request_duration_seconds Time from a request's first "
                     "byte to its answer's last, by cache result (milliseconds, as the access "
                     "log's).\n"
                     "# TYPE swiftgate_request_duration_seconds histogram\n");
    for (int c = 0; c < GW_CACHE_NRESULTS; c++)
        render_histogram(b, "swiftgate_request_duration_seconds", "cache", cache_names[c],
                         req_buckets_s, NREQ_BUCKETS, t->duration[c], t->duration_ms[c]);
}

static void render_workers(struct gw_buf *b, const struct totals *t)
{
    /* Only workers count connections: the outside block's stay 0. */
    gw_buf_printf(b, "# HELP swiftgate_connections_open Client connections open now.\n"
                     "# TYPE swiftgate_connections_open gauge\n"
                     "swiftgate_connections_open %llu\n", (unsigned long long)t->conns_open);
    gw_buf_printf(b, "# HELP swiftgate_worker_connections_total Connections accepted, by worker.\n"
                     "# TYPE swiftgate_worker_connections_total counter\n");
    for (int w = 0; w < st.nworkers; w++)
        gw_buf_printf(b, "swiftgate_worker_connections_total{worker=\"%d\"} %llu\n", w,
                      (unsigned long long)GET(&st.workers[w].conns_total));
    gw_buf_printf(b, "# HELP swiftgate_worker_requests_total Requests answered, by worker.\n"
                     "# TYPE swiftgate_worker_requests_total counter\n");
    for (int w = 0; w < st.nworkers; w++)
        gw_buf_printf(b, "swiftgate_worker_requests_total{worker=\"%d\"} %llu\n", w,
                      (unsigned long long)block_requests(&st.workers[w]));
}

static void render_origin(struct gw_buf *b)
{
    gw_buf_printf(b, "# HELP swiftgate_origin_requests_total Requests to Swift by kind and "
                     "status class (0: no answer).\n"
                     "# TYPE swiftgate_origin_requests_total counter\n");
    for (size_t k = 0; k < NKINDS; k++)
        for (int c = 0; c < NCLASS; c++) {
            uint64_t v = GET(&st.origin[k][c]);
            if (v == 0) continue;
            gw_buf_printf(b, "swiftgate_origin_requests_total{kind=\"%s\",class=\"%s\"} %llu\n",
                          origin_kinds[k], class_names[c], (unsigned long long)v);
        }
    gw_buf_printf(b, "# HELP swiftgate_origin_duration_seconds Time to the first byte from Swift.\n"
                     "# TYPE swiftgate_origin_duration_seconds histogram\n");
    for (size_t k = 0; k < NKINDS; k++) {
        uint64_t counts[NBUCKETS + 1];
        for (size_t i = 0; i <= NBUCKETS; i++) counts[i] = GET(&st.origin_hist[k][i]);
        render_histogram(b, "swiftgate_origin_duration_seconds", "kind", origin_kinds[k],
                         buckets_s, NBUCKETS, counts, GET(&st.origin_ms_sum[k]));
    }
}

/* A counter with one label, a series for each of names[0..n). */
static void render_labelled(struct gw_buf *b, const char *name, const char *help,
                            const char *label, const char *const *names, size_t n,
                            counter_t *values)
{
    gw_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < n; i++)
        gw_buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, names[i],
                      (unsigned long long)GET(&values[i]));
}

static void render_gauges(struct gw_buf *b)
{
    render_labelled(b, "swiftgate_auth_requests_total",
                    "Token requests answered by Swift's auth (or Keystone), by result.",
                    "result", auth_names, GW_AUTH_NRESULTS, st.auth);
    gw_buf_printf(b, "# HELP swiftgate_fills_in_flight Origin fetches running now.\n"
                     "# TYPE swiftgate_fills_in_flight gauge\n"
                     "swiftgate_fills_in_flight %lld\n", (long long)GET(&st.fills));
    render_labelled(b, "swiftgate_coalesced_requests_total",
                    "Readers that joined an origin fetch already running for their key.",
                    "kind", join_names, GW_JOIN_NKINDS, st.joins);
    gw_buf_printf(b, "# HELP swiftgate_plan_decodes_total Large-object plans decoded from "
                     "their stored form.\n"
                     "# TYPE swiftgate_plan_decodes_total counter\n"
                     "swiftgate_plan_decodes_total %llu\n"
                     "# HELP swiftgate_plan_cache_hits_total Large-object plans found decoded "
                     "in memory.\n"
                     "# TYPE swiftgate_plan_cache_hits_total counter\n"
                     "swiftgate_plan_cache_hits_total %llu\n"
                     "# HELP swiftgate_plan_cache_plans Decoded plans kept in memory.\n"
                     "# TYPE swiftgate_plan_cache_plans gauge\n"
                     "swiftgate_plan_cache_plans %llu\n"
                     "# HELP swiftgate_plan_cache_bytes Memory of the decoded plans kept.\n"
                     "# TYPE swiftgate_plan_cache_bytes gauge\n"
                     "swiftgate_plan_cache_bytes %llu\n",
                  (unsigned long long)GET(&st.plan_decodes),
                  (unsigned long long)GET(&st.plan_hits),
                  (unsigned long long)GET(&st.plan_cached),
                  (unsigned long long)GET(&st.plan_bytes));
    if (atomic_load_explicit(&st.cache_set, memory_order_acquire))
        gw_buf_printf(b, "# HELP swiftgate_cache_entries Objects in the cache index.\n"
                         "# TYPE swiftgate_cache_entries gauge\n"
                         "swiftgate_cache_entries %llu\n"
                         "# HELP swiftgate_cache_bytes Bytes of the cached objects.\n"
                         "# TYPE swiftgate_cache_bytes gauge\n"
                         "swiftgate_cache_bytes %llu\n"
                         "# HELP swiftgate_cache_index_writes_total Write transactions "
                         "committed to the cache index.\n"
                         "# TYPE swiftgate_cache_index_writes_total counter\n"
                         "swiftgate_cache_index_writes_total %llu\n",
                      (unsigned long long)GET(&st.cache_entries),
                      (unsigned long long)GET(&st.cache_bytes),
                      (unsigned long long)GET(&st.cache_writes));
    gw_buf_printf(b, "# HELP swiftgate_negative_entries 404s remembered now (in memory).\n"
                     "# TYPE swiftgate_negative_entries gauge\n"
                     "swiftgate_negative_entries %llu\n"
                     "# HELP swiftgate_negative_evictions_total 404s forgotten early: "
                     "negative_max_entries was reached.\n"
                     "# TYPE swiftgate_negative_evictions_total counter\n"
                     "swiftgate_negative_evictions_total %llu\n"
                     "# HELP swiftgate_negative_hits_total Requests answered 404 from a "
                     "remembered 404.\n"
                     "# TYPE swiftgate_negative_hits_total counter\n"
                     "swiftgate_negative_hits_total %llu\n",
                  (unsigned long long)GET(&st.neg_held), (unsigned long long)GET(&st.neg_evicted),
                  (unsigned long long)GET(&st.neg_hits));
    render_labelled(b, "swiftgate_errors_total", "Errors by kind.", "kind", error_names,
                    GW_ERR_NKINDS, st.errors);
}

void gw_stats_render(struct gw_buf *b)
{
    struct totals t;

    memset(&t, 0, sizeof(t));
    totals_add(&t, &st.outside);
    for (int w = 0; w < st.nworkers; w++) totals_add(&t, &st.workers[w]);
    render_requests(b, &t);
    render_durations(b, &t);
    render_workers(b, &t);
    render_origin(b);
    render_gauges(b);
}
