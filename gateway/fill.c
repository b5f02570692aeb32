/*
 * fill.c - one origin fetch per cache key; readers follow it from disk.
 *
 * The table of running fills is process-wide, behind one mutex, so request
 * coalescing holds across workers: however many requests miss on a key at
 * once, one fill fetches it.  Everything a reader may look at (state, head,
 * bytes written, the reader lists) is guarded by that mutex; the fetch,
 * the MD5 context and the temp file's writes belong to the owner's loop.
 *
 * Life of a fill:
 *   HEAD -> BODY -> VERIFIED -> (commit in the thread pool) -> out of table
 *        -> NOT_MODIFIED | NOT_FOUND -> (commit) -> out of table
 *        -> UNCACHEABLE | FAILED -> out of table at once
 *        -> (a large object's manifest, more requests) -> MANIFEST
 *
 * A top-level object is asked for with ?multipart-manifest=get, so one
 * round trip tells a plain object (its body, as always) from a large one:
 * an SLO's JSON manifest (read, checked against its ETag, nested SLOs
 * fetched and expanded, then a HEAD for the object's own Content-Type and
 * ETag, which must be the plan's), or a DLO's manifest object (then its
 * container listing, page by page).  The plan is committed as a MANIFEST
 * entry; the segments are fills of their own, started by the readers.
 * A fill is freed when its last reference goes: one per reader, one for the
 * owner until its fetch and commit are over.  The temp file's fd stays open
 * as long as the fill lives, so readers keep reading it after the rename.
 *
 * Readers never see more than length - 1 bytes before VERIFIED (see
 * fill.h).  Readers are woken through their worker's uv_async: a fill
 * never calls into another worker's requests.
 */
#include "fill.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "conf.h"
#include "manifest.h"
#include "origin.h"
#include "server.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

#define FILL_MAGIC 0x46494c4cu
#define NBUCKETS 256
#define SNIFF_BYTES GW_SNIFF_BYTES
/* The largest manifest or listing page read (Swift's max_manifest_size is
 * 8 MiB; a 10,000-name listing page is about 3 MiB). */
#define MANIFEST_MAX (16u << 20)

/* What f->fetch is asking Swift. */
enum aux { AUX_NONE, AUX_SUB_SLO, AUX_LISTING, AUX_HEAD };

struct gw_fill {
    uint32_t magic;
    uint8_t key[GW_CACHE_KEY_LEN];
    char container[GW_CONTAINER_MAX + 1];
    char name[GW_OBJECT_MAX + 1];
    int segment;                    /* see gw_fill_spec */
    char expect_md5[33];
    uint64_t expect_size;
    struct gw_worker *owner;
    struct gw_fill *hnext;          /* table bucket chain */
    struct gw_fill *onext, *oprev;  /* the owner worker's fills */
    int in_table;
    int refs;
    struct gw_fill_reader *readers;

    /* Guarded by the lock: what readers see. */
    struct gw_fill_info info;
    uint64_t written;

    /* The owner's loop only. */
    int fd;
    char tmp[512];
    EVP_MD_CTX *md5;
    char md5hex[33];                /* of the whole body, once it is over */
    int revalidate;
    char reval_etag[80];
    struct gw_fetch *fetch;
    struct gw_swift_wait wait;
    struct gw_swift_creds creds;
    int auth_retries, retry_auth;
    long status;                    /* Swift's answer */
    int need_sniff;
    unsigned char sniff[SNIFF_BYTES];
    size_t sniff_len;
    int owner_ref;                  /* the owner's reference is held */
    int owned;                      /* on the owner worker's list */
    uv_work_t work;
    struct gw_cache_entry *entry;   /* for the commit */
    int commit_rc;
    int commit_kind;                /* 0 none, 1 object, 2 negative, 3 refresh, 4 manifest */

