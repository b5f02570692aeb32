/*
 * stats.h - counters and histograms, shown as Prometheus text on the admin
 * listener's /metrics.
 *
 * A worker counts its requests and connections in a block of its own (no
 * cache line written by two workers); the rest are process-wide, updated
 * with relaxed atomics from any thread.  A scrape sums the blocks without
 * stopping anyone, so related counters may be a request apart.
 */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stdint.h>

struct gw_buf;
struct gw_cache;

/* What the cache made of a request (the access log's word, X-Cache). */
enum gw_cache_result {
    GW_CACHE_NONE,        /* not an object request: /healthz, errors */
    GW_CACHE_HIT,
    GW_CACHE_MISS,
    GW_CACHE_STALE,
    GW_CACHE_REVALIDATED,
    GW_CACHE_PASS,
    GW_CACHE_NRESULTS,
    /* Expired within stale_while_revalidate, answered while a revalidation
     * runs behind: STALE to clients, logs and counters; only Cache-Status
     * tells it from stale-if-error (fwd=stale). */
    GW_CACHE_STALE_UPDATING = GW_CACHE_NRESULTS,
};

/* The result as counted and named: STALE_UPDATING is STALE. */
static inline enum gw_cache_result gw_cache_result_counted(enum gw_cache_result r)
{
    return r == GW_CACHE_STALE_UPDATING ? GW_CACHE_STALE : r;
}

/* Kinds of error an operator wants counted apart. */
#define GW_STATS_ERRORS(X)                                                  \
    X(ORIGIN_CONNECT, "origin_connect")                                     \
    X(ORIGIN_TIMEOUT, "origin_timeout")                                     \
    X(ORIGIN_STATUS, "origin_status")                                       \
    X(ORIGIN_SHORT, "origin_short_body")                                    \
    X(DIGEST, "digest_mismatch")                                            \
    X(SEGMENT, "segment")                                                   \
    X(MANIFEST, "manifest")                                                 \
    X(CACHE_WRITE, "cache_write")                                           \
    X(AUTH, "auth")                                                         \
    X(CLIENT_BAD_REQUEST, "client_bad_request")                             \
    X(CLIENT_TIMEOUT, "client_timeout")                                     \
    X(CLIENT_ABORT, "client_abort")                                         \
    X(CONN_LIMIT, "connection_limit")                                      \
    X(TOO_LARGE, "object_too_large")                                        \
    X(FETCH_BUSY, "fetch_busy")                                             \
    X(BAD_ORIGIN_HEADER, "bad_origin_header")                               \
    X(FOREIGN_SEGMENTS, "foreign_segments")                                 \
    X(PLAN_TOO_LARGE, "plan_too_large")                                     \
    X(NO_FILES, "out_of_files")                                             \
    X(INDEX_FULL, "index_full")                                             \
    X(BAD_PROXY_HEADER, "bad_proxy_header")                                 \
    X(UPLOAD_ABORTED, "upload_aborted")                                     \
    X(UPLOAD_DIGEST, "upload_digest_mismatch")                              \
    X(OUT_OF_MEMORY, "out_of_memory")

enum gw_stats_error {
#define GW_STATS_ERR_ENUM(name, text) GW_ERR_##name,
    GW_STATS_ERRORS(GW_STATS_ERR_ENUM)
#undef GW_STATS_ERR_ENUM
    GW_ERR_NKINDS
};

const char *gw_cache_result_name(enum gw_cache_result r);

/* Before any worker starts; after every worker stopped. */
void gw_stats_init(int nworkers);
void gw_stats_free(void);

/*
 * worker is the id, in [0, nworkers), of the worker whose thread calls:
 * only that thread writes the worker's block, so two threads must never
 * pass the same id.  Any other thread passes -1 (any id out of range):
 * its requests are counted in the totals but by no worker, and its
 * connections not at all.
 */
/* ms: from the request's first byte to its answer's end (the access log's time). */
void gw_stats_request(int worker, int status, enum gw_cache_result cache, uint64_t body_bytes,
                      uint64_t ms);
