/*
 * test_stats.c - the counters behind /metrics: the exact text a fixed
 * series of calls renders (every metric name, label and value as exported,
 * which tests and the README depend on), and sums across workers counting
 * from their own threads at once, with calls from outside any worker.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "stats.h"
#include "unit.h"

static char *render(void)
{
    struct gw_buf b = {0};
    gw_stats_render(&b);
    gw_buf_append(&b, "", 1);
    return b.data;
}

/* The value of the line that starts with "<series> ", or -1. */
static long long value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtoll(p + n + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    return -1;
}

static const char golden[] =
    "# HELP swiftgate_requests_total Responses by status and cache result.\n"
    "# TYPE swiftgate_requests_total counter\n"
    "swiftgate_requests_total{status=\"200\",cache=\"HIT\"} 3\n"
    "swiftgate_requests_total{status=\"200\",cache=\"MISS\"} 1\n"
    "swiftgate_requests_total{status=\"206\",cache=\"HIT\"} 1\n"
    "swiftgate_requests_total{status=\"304\",cache=\"REVALIDATED\"} 1\n"
    "swiftgate_requests_total{status=\"404\",cache=\"NONE\"} 1\n"
    "swiftgate_requests_total{status=\"503\",cache=\"PASS\"} 1\n"
    "swiftgate_requests_total{status=\"other\",cache=\"NONE\"} 1\n"
    "swiftgate_requests_total{status=\"other\",cache=\"STALE\"} 1\n"
    "# HELP swiftgate_response_body_bytes_total Body bytes sent to clients.\n"
    "# TYPE swiftgate_response_body_bytes_total counter\n"
    "swiftgate_response_body_bytes_total 1234567\n"
    "# HELP swiftgate_request_duration_seconds Time from a request's first byte to its "
    "answer's last, by cache result (milliseconds, as the access log's).\n"
    "# TYPE swiftgate_request_duration_seconds histogram\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.001\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.0025\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.005\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.01\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.025\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.05\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.1\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.25\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"0.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"1\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"2.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"10\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"NONE\",le=\"+Inf\"} 2\n"
    "swiftgate_request_duration_seconds_sum{cache=\"NONE\"} 12.000\n"
    "swiftgate_request_duration_seconds_count{cache=\"NONE\"} 2\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.001\"} 2\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.0025\"} 3\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.005\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.01\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.025\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.05\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.1\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.25\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"0.5\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"1\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"2.5\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"5\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"10\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"HIT\",le=\"+Inf\"} 4\n"
    "swiftgate_request_duration_seconds_sum{cache=\"HIT\"} 0.006\n"
    "swiftgate_request_duration_seconds_count{cache=\"HIT\"} 4\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.001\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.0025\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.005\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.01\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.025\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.05\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.1\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.25\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"0.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"1\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"2.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"10\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"MISS\",le=\"+Inf\"} 1\n"
    "swiftgate_request_duration_seconds_sum{cache=\"MISS\"} 0.250\n"
    "swiftgate_request_duration_seconds_count{cache=\"MISS\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.001\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.0025\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.005\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.01\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.025\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.05\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.1\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.25\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"0.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"1\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"2.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"10\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"STALE\",le=\"+Inf\"} 1\n"
    "swiftgate_request_duration_seconds_sum{cache=\"STALE\"} 0.007\n"
    "swiftgate_request_duration_seconds_count{cache=\"STALE\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.001\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.0025\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.005\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.01\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.025\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.05\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.1\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.25\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"0.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"1\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"2.5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"10\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"REVALIDATED\",le=\"+Inf\"} 1\n"
    "swiftgate_request_duration_seconds_sum{cache=\"REVALIDATED\"} 0.030\n"
    "swiftgate_request_duration_seconds_count{cache=\"REVALIDATED\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.001\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.0025\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.005\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.01\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.025\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.05\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.1\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.25\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"0.5\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"1\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"2.5\"} 0\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"5\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"10\"} 1\n"
    "swiftgate_request_duration_seconds_bucket{cache=\"PASS\",le=\"+Inf\"} 1\n"
    "swiftgate_request_duration_seconds_sum{cache=\"PASS\"} 5.000\n"
    "swiftgate_request_duration_seconds_count{cache=\"PASS\"} 1\n"
    "# HELP swiftgate_connections_open Client connections open now.\n"
    "# TYPE swiftgate_connections_open gauge\n"
    "swiftgate_connections_open 2\n"
    "# HELP swiftgate_worker_connections_total Connections accepted, by worker.\n"
    "# TYPE swiftgate_worker_connections_total counter\n"
    "swiftgate_worker_connections_total{worker=\"0\"} 2\n"
    "swiftgate_worker_connections_total{worker=\"1\"} 0\n"
    "swiftgate_worker_connections_total{worker=\"2\"} 1\n"
    "# HELP swiftgate_worker_requests_total Requests answered, by worker.\n"
    "# TYPE swiftgate_worker_requests_total counter\n"
    "swiftgate_worker_requests_total{worker=\"0\"} 4\n"
    "swiftgate_worker_requests_total{worker=\"1\"} 2\n"
    "swiftgate_worker_requests_total{worker=\"2\"} 1\n"
    "# HELP swiftgate_origin_requests_total Requests to Swift by kind and status class (0: no "
    "answer).\n"
    "# TYPE swiftgate_origin_requests_total counter\n"
    "swiftgate_origin_requests_total{kind=\"object\",class=\"none\"} 1\n"
    "swiftgate_origin_requests_total{kind=\"object\",class=\"2xx\"} 2\n"
    "swiftgate_origin_requests_total{kind=\"auth\",class=\"4xx\"} 1\n"
    "swiftgate_origin_requests_total{kind=\"manifest\",class=\"5xx\"} 1\n"
    "# HELP swiftgate_origin_duration_seconds Time to the first byte from Swift.\n"
    "# TYPE swiftgate_origin_duration_seconds histogram\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"0.005\"} 2\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"0.01\"} 2\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"0.025\"} 2\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"0.05\"} 2\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"0.1\"} 2\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"0.25\"} 3\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"0.5\"} 3\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"1\"} 3\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"2.5\"} 3\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"5\"} 3\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"10\"} 3\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"object\",le=\"+Inf\"} 3\n"
    "swiftgate_origin_duration_seconds_sum{kind=\"object\"} 0.124\n"
    "swiftgate_origin_duration_seconds_count{kind=\"object\"} 3\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"0.005\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"0.01\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"0.025\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"0.05\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"0.1\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"0.25\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"0.5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"1\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"2.5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"10\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"auth\",le=\"+Inf\"} 1\n"
    "swiftgate_origin_duration_seconds_sum{kind=\"auth\"} 12.000\n"
    "swiftgate_origin_duration_seconds_count{kind=\"auth\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"0.005\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"0.01\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"0.025\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"0.05\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"0.1\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"0.25\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"0.5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"1\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"2.5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"10\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"segment\",le=\"+Inf\"} 0\n"
    "swiftgate_origin_duration_seconds_sum{kind=\"segment\"} 0.000\n"
    "swiftgate_origin_duration_seconds_count{kind=\"segment\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"0.005\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"0.01\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"0.025\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"0.05\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"0.1\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"0.25\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"0.5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"1\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"2.5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"5\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"10\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"listing\",le=\"+Inf\"} 0\n"
    "swiftgate_origin_duration_seconds_sum{kind=\"listing\"} 0.000\n"
    "swiftgate_origin_duration_seconds_count{kind=\"listing\"} 0\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"0.005\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"0.01\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"0.025\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"0.05\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"0.1\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"0.25\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"0.5\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"1\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"2.5\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"5\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"10\"} 1\n"
    "swiftgate_origin_duration_seconds_bucket{kind=\"manifest\",le=\"+Inf\"} 1\n"
    "swiftgate_origin_duration_seconds_sum{kind=\"manifest\"} 0.005\n"
    "swiftgate_origin_duration_seconds_count{kind=\"manifest\"} 1\n"
    "# HELP swiftgate_auth_requests_total Token requests answered by Swift's auth (or "
    "Keystone), by result.\n"
    "# TYPE swiftgate_auth_requests_total counter\n"
    "swiftgate_auth_requests_total{result=\"ok\"} 2\n"
    "swiftgate_auth_requests_total{result=\"refused\"} 1\n"
    "swiftgate_auth_requests_total{result=\"failed\"} 0\n"
    "# HELP swiftgate_fills_in_flight Origin fetches running now.\n"
    "# TYPE swiftgate_fills_in_flight gauge\n"
    "swiftgate_fills_in_flight 1\n"
    "# HELP swiftgate_coalesced_requests_total Readers that joined an origin fetch already "
    "running for their key.\n"
    "# TYPE swiftgate_coalesced_requests_total counter\n"
    "swiftgate_coalesced_requests_total{kind=\"object\"} 2\n"
    "swiftgate_coalesced_requests_total{kind=\"segment\"} 1\n"
    "# HELP swiftgate_plan_decodes_total Large-object plans decoded from their stored form.\n"
    "# TYPE swiftgate_plan_decodes_total counter\n"
    "swiftgate_plan_decodes_total 2\n"
    "# HELP swiftgate_plan_cache_hits_total Large-object plans found decoded in memory.\n"
    "# TYPE swiftgate_plan_cache_hits_total counter\n"
    "swiftgate_plan_cache_hits_total 1\n"
    "# HELP swiftgate_plan_cache_plans Decoded plans kept in memory.\n"
    "# TYPE swiftgate_plan_cache_plans gauge\n"
    "swiftgate_plan_cache_plans 2\n"
    "# HELP swiftgate_plan_cache_bytes Memory of the decoded plans kept.\n"
    "# TYPE swiftgate_plan_cache_bytes gauge\n"
    "swiftgate_plan_cache_bytes 4096\n"
    "# HELP swiftgate_cache_entries Objects in the cache index.\n"
    "# TYPE swiftgate_cache_entries gauge\n"
    "swiftgate_cache_entries 17\n"
    "# HELP swiftgate_cache_bytes Bytes of the cached objects.\n"
    "# TYPE swiftgate_cache_bytes gauge\n"
    "swiftgate_cache_bytes 987654321\n"
    "# HELP swiftgate_cache_index_writes_total Write transactions committed to the cache index.\n"
    "# TYPE swiftgate_cache_index_writes_total counter\n"
    "swiftgate_cache_index_writes_total 5\n"
    "# HELP swiftgate_negative_entries 404s remembered now (in memory).\n"
    "# TYPE swiftgate_negative_entries gauge\n"
    "swiftgate_negative_entries 3\n"
    "# HELP swiftgate_negative_evictions_total 404s forgotten early: negative_max_entries was "
    "reached.\n"
    "# TYPE swiftgate_negative_evictions_total counter\n"
    "swiftgate_negative_evictions_total 2\n"
    "# HELP swiftgate_negative_hits_total Requests answered 404 from a remembered 404.\n"
    "# TYPE swiftgate_negative_hits_total counter\n"
    "swiftgate_negative_hits_total 1\n"
    "# HELP swiftgate_errors_total Errors by kind.\n"
    "# TYPE swiftgate_errors_total counter\n"
    "swiftgate_errors_total{kind=\"origin_connect\"} 0\n"
    "swiftgate_errors_total{kind=\"origin_timeout\"} 2\n"
    "swiftgate_errors_total{kind=\"origin_status\"} 0\n"
    "swiftgate_errors_total{kind=\"origin_short_body\"} 0\n"
    "swiftgate_errors_total{kind=\"digest_mismatch\"} 1\n"
    "swiftgate_errors_total{kind=\"segment\"} 0\n"
    "swiftgate_errors_total{kind=\"manifest\"} 0\n"
    "swiftgate_errors_total{kind=\"cache_write\"} 0\n"
    "swiftgate_errors_total{kind=\"auth\"} 0\n"
    "swiftgate_errors_total{kind=\"client_bad_request\"} 0\n"
    "swiftgate_errors_total{kind=\"client_timeout\"} 0\n"
    "swiftgate_errors_total{kind=\"client_abort\"} 0\n"
    "swiftgate_errors_total{kind=\"connection_limit\"} 1\n"
    "swiftgate_errors_total{kind=\"object_too_large\"} 0\n"
    "swiftgate_errors_total{kind=\"fetch_busy\"} 0\n"
    "swiftgate_errors_total{kind=\"bad_origin_header\"} 0\n"
    "swiftgate_errors_total{kind=\"foreign_segments\"} 1\n"
    "swiftgate_errors_total{kind=\"plan_too_large\"} 0\n"
    "swiftgate_errors_total{kind=\"out_of_files\"} 0\n"
    "swiftgate_errors_total{kind=\"index_full\"} 0\n"
    "swiftgate_errors_total{kind=\"bad_proxy_header\"} 0\n"
    "swiftgate_errors_total{kind=\"upload_aborted\"} 0\n"
    "swiftgate_errors_total{kind=\"upload_digest_mismatch\"} 0\n"
    "swiftgate_errors_total{kind=\"out_of_memory\"} 0\n";

