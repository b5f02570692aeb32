/*
 * upload_slo_plain.c - the end of a chunked PUT that fit in one segment
 * (upload_slo.h): a plain object, as a PUT with a Content-Length would
 * have stored it.
 *
 * Segment 0 is in <container>_segments, stored and checked.  Swift copies
 * it to the object (a PUT with X-Copy-From and the upload's Content-Type,
 * so no byte crosses the network again); the copy's 201 must carry the
 * body's MD5 as its ETag.  Then segment 0 is deleted and the cache gets an
 * OBJECT entry for the uuid (slo_commit()).
 *
 * Invariants:
 *  - A copy Swift refuses or fails leaves the object as it was; a copy
 *    stored under another ETag is deleted (manifest_bad); either way
 *    slo_fail() deletes segment 0 too, and nothing is cached.
 *  - Once the copy is stored, the object is the client's: a DELETE of the
 *    segment that fails is logged (the segment is left in Swift) and the
 *    answer is still 201.
 *  - The requests run on u->mq and u->dq, which the client's going away
 *    does not cancel, so the write request stays busy until they are over.
 */
#include "upload_slo.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "origin.h"
#include "services.h"
#include "sink.h"
#include "util.h"

static int ignore_data(void *ud, const char *buf, size_t len)
{
    (void)ud, (void)buf, (void)len;
    return 0; /* Swift's few words on a copy or DELETE are not passed on */
}

static int seg_del_on_headers(void *ud, struct gw_fetch *f, long status)
{
    (void)f;
    slo_of(ud)->del_status = status;
    return 0;
}

/* The segment's DELETE is over: it is no longer the upload's to undo. */
static void seg_del_on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_upload_slo *u = slo_of(ud);
    (void)f;
    if (err != 0 || (u->del_status / 100 != 2 && u->del_status != 404))
        gw_warn("upload", "%s: stored; cannot delete %s/%s (%ld): left in Swift", u->w.name,
                u->del_container, u->del_object, u->del_status);
    u->segs[0].sent = 0;
    slo_commit(u);
}

static const struct gw_fetch_cbs seg_del_cbs = {
    .on_headers = seg_del_on_headers, .on_data = ignore_data, .on_done = seg_del_on_done,
};

static void delete_segment(struct gw_upload_slo *u)
{
    snprintf(u->del_container, sizeof(u->del_container), "%s", u->segc);
    slo_seg_name(u, 0, u->del_object, sizeof(u->del_object));
    struct gw_swift_target t = {
        .kind = "segment", .method = "DELETE", .container = u->del_container,
        .object = u->del_object, .once = 1,
    };
    u->del_status = 0;
    gw_swift_req_init(&u->dq, u->w.svc, &t, &seg_del_cbs, u);
    if (gw_swift_req_start(&u->dq) != 0) seg_del_on_done(u, NULL, GW_EORIGIN);
}

static const struct slo_put_words copy_words = {
    .not_taken = "Swift did not store the object",
    .not_stored = "Swift did not store the object",
    .mismatch = "Swift's ETag does not match the body",
};

static void copy_on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_upload_slo *u = slo_of(ud);
    (void)f;
    if (slo_object_stored(u, err, u->md5hex, &copy_words)) delete_segment(u);
}

static const struct gw_fetch_cbs copy_cbs = {
    .on_headers = slo_put_on_headers, .on_data = ignore_data, .on_done = copy_on_done,
};

static void copy_prepare(void *ud, struct gw_fetch *f)
{
    struct gw_upload_slo *u = slo_of(ud);
    char seg[GW_OBJECT_MAX + 1], line[GW_CONTAINER_MAX + GW_OBJECT_MAX + 32];
    slo_seg_name(u, 0, seg, sizeof(seg));
    snprintf(line, sizeof(line), "X-Copy-From: /%s/%s", u->segc, seg);
    gw_fetch_add_header(f, line);
    gw_fetch_add_header(f, "Content-Length: 0");
    gw_upload_put_headers(f, u->ctype, gw_sink_request(u->w.s));
}

void slo_plain(struct gw_upload_slo *u)
{
    gw_assert(u->plain && u->nsegs == 1);
    /* The answer's ETag, and the entry's: the body's MD5 (segment 0's). */
    snprintf(u->slo_etag, sizeof(u->slo_etag), "%s", u->md5hex);
    struct gw_swift_target t = {
        .kind = "object", .method = "PUT", .container = u->w.svc->conf->container,
        .object = u->w.name, .prepare = copy_prepare, .once = 1,
    };
    gw_swift_req_init(&u->mq, u->w.svc, &t, &copy_cbs, u);
    if (gw_swift_req_start(&u->mq) != 0)
        slo_fail(u, 502, "cannot reach Swift", GW_ERR_UPLOAD_ABORTED);
}
