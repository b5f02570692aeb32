/*
 * req.c - the core of a request for an object: choosing its way, moving
 * between ways, freeing it; and purge (hard: the entry removed; soft: the
 * entry made to expire now, so the next request revalidates it).
 *
 * A request for an object takes one of these ways (req_int.h lists them):
 *
 *   hit        a fresh entry: the head from the index, the body from the
 *              blob (req_hit.c).
 *   follow     no entry, or an expired one: the request joins the fill of
 *              its key, starting it if none runs, and sends what the fill
 *              has written as it arrives; an expired entry is revalidated
 *              (req_follow.c).
 *   pass       no cache, an answer the cache cannot take, or a cold Range
 *              far into the object: straight from Swift (req_pass.c).
 *   segmented  a large object, from its plan and segments (req_seg.c).
 *
 * A GET with "X-Swiftgate-Warm: 1" (swiftgate warm) takes the same ways
 * but answers 204 with no body once the object is in the cache, X-Cache
 * saying HIT, MISS, REVALIDATED or PASS.
 *
 * In every way, once the head is out a failure can only cut the
 * connection: the client sees fewer bytes than Content-Length and knows
 * the body is incomplete.  The request never closes its connection itself
 * (gw_sink_abort only marks it); the connection frees it through the
 * owner's release, which leaves whatever way it is in.
 */
#include "req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble.h"
#include "blobfd.h"
#include "conf.h"
#include "http.h"
#include "memguard.h"
#include "neg.h"
#include "req_int.h"
#include "util.h"

static const char *const way_names[REQ_NWAYS] = {
#define REQ_WAY_NAME(name, text) text,
    GW_REQ_WAYS(REQ_WAY_NAME)
#undef REQ_WAY_NAME
};

/* moves[from][to]: 1 where a request may go from one way to the other. */
static const unsigned char moves[REQ_NWAYS][REQ_NWAYS] = {
    [REQ_LOOKUP] = {[REQ_HIT] = 1, [REQ_FOLLOW] = 1, [REQ_PASS] = 1, [REQ_PURGE] = 1,
                    [REQ_DONE] = 1},
    /* The blob is gone: fetch again.  A MANIFEST entry's plan: its segments. */
    [REQ_HIT] = {[REQ_FOLLOW] = 1, [REQ_SEGMENTED] = 1, [REQ_DONE] = 1},
    /* 304, stale-if-error or several ranges: the entry.  Uncacheable: Swift.
     * A large object: its plan.  A 304 whose entry went meanwhile: again. */
    [REQ_FOLLOW] = {[REQ_HIT] = 1, [REQ_FOLLOW] = 1, [REQ_PASS] = 1, [REQ_SEGMENTED] = 1,
                    [REQ_DONE] = 1},
    /* A far Range met a large object: its plan comes from a fill. */
    [REQ_PASS] = {[REQ_FOLLOW] = 1, [REQ_DONE] = 1},
    /* A segment cannot go through the cache: Swift puts the object together. */
    [REQ_SEGMENTED] = {[REQ_PASS] = 1, [REQ_DONE] = 1},
    [REQ_PURGE] = {[REQ_DONE] = 1},
    [REQ_DONE] = {0},
};

/* ---- purge ---- */

/* A purge in the thread pool; r is NULL once the request is gone. */
struct purge_job {
    uv_work_t work;
    struct gw_cache *cache;
    uint8_t key[GW_CACHE_KEY_LEN];
    int rc;
    int neg_held;               /* a remembered 404 was forgotten */
    int soft;                   /* expire the entry, do not remove it */
    int64_t stored_at_max;      /* soft: the entry is at least this old after */
    struct gw_req *r;
};

static void purge_leave(struct gw_req *r)
{
    if (r->u.purge.job) r->u.purge.job->r = NULL;
}

/* Let go of what the way being left holds. */
static void way_leave(struct gw_req *r)
{
    switch (r->way) {
    case REQ_HIT: req_hit_leave(r); break;
    case REQ_FOLLOW: req_follow_leave(r); break;
    case REQ_PASS: req_pass_leave(r); break;
    case REQ_SEGMENTED: req_seg_leave(r); break;
    case REQ_PURGE: purge_leave(r); break;
    case REQ_LOOKUP:
    case REQ_DONE:
    case REQ_NWAYS: break;
    }
}

void req_goto(struct gw_req *r, enum req_way to)
{
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    if (!moves[r->way][to]) {
        gw_error("req", "%s: %s: no way from %s to %s", gw_sink_peer(r->sink), r->name,
                 way_names[r->way], way_names[to]);
        gw_assert(!"allowed move between ways");
    }
    gw_debug("req", "%s: %s: %s -> %s", gw_sink_peer(r->sink), r->name, way_names[r->way],
             way_names[to]);
    way_leave(r);
    memset(&r->u, 0, sizeof(r->u));
    r->way = to;
}