    /* A large object (the owner's loop only). */
    int lo;                         /* 0, GW_PLAN_SLO or GW_PLAN_DLO */
    enum aux aux;
    char *body;                     /* a manifest or listing being read */
    size_t body_len, body_cap;
    long aux_status;
    char aux_etag[80];
    size_t aux_index;               /* the sub-SLO entry being fetched */
    struct gw_plan plan;
    char manifest_etag[80];         /* an SLO manifest's own ETag: revalidation */
    char dlo_container[GW_CONTAINER_MAX + 1];
    char dlo_prefix[GW_OBJECT_MAX + 1];
    char marker[GW_OBJECT_MAX + 1];
    size_t page_max;                /* longest listing page so far */
    unsigned char *plan_buf;        /* the encoded plan, set before MANIFEST */
    size_t plan_len;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct gw_fill *table[NBUCKETS];

static void fetch_begin(struct gw_fill *f);

/* ---- table and references (lock held) ---- */

static struct gw_fill **bucket(const uint8_t *key)
{
    return &table[key[0]];
}

static void table_remove(struct gw_fill *f)
{
    if (!f->in_table) return;
    for (struct gw_fill **p = bucket(f->key); *p; p = &(*p)->hnext) {
        if (*p == f) {
            *p = f->hnext;
            break;
        }
    }
    f->in_table = 0;
    f->hnext = NULL;
}

static void fill_free(struct gw_fill *f)
{
    gw_assert(f->refs == 0 && f->readers == NULL && !f->in_table);
    if (f->fd >= 0) close(f->fd);
    /* A temp file still in tmp/ was never committed. */
    if (f->tmp[0]) unlink(f->tmp);
    if (f->md5) EVP_MD_CTX_free(f->md5);
    gw_swift_creds_free(&f->creds);
    free(f->entry);
    free(f->body);
    gw_plan_free(&f->plan);
    free(f->plan_buf);
    f->magic = 0;
    free(f);
}

/* Drop one reference; returns 1 when the caller must free f (after unlocking). */
static int unref_locked(struct gw_fill *f)
{
    gw_assert(f->refs > 0);
    return --f->refs == 0;
}

/* Wake every reader (lock held). */
static void notify_locked(struct gw_fill *f)
{
    for (struct gw_fill_reader *r = f->readers; r; r = r->next) {
        if (r->pending) continue;
        r->pending = 1;
        r->wnext = r->w->fill_pending;
        r->w->fill_pending = r;
        uv_async_send(&r->w->fill_async);
    }
}

static void set_state_why(struct gw_fill *f, enum gw_fill_state st, int error_status,
                          const char *why)
{
    pthread_mutex_lock(&lock);
    f->info.state = st;
    f->info.error_status = error_status;
    f->info.error_reason = why;
    if (st == GW_FILL_FAILED || st == GW_FILL_UNCACHEABLE) table_remove(f);
    notify_locked(f);
    pthread_mutex_unlock(&lock);
}

static void set_state(struct gw_fill *f, enum gw_fill_state st, int error_status)
{
    set_state_why(f, st, error_status, NULL);
}

/* Take f off its owner's list (lock held). */
static void owned_remove(struct gw_worker *w, struct gw_fill *f)
{
    if (!f->owned) return;
    if (f->oprev)
        f->oprev->onext = f->onext;
    else
        w->fills_owned = f->onext;
    if (f->onext) f->onext->oprev = f->oprev;
    f->onext = f->oprev = NULL;
    f->owned = 0;
}

/* The owner is done with f (fetch and commit over). */
static void owner_release(struct gw_fill *f)
{
    if (!f->owner_ref) return;
    f->owner_ref = 0;
    struct gw_worker *w = f->owner;
    pthread_mutex_lock(&lock);
    table_remove(f);
    owned_remove(w, f);
    int last = unref_locked(f);
    pthread_mutex_unlock(&lock);
    gw_stats_fills(-1);
    if (last) fill_free(f);
}

/* ---- commit, in the thread pool ---- */

static void commit_work(uv_work_t *req)
{
    struct gw_fill *f = req->data;
    struct gw_cache *cache = f->owner->srv->cache;
    if (f->commit_kind == 3) {
        f->commit_rc = gw_cache_refresh(cache, f->key, f->entry->stored_at);
    } else if (f->commit_kind == 2) {
        f->commit_rc = gw_cache_commit(cache, f->entry, NULL, -1);
    } else { /* an object, a segment or a manifest: a blob */
        f->commit_rc = gw_cache_commit(cache, f->entry, f->tmp, f->fd);
        /* Renamed into blobs/ (or unlinked on failure): no longer ours to remove. */
        f->tmp[0] = '\0';
    }
}

/*
 * The outcome is published only once the index holds it, so a client that
 * has its whole answer finds the entry there (a purge right after it finds
 * something to purge, the next request is a hit).  A failed commit loses
 * only the caching: the bytes were verified all the same.
 */
static void commit_done(uv_work_t *req, int status)
{
    struct gw_fill *f = req->data;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (status == 0 && f->commit_rc != 0) {
        gw_warn("fill", "%s: not cached: %s", f->name, gw_strerror(f->commit_rc));
        gw_stats_error(GW_ERR_CACHE_WRITE);
    }
    static const enum gw_fill_state outcome[] = {GW_FILL_FAILED, GW_FILL_VERIFIED,
                                                 GW_FILL_NOT_FOUND, GW_FILL_NOT_MODIFIED,
                                                 GW_FILL_MANIFEST};
    set_state(f, outcome[f->commit_kind], 0);
    owner_release(f);
}

static void commit(struct gw_fill *f, int kind)
{
    struct gw_fill_info info;
    pthread_mutex_lock(&lock);
    info = f->info;
    pthread_mutex_unlock(&lock);

    struct gw_cache_entry *e = gw_calloc(1, sizeof(*e));
    memcpy(e->key, f->key, GW_CACHE_KEY_LEN);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->stored_at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    e->last_access = e->stored_at;
    /* For reports only: cut a name longer than the record keeps. */
    char full[GW_CONTAINER_MAX + GW_OBJECT_MAX + 2];
    snprintf(full, sizeof(full), "%s/%s", f->container, f->name);
    size_t nl = strlen(full) < sizeof(e->name) - 1 ? strlen(full) : sizeof(e->name) - 1;
    memcpy(e->name, full, nl);
    e->name[nl] = '\0';
    if (kind == 4) {
        e->kind = GW_CACHE_KIND_MANIFEST;
        e->size = f->plan_len;
        memcpy(e->md5, f->md5hex, sizeof(e->md5));
        snprintf(e->etag, sizeof(e->etag), "%s", f->manifest_etag);
        snprintf(e->last_modified, sizeof(e->last_modified), "%s", info.last_modified);
        snprintf(e->content_type, sizeof(e->content_type), "%s", info.content_type);
    } else if (kind == 1) {
        e->kind = f->segment ? GW_CACHE_KIND_SEGMENT : GW_CACHE_KIND_OBJECT;
        e->size = info.length;
        memcpy(e->md5, f->md5hex, sizeof(e->md5));
        snprintf(e->etag, sizeof(e->etag), "%s", info.etag);
        snprintf(e->last_modified, sizeof(e->last_modified), "%s", info.last_modified);
        snprintf(e->content_type, sizeof(e->content_type), "%s", info.content_type);
    } else if (kind == 2) {
        e->kind = GW_CACHE_KIND_NEGATIVE;
    }
    f->entry = e;
    f->commit_kind = kind;
    f->work.data = f;
    if (uv_queue_work(&f->owner->loop, &f->work, commit_work, commit_done) != 0) {
        f->commit_rc = GW_EORIGIN;
        commit_done(&f->work, 0);
    }
}

/* ---- the fetch ---- */

/* The head is complete (type known): readers may start. */
static void publish_body(struct gw_fill *f)
{
    pthread_mutex_lock(&lock);
    if (f->need_sniff) {
        const char *t = gw_sniff_image_type(f->sniff, f->sniff_len);
        snprintf(f->info.content_type, sizeof(f->info.content_type), "%s",
                 t ? t : "application/octet-stream");
        f->need_sniff = 0;
    }
    f->info.state = GW_FILL_BODY;
    notify_locked(f);
    pthread_mutex_unlock(&lock);
}

/*
 * The answer cannot go through the cache: let the reader that started the
 * fill have the fetch, so the object is not fetched twice.
 */
static int uncacheable(struct gw_fill *f, struct gw_fetch *fe, long status)
{
    struct gw_fill_reader *p = NULL;
    pthread_mutex_lock(&lock);
    for (struct gw_fill_reader *r = f->readers; r; r = r->next)
        if (r->primary && r->on_takeover) p = r;
    pthread_mutex_unlock(&lock);
    set_state(f, GW_FILL_UNCACHEABLE, 0);
    int rc;
    if (p && p->on_takeover(p, fe, status, &rc)) {
        f->fetch = NULL;
        owner_release(f); /* f may be gone now */
        return rc;
    }
    return GW_EORIGIN;
}

/* ---- a large object: from its manifest to a plan ---- */

/* Give up on the large object: readers get status and why. */
static void lo_fail(struct gw_fill *f, int status, const char *why, enum gw_stats_error kind)
{
    gw_warn("fill", "%s/%s: large object: %s", f->container, f->name, why);
    gw_stats_error(kind);
    set_state_why(f, GW_FILL_FAILED, status, why);
    owner_release(f);
}

static int body_append(struct gw_fill *f, const char *buf, size_t len)
{
    if (len > MANIFEST_MAX - f->body_len) return GW_ELIMIT;
    if (f->body_len + len > f->body_cap) {
        size_t cap = f->body_cap ? f->body_cap : 16384;
        while (cap < f->body_len + len) cap *= 2;
        f->body = gw_realloc(f->body, cap);
        f->body_cap = cap;
    }
    memcpy(f->body + f->body_len, buf, len);
    f->body_len += len;
    return 0;
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[16];
    EVP_Digest(p, n, d, NULL, EVP_md5(), NULL);
    gw_hex(d, 16, out);
}

/* The object's answer says it is a large object: what to read next. */
static int lo_headers(struct gw_fill *f, struct gw_fetch *fe, int slo, uint64_t length,
                      uint64_t ttfb)
{
    const char *lm = gw_fetch_header(fe, "Last-Modified");
    const char *ct = gw_fetch_header(fe, "Content-Type");
    if (slo) {
        if (length == UINT64_MAX || length > MANIFEST_MAX) {
            set_state_why(f, GW_FILL_FAILED, 502, "SLO manifest too large");
            gw_stats_error(GW_ERR_MANIFEST);
            return GW_EORIGIN;
        }
        f->lo = GW_PLAN_SLO;
        gw_etag_unquote(f->manifest_etag, sizeof(f->manifest_etag), gw_fetch_header(fe, "ETag"));
        ct = NULL; /* "application/json": the object's own comes with the HEAD */
    } else {
        if (gw_dlo_manifest_parse(gw_fetch_header(fe, "X-Object-Manifest"), f->dlo_container,
                                  sizeof(f->dlo_container), f->dlo_prefix,
                                  sizeof(f->dlo_prefix)) != 0) {
            set_state_why(f, GW_FILL_FAILED, 502, "bad X-Object-Manifest from Swift");
            gw_stats_error(GW_ERR_MANIFEST);
            return GW_EORIGIN;
        }
        f->lo = GW_PLAN_DLO;
        f->manifest_etag[0] = '\0'; /* a DLO changes with its listing: no revalidation */
    }
    pthread_mutex_lock(&lock);
    f->info.origin_ms = ttfb;
    snprintf(f->info.last_modified, sizeof(f->info.last_modified), "%s", lm ? lm : "");
    snprintf(f->info.content_type, sizeof(f->info.content_type), "%s", ct ? ct : "");
    pthread_mutex_unlock(&lock);
    return 0;
}

static void lo_next(struct gw_fill *f);

static int aux_on_headers(void *ud, struct gw_fetch *fe, long status)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    static const char *const kinds[] = {"object", "manifest", "listing", "object"};
    gw_stats_origin(kinds[f->aux], (int)status, gw_fetch_ttfb_ms(fe));
    f->aux_status = status;
    gw_etag_unquote(f->aux_etag, sizeof(f->aux_etag), gw_fetch_header(fe, "ETag"));
    if (f->aux == AUX_HEAD && status == 200) {
        const char *ct = gw_fetch_header(fe, "Content-Type");
        const char *lm = gw_fetch_header(fe, "Last-Modified");
        const char *slo = gw_fetch_header(fe, "X-Static-Large-Object");
        if (slo == NULL || strcasecmp(slo, "true") != 0) f->aux_etag[0] = '\0';
        pthread_mutex_lock(&lock);
        if (ct) snprintf(f->info.content_type, sizeof(f->info.content_type), "%s", ct);
        if (lm) snprintf(f->info.last_modified, sizeof(f->info.last_modified), "%s", lm);
        pthread_mutex_unlock(&lock);
    }
    return 0;
}

