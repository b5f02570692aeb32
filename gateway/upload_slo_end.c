/*
 * upload_slo_end.c - the end of a PUT stored as an SLO (upload_slo.h): the
 * manifest to Swift, then the segments and the plan into the cache.
 *
 * The manifest lists every segment with the MD5 and size measured on the
 * way in, so Swift checks each against what it holds; its 201 must carry
 * the SLO ETag (the MD5 of those MD5s, as Swift computes it) or the
 * manifest is deleted with the segments.  A HEAD then gets the manifest's
 * own ETag (Swift stores the manifest in its own form), which the MANIFEST
 * entry keeps for revalidation, as fill_lo.c's does.  The cache gets what a read would
 * have built: each segment a SEGMENT entry under its own container and name
 * (as assemble.c keys them), and the object a MANIFEST entry holding the
 * plan that gw_slo_parse() makes of the same entries, as fill_lo.c does
 * from the manifest Swift gives back.  All of them are committed together
 * in the thread pool after the 201, so the next GET is a hit.  A chunked
 * body made a plain object (upload_slo_plain.c) gets one OBJECT entry from
 * segment 0's temp blob instead, as upload.c would have committed it.
 */
#include "upload_slo.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "http.h"
#include "neg.h"
#include "origin.h"
#include "services.h"
#include "sink.h"
#include "util.h"

static void md5_hex_of(const void *buf, size_t len, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    gw_assert(EVP_Digest(buf, len, d, &dn, EVP_md5(), NULL) == 1);
    gw_hex(d, dn, out);
}

/*
 * The segments as a JSON list: for the PUT (path, etag, size_bytes) or as
 * Swift gives the manifest back (name, hash, bytes).  Caller frees.
 */
static char *segments_json(const struct gw_upload_slo *u, int as_put, size_t *len)
{
    json_t *list = json_array();
    char obj[GW_OBJECT_MAX + 1], path[GW_CONTAINER_MAX + GW_OBJECT_MAX + 3];
    for (size_t i = 0; i < u->nsegs; i++) {
        slo_seg_name(u, i, obj, sizeof(obj));
        snprintf(path, sizeof(path), "/%s/%s", u->segc, obj);
        json_int_t n = (json_int_t)slo_seg_len(u, i);
        json_array_append_new(list, as_put ? json_pack("{s:s, s:s, s:I}", "path", path, "etag",
                                                       u->segs[i].md5, "size_bytes", n)
                                           : json_pack("{s:s, s:s, s:I}", "name", path, "hash",
                                                       u->segs[i].md5, "bytes", n));
    }
    char *s = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    gw_assert(s != NULL);
    *len = strlen(s);
    return s;
}

/* ---- the cache ---- */

static struct gw_cache_entry *new_entry(const struct gw_upload_slo *u, const char *container,
                                        const char *object)
{
    struct gw_cache_entry *e = gw_calloc(1, sizeof(*e));
    gw_cache_key(container, object, e->key);
    e->stored_at = e->last_access = gw_wall_ms();
    snprintf(e->last_modified, sizeof(e->last_modified), "%s", u->last_modified);
    snprintf(e->name, sizeof(e->name), "%s/%s", container, object);
    return e;
}

static void commit_work(uv_work_t *w)
{
    struct gw_upload_slo *u = w->data;
    char path[512];
    for (size_t i = 0; i < u->cn; i++) {
        struct gw_cache_commit *m = &u->cv[i];
        if (m->tmp_path != NULL) {
            m->fd = open(m->tmp_path, O_RDWR | O_CLOEXEC);
        } else {
            m->fd = gw_cache_tmp_open(u->w.svc->cache, path, sizeof(path));
            m->tmp_path = path;
            if (m->fd >= 0 && gw_pwrite_all(m->fd, u->plan, u->plan_len, 0) != 0) {
                close(m->fd);
                unlink(path);
                m->fd = -1;
            }
        }
        m->rc = m->fd < 0 ? -1 : 0;
    }
    /* Those that could not be opened or written are left out. */
    size_t n = 0;
    for (size_t i = 0; i < u->cn; i++)
        if (u->cv[i].rc == 0) u->cv[n++] = u->cv[i];
        else free(u->cv[i].e);
    u->cn = n;
    gw_cache_commit_many(u->w.svc->cache, u->cv, n);
    for (size_t i = 0; i < n; i++) close(u->cv[i].fd);
}

static void created(struct gw_upload_slo *u)
{
    char extra[64];
    snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\n", u->slo_etag);
    slo_end(u, 201, "created", extra);
}