void req_finish(struct gw_req *r, int status, const char *reason, const char *extra)
{
    req_goto(r, REQ_DONE);
    gw_respond_object_error(r->sink, r->svc->conf, status, reason, extra);
}

void req_not_found(struct gw_req *r)
{
    char cc[64];
    snprintf(cc, sizeof(cc), "Cache-Control: max-age=%llu\r\n",
             (unsigned long long)(r->svc->conf->negative_ttl_ms / 1000));
    req_finish(r, 404, "no such fractal", cc);
}

int req_servable(int kind)
{
    return kind == GW_CACHE_KIND_OBJECT || kind == GW_CACHE_KIND_SEGMENT ||
           kind == GW_CACHE_KIND_MANIFEST;
}

int req_stale_usable(const struct gw_req *r)
{
    const struct gw_conf *conf = r->svc->conf;
    if (r->entry == NULL || !req_servable(r->entry->kind)) return 0;
    int64_t expired_for = gw_wall_ms() - (r->entry->stored_at + (int64_t)conf->ttl_ms);
    return expired_for <= (int64_t)conf->stale_if_error_ms;
}

/* ---- the sink's owner ---- */

static void on_drain(void *ud)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    switch (r->way) {
    case REQ_HIT: req_hit_drain(r); break;
    case REQ_FOLLOW: req_follow_drain(r); break;
    case REQ_PASS: req_pass_drain(r); break;
    case REQ_SEGMENTED: req_seg_drain(r); break;
    default: break;
    }
}

static void release(void *ud)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    way_leave(r);
    r->magic = 0;
    free(r);
}

static const struct gw_sink_owner req_owner = {.on_drain = on_drain, .release = release};

static struct gw_req *req_new(struct gw_sink *s, const struct gw_services *svc,
                              const char *name)
{
    struct gw_req *r = gw_calloc(1, sizeof(*r));
    r->magic = REQ_MAGIC;
    r->sink = s;
    r->svc = svc;
    r->way = REQ_LOOKUP;
    snprintf(r->name, sizeof(r->name), "%s", name);
    gw_sink_attach(s, &req_owner, r);
    return r;
}

/* ---- choosing the way ---- */

/* A cold Range far into the object: Swift answers it (range_passthrough). */
static int far_range(const struct gw_req *r)
{
    const struct gw_conf *conf = r->svc->conf;
    size_t n;
    const char *v = gw_http_header(gw_sink_request(r->sink), "Range", &n);
    if (conf->range_passthrough == 0 || v == NULL || r->head_only || r->warm) return 0;
    struct gw_range rg[GW_RANGES_MAX];
    /* Against an unknown length, a suffix range counts as far in. */
    return gw_cond_parse_ranges(v, n, UINT64_MAX, rg) == 1 &&
           rg[0].first >= conf->range_passthrough;
}

/*
 * Near a memory limit (memguard.h) a request that needs a new fetch from
 * Swift is refused before anything is allocated for it; hits go on.
 * Returns 1 if r was answered.
 */
static int refused_for_memory(struct gw_req *r)
{
    if (gw_memguard_level() == GW_MEM_OK) return 0;
    gw_stats_error(GW_ERR_OUT_OF_MEMORY);
    req_finish(r, 503, GW_OUT_OF_MEMORY_REASON, "Retry-After: 1\r\n");
    return 1;
}

/* No usable entry: a fill, or Swift directly for a far Range (the whole
 * object filling behind it if range_fill says so). */
static void lookup_miss(struct gw_req *r)
{
    r->entry = NULL;
    if (refused_for_memory(r)) return;
    if (!far_range(r)) {
        req_follow_start(r, 0);
        return;
    }
    if (r->svc->conf->range_fill) {
        struct gw_fill_spec spec = {.object = r->name,
                                    .request_id = gw_sink_request(r->sink)->request_id};
        gw_fill_prefetch(r->svc, r->key, &spec);
    }
    req_pass_start(r, 1);
}

/*
 * Nothing servable in the index: a 404 Swift gave lately (neg.h) is the
 * answer, else the object is fetched.  A warm asks Swift whatever was
 * remembered: it is how an operator makes a new object seen at once.
 */
static void lookup_absent(struct gw_req *r)
{
    if (!r->warm && gw_neg_get(r->svc->neg, r->key, gw_now_ms())) {
        r->entry = NULL;
        gw_sink_set_cache(r->sink, GW_CACHE_HIT);
        req_not_found(r);
        return;
    }
    lookup_miss(r);
}