static int aux_on_data(void *ud, const char *buf, size_t len)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (f->aux_status != 200) return 0;
    return body_append(f, buf, len);
}

/* The plan is whole: encode it, write it to a temp blob and commit it. */
static void lo_finish(struct gw_fill *f)
{
    unsigned char *buf;
    size_t len;
    gw_plan_encode(&f->plan, &buf, &len);
    md5_hex(buf, len, f->md5hex);
    pthread_mutex_lock(&lock);
    f->plan_buf = buf;
    f->plan_len = len;
    f->info.length = f->plan.total;
    snprintf(f->info.etag, sizeof(f->info.etag), "%s", f->plan.etag);
    pthread_mutex_unlock(&lock);
    gw_plan_free(&f->plan);

    char path[512];
    int fd = gw_cache_tmp_open(f->owner->srv->cache, path, sizeof(path));
    if (fd >= 0) {
        snprintf(f->tmp, sizeof(f->tmp), "%s", path);
        f->fd = fd;
        size_t off = 0;
        while (off < len) {
            ssize_t n = pwrite(fd, buf + off, len - off, (off_t)off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            off += (size_t)n;
        }
        if (off == len) {
            commit(f, 4);
            return;
        }
    }
    /* Not cached, but the plan is good: serve it all the same. */
    gw_warn("fill", "%s/%s: manifest not cached: cannot write it", f->container, f->name);
    gw_stats_error(GW_ERR_CACHE_WRITE);
    set_state(f, GW_FILL_MANIFEST, 0);
    owner_release(f);
}

static void aux_on_done(void *ud, struct gw_fetch *fe, int err)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    f->fetch = NULL;
    (void)fe;
    if (err != 0) {
        lo_fail(f, err == GW_ETIMEOUT ? 504 : 502,
                err == GW_ELIMIT ? "manifest or listing too large" : "Swift failed on a manifest",
                err == GW_ETIMEOUT ? GW_ERR_ORIGIN_TIMEOUT : GW_ERR_MANIFEST);
        return;
    }
    long st = f->aux_status;
    if (st == 401) {
        gw_swift_invalidate(f->owner->srv->swift, f->creds.generation);
        lo_fail(f, 502, "Swift refused the gateway's token", GW_ERR_AUTH);
        return;
    }
    if (f->aux == AUX_LISTING && st == 204) {
        st = 200; /* an empty listing */
        f->body_len = 0;
    }
    if (st != 200) {
        lo_fail(f, 502, f->aux == AUX_SUB_SLO && st == 404 ? "nested SLO missing in Swift"
                        : f->aux == AUX_LISTING && st == 404 ? "DLO segment container missing"
                        : "unexpected answer from Swift on a manifest",
                GW_ERR_MANIFEST);
        return;
    }
    const char *why = NULL;
    switch (f->aux) {
    case AUX_SUB_SLO: {
        char hex[33];
        md5_hex(f->body, f->body_len, hex);
        if (strcasecmp(hex, f->aux_etag) != 0) {
            lo_fail(f, 502, "nested SLO manifest does not match its ETag", GW_ERR_DIGEST);
            return;
        }
        struct gw_plan child = {0};
        int rc = gw_slo_parse(f->body, f->body_len, 0, &child, &why);
        if (rc == 0) rc = gw_plan_expand(&f->plan, f->aux_index, &child, &why);
        gw_plan_free(&child);
        if (rc != 0) {
            lo_fail(f, 502, why, GW_ERR_MANIFEST);
            return;
        }
        break;
    }
    case AUX_LISTING: {
        size_t count = 0;
        if (gw_dlo_listing_add(&f->plan, f->body ? f->body : "[]", f->body ? f->body_len : 2,
                               f->dlo_container, &count, f->marker, sizeof(f->marker),
                               &why) != 0) {
            lo_fail(f, 502, why, GW_ERR_MANIFEST);
            return;
        }
        /* A page shorter than the longest one (or empty) is the last. */
        if (count == 0 || count < f->page_max) {
            gw_dlo_finish(&f->plan);
            lo_finish(f);
            return;
        }
        f->page_max = count;
        break;
    }
    case AUX_HEAD:
        if (strcasecmp(f->aux_etag, f->plan.etag) != 0) {
            /* Replaced between the two requests: this plan is not the object. */
            lo_fail(f, 502, "SLO changed while its manifest was read", GW_ERR_MANIFEST);
            return;
        }
        lo_finish(f);
        return;
    case AUX_NONE:
        gw_assert(0);
    }
    lo_next(f);
}

