/*
 * req_seg.c - the segmented way: a large object from its plan.
 *
 * The plan comes from a MANIFEST entry (the hit way, through the cache of
 * decoded plans) or from the fill that just read the manifest (the follow
 * way); it is held (plancache.h), never changed.  Preconditions and ranges are
 * decided against the large object's ETag and length, then the assembler
 * (assemble.c) streams the covered segments, one range after the other.
 * The head waits for the first segment to be at hand, so a missing or
 * changed one can still be a 502; after the head, a failure cuts the
 * connection.  A warm request caches every segment and answers 204.
 */
#include <stdio.h>

#include "assemble.h"
#include "manifest.h"
#include "plancache.h"
#include "req_int.h"
#include "util.h"

void req_seg_leave(struct gw_req *r)
{
    gw_asm_free(r->u.seg.asm_);
    r->u.seg.asm_ = NULL;
}

void req_seg_drain(struct gw_req *r)
{
    if (r->u.seg.asm_) gw_asm_pump(r->u.seg.asm_);
}

/* The first segment is at hand: the head can promise the body. */
static void seg_ready(struct gw_req *r)
{
    struct req_seg *sg = &r->u.seg;
    if (gw_sink_cache(r->sink) == GW_CACHE_HIT && gw_asm_fetched(sg->asm_) > 0)
        gw_sink_set_cache(r->sink, GW_CACHE_MISS);
    struct gw_object_meta m = {
        .length = sg->total,
        .etag = sg->etag,
        .last_modified = sg->last_modified,
        .content_type = sg->content_type,
        .stored_at = sg->stored_at,
        .replay = sg->replay,
    };
    sg->head_sent = 1;
    if (gw_respond_object_head(r->sink, r->svc->conf, &r->body, &m, r->head_only)) {
        req_goto(r, REQ_DONE);
        return;
    }
    gw_respond_part_head(r->sink, &r->body);
    gw_asm_pump(sg->asm_);
}

/* A range is all queued: the next, or the end. */
static void seg_done(struct gw_req *r)
{
    struct req_seg *sg = &r->u.seg;
    gw_sink_set_bytes(r->sink, gw_asm_sent(sg->asm_));
    if (r->warm) {
        enum gw_cache_result how =
            gw_asm_fetched(sg->asm_) > 0 ? GW_CACHE_MISS : gw_sink_cache(r->sink);
        req_goto(r, REQ_DONE);
        gw_respond_warm(r->sink, how);
        return;
    }
    struct gw_body *b = &r->body;
    if (++b->part_i < b->nparts) {
        gw_respond_part_head(r->sink, b);
        gw_asm_range(sg->asm_, b->parts[b->part_i].first, b->parts[b->part_i].last, 0);
        gw_asm_pump(sg->asm_);
        return;
    }
    gw_respond_multipart_tail(r->sink, b);
    req_goto(r, REQ_DONE);
    gw_sink_end(r->sink);
}

static void seg_failed(struct gw_req *r)
{
    struct req_seg *sg = &r->u.seg;
    const char *why;
    int status = gw_asm_error(sg->asm_, &why);
    gw_sink_set_bytes(r->sink, gw_asm_sent(sg->asm_));
    if (sg->head_sent) {
        gw_warn("req", "%s: %s cut off after %llu body bytes: %s", gw_sink_peer(r->sink),
                r->name, (unsigned long long)gw_sink_bytes(r->sink), why);
        req_goto(r, REQ_DONE);
        gw_sink_abort(r->sink);
    } else if (status == 503 && !r->warm) {
        /* A segment cannot go through the cache (no room): Swift puts the
         * object together itself. */
        req_pass_start(r, 0);
    } else {
        req_finish(r, status, why, NULL);
    }
}

static void seg_event(void *ud, enum gw_asm_event ev)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    switch (ev) {
    case GW_ASM_READY: seg_ready(r); return;
    case GW_ASM_DONE: seg_done(r); return;
    case GW_ASM_FAILED: seg_failed(r); return;
    }
}

void req_seg_start(struct gw_req *r, struct gw_plan_ref *ref, const struct gw_object_meta *from,
                   enum gw_cache_result how)
{
    req_goto(r, REQ_SEGMENTED);
    struct req_seg *sg = &r->u.seg;
    const struct gw_plan *plan = gw_plan_ref_plan(ref);
    gw_sink_set_cache(r->sink, how);
    sg->total = plan->total;
    snprintf(sg->etag, sizeof(sg->etag), "%s", plan->etag);
    snprintf(sg->last_modified, sizeof(sg->last_modified), "%s", from->last_modified);
    snprintf(sg->content_type, sizeof(sg->content_type), "%s", from->content_type);
    snprintf(sg->replay, sizeof(sg->replay), "%s", from->replay ? from->replay : "");
    sg->stored_at = from->stored_at;
    if (r->warm) {
        /* Warming a large object caches every segment. */
        if (sg->total == 0) {
            gw_plan_ref_drop(ref);
            req_goto(r, REQ_DONE);
            gw_respond_warm(r->sink, how);
            return;
        }
        sg->asm_ = gw_asm_new(r->sink, r->svc, ref, GW_ASM_SINK, seg_event, r);
        gw_asm_range(sg->asm_, 0, sg->total - 1, 0);
        gw_asm_pump(sg->asm_);
        return;
    }
    const struct gw_http_req *req = gw_sink_request(r->sink);
    gw_body_plan(&r->body, req, r->head_only, sg->total, sg->etag, sg->last_modified);
    if (!gw_body_wanted(&r->body, req, r->head_only, sg->etag, sg->last_modified)) {
        /* HEAD, 304, 412, 416 or an empty object: the plan says it all. */
        gw_plan_ref_drop(ref);
        struct gw_object_meta m = {.length = sg->total, .etag = sg->etag,
                                   .last_modified = sg->last_modified,
                                   .content_type = sg->content_type,
                                   .stored_at = sg->stored_at, .replay = sg->replay};
        gw_respond_object_head(r->sink, r->svc->conf, &r->body, &m, r->head_only);
        req_goto(r, REQ_DONE);
        return;
    }
    sg->asm_ = gw_asm_new(r->sink, r->svc, ref, r->body.nranges > 0 ? GW_ASM_RANGES : 0,
                          seg_event, r);
    gw_asm_range(sg->asm_, r->body.parts[0].first, r->body.parts[0].last, 1);
    gw_asm_pump(sg->asm_);
}
