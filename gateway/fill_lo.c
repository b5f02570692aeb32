/*
 * fill_lo.c - a large object's fill: from its manifest to a segment plan.
 *
 * fill.c asks Swift for every top-level object with
 * ?multipart-manifest=get; when the answer says SLO or DLO, the fill is
 * handed here and ends in state MANIFEST or FAILED with a reason.  An SLO's
 * JSON manifest is read (bounded), checked against its own ETag, parsed,
 * its nested SLOs fetched and expanded one by one (on the fill's q).
 * Beside them, from the moment the object's answer says SLO, one HEAD (on
 * lo.head_q) gets the object's own Content-Type and an ETag that must be
 * the plan's; the plan is whole when both are in, whichever comes last,
 * and a failure of either stops the other.  A DLO's manifest object names
 * a container and prefix, whose JSON listing is read page by page (a page
 * shorter than the longest one, or empty, is the last).  The segments
 * themselves are fills of their own, started by the readers.
 *
 * Bounds: every container a plan names (a DLO's, an SLO's segments and
 * nested manifests) must be one of [swift] segment_containers, checked
 * before anything is asked of it; the plan stays within [swift]
 * max_segments and max_plan_size, checked as each manifest or listing page
 * comes, so a listing past them is not read further.
 *
 * A verified plan goes to the readers at once (MANIFEST); its MANIFEST
 * entry is written and committed in the thread pool after, and the fill
 * stays in the table until then, so a request in between joins it.
 *
 * Everything here runs on the owner's loop; what readers see is published
 * under gw_fill_lock.
 */
#include "fill_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "origin.h"
#include "stats.h"

static void lo_next(struct gw_fill *f);

/* Give up on the large object: readers get status and why; whatever still
 * asks Swift for it stops.  kind is counted, unless it is GW_ERR_NKINDS
 * (counted where it was found). */
static void lo_fail(struct gw_fill *f, int status, const char *why, enum gw_stats_error kind)
{
    gw_swift_req_cancel(&f->q);
    gw_swift_req_cancel(&f->lo.head_q);
    gw_warn("fill", "%s/%s: large object: %s", f->container, f->name, why);
    if (kind != GW_ERR_NKINDS) gw_stats_error(kind);
    fill_set_state(f, GW_FILL_FAILED, status, why);
    fill_owner_release(f);
}

/*
 * The kind of a transfer that broke off: as for an object (fill.c), a
 * connection that failed before any answer, or an answer cut short, is
 * Swift's failure, not a bad manifest.
 */
static enum gw_stats_error lo_broken_kind(int err, long status)
{
    if (err == GW_EORIGIN || err == GW_ESHORT)
        return status == 0 ? GW_ERR_ORIGIN_CONNECT : GW_ERR_ORIGIN_SHORT;
    return GW_ERR_MANIFEST;
}

/* A manifest, listing or HEAD request broke off (or never ran) after an
 * answer of status (0: none): why, for the reader. */
static void lo_fetch_failed(struct gw_fill *f, int err, long status)
{
    lo_fail(f, gw_fetch_err_status(err),
            err == GW_ELIMIT        ? "manifest or listing too large"
            : err == GW_EAUTH       ? "cannot authenticate with Swift"
            : err == GW_EBUSY       ? GW_FETCH_BUSY_REASON
            : err == GW_EBADHEADER  ? "bad header from Swift"
            : gw_err_no_files(err)  ? GW_NO_FILES_REASON
                                    : "Swift failed on a manifest",
            err == GW_ETIMEOUT      ? GW_ERR_ORIGIN_TIMEOUT
            : gw_err_no_files(err)  ? GW_ERR_NO_FILES
            : err == GW_EAUTH       ? GW_ERR_AUTH
            : err == GW_EBUSY       ? GW_ERR_FETCH_BUSY
            : err == GW_EBADHEADER  ? GW_ERR_NKINDS /* counted by origin.c */
                                    : lo_broken_kind(err, status));
}

/*
 * The kind of an answer other than 200 to a HEAD, listing or nested
 * manifest: a 401 (after the renewal) is auth, a 404 the manifest's fault
 * (it names what is not there), anything else Swift's status, as for an
 * object.
 */
static enum gw_stats_error lo_status_kind(long status)
{
    return status == 401 ? GW_ERR_AUTH : status == 404 ? GW_ERR_MANIFEST : GW_ERR_ORIGIN_STATUS;
}