static const struct gw_fetch_cbs aux_cbs = {
    .on_headers = aux_on_headers,
    .on_data = aux_on_data,
    .on_done = aux_on_done,
};

/* The next request for the plan: a nested manifest, a listing page, the HEAD. */
static void lo_next(struct gw_fill *f)
{
    struct gw_worker *w = f->owner;
    const char *surl = f->creds.storage_url;
    char *url;
    const char *method = "GET";
    f->body_len = 0;
    f->aux_status = 0;
    if (f->lo == GW_PLAN_DLO) {
        f->aux = AUX_LISTING;
        url = gw_swift_listing_url(surl, f->dlo_container, f->dlo_prefix, f->marker);
    } else {
        size_t i = 0;
        while (i < f->plan.n && !f->plan.seg[i].sub_slo) i++;
        if (i < f->plan.n) {
            f->aux = AUX_SUB_SLO;
            f->aux_index = i;
            char *u = gw_swift_object_url(surl, f->plan.seg[i].container, f->plan.seg[i].object);
            url = gw_asprintf("%s?multipart-manifest=get", u);
            free(u);
        } else {
            f->aux = AUX_HEAD;
            method = "HEAD";
            url = gw_swift_object_url(surl, f->container, f->name);
        }
    }
    struct gw_fetch *fe = gw_swift_fetch_url(w->origin, &f->creds, url, method, &aux_cbs, f);
    free(url);
    if (gw_fetch_start(fe) != 0) {
        gw_fetch_cancel(fe);
        lo_fail(f, 502, "cannot start a request to Swift", GW_ERR_ORIGIN_CONNECT);
        return;
    }
    f->fetch = fe;
}