static void commit_done(uv_work_t *w, int status)
{
    struct gw_upload_slo *u = slo_of(w->data);
    int failed = status != 0;
    for (size_t i = 0; i < u->cn; i++) {
        if (u->cv[i].rc != 0) failed = 1;
        free(u->cv[i].e);
    }
    if (failed) {
        gw_warn("upload", "%s: stored in Swift, not all cached", u->w.name);
        gw_stats_error(GW_ERR_CACHE_WRITE);
    }
    free(u->cv);
    u->cv = NULL;
    u->cn = 0;
    /* Renamed into blobs/ or unlinked by the commit: none is ours any more. */
    for (size_t i = 0; i < u->nsegs; i++) {
        free(u->segs[i].tmp);
        u->segs[i].tmp = NULL;
    }
    slo_cache_off(u); /* the reservation */
    created(u);
}

static void queue_commit(struct gw_upload_slo *u)
{
    u->work.data = u;
    if (uv_queue_work(u->w.svc->loop, &u->work, commit_work, commit_done) != 0) {
        for (size_t i = 0; i < u->cn; i++) u->cv[i].rc = -1;
        commit_done(&u->work, 0);
    }
}

/* A plain object copied from segment 0: an OBJECT entry, as upload.c commits. */
static void commit_plain(struct gw_upload_slo *u)
{
    if (u->segs[0].tmp == NULL) {
        created(u);
        return;
    }
    struct gw_cache_entry *e = new_entry(u, u->w.svc->conf->container, u->w.name);
    e->kind = GW_CACHE_KIND_OBJECT;
    e->size = u->length;
    memcpy(e->md5, u->segs[0].md5, sizeof(e->md5));
    memcpy(e->etag, u->segs[0].md5, sizeof(e->md5));
    snprintf(e->content_type, sizeof(e->content_type), "%s", u->ctype);
    u->cv = gw_calloc(1, sizeof(*u->cv));
    u->cv[u->cn++] = (struct gw_cache_commit){.e = e, .tmp_path = u->segs[0].tmp, .fd = -1};
    queue_commit(u);
}

/* The plan a read would build, and the entries of it all; then the commit. */
void slo_commit(struct gw_upload_slo *u)
{
    const struct gw_services *svc = u->w.svc;
    if (svc->neg) gw_neg_forget(svc->neg, u->w.key);
    if (svc->cache == NULL) {
        created(u);
        return;
    }
    if (u->plain) {
        commit_plain(u);
        return;
    }
    size_t len;
    char *json = segments_json(u, 0, &len);
    struct gw_plan plan = {0};
    const char *why = NULL;
    int rc = gw_slo_parse(json, len, 0, &plan, &why);
    free(json);
    gw_assert(rc == 0 && strcasecmp(plan.etag, u->slo_etag) == 0);
    gw_plan_encode(&plan, &u->plan, &u->plan_len);
    gw_plan_free(&plan);

    u->cv = gw_calloc(u->nsegs + 1, sizeof(*u->cv));
    char obj[GW_OBJECT_MAX + 1];
    for (size_t i = 0; i < u->nsegs; i++) {
        if (u->segs[i].tmp == NULL) continue;
        slo_seg_name(u, i, obj, sizeof(obj));
        struct gw_cache_entry *e = new_entry(u, u->segc, obj);
        e->kind = GW_CACHE_KIND_SEGMENT;
        e->size = slo_seg_len(u, i);
        memcpy(e->md5, u->segs[i].md5, sizeof(e->md5));
        memcpy(e->etag, u->segs[i].md5, sizeof(e->md5));
        snprintf(e->content_type, sizeof(e->content_type), "application/octet-stream");
        u->cv[u->cn++] = (struct gw_cache_commit){.e = e, .tmp_path = u->segs[i].tmp, .fd = -1};
    }
    struct gw_cache_entry *e = new_entry(u, svc->conf->container, u->w.name);
    memcpy(e->key, u->w.key, GW_CACHE_KEY_LEN);
    e->kind = GW_CACHE_KIND_MANIFEST;
    e->size = u->plan_len;
    md5_hex_of(u->plan, u->plan_len, e->md5);
    /* The manifest's own ETag, which revalidation asks for; "" (no
     * revalidation: fetched again when stale) when Swift did not say it. */
    snprintf(e->etag, sizeof(e->etag), "%s", u->manifest_etag);
    snprintf(e->content_type, sizeof(e->content_type), "%s", u->ctype);
    u->cv[u->cn++] = (struct gw_cache_commit){.e = e, .tmp_path = NULL, .fd = -1};
    queue_commit(u);
}

/* ---- the manifest ---- */

static void man_prepare(void *ud, struct gw_fetch *f)
{
    struct gw_upload_slo *u = slo_of(ud);
    gw_upload_put_headers(f, u->ctype, gw_sink_request(u->w.s));
}

int slo_put_on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_upload_slo *u = slo_of(ud);
    u->mstatus = status;
    const char *lm = gw_fetch_header(f, "Last-Modified");
    gw_etag_unquote(u->metag, sizeof(u->metag), gw_fetch_header(f, "ETag"));
    if (lm) snprintf(u->last_modified, sizeof(u->last_modified), "%s", lm);
    return 0;
}