/*
 * stale_while_revalidate: the expired entry answers now, and a fill with
 * If-None-Match runs behind it (joined if one runs: one per object however
 * many ask).  The fill commits what Swift says (304, 200, 404) as a
 * foreground revalidation would; nobody follows it.
 */
static void revalidate_behind(struct gw_req *r)
{
    struct gw_fill_spec spec = {.object = r->name,
                                .revalidate_etag = r->entry->etag,
                                .request_id = gw_sink_request(r->sink)->request_id};
    gw_fill_prefetch(r->svc, r->key, &spec);
    req_hit_start(r, GW_CACHE_STALE_UPDATING);
}

/* What the index says decides the way; the negative cache only when it has nothing. */
static void lookup(struct gw_req *r)
{
    const struct gw_conf *conf = r->svc->conf;
    gw_cache_key(conf->container, r->name, r->key);
    r->entry = &r->entry_store;
    /* A kind this version does not serve (a NEGATIVE record the sweep has
     * not seen) counts as no entry. */
    if (gw_cache_get(r->svc->cache, r->key, r->entry) != 0 || !req_servable(r->entry->kind)) {
        lookup_absent(r);
        return;
    }
    int64_t age = gw_wall_ms() - r->entry->stored_at;
    if (age < (int64_t)conf->ttl_ms) {
        req_hit_start(r, GW_CACHE_HIT);
    } else if (!r->warm && age < (int64_t)(conf->ttl_ms + conf->stale_while_revalidate_ms)) {
        revalidate_behind(r);
    } else {
        req_follow_start(r, 1);
    }
}

void gw_req_fractal(struct gw_sink *s, const struct gw_services *svc, const char *name,
                    int head_only)
{
    struct gw_req *r = req_new(s, svc, name);
    r->head_only = head_only;
    size_t wl;
    const char *wv = gw_http_header(gw_sink_request(s), "X-Swiftgate-Warm", &wl);
    r->warm = wv && wl == 1 && wv[0] == '1' && !head_only;
    if (svc->cache != NULL) {
        lookup(r);
    } else if (r->warm) {
        req_finish(r, 409, "no cache configured to warm", NULL);
    } else if (!refused_for_memory(r)) {
        req_pass_start(r, 0);
    }
}

/* ---- purge (admin) ---- */

static void purge_work(uv_work_t *w)
{
    struct purge_job *job = w->data;
    if (job->soft)
        job->rc = gw_cache_expire(job->cache, job->key, job->stored_at_max);
    else
        job->rc = gw_cache_remove(job->cache, job->key);
}

static void purge_done(uv_work_t *w, int status)
{
    struct purge_job *job = w->data;
    struct gw_req *r = job->r;
    int rc = status != 0 ? status : job->rc;
    int neg_held = job->neg_held, soft = job->soft;
    free(job);
    if (r == NULL) return; /* the client left */
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    r->u.purge.job = NULL;
    if (rc == 0 || (rc == GW_ENOTFOUND && neg_held))
        req_finish(r, 200, soft ? "soft-purged: the next request revalidates" : "purged", NULL);
    else if (rc == GW_ENOTFOUND)
        req_finish(r, 404, "not cached", NULL);
    else if (rc == GW_ELIMIT)
        req_finish(r, 503, "cache index full; try again", NULL);
    else
        req_finish(r, 500, status != 0 ? "purge failed" : gw_strerror(rc), NULL);
}

void gw_req_purge(struct gw_sink *s, const struct gw_services *svc, const char *name, int soft)
{
    if (svc->cache == NULL) {
        gw_respond_simple(s, 404, "no cache configured", NULL);
        return;
    }
    struct gw_req *r = req_new(s, svc, name);
    req_goto(r, REQ_PURGE);
    struct purge_job *job = gw_calloc(1, sizeof(*job));
    job->work.data = job;
    job->cache = svc->cache;
    gw_cache_key(svc->conf->container, name, job->key);
    /* Expired as of now: lookup() finds its age >= ttl; stale_if_error
     * still counts from now, as after a ttl run out. */
    job->soft = soft;
    job->stored_at_max = gw_wall_ms() - (int64_t)svc->conf->ttl_ms;
    /* In memory, at once: the next request asks Swift. */
    job->neg_held = gw_neg_forget(svc->neg, job->key);
    job->r = r;
    if (uv_queue_work(svc->loop, &job->work, purge_work, purge_done) != 0) {
        free(job);
        req_finish(r, 500, "purge failed", NULL);
        return;
    }
    r->u.purge.job = job;
}