/* The object's own answer is in: an SLO's manifest body, or a DLO's head. */
static void lo_manifest_done(struct gw_fill *f)
{
    if (f->lo == GW_PLAN_SLO) {
        char hex[33];
        md5_hex(f->body ? f->body : "", f->body_len, hex);
        if (strcasecmp(hex, f->manifest_etag) != 0) {
            lo_fail(f, 502, "SLO manifest does not match its ETag", GW_ERR_DIGEST);
            return;
        }
        const char *why = NULL;
        if (gw_slo_parse(f->body ? f->body : "", f->body_len, 0, &f->plan, &why) != 0) {
            lo_fail(f, 502, why, GW_ERR_MANIFEST);
            return;
        }
    }
    lo_next(f);
}

static int on_headers(void *ud, struct gw_fetch *fe, long status)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    uint64_t ttfb = gw_fetch_ttfb_ms(fe);
    gw_stats_origin(f->segment ? "segment" : "object", (int)status, ttfb);
    f->status = status;

    if (status == 401 && f->auth_retries == 0) {
        f->retry_auth = 1;
        return 0;
    }
    if ((status == 304 && f->revalidate) || status == 404) {
        pthread_mutex_lock(&lock);
        f->info.origin_ms = ttfb;
        pthread_mutex_unlock(&lock);
        return 0; /* on_done publishes the outcome */
    }
    if (status != 200) {
        gw_warn("fill", "%s/%s: Swift answered %ld", f->container, f->name, status);
        gw_stats_error(GW_ERR_ORIGIN_STATUS);
        set_state(f, GW_FILL_FAILED, 502);
        return GW_EORIGIN;
    }

    uint64_t length;
    int has_length = gw_parse_u64(gw_fetch_header(fe, "Content-Length"), &length) == 0;
    const char *slo = gw_fetch_header(fe, "X-Static-Large-Object");
    const char *dlo = gw_fetch_header(fe, "X-Object-Manifest");
    if (slo && strcasecmp(slo, "true") != 0) slo = NULL;
    if ((slo || dlo) && f->segment) {
        gw_warn("fill", "%s/%s: a segment that is a large object itself", f->container, f->name);
        gw_stats_error(GW_ERR_SEGMENT);
        set_state_why(f, GW_FILL_FAILED, 502, "segment is a large object itself");
        return GW_EORIGIN;
    }
    if (slo || dlo) return lo_headers(f, fe, slo != NULL, has_length ? length : UINT64_MAX, ttfb);
    if (!has_length) {
        /* Nothing to verify the body against: it does not go through the cache. */
        return uncacheable(f, fe, status);
    }
    if (f->segment) {
        char etag[80];
        gw_etag_unquote(etag, sizeof(etag), gw_fetch_header(fe, "ETag"));
        if (length != f->expect_size || (f->expect_md5[0] && strcasecmp(etag, f->expect_md5))) {
            gw_warn("fill", "%s/%s: segment changed: %llu bytes, ETag %s; the manifest says "
                    "%llu bytes, %s", f->container, f->name, (unsigned long long)length, etag,
                    (unsigned long long)f->expect_size, f->expect_md5);
            gw_stats_error(GW_ERR_SEGMENT);
            set_state_why(f, GW_FILL_FAILED, 502, "segment changed in Swift");
            return GW_EORIGIN;
        }
    }
    char path[512];
    int fd = gw_cache_tmp_open(f->owner->srv->cache, path, sizeof(path));
    if (fd >= 0 && length > 0 && fallocate(fd, 0, 0, (off_t)length) != 0 &&
        errno != EOPNOTSUPP) {
        /* No room for the whole body: serve it without the cache. */
        gw_warn("fill", "%s: cannot reserve %llu bytes: %s", f->name,
                (unsigned long long)length, strerror(errno));
        close(fd);
        unlink(path);
        fd = -errno;
    }
    if (fd < 0) {
        gw_stats_error(GW_ERR_CACHE_WRITE);
        return uncacheable(f, fe, status);
    }
    f->fd = fd;
    snprintf(f->tmp, sizeof(f->tmp), "%s", path);
    f->md5 = EVP_MD_CTX_new();
    gw_assert(f->md5 != NULL);
    EVP_DigestInit_ex(f->md5, EVP_md5(), NULL);

    pthread_mutex_lock(&lock);
    f->info.length = length;
    f->info.origin_ms = ttfb;
    gw_etag_unquote(f->info.etag, sizeof(f->info.etag), gw_fetch_header(fe, "ETag"));
    snprintf(f->info.last_modified, sizeof(f->info.last_modified), "%s",
             gw_fetch_header(fe, "Last-Modified") ? gw_fetch_header(fe, "Last-Modified") : "");
    const char *ct = gw_fetch_header(fe, "Content-Type");
    snprintf(f->info.content_type, sizeof(f->info.content_type), "%s", ct ? ct : "");
    f->need_sniff = !f->segment && gw_is_octet_stream(f->info.content_type) && length > 0;
    pthread_mutex_unlock(&lock);
    if (!f->need_sniff) publish_body(f);
    return 0;
}