/* The HEAD after: the manifest's own ETag, if the object is still ours. */
static int head_on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_upload_slo *u = slo_of(ud);
    char etag[80];
    gw_etag_unquote(etag, sizeof(etag), gw_fetch_header(f, "ETag"));
    if (status == 200 && strcasecmp(etag, u->slo_etag) == 0)
        gw_etag_unquote(u->manifest_etag, sizeof(u->manifest_etag),
                        gw_fetch_header(f, "X-Manifest-Etag"));
    return 0;
}

static int man_on_data(void *ud, const char *buf, size_t len)
{
    (void)ud, (void)buf, (void)len;
    return 0;
}

static size_t man_on_read(void *ud, char *buf, size_t len)
{
    struct gw_upload_slo *u = slo_of(ud);
    size_t n = u->mlen - u->moff < len ? u->mlen - u->moff : len;
    memcpy(buf, u->mbody + u->moff, n);
    u->moff += n;
    return n;
}

static void head_manifest(struct gw_upload_slo *u);

int slo_object_stored(struct gw_upload_slo *u, int err, const char *want_etag,
                      const struct slo_put_words *words)
{
    if (err != 0)
        slo_fail(u, gw_fetch_err_status(err),
                 err == GW_EBUSY ? GW_FETCH_BUSY_REASON : words->not_taken,
                 GW_ERR_UPLOAD_ABORTED);
    else if (u->mstatus == 401)
        slo_fail(u, 503, "Swift refused the gateway's token", GW_ERR_UPLOAD_ABORTED);
    else if (u->mstatus != 201)
        slo_fail(u, 502, words->not_stored, GW_ERR_UPLOAD_ABORTED);
    else if (strcasecmp(u->metag, want_etag) != 0) {
        u->manifest_bad = 1; /* what Swift stored must go */
        slo_fail(u, 502, words->mismatch, GW_ERR_UPLOAD_DIGEST);
    } else
        return 1;
    return 0;
}

static const struct slo_put_words man_words = {
    .not_taken = "Swift did not take the manifest",
    .not_stored = "Swift did not store the manifest",
    .mismatch = "Swift's ETag of the manifest does not match the segments",
};

static void man_on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_upload_slo *u = slo_of(ud);
    (void)f;
    if (slo_object_stored(u, err, u->slo_etag, &man_words)) head_manifest(u);
}

static void head_on_done(void *ud, struct gw_fetch *f, int err)
{
    (void)f, (void)err; /* without it, the entry is fetched again when stale */
    slo_commit(slo_of(ud));
}

static const struct gw_fetch_cbs head_cbs = {
    .on_headers = head_on_headers, .on_data = man_on_data, .on_done = head_on_done,
};

/*
 * Swift stores the manifest in its own form, whose MD5 (X-Manifest-Etag,
 * what revalidation asks about) only a HEAD tells; then the commit.
 */
static void head_manifest(struct gw_upload_slo *u)
{
    struct gw_swift_target t = {
        .kind = "manifest", .method = "HEAD", .container = u->w.svc->conf->container,
        .object = u->w.name,
    };
    gw_swift_req_cancel(&u->mq); /* the PUT's credentials */
    gw_swift_req_init(&u->mq, u->w.svc, &t, &head_cbs, u);
    if (gw_swift_req_start(&u->mq) != 0) slo_commit(u);
}

static const struct gw_fetch_cbs man_cbs = {
    .on_headers = slo_put_on_headers, .on_data = man_on_data, .on_done = man_on_done,
    .on_read = man_on_read,
};

void slo_maybe_manifest(struct gw_upload_slo *u)
{
    if (u->failing || u->manifest_started || !u->body_whole || u->stored < u->nsegs) return;
    u->manifest_started = 1;
    if (u->need_sniff) snprintf(u->ctype, sizeof(u->ctype), "%s", gw_sniff_type(&u->sniff));
    if (u->plain) {
        slo_plain(u);
        return;
    }
    /* Swift's SLO ETag: the MD5 of the segments' MD5s, as hex text. */
    char *cat = gw_malloc(u->nsegs * 32 + 1);
    for (size_t i = 0; i < u->nsegs; i++) memcpy(cat + i * 32, u->segs[i].md5, 32);
    md5_hex_of(cat, u->nsegs * 32, u->slo_etag);
    free(cat);
    u->mbody = segments_json(u, 1, &u->mlen);
    struct gw_swift_target t = {
        .kind = "manifest", .method = "PUT", .container = u->w.svc->conf->container,
        .object = u->w.name, .query = "multipart-manifest=put", .prepare = man_prepare,
        .once = 1,
    };
    gw_swift_req_init(&u->mq, u->w.svc, &t, &man_cbs, u);
    if (gw_swift_req_start(&u->mq) != 0)
        slo_fail(u, 502, "cannot reach Swift", GW_ERR_UPLOAD_ABORTED);
}