/* One of every kind of call, some from outside any worker: the whole text. */
START_TEST(test_render_exact)
{
    gw_stats_init(3);
    gw_stats_request(0, 200, GW_CACHE_HIT, 1000000, 0);
    gw_stats_request(0, 200, GW_CACHE_HIT, 200000, 1);   /* le 0.001: bounds are inclusive */
    gw_stats_request(0, 206, GW_CACHE_HIT, 34567, 3);
    gw_stats_request(0, 404, GW_CACHE_NONE, 0, 12000);   /* past the last bound */
    gw_stats_request(1, 200, GW_CACHE_MISS, 0, 250);
    gw_stats_request(1, 304, GW_CACHE_REVALIDATED, 0, 30);
    gw_stats_request(2, 503, GW_CACHE_PASS, 0, 5000);
    /* Outside the workers: counted, but by no worker. */
    gw_stats_request(-1, 200, GW_CACHE_HIT, 0, 2);
    gw_stats_request(3, 299, GW_CACHE_STALE, 0, 7);
    gw_stats_request(-7, 600, (enum gw_cache_result)42, 0, 0);
    gw_stats_conn_open(0);
    gw_stats_conn_open(0);
    gw_stats_conn_open(2);
    gw_stats_conn_close(0);
    gw_stats_conn_open(-1);   /* no worker's: ignored, as is its close */
    gw_stats_conn_close(5);
    gw_stats_origin("object", 200, 3);
    gw_stats_origin("object", 206, 120);
    gw_stats_origin("object", 0, 1);
    gw_stats_origin("auth", 401, 12000);
    gw_stats_origin("manifest", 500, 5);
    gw_stats_error(GW_ERR_ORIGIN_TIMEOUT);
    gw_stats_error(GW_ERR_ORIGIN_TIMEOUT);
    gw_stats_error(GW_ERR_DIGEST);
    gw_stats_error(GW_ERR_CONN_LIMIT);
    gw_stats_error(GW_ERR_NKINDS);
    gw_stats_fills(1);
    gw_stats_fills(1);
    gw_stats_fills(-1);
    gw_stats_joined(GW_JOIN_OBJECT);
    gw_stats_joined(GW_JOIN_OBJECT);
    gw_stats_joined(GW_JOIN_SEGMENT);
    gw_stats_joined(GW_JOIN_NKINDS);   /* no such kind: ignored */
    gw_stats_auth(GW_AUTH_OK);
    gw_stats_auth(GW_AUTH_OK);
    gw_stats_auth(GW_AUTH_REFUSED);
    gw_stats_auth(GW_AUTH_NRESULTS);
    gw_stats_set_cache(17, 987654321);
    gw_stats_set_cache_writes(5);
    gw_stats_neg_held(4);
    gw_stats_neg_held(3);       /* a gauge: the last value */
    gw_stats_neg_evicted(1);
    gw_stats_neg_evicted(1);
    gw_stats_neg_hit();
    gw_stats_error(GW_ERR_FOREIGN_SEGMENTS);
    gw_stats_plan_decoded();
    gw_stats_plan_decoded();
    gw_stats_plan_cache_hit();
    gw_stats_set_plan_cache(3, 9000);
    gw_stats_set_plan_cache(2, 4096);

    char *text = render();
    ck_assert_str_eq(text, golden);
    free(text);
    gw_stats_free();
}
END_TEST