/* What a client is told of a large object whose segments are elsewhere. */
#define FOREIGN_WHY "large object's segments are outside the gateway's segment containers"

/* The plan's bounds from the configuration: 0, or GW_ELIMIT and why. */
static int plan_limit(struct gw_fill *f)
{
    const struct gw_conf *c = f->owner->conf;
    return gw_plan_limit(&f->lo.plan, (size_t)c->max_segments, (size_t)c->max_plan_size,
                         &f->lo.why);
}

/*
 * Whether every object-backed entry of p (segments, nested SLOs) is in a
 * segment container; the first that is not is logged.  Checked before any
 * of them is asked for.
 */
static int plan_local(struct gw_fill *f, const struct gw_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct gw_segment *s = &p->seg[i];
        if (s->data || gw_conf_segment_container_ok(f->owner->conf, s->container)) continue;
        gw_warn("fill", "%s/%s: SLO names %s/%s, not in a segment container", f->container,
                f->name, s->container, s->object);
        return 0;
    }
    return 1;
}

/* The error kind of a plan that could not be built or grown. */
static enum gw_stats_error plan_error_kind(int rc)
{
    return rc == GW_ELIMIT ? GW_ERR_PLAN_TOO_LARGE : GW_ERR_MANIFEST;
}

static int body_append(struct fill_lo *lo, const char *buf, size_t len)
{
    if (len > FILL_MANIFEST_MAX - lo->body_len) return GW_ELIMIT;
    if (lo->body_len + len > lo->body_cap) {
        size_t cap = lo->body_cap ? lo->body_cap : 16384;
        while (cap < lo->body_len + len) cap *= 2;
        lo->body = gw_realloc(lo->body, cap);
        lo->body_cap = cap;
    }
    memcpy(lo->body + lo->body_len, buf, len);
    lo->body_len += len;
    return 0;
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[16];
    EVP_Digest(p, n, d, NULL, EVP_md5(), NULL);
    gw_hex(d, 16, out);
}

void fill_lo_free(struct fill_lo *lo)
{
    free(lo->body);
    gw_plan_free(&lo->plan);
    free(lo->plan_buf);
    lo->body = NULL;
    lo->plan_buf = NULL;
}

int fill_lo_data(struct gw_fill *f, const char *buf, size_t len)
{
    return body_append(&f->lo, buf, len);
}

void fill_lo_stop(struct gw_fill *f)
{
    /* Idle (or never set up) once the plan is whole: then a no-op. */
    gw_swift_req_cancel(&f->lo.head_q);
}

/* ---- an SLO's HEAD, beside its manifests ---- */

static void lo_plan_ready(struct gw_fill *f);

static int head_on_headers(void *ud, struct gw_fetch *fe, long status)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    struct fill_lo *lo = &f->lo;
    lo->head_status = status;
    if (status != 200) return 0;
    const char *slo = gw_fetch_header(fe, "X-Static-Large-Object");
    const char *ct = gw_fetch_header(fe, "Content-Type");
    const char *lm = gw_fetch_header(fe, "Last-Modified");
    if (slo != NULL && strcasecmp(slo, "true") == 0)
        gw_etag_unquote(lo->head_etag, sizeof(lo->head_etag), gw_fetch_header(fe, "ETag"));
    else
        lo->head_etag[0] = '\0'; /* no longer an SLO: no plan of ours is it */
    snprintf(lo->head_type, sizeof(lo->head_type), "%s", ct ? ct : "");
    snprintf(lo->head_lm, sizeof(lo->head_lm), "%s", lm ? lm : "");
    return 0;
}

static int head_on_data(void *ud, const char *buf, size_t len)
{
    (void)ud, (void)buf, (void)len;
    return 0; /* a HEAD has no body; a refusal's is not needed */
}

static void head_on_done(void *ud, struct gw_fetch *fe, int err)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    struct fill_lo *lo = &f->lo;
    (void)fe;
    if (err != 0) {
        lo_fetch_failed(f, err, lo->head_status);
        return;
    }
    if (lo->head_status != 200) {
        lo_fail(f, 502,
                lo->head_status == 401 ? "Swift refused the gateway's token"
                                       : "unexpected answer from Swift on a manifest",
                lo_status_kind(lo->head_status));
        return;
    }
    lo->head = HEAD_OK;
    if (lo->manifests_done) lo_plan_ready(f);
}