static int on_data(void *ud, const char *buf, size_t len)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (f->lo == GW_PLAN_SLO) return body_append(f, buf, len);
    if (f->fd < 0) return 0; /* a 404 or 304 body, a DLO's manifest object */
    if (f->written + len > f->info.length) {
        gw_warn("fill", "%s: Swift sent more than its Content-Length", f->name);
        return GW_EORIGIN;
    }
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t n = pwrite(f->fd, p, left, (off_t)(f->written + (uint64_t)(p - buf)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            gw_warn("fill", "%s: writing the temp blob: %s", f->name, strerror(errno));
            gw_stats_error(GW_ERR_CACHE_WRITE);
            return -errno;
        }
        p += n;
        left -= (size_t)n;
    }
    EVP_DigestUpdate(f->md5, buf, len);
    if (f->need_sniff && f->sniff_len < SNIFF_BYTES) {
        size_t n = len < SNIFF_BYTES - f->sniff_len ? len : SNIFF_BYTES - f->sniff_len;
        memcpy(f->sniff + f->sniff_len, buf, n);
        f->sniff_len += n;
    }
    pthread_mutex_lock(&lock);
    f->written += len;
    notify_locked(f);
    pthread_mutex_unlock(&lock);
    if (f->need_sniff && f->sniff_len == SNIFF_BYTES) publish_body(f);
    return 0;
}