/* The cache gauges are shown only once set. */
START_TEST(test_render_before_cache_set)
{
    gw_stats_init(1);
    char *text = render();
    ck_assert_ptr_null(strstr(text, "swiftgate_cache_entries"));
    ck_assert_int_eq(value_of(text, "swiftgate_worker_requests_total{worker=\"0\"}"), 0);
    ck_assert_int_eq(value_of(text, "swiftgate_response_body_bytes_total"), 0);
    ck_assert_ptr_null(strstr(text, "swiftgate_requests_total{"));
    free(text);
    gw_stats_free();
}
END_TEST

#define NWORKERS 4
#define PER_WORKER 200000
#define PER_OUTSIDER 50000

static pthread_barrier_t start;

static void *worker_thread(void *arg)
{
    int w = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < PER_WORKER; i++) {
        if (i % 1000 == 0) gw_stats_conn_open(w);
        gw_stats_request(w, i % 2 ? 200 : 206, GW_CACHE_HIT, (uint64_t)w + 1, (uint64_t)(i % 3));
        if (i % 1000 == 999) gw_stats_conn_close(w);
    }
    /* One connection left open by each worker. */
    gw_stats_conn_open(w);
    return NULL;
}

static void *outsider_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < PER_OUTSIDER; i++) gw_stats_request(-1, 200, GW_CACHE_HIT, 10, 100);
    return NULL;
}

