/*
 * req_hit.c - the hit way: an answer from a cache entry.
 *
 * The head comes from the index entry alone when it says it all (304, 412,
 * 416, HEAD, an empty body); otherwise the blob is needed: a hot blob's
 * descriptor is shared already (blobfd.c), a cold one is opened (and read
 * ahead) in the thread pool.  An OBJECT entry's body is then sent from the
 * descriptor with sendfile, part by part; a MANIFEST entry's blob is the
 * encoded plan of a large object, which goes on to the segmented way (a
 * plan decoded for an earlier hit on the same entry is taken from the
 * cache of decoded plans, and then the blob is not opened at all).  A
 * blob that is gone
 * by the time it is opened (evicted, replaced) sends the request back to
 * a fill, at most a few times.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "blobfd.h"
#include "conf.h"
#include "manifest.h"
#include "plancache.h"
#include "req_int.h"
#include "stats.h"
#include "util.h"

/* Times a request goes back to a fill because its blob went away. */
#define RESTARTS_MAX 3

void req_hit_leave(struct gw_req *r)
{
    struct req_hit *h = &r->u.hit;
    gw_blobfd_open_cancel(h->open);
    h->open = NULL;
    if (h->blob) gw_blobfd_release(h->blob);
    h->blob = NULL;
}

void req_hit_lost(struct gw_req *r)
{
    if (r->restarts++ >= RESTARTS_MAX) {
        req_finish(r, 503, "cache entry keeps changing; try again", NULL);
        return;
    }
    r->entry = NULL;
    req_follow_start(r, 0);
}

static struct gw_object_meta entry_meta(const struct gw_cache_entry *e)
{
    return (struct gw_object_meta){
        .length = e->size,
        .etag = e->etag,
        .last_modified = e->last_modified,
        .content_type = e->content_type,
        .stored_at = e->stored_at,
        .replay = e->meta,
    };
}

static void hit_pump(struct gw_req *r)
{
    if (gw_respond_parts_from_blob(r->sink, &r->body, r->u.hit.blob,
                                   r->svc->conf->write_buffer)) {
        req_goto(r, REQ_DONE);
        gw_sink_end(r->sink);
        return;
    }
    gw_sink_wait_drain(r->sink);
}

void req_hit_drain(struct gw_req *r)
{
    if (r->u.hit.blob) hit_pump(r);
}

/* A large object's answer from its plan, held. */
static void manifest_answer(struct gw_req *r, struct gw_plan_ref *ref)
{
    struct gw_object_meta from = entry_meta(r->entry);
    req_seg_start(r, ref, &from, gw_sink_cache(r->sink));
}

/*
 * A MANIFEST entry's blob holds the encoded plan: mapped for as long as it
 * is decoded (the plan is copied out), then kept decoded for the next hit.
 */
static void manifest_send(struct gw_req *r)
{
    struct gw_plan plan;
    struct gw_blobfd *b = r->u.hit.blob;
    int rc = -EINVAL;
    void *addr = b->len ? mmap(NULL, b->len, PROT_READ, MAP_SHARED, b->fd, 0) : MAP_FAILED;
    if (addr != MAP_FAILED) {
        rc = gw_plan_decode(addr, (size_t)b->len, &plan);
        munmap(addr, b->len);
    }
    if (rc != 0) {
        gw_warn("req", "%s: the cached plan of %s cannot be read: fetching it again",
                gw_sink_peer(r->sink), r->entry->name);
        req_hit_lost(r);
        return;
    }
    gw_stats_plan_decoded();
    manifest_answer(r, gw_plancache_put(r->key, r->entry->blob_id, &plan));
}

/* The blob is open: the head, then the body. */
static void hit_send(struct gw_req *r)
{
    if (r->entry->kind == GW_CACHE_KIND_MANIFEST) {
        manifest_send(r);
        return;
    }
    struct gw_object_meta m = entry_meta(r->entry);
    m.prepared = &r->u.hit.blob->head;
    if (gw_respond_object_head(r->sink, r->svc->conf, &r->body, &m, r->head_only)) {
        req_goto(r, REQ_DONE);
        return;
    }
    hit_pump(r);
}

static void on_open(void *ud, int rc, struct gw_blobfd *blob)
{
    struct gw_req *r = ud;
    GW_CHECK_MAGIC(r, REQ_MAGIC);
    r->u.hit.open = NULL;
    if (rc != 0) {
        if (rc != -ENOENT)
            gw_warn("req", "%s: opening %s: %s", gw_sink_peer(r->sink), r->entry->name,
                    gw_strerror(rc));
        req_hit_lost(r);
        return;
    }
    r->u.hit.blob = blob;
    hit_send(r);
}

void req_hit_start(struct gw_req *r, enum gw_cache_result how)
{
    req_goto(r, REQ_HIT);
    const struct gw_cache_entry *e = r->entry;
    gw_sink_set_cache(r->sink, how);
    gw_cache_touch(r->svc->cache, r->key);
    int manifest = e->kind == GW_CACHE_KIND_MANIFEST;
    if (r->warm && !manifest) {
        req_goto(r, REQ_DONE);
        gw_respond_warm(r->sink, how);
        return;
    }
    const struct gw_http_req *req = gw_sink_request(r->sink);
    gw_body_plan(&r->body, req, r->head_only, e->size, e->etag, e->last_modified);
    /* A large object's answer needs its plan, which is in the blob. */
    if (!manifest && !gw_body_wanted(&r->body, req, r->head_only, e->etag, e->last_modified)) {
        /* 304, 412, 416, HEAD or an empty body: the index says it all. */
        struct gw_object_meta m = entry_meta(e);
        gw_respond_object_head(r->sink, r->svc->conf, &r->body, &m, r->head_only);
        req_goto(r, REQ_DONE);
        return;
    }
    if (manifest) {
        /* Decoded already for an earlier hit on this very entry: no blob needed. */
        struct gw_plan_ref *ref = gw_plancache_get(r->key, e->blob_id);
        if (ref) {
            manifest_answer(r, ref);
            return;
        }
    }
    r->u.hit.blob = gw_blobfd_get(r->key, e->blob_id);
    if (r->u.hit.blob) {
        hit_send(r);
        return;
    }
    r->u.hit.open = gw_blobfd_open_async(r->svc->loop, r->svc->cache, e, on_open, r);
    if (r->u.hit.open == NULL) req_hit_lost(r);
}