static void on_done(void *ud, struct gw_fetch *fe, int err)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    f->fetch = NULL;
    enum gw_fill_state st;
    pthread_mutex_lock(&lock);
    st = f->info.state;
    pthread_mutex_unlock(&lock);

    if (f->retry_auth && err == 0) {
        gw_swift_invalidate(f->owner->srv->swift, f->creds.generation);
        gw_swift_creds_free(&f->creds);
        f->retry_auth = 0;
        f->auth_retries++;
        /* A newer token may be there already (another request renewed it). */
        fetch_begin(f);
        return;
    }
    if (st == GW_FILL_FAILED || st == GW_FILL_UNCACHEABLE) {
        owner_release(f);
        return;
    }
    if (err != 0) {
        gw_warn("fill", "%s: fetch failed after %llu bytes: %s", f->name,
                (unsigned long long)f->written, gw_fetch_error_text(fe));
        if (err == GW_ETIMEOUT)
            gw_stats_error(GW_ERR_ORIGIN_TIMEOUT);
        else if (st == GW_FILL_HEAD && f->written == 0)
            gw_stats_error(GW_ERR_ORIGIN_CONNECT);
        else
            gw_stats_error(GW_ERR_ORIGIN_SHORT);
        set_state(f, GW_FILL_FAILED, err == GW_ETIMEOUT ? 504 : 502);
        owner_release(f);
        return;
    }
    if (f->status == 404 && f->segment) {
        /* A missing segment is the manifest's fault: nothing to remember. */
        gw_stats_error(GW_ERR_SEGMENT);
        set_state_why(f, GW_FILL_NOT_FOUND, 0, "segment missing in Swift");
        owner_release(f);
        return;
    }
    if (f->status == 304 || f->status == 404) {
        commit(f, f->status == 304 ? 3 : 2);
        return;
    }
    if (f->lo) {
        lo_manifest_done(f);
        return;
    }
    if (f->need_sniff) publish_body(f); /* a body shorter than the sniff window */

    unsigned char digest[16];
    char *hex = f->md5hex;
    EVP_DigestFinal_ex(f->md5, digest, NULL);
    gw_hex(digest, 16, hex);
    if (f->written != f->info.length || strcasecmp(hex, f->info.etag) != 0) {
        gw_warn("fill", "%s: verification failed: %llu of %llu bytes, md5 %s, ETag %s",
                f->name, (unsigned long long)f->written, (unsigned long long)f->info.length,
                hex, f->info.etag);
        gw_stats_error(f->written != f->info.length ? GW_ERR_ORIGIN_SHORT : GW_ERR_DIGEST);
        set_state(f, GW_FILL_FAILED, 502);
        owner_release(f);
        return;
    }
    /* The body is Swift's, byte for byte: commit, then readers may have
     * the last byte (see commit_done).  A segment's readers may have it at
     * once: nobody looks a segment up by its own name, and a large object
     * waits on each of its segments in turn. */
    if (f->segment) set_state(f, GW_FILL_VERIFIED, 0);
    commit(f, 1);
}

static const struct gw_fetch_cbs fill_cbs = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_done = on_done,
};

static void fetch_begin(struct gw_fill *f)
{
    struct gw_worker *w = f->owner;
    if (f->creds.storage_url == NULL &&
        gw_swift_creds_refresh(w->srv->swift, w->swift, &f->creds) != 0) {
        gw_swift_wait(w->swift, &f->wait);
        return;
    }
    struct gw_fetch *fe =
        gw_swift_object_fetch(w->origin, &f->creds, f->container, f->name,
                              f->segment ? NULL : "multipart-manifest=get", "GET", &fill_cbs, f);
    if (f->revalidate) {
        char *h = gw_asprintf("If-None-Match: \"%s\"", f->reval_etag);
        gw_fetch_add_header(fe, h);
        free(h);
    }
    f->status = 0;
    if (gw_fetch_start(fe) != 0) {
        gw_fetch_cancel(fe);
        set_state(f, GW_FILL_FAILED, 502);
        owner_release(f);
        return;
    }
    f->fetch = fe;
}

static void on_token(struct gw_swift_wait *wt, int err)
{
    struct gw_fill *f = (struct gw_fill *)((char *)wt - offsetof(struct gw_fill, wait));
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (err != 0 || gw_swift_creds(f->owner->srv->swift, &f->creds) != 0) {
        gw_stats_error(GW_ERR_AUTH);
        set_state(f, GW_FILL_FAILED, 502);
        owner_release(f);
        return;
    }
    fetch_begin(f);
}

/* ---- readers ---- */

void gw_fill_join(struct gw_worker *w, const uint8_t key[GW_CACHE_KEY_LEN],
                  const struct gw_fill_spec *spec, struct gw_fill_reader *r)
{
    gw_assert(r->on_event != NULL && r->fill == NULL);
    r->w = w;
    r->pending = 0;
    r->primary = 0;
    struct gw_fill *f, *fresh = NULL;

    pthread_mutex_lock(&lock);
    for (f = *bucket(key); f; f = f->hnext)
        if (memcmp(f->key, key, GW_CACHE_KEY_LEN) == 0) break;
    if (f == NULL) {
        fresh = f = gw_calloc(1, sizeof(*f));
        f->magic = FILL_MAGIC;
        memcpy(f->key, key, GW_CACHE_KEY_LEN);
        snprintf(f->container, sizeof(f->container), "%s",
                 spec->container ? spec->container : w->srv->conf->container);
        snprintf(f->name, sizeof(f->name), "%s", spec->object);
        f->segment = spec->segment;
        snprintf(f->expect_md5, sizeof(f->expect_md5), "%s",
                 spec->expect_md5 ? spec->expect_md5 : "");
        f->expect_size = spec->expect_size;
        f->owner = w;
        f->fd = -1;
        f->info.state = GW_FILL_HEAD;
        f->wait.cb = on_token;
        if (spec->revalidate_etag && spec->revalidate_etag[0] && !spec->segment) {
            f->revalidate = 1;
            snprintf(f->reval_etag, sizeof(f->reval_etag), "%s", spec->revalidate_etag);
        }
        f->refs = 1; /* the owner's */
        f->owner_ref = 1;
        f->hnext = *bucket(key);
        *bucket(key) = f;
        f->in_table = 1;
        f->onext = w->fills_owned;
        if (w->fills_owned) w->fills_owned->oprev = f;
        w->fills_owned = f;
        f->owned = 1;
        r->primary = 1;
    }
    f->refs++;
    r->fill = f;
    r->prev = NULL;
    r->next = f->readers;
    if (f->readers) f->readers->prev = r;
    f->readers = r;
    /* The first event comes from the loop, whatever the state. */
    r->pending = 1;
    r->wnext = w->fill_pending;
    w->fill_pending = r;
    uv_async_send(&w->fill_async);
    pthread_mutex_unlock(&lock);

    if (fresh) {
        gw_stats_fills(1);
        fetch_begin(fresh);
    }
}