/* Workers count into their own blocks at once; a scrape sums them exactly. */
START_TEST(test_sums_across_workers)
{
    pthread_t th[NWORKERS + 2];
    char series[128];

    gw_stats_init(NWORKERS);
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, NWORKERS + 2), 0);
    for (intptr_t w = 0; w < NWORKERS; w++)
        ck_assert_int_eq(pthread_create(&th[w], NULL, worker_thread, (void *)w), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[NWORKERS + i], NULL, outsider_thread, NULL), 0);
    /* A scrape while they count: the sums only grow. */
    long long seen = 0;
    for (int i = 0; i < 20; i++) {
        char *text = render();
        long long v = value_of(text, "swiftgate_requests_total{status=\"200\",cache=\"HIT\"}");
        ck_assert_int_ge(v == -1 ? 0 : v, seen);
        seen = v == -1 ? 0 : v;
        free(text);
    }
    for (int i = 0; i < NWORKERS + 2; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);

    char *text = render();
    ck_assert_int_eq(value_of(text, "swiftgate_requests_total{status=\"200\",cache=\"HIT\"}"),
                     NWORKERS * PER_WORKER / 2 + 2 * PER_OUTSIDER);
    ck_assert_int_eq(value_of(text, "swiftgate_requests_total{status=\"206\",cache=\"HIT\"}"),
                     NWORKERS * PER_WORKER / 2);
    long long bytes = 2 * PER_OUTSIDER * 10;
    for (int w = 0; w < NWORKERS; w++) bytes += (long long)PER_WORKER * (w + 1);
    ck_assert_int_eq(value_of(text, "swiftgate_response_body_bytes_total"), bytes);
    /* Every request in the histogram, each worker's durations 0, 1, 2 ms in turn. */
    ck_assert_int_eq(value_of(text, "swiftgate_request_duration_seconds_count{cache=\"HIT\"}"),
                     NWORKERS * PER_WORKER + 2 * PER_OUTSIDER);
    ck_assert_int_eq(value_of(text, "swiftgate_request_duration_seconds_bucket{cache=\"HIT\","
                                    "le=\"0.001\"}"),
                     NWORKERS * (PER_WORKER - PER_WORKER / 3));
    ck_assert_int_eq(value_of(text, "swiftgate_request_duration_seconds_bucket{cache=\"HIT\","
                                    "le=\"0.0025\"}"),
                     NWORKERS * PER_WORKER);
    ck_assert_int_eq(value_of(text, "swiftgate_connections_open"), NWORKERS);
    for (int w = 0; w < NWORKERS; w++) {
        snprintf(series, sizeof(series), "swiftgate_worker_requests_total{worker=\"%d\"}", w);
        ck_assert_int_eq(value_of(text, series), PER_WORKER);
        snprintf(series, sizeof(series), "swiftgate_worker_connections_total{worker=\"%d\"}", w);
        ck_assert_int_eq(value_of(text, series), PER_WORKER / 1000 + 1);
    }
    free(text);
    gw_stats_free();
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("render");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_render_exact);
    tcase_add_test(tc, test_render_before_cache_set);
    tcase_add_test(tc, test_sums_across_workers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(stats_suite()) == 0 ? 0 : 1;
}
