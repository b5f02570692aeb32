/*
 * req_follow.c - the follow way: the body from a fill, as it arrives.
 *
 * The request joins the fill of its key (starting it if none runs) and is
 * woken on its own loop whenever the fill has news.  What happens next
 * depends on the fill's state: a body is sent as it is written, holding
 * back the last byte until the fill is verified, so no answer is complete
 * before its bytes are known good; a 304 to a revalidation, a stale entry
 * after a failure, or several ranges (which wait for the whole object) go
 * to the hit way; an answer the cache cannot take goes to the pass way; a
 * large object's plan to the segmented way.  Only the request that started
 * the fill is a MISS; the others are hits on a busy object (Varnish).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "http.h"
#include "manifest.h"
#include "plancache.h"
#include "req_int.h"
#include "stats.h"
#include "util.h"

static struct gw_req *req_of(struct gw_fill_reader *rd)
{
    struct gw_req *r =
        (struct gw_req *)((char *)rd - offsetof(struct gw_req, u.follow.reader));
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    return r;
}

void req_follow_leave(struct gw_req *r)
{
    struct req_follow *fo = &r->u.follow;
    if (!fo->following) return;
    fo->following = 0;
    gw_fill_leave(&fo->reader);
}

/* Send what the fill has of the one part (the whole body or one range). */
static void follow_pump(struct gw_req *r, const struct gw_fill_info *info)
{
    const struct gw_range *rg = &r->body.parts[0];
    uint64_t end = rg->last + 1;
    uint64_t limit = info->readable < end ? info->readable : end;
    if (info->state != GW_FILL_VERIFIED && limit == end) limit = end - 1;
    uint64_t pos = rg->first + r->body.part_off;
    if (pos < limit) {
        int64_t n = gw_respond_from_fill(r->sink, &r->u.follow.reader, pos, limit - pos);
        if (n < 0) {
            gw_warn("req", "%s: reading the fill of %s: %s", gw_sink_peer(r->sink), r->name,
                    gw_strerror((int)n));
            req_goto(r, REQ_DONE);
            gw_sink_abort(r->sink);
            return;
        }
        pos += (uint64_t)n;
        r->body.part_off += (uint64_t)n;
        gw_sink_set_bytes(r->sink, r->body.part_off);
    }
    if (pos == end) {
        req_goto(r, REQ_DONE);
        gw_sink_end(r->sink);
        return;
    }
    if (pos < limit) gw_sink_wait_drain(r->sink);
}

/* Swift said 304: the entry stands (its stored_at is being refreshed). */
static void on_not_modified(struct gw_req *r)
{
    int primary = r->u.follow.reader.primary;
    if (r->entry == NULL) {
        /* A request that joined without an entry reads it now. */
        r->entry = &r->entry_store;
        if (gw_cache_get(r->svc->cache, r->key, r->entry) != 0 ||
            !req_servable(r->entry->kind)) {
            r->entry = NULL;
            req_hit_lost(r);
            return;
        }
    }
    r->entry->stored_at = gw_wall_ms();
    /* Only the request that asked Swift revalidated; joiners hit. */
    req_hit_start(r, primary ? GW_CACHE_REVALIDATED : GW_CACHE_HIT);
}

static void on_failed(struct gw_req *r, const struct gw_fill_info *info)
{
    if (r->u.follow.head_sent) {
        req_goto(r, REQ_DONE);
        gw_sink_abort(r->sink);
    } else if (req_stale_usable(r)) {
        req_hit_start(r, GW_CACHE_STALE);
    } else {
        /* The fill's own reason when it has one (a large object refused). */
        const char *why = info->error_reason ? info->error_reason
                          : info->error_status == 504 ? "Swift timed out"
                                                      : "Swift unreachable or failed";
        req_finish(r, info->error_status ? info->error_status : 502, why, NULL);
    }
}

/* A large object: its plan, then its segments. */
static void on_manifest(struct gw_req *r, const struct gw_fill_info *info)
{
    struct gw_plan plan;
    int rc = gw_fill_plan(&r->u.follow.reader, &plan);
    int primary = r->u.follow.reader.primary;
    if (rc != 0) {
        req_finish(r, 502, "bad large object manifest", NULL);
        return;
    }
    gw_stats_plan_decoded();
    r->entry = NULL;
    struct gw_object_meta from = {.last_modified = info->last_modified,
                                  .content_type = info->content_type,
                                  .stored_at = primary ? 0 : gw_wall_ms(),
                                  .replay = info->replay};
    req_seg_start(r, gw_plan_ref_new(&plan), &from, primary ? GW_CACHE_MISS : GW_CACHE_HIT);
}

/* Several ranges wait for the whole object, then go as a hit. */
static void multipart_ready(struct gw_req *r)
{
    r->entry = &r->entry_store;
    if (gw_cache_get(r->svc->cache, r->key, r->entry) == 0 &&
        r->entry->kind == GW_CACHE_KIND_OBJECT) {
        req_hit_start(r, gw_sink_cache(r->sink));
        return;
    }
    /* Not in the index after all (the commit failed). */
    r->entry = NULL;
    req_finish(r, 503, "object not available; try again", NULL);
}