static void prefetch_event(struct gw_fill_reader *r)
{
    (void)r; /* never called: the reader leaves before the loop runs */
}

void gw_fill_prefetch(struct gw_worker *w, const uint8_t key[GW_CACHE_KEY_LEN],
                      const struct gw_fill_spec *spec)
{
    struct gw_fill_reader r = {.on_event = prefetch_event};
    gw_fill_join(w, key, spec, &r);
    gw_fill_leave(&r);
}

int gw_fill_plan(struct gw_fill_reader *r, struct gw_plan *out)
{
    struct gw_fill *f = r->fill;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    pthread_mutex_lock(&lock);
    const unsigned char *buf = f->info.state == GW_FILL_MANIFEST ? f->plan_buf : NULL;
    size_t len = f->plan_len;
    pthread_mutex_unlock(&lock);
    /* The bytes never change once published. */
    if (buf == NULL) {
        memset(out, 0, sizeof(*out));
        return GW_EPARSE;
    }
    return gw_plan_decode(buf, len, out);
}

void gw_fill_info(struct gw_fill_reader *r, struct gw_fill_info *out)
{
    struct gw_fill *f = r->fill;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    pthread_mutex_lock(&lock);
    *out = f->info;
    if (f->info.state == GW_FILL_VERIFIED)
        out->readable = f->written;
    else if (f->info.state == GW_FILL_BODY && f->info.length > 0)
        /* Hold the last byte back until the body is verified. */
        out->readable = f->written < f->info.length ? f->written : f->info.length - 1;
    else
        out->readable = 0;
    pthread_mutex_unlock(&lock);
}

long gw_fill_read(struct gw_fill_reader *r, uint64_t off, void *buf, uint64_t len)
{
    struct gw_fill *f = r->fill;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (f->fd < 0) return -EBADF;
    for (;;) {
        ssize_t n = pread(f->fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : (long)n;
    }
}

void gw_fill_leave(struct gw_fill_reader *r)
{
    struct gw_fill *f = r->fill;
    if (f == NULL) return;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    pthread_mutex_lock(&lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        f->readers = r->next;
    if (r->next) r->next->prev = r->prev;
    if (r->pending) {
        for (struct gw_fill_reader **p = &r->w->fill_pending; *p; p = &(*p)->wnext) {
            if (*p == r) {
                *p = r->wnext;
                break;
            }
        }
        r->pending = 0;
    }
    r->next = r->prev = r->wnext = NULL;
    r->fill = NULL;
    int last = unref_locked(f);
    pthread_mutex_unlock(&lock);
    if (last) fill_free(f);
}


/* ---- per worker ---- */

static void on_fill_async(uv_async_t *a)
{
    struct gw_worker *w = a->data;
    /* One reader at a time: an event may make another reader leave. */
    for (int budget = 100000; budget > 0; budget--) {
        pthread_mutex_lock(&lock);
        struct gw_fill_reader *r = w->fill_pending;
        if (r) {
            w->fill_pending = r->wnext;
            r->wnext = NULL;
            r->pending = 0;
        }
        pthread_mutex_unlock(&lock);
        if (r == NULL) return;
        r->on_event(r);
    }
}

void gw_fill_worker_init(struct gw_worker *w)
{
    w->fill_pending = NULL;
    w->fills_owned = NULL;
    uv_async_init(&w->loop, &w->fill_async, on_fill_async);
    w->fill_async.data = w;
}

static void on_async_closed(uv_handle_t *h)
{
    (void)h;
}

void gw_fill_worker_close(struct gw_worker *w)
{
    /* The fills this worker owns cannot go on without its loop. */
    while (w->fills_owned) {
        struct gw_fill *f = w->fills_owned;
        if (f->fetch) {
            gw_fetch_cancel(f->fetch);
            f->fetch = NULL;
        }
        if (f->wait.queued) gw_swift_wait_cancel(w->swift, &f->wait);
        if (f->commit_kind) {
            /* A commit is in the thread pool: commit_done releases it. */
            pthread_mutex_lock(&lock);
            owned_remove(w, f);
            pthread_mutex_unlock(&lock);
            continue;
        }
        set_state(f, GW_FILL_FAILED, 503);
        owner_release(f);
    }
    uv_close((uv_handle_t *)&w->fill_async, on_async_closed);
}