static const struct gw_fetch_cbs head_cbs = {
    .on_headers = head_on_headers,
    .on_data = head_on_data,
    .on_done = head_on_done,
};

/* The object is an SLO: ask for its HEAD now, while its manifest comes. */
static int head_start(struct gw_fill *f)
{
    struct gw_swift_target t = {
        .kind = "object",
        .method = "HEAD",
        .container = f->container,
        .object = f->name,
        .prepare = fill_add_request_id,
    };
    struct fill_lo *lo = &f->lo;
    gw_swift_req_cancel(&lo->head_q);
    gw_swift_req_init(&lo->head_q, f->owner, &t, &head_cbs, f);
    lo->head = HEAD_RUNNING;
    lo->head_status = 0;
    return gw_swift_req_start(&lo->head_q);
}

int fill_lo_headers(struct gw_fill *f, struct gw_fetch *fe, int slo, uint64_t length,
                    uint64_t ttfb)
{
    struct fill_lo *lo = &f->lo;
    const char *lm = gw_fetch_header(fe, "Last-Modified");
    const char *ct = gw_fetch_header(fe, "Content-Type");
    if (slo) {
        if (length == UINT64_MAX || length > FILL_MANIFEST_MAX) {
            fill_set_state(f, GW_FILL_FAILED, 502, "SLO manifest too large");
            gw_stats_error(GW_ERR_MANIFEST);
            return GW_EORIGIN;
        }
        lo->kind = GW_PLAN_SLO;
        gw_etag_unquote(lo->manifest_etag, sizeof(lo->manifest_etag),
                        gw_fetch_header(fe, "ETag"));
        ct = NULL; /* "application/json": the object's own comes with the HEAD */
        /* From inside a curl callback: origin.c adds the fetch from the loop. */
        if (head_start(f) != 0) {
            fill_set_state(f, GW_FILL_FAILED, 502, "cannot start a request to Swift");
            gw_stats_error(GW_ERR_ORIGIN_CONNECT);
            return GW_EORIGIN;
        }
    } else {
        if (gw_dlo_manifest_parse(gw_fetch_header(fe, "X-Object-Manifest"), lo->dlo_container,
                                  sizeof(lo->dlo_container), lo->dlo_prefix,
                                  sizeof(lo->dlo_prefix)) != 0) {
            fill_set_state(f, GW_FILL_FAILED, 502, "bad X-Object-Manifest from Swift");
            gw_stats_error(GW_ERR_MANIFEST);
            return GW_EORIGIN;
        }
        if (!gw_conf_segment_container_ok(f->owner->conf, lo->dlo_container)) {
            /* Nothing is asked of that container, not even its listing. */
            gw_warn("fill", "%s/%s: DLO names container %s, not a segment container",
                    f->container, f->name, lo->dlo_container);
            fill_set_state(f, GW_FILL_FAILED, 502, FOREIGN_WHY);
            gw_stats_error(GW_ERR_FOREIGN_SEGMENTS);
            return GW_EORIGIN;
        }
        lo->kind = GW_PLAN_DLO;
        lo->manifest_etag[0] = '\0'; /* a DLO changes with its listing: no revalidation */
        (void)plan_limit(f); /* on an empty plan: cannot fail */
    }
    pthread_mutex_lock(&gw_fill_lock);
    f->info.origin_ms = ttfb;
    snprintf(f->info.last_modified, sizeof(f->info.last_modified), "%s", lm ? lm : "");
    snprintf(f->info.content_type, sizeof(f->info.content_type), "%s", ct ? ct : "");
    pthread_mutex_unlock(&gw_fill_lock);
    return 0;
}

static int aux_on_headers(void *ud, struct gw_fetch *fe, long status)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    struct fill_lo *lo = &f->lo;
    lo->aux_status = status;
    gw_etag_unquote(lo->aux_etag, sizeof(lo->aux_etag), gw_fetch_header(fe, "ETag"));
    return 0;
}

static int aux_on_data(void *ud, const char *buf, size_t len)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    if (f->lo.aux_status != 200) return 0;
    return body_append(&f->lo, buf, len);
}

/* Write the encoded plan to a temp blob; 0 when it is all there. */
static int plan_write(struct gw_fill *f, const unsigned char *buf, size_t len)
{
    int fd = fill_tmp_open(f, 0);
    if (fd < 0) return fd;
    return gw_pwrite_all(fd, buf, len, 0);
}