void gw_stats_conn_open(int worker);
void gw_stats_conn_close(int worker);
void gw_stats_origin(const char *kind, int status, uint64_t ms);
void gw_stats_error(enum gw_stats_error kind);
/*
 * kind, for a failure whose error is err (0 or -errno): but out_of_files
 * when err is -EMFILE or -ENFILE, whatever the step that ran out of
 * descriptors, so that /metrics tells a full disk from a process at its
 * RLIMIT_NOFILE.
 */
void gw_stats_error_for(enum gw_stats_error kind, int err);
/* Whether err (0 or -errno) says the process or the system has no free descriptor. */
int gw_err_no_files(int err);
/* The reason of the 503 a client gets when a descriptor its answer needs cannot be had. */
#define GW_NO_FILES_REASON "out of file descriptors; try again"
/* A gauge kept by its owner: fills running now. */
void gw_stats_fills(int delta);

/* What joined a fill already running for its key (request coalescing). */
enum gw_stats_join {
    GW_JOIN_OBJECT,             /* a client's request for a whole object */
    GW_JOIN_SEGMENT,            /* a segment that a large object's answer needs */
    GW_JOIN_NKINDS
};
/* A reader joined a running fill instead of starting its own (any thread). */
void gw_stats_joined(enum gw_stats_join kind);

/* How a token request to Swift's auth (or Keystone) ended. */
enum gw_auth_result {
    GW_AUTH_OK,                 /* a token and a storage URL */
    GW_AUTH_REFUSED,            /* an answer, but no usable token: not 2xx, or incomplete */
    GW_AUTH_FAILED,             /* no answer: connect, timeout, transfer error */
    GW_AUTH_NRESULTS
};
void gw_stats_auth(enum gw_auth_result result);
/*
 * Gauges kept by the cache's owner: entries in the index and bytes of their
 * blobs, as of the last call (any thread).  Shown as swiftgate_cache_entries
 * and swiftgate_cache_bytes once set at least once.
 */
void gw_stats_set_cache(uint64_t entries, uint64_t bytes);
/* Write transactions committed to the cache index so far (the cache's owner,
 * any thread); shown with the cache gauges. */
void gw_stats_set_cache_writes(uint64_t writes);
/*
 * The negative cache (neg.c): entries held now, entries evicted because
 * its budget was full, and requests answered 404 from it.
 */
void gw_stats_neg_held(uint64_t held);
void gw_stats_neg_evicted(uint64_t n);
void gw_stats_neg_hit(void);
/*
 * The decoded-plan cache (plancache.c), from any thread: a large object's
 * plan decoded from its bytes, one found decoded in memory, and the plans
 * and bytes the cache holds now.
 */
void gw_stats_plan_decoded(void);
void gw_stats_plan_cache_hit(void);
void gw_stats_set_plan_cache(uint64_t plans, uint64_t bytes);

/* The current counters in Prometheus text format, appended to b. */
void gw_stats_render(struct gw_buf *b);

/*
 * Read when scraped (stats_read.c), appended to b in the same format: the
 * cache's caps, temp bytes, evictions by reason and index map (nothing for
 * a NULL cache), and the process_* series and swiftgate_build_info.
 */
void gw_stats_render_cache(struct gw_buf *b, struct gw_cache *c);
void gw_stats_render_process(struct gw_buf *b);

/*
 * The configuration was read (main thread): at start (reload = 0, ok), or
 * on a reload, which took (ok = 1) or was refused (ok = 0).  Rendered by
 * gw_stats_render_config(), as Prometheus reports its own reloads:
 * swiftgate_config_reloads_total{result="ok|failed"},
 * swiftgate_config_last_reload_successful and
 * swiftgate_config_last_reload_success_timestamp_seconds (start counts).
 */
void gw_stats_config_read(int reload, int ok);
void gw_stats_render_config(struct gw_buf *b);

#endif