/*
 * Before the head goes out, the reader's own descriptor of the fill's file
 * (gw_fill_file keeps it for the reader), so that a process out of
 * descriptors answers 503 rather than a head whose body it cannot send.
 * 0, or the request is finished.
 */
static int follow_open(struct gw_req *r)
{
    if (r->head_only || r->body.nparts == 0) return 0;
    int fd;
    void *ref;
    int rc = gw_fill_file(&r->u.follow.reader, &fd, &ref);
    if (rc == 0) {
        gw_fill_file_release(ref); /* the reader keeps its own reference */
        return 0;
    }
    gw_warn("req", "%s: reading the fill of %s: %s", gw_sink_peer(r->sink), r->name,
            gw_strerror(rc));
    gw_stats_error_for(GW_ERR_CACHE_WRITE, rc);
    req_finish(r, 503, gw_err_no_files(rc) ? GW_NO_FILES_REASON : "object not available; try again",
               NULL);
    return -1;
}

/* The fill has a body (BODY or VERIFIED): the head once, then bytes. */
static void on_body(struct gw_req *r, const struct gw_fill_info *info)
{
    struct req_follow *fo = &r->u.follow;
    if (r->warm) {
        /* The answer waits until the object is in the cache. */
        if (info->state == GW_FILL_VERIFIED) {
            enum gw_cache_result how = fo->reader.primary ? GW_CACHE_MISS : GW_CACHE_HIT;
            req_goto(r, REQ_DONE);
            gw_respond_warm(r->sink, how);
        }
        return;
    }
    if (!fo->head_sent) {
        if (!fo->reader.primary) gw_sink_set_cache(r->sink, GW_CACHE_HIT);
        const struct gw_http_req *req = gw_sink_request(r->sink);
        gw_body_plan(&r->body, req, r->head_only, info->length, info->etag,
                     info->last_modified);
        if (r->body.multipart) {
            if (info->state == GW_FILL_VERIFIED) multipart_ready(r);
            return;
        }
        if (follow_open(r) != 0) return;
        struct gw_object_meta m = {
            .length = info->length,
            .etag = info->etag,
            .last_modified = info->last_modified,
            .content_type = info->content_type,
            .stored_at = fo->reader.primary ? 0 : gw_wall_ms(),
            .replay = info->replay,
        };
        fo->head_sent = 1;
        if (gw_respond_object_head(r->sink, r->svc->conf, &r->body, &m, r->head_only)) {
            req_goto(r, REQ_DONE);
            return;
        }
    }
    follow_pump(r, info);
}

static void on_fill_event(struct gw_fill_reader *rd)
{
    struct gw_req *r = req_of(rd);
    struct gw_fill_info info;
    gw_fill_info(rd, &info);
    gw_sink_set_origin_ms(r->sink, info.origin_ms);
    switch (info.state) {
    case GW_FILL_HEAD:
        return;
    case GW_FILL_NOT_MODIFIED:
        on_not_modified(r);
        return;
    case GW_FILL_NOT_FOUND:
        req_not_found(r);
        return;
    case GW_FILL_UNCACHEABLE:
        if (r->warm) {
            req_goto(r, REQ_DONE);
            gw_respond_warm(r->sink, GW_CACHE_PASS); /* nothing could be cached */
        } else {
            req_pass_start(r, 0);
        }
        return;
    case GW_FILL_FAILED:
        on_failed(r, &info);
        return;
    case GW_FILL_MANIFEST:
        on_manifest(r, &info);
        return;
    case GW_FILL_BODY:
    case GW_FILL_VERIFIED:
        on_body(r, &info);
        return;
    }
}

void req_follow_drain(struct gw_req *r)
{
    if (r->u.follow.following) on_fill_event(&r->u.follow.reader);
}

/* Range or any If-*: what a fill's plain GET did not ask Swift. */
static int has_conditionals(const struct gw_http_req *req)
{
    static const char *const names[] = {"Range", "If-Range", "If-Match", "If-None-Match",
                                        "If-Modified-Since", "If-Unmodified-Since"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n;
        if (gw_http_header(req, names[i], &n)) return 1;
    }
    return 0;
}

static int on_takeover(struct gw_fill_reader *rd, struct gw_swift_req *q, long status, int *rc)
{
    struct gw_req *r = req_of(rd);
    /* A HEAD would take a whole GET body, and a conditional or ranged GET
     * needs Swift to see its headers: they ask Swift on their own. */
    if (r->head_only || r->warm || has_conditionals(gw_sink_request(r->sink))) return 0;
    *rc = req_pass_take(r, q, status);
    return 1;
}

void req_follow_start(struct gw_req *r, int revalidate)
{
    req_goto(r, REQ_FOLLOW);
    struct req_follow *fo = &r->u.follow;
    gw_sink_set_cache(r->sink, GW_CACHE_MISS);
    fo->reader.on_event = on_fill_event;
    fo->reader.on_takeover = on_takeover;
    fo->following = 1;
    struct gw_fill_spec spec = {.object = r->name,
                                .revalidate_etag = revalidate ? r->entry->etag : NULL,
                                .request_id = gw_sink_request(r->sink)->request_id};
    gw_fill_join(r->svc, r->key, &spec, &fo->reader);
    if (!fo->reader.primary) gw_stats_joined(GW_JOIN_OBJECT);
}