/*
 * The plan is whole and verified: encode it and hand it to the readers,
 * then write it to a temp blob and commit it in the thread pool.  Readers
 * need not wait for the commit: the plan is Swift's, and its segments are
 * fills that verify themselves.
 */
static void lo_finish(struct gw_fill *f)
{
    struct fill_lo *lo = &f->lo;
    unsigned char *buf;
    size_t len;
    gw_plan_encode(&lo->plan, &buf, &len);
    md5_hex(buf, len, f->md5hex);
    pthread_mutex_lock(&gw_fill_lock);
    lo->plan_buf = buf;
    lo->plan_len = len;
    f->info.length = lo->plan.total;
    snprintf(f->info.etag, sizeof(f->info.etag), "%s", lo->plan.etag);
    pthread_mutex_unlock(&gw_fill_lock);
    gw_plan_free(&lo->plan);
    fill_set_state(f, GW_FILL_MANIFEST, 0, NULL);
    int rc = plan_write(f, buf, len);
    if (rc == 0) {
        fill_commit(f, FILL_COMMIT_MANIFEST); /* commit_done publishes nothing more */
        return;
    }
    /* Not cached, but the plan is good: the readers have it all the same. */
    gw_warn("fill", "%s/%s: manifest not cached: cannot write it: %s", f->container, f->name,
            gw_strerror(rc));
    gw_stats_error_for(GW_ERR_CACHE_WRITE, rc);
    fill_owner_release(f);
}

/* An SLO: the manifests are in and the HEAD is; the plan must be the object. */
static void lo_plan_ready(struct gw_fill *f)
{
    struct fill_lo *lo = &f->lo;
    gw_assert(lo->manifests_done && lo->head == HEAD_OK);
    if (strcasecmp(lo->head_etag, lo->plan.etag) != 0) {
        /* Replaced between the requests: this plan is not the object. */
        lo_fail(f, 502, "SLO changed while its manifest was read", GW_ERR_MANIFEST);
        return;
    }
    pthread_mutex_lock(&gw_fill_lock);
    if (lo->head_type[0])
        snprintf(f->info.content_type, sizeof(f->info.content_type), "%s", lo->head_type);
    if (lo->head_lm[0])
        snprintf(f->info.last_modified, sizeof(f->info.last_modified), "%s", lo->head_lm);
    pthread_mutex_unlock(&gw_fill_lock);
    lo_finish(f);
}

/* A nested SLO's manifest is in: check it and put its segments in its place. */
static int sub_slo_done(struct gw_fill *f)
{
    struct fill_lo *lo = &f->lo;
    char hex[33];
    const char *why = NULL;
    md5_hex(lo->body, lo->body_len, hex);
    if (strcasecmp(hex, lo->aux_etag) != 0) {
        lo_fail(f, 502, "nested SLO manifest does not match its ETag", GW_ERR_DIGEST);
        return -1;
    }
    struct gw_plan child = {0};
    int rc = gw_slo_parse(lo->body, lo->body_len, 0, &child, &why);
    if (rc == 0 && !plan_local(f, &child)) {
        gw_plan_free(&child);
        lo_fail(f, 502, FOREIGN_WHY, GW_ERR_FOREIGN_SEGMENTS);
        return -1;
    }
    if (rc == 0) rc = gw_plan_expand(&lo->plan, lo->aux_index, &child, &why);
    gw_plan_free(&child);
    if (rc != 0) {
        lo_fail(f, 502, why, plan_error_kind(rc));
        return -1;
    }
    return 0;
}

/* A listing page is in: 1 when it was the last (and the plan is done). */
static int listing_done(struct gw_fill *f)
{
    struct fill_lo *lo = &f->lo;
    size_t count = 0;
    const char *why = NULL;
    int rc = gw_dlo_listing_add(&lo->plan, lo->body ? lo->body : "[]",
                                lo->body ? lo->body_len : 2, lo->dlo_container, &count,
                                lo->marker, sizeof(lo->marker), &why);
    if (rc != 0) {
        /* Past max_segments or max_plan_size: no further page is asked for. */
        lo_fail(f, 502, why, plan_error_kind(rc));
        return -1;
    }
    /* A page shorter than the longest one (or empty) is the last. */
    if (count == 0 || count < lo->page_max) {
        gw_dlo_finish(&lo->plan);
        lo_finish(f);
        return 1;
    }
    lo->page_max = count;
    return 0;
}

/* Swift's answer to a manifest request was not a 200: why, for the reader. */
static const char *aux_refusal(const struct fill_lo *lo, long st)
{
    if (lo->aux == AUX_SUB_SLO && st == 404) return "nested SLO missing in Swift";
    if (lo->aux == AUX_LISTING && st == 404) return "DLO segment container missing";
    if (st == 401) return "Swift refused the gateway's token";
    return "unexpected answer from Swift on a manifest";
}

static void aux_on_done(void *ud, struct gw_fetch *fe, int err)
{
    struct gw_fill *f = ud;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    struct fill_lo *lo = &f->lo;
    (void)fe;
    if (err != 0) {
        lo_fetch_failed(f, err, lo->aux_status);
        return;
    }
    long st = lo->aux_status;
    if (lo->aux == AUX_LISTING && st == 204) {
        st = 200; /* an empty listing */
        lo->body_len = 0;
    }
    if (st != 200) {
        lo_fail(f, 502, aux_refusal(lo, st), lo_status_kind(st));
        return;
    }
    int rc = 0;
    switch (lo->aux) {
    case AUX_SUB_SLO:
        rc = sub_slo_done(f);
        break;
    case AUX_LISTING:
        rc = listing_done(f);
        break;
    case AUX_NONE:
        gw_assert(0);
    }
    if (rc == 0) lo_next(f);
}

static const struct gw_fetch_cbs aux_cbs = {
    .on_headers = aux_on_headers,
    .on_data = aux_on_data,
    .on_done = aux_on_done,
};

/* The next request for the plan: a nested manifest or a listing page; or,
 * an SLO's manifests all in, the HEAD's answer. */
static void lo_next(struct gw_fill *f)
{
    struct fill_lo *lo = &f->lo;
    struct gw_swift_target t = {.method = "GET", .prepare = fill_add_request_id};
    lo->body_len = 0;
    lo->aux_status = 0;
    if (lo->kind == GW_PLAN_DLO) {
        lo->aux = AUX_LISTING;
        t.kind = "listing";
        t.container = lo->dlo_container;
        t.prefix = lo->dlo_prefix;
        t.marker = lo->marker;
    } else {
        size_t i = 0;
        while (i < lo->plan.n && !lo->plan.seg[i].sub_slo) i++;
        if (i < lo->plan.n) {
            lo->aux = AUX_SUB_SLO;
            lo->aux_index = i;
            t.kind = "manifest";
            t.container = lo->plan.seg[i].container;
            t.object = lo->plan.seg[i].object;
            t.query = "multipart-manifest=get";
        } else {
            lo->aux = AUX_NONE;
            lo->manifests_done = 1;
            if (lo->head == HEAD_OK) lo_plan_ready(f);
            return; /* else head_on_done goes on */
        }
    }
    gw_swift_req_cancel(&f->q);
    gw_swift_req_init(&f->q, f->owner, &t, &aux_cbs, f);
    if (gw_swift_req_start(&f->q) != 0)
        lo_fail(f, 502, "cannot start a request to Swift", GW_ERR_ORIGIN_CONNECT);
}

void fill_lo_manifest_done(struct gw_fill *f)
{
    struct fill_lo *lo = &f->lo;
    if (lo->kind == GW_PLAN_SLO) {
        char hex[33];
        md5_hex(lo->body ? lo->body : "", lo->body_len, hex);
        if (strcasecmp(hex, lo->manifest_etag) != 0) {
            lo_fail(f, 502, "SLO manifest does not match its ETag", GW_ERR_DIGEST);
            return;
        }
        const char *why = NULL;
        if (gw_slo_parse(lo->body ? lo->body : "", lo->body_len, 0, &lo->plan, &why) != 0) {
            lo_fail(f, 502, why, GW_ERR_MANIFEST);
            return;
        }
        if (plan_limit(f) != 0) {
            lo_fail(f, 502, lo->why, GW_ERR_PLAN_TOO_LARGE);
            return;
        }
        if (!plan_local(f, &lo->plan)) {
            lo_fail(f, 502, FOREIGN_WHY, GW_ERR_FOREIGN_SEGMENTS);
            return;
        }
    }
    lo_next(f);
}
