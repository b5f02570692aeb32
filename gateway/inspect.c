/*
 * inspect.c - GET|HEAD /cache/fractal/<uuid> on the admin listener: what
 * the cache holds for one object, as one JSON object.
 *
 * Fields: uuid, object ("container/name"), key (the index key, hex),
 * kind ("object", "slo" or "dlo"), size (bytes a GET answers), md5 (of
 * those bytes; null for a large object, whose whole is never hashed),
 * etag (Swift's, unquoted), last_modified, content_type, stored_at
 * (fetched or last revalidated), expires (stored_at + [cache] ttl), fresh,
 * last_access (approximate: touches are written in batches), blob_bytes
 * (the blob on disk: for a large object, its plan).  A large object also
 * has manifest_etag (the SLO manifest's own ETag, which revalidation
 * sends; null for a DLO) and segments: count, cached (object-backed
 * segments whose verified bytes are in the cache), shown, omitted, and
 * list, the first GW_INSPECT_SEGMENTS_SHOWN segments in order, each with
 * name, size, etag, offset and bytes (where its bytes lie in the whole),
 * range (only for a ranged segment), cached; an inline data segment has
 * data: true instead of a name.  Times are RFC 3339 UTC strings with
 * milliseconds, e.g. "2025-01-31T12:00:00.250Z".  A name not cached is a
 * 404 {uuid, error}; if Swift's 404 for it is remembered (neg.h), the
 * answer says so: remembered_404 true and remembered_for_s, the seconds
 * left before the next request for it asks Swift again.
 *
 * Everything is read in the thread pool (the index, the plan's blob, one
 * index lookup per segment), never on the loop.  A request gone before the
 * job ends leaves the job to free itself: the job's owner pointer is
 * cleared by the sink's release, as purge does in req.c.
 */
#include "inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "cache.h"
#include "conf.h"
#include "http.h"
#include "manifest.h"
#include "neg.h"
#include "respond.h"
#include "services.h"
#include "sink.h"
#include "util.h"

#define INSPECT_MAGIC 0x494e5350u /* "INSP" */

struct inspect_job;

/* The sink's owner while the job runs. */
struct inspect {
    uint32_t magic;
    struct gw_sink *sink;
    int head_only;
    struct inspect_job *job;    /* NULL once it answered */
};

struct inspect_job {
    uv_work_t work;
    struct gw_cache *cache;
    uint8_t key[GW_CACHE_KEY_LEN];
    char uuid[37];
    uint64_t ttl_ms;
    int neg;                    /* Swift's 404 for it is remembered */
    uint64_t neg_left_ms;       /* for this long */
    int status;                 /* out: 200, 404 or 500 */
    char *body;                 /* out: the JSON text, malloc'd */
    struct inspect *owner;      /* NULL once the request is gone */
};

/* ---- JSON pieces (any thread) ---- */

/* s as a JSON string; bytes that are not UTF-8 (a header Swift passed on) become '?'. */
static json_t *text(const char *s)
{
    json_t *v = json_string(s);
    if (v != NULL) return v;
    char *copy = gw_strdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* "" is null: a field Swift did not send. */
static json_t *text_or_null(const char *s)
{
    return s[0] ? text(s) : json_null();
}

/* Unix ms as RFC 3339 UTC with milliseconds. */
static json_t *rfc3339(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    if (ms < 0 || gmtime_r(&t, &tm) == NULL) return json_null();
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
    return json_string(buf);
}

/* The same test as the assembler's: the segment's verified bytes are cached. */
static int segment_cached(struct gw_cache *c, const struct gw_segment *seg)
{
    uint8_t key[GW_CACHE_KEY_LEN];
    struct gw_cache_entry *e = gw_malloc(sizeof(*e));
    gw_cache_key(seg->container, seg->object, key);
    int rc = gw_cache_get(c, key, e);
    int cached;
    if (seg->sub_slo)
        cached = rc == 0 && e->kind == GW_CACHE_KIND_MANIFEST;
    else
        cached = rc == 0 &&
                 (e->kind == GW_CACHE_KIND_SEGMENT || e->kind == GW_CACHE_KIND_OBJECT) &&
                 e->size == seg->size && strcasecmp(e->md5, seg->etag) == 0;
    free(e);
    return cached;
}

static json_t *segment_json(const struct gw_segment *seg, int cached)
{
    json_t *o = json_object();
    if (seg->data != NULL) {
        json_object_set_new(o, "data", json_true());
    } else {
        char *name = gw_asprintf("%s/%s", seg->container, seg->object);
        json_object_set_new(o, "name", text(name));
        free(name);
    }
    json_object_set_new(o, "size", json_integer((json_int_t)seg->size));
    json_object_set_new(o, "etag", text(seg->etag));
    json_object_set_new(o, "offset", json_integer((json_int_t)seg->offset));
    json_object_set_new(o, "bytes", json_integer((json_int_t)seg->range_len));
    if (!gw_segment_whole(seg)) {
        char range[64];
        snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)seg->range_start,
                 (unsigned long long)(seg->range_start + seg->range_len - 1));
        json_object_set_new(o, "range", json_string(range));
    }
    if (seg->sub_slo) json_object_set_new(o, "sub_slo", json_true());
    if (seg->data == NULL) json_object_set_new(o, "cached", json_boolean(cached));
    return o;
}

/* Every segment is looked up (for the count); the first few are listed. */
static json_t *segments_json(struct gw_cache *c, const struct gw_plan *p)
{
    json_t *list = json_array();
    size_t ncached = 0, shown = p->n < GW_INSPECT_SEGMENTS_SHOWN ? p->n : GW_INSPECT_SEGMENTS_SHOWN;
    for (size_t i = 0; i < p->n; i++) {
        const struct gw_segment *seg = &p->seg[i];
        int cached = seg->data == NULL && segment_cached(c, seg);
        ncached += (size_t)cached;
        if (i < shown) json_array_append_new(list, segment_json(seg, cached));
    }
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)p->n));
    json_object_set_new(o, "cached", json_integer((json_int_t)ncached));
    json_object_set_new(o, "shown", json_integer((json_int_t)shown));
    json_object_set_new(o, "omitted", json_integer((json_int_t)(p->n - shown)));
    json_object_set_new(o, "list", list);
    return o;
}

/* ---- the work (thread pool) ---- */

/* The whole blob of e into *buf: 0, -ENOENT (evicted or replaced meanwhile), -errno. */
static int read_blob(struct gw_cache *c, const struct gw_cache_entry *e, unsigned char **buf)
{
    char path[4096];
    int rc = gw_cache_blob_path(c, e, path, sizeof(path));
    if (rc != 0) return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != e->size) {
        close(fd);
        return -EIO;
    }
    *buf = gw_malloc(e->size);
    uint64_t got = 0;
    while (got < e->size) {
        ssize_t n = pread(fd, *buf + got, e->size - got, (off_t)got);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        got += (uint64_t)n;
    }
    close(fd);
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* A large object's fields from its plan: 0, -ENOENT, or another error. */
static int add_plan(struct inspect_job *job, const struct gw_cache_entry *e, json_t *o)
{
    unsigned char *buf = NULL;
    int rc = read_blob(job->cache, e, &buf);
    if (rc != 0) return rc;
    struct gw_plan plan;
    rc = gw_plan_decode(buf, e->size, &plan);
    free(buf);
    if (rc != 0) return rc;
    json_object_set_new(o, "kind", json_string(plan.kind == GW_PLAN_SLO ? "slo" : "dlo"));
    json_object_set_new(o, "size", json_integer((json_int_t)plan.total));
    json_object_set_new(o, "md5", json_null());
    json_object_set_new(o, "etag", text(plan.etag));
    json_object_set_new(o, "manifest_etag", text_or_null(e->etag));
    json_object_set_new(o, "segments", segments_json(job->cache, &plan));
    gw_plan_free(&plan);
    return 0;
}

static json_t *entry_json(const struct inspect_job *job, const struct gw_cache_entry *e)
{
    char keyhex[2 * GW_CACHE_KEY_LEN + 1];
    gw_hex(job->key, GW_CACHE_KEY_LEN, keyhex);
    int64_t expires = e->stored_at + (int64_t)job->ttl_ms;
    json_t *o = json_object();
    json_object_set_new(o, "uuid", json_string(job->uuid));
    json_object_set_new(o, "object", text(e->name));
    json_object_set_new(o, "key", json_string(keyhex));
    json_object_set_new(o, "kind", json_string("object"));
    json_object_set_new(o, "size", json_integer((json_int_t)e->size));
    json_object_set_new(o, "md5", text(e->md5));
    json_object_set_new(o, "etag", text_or_null(e->etag));
    json_object_set_new(o, "last_modified", text_or_null(e->last_modified));
    json_object_set_new(o, "content_type", text_or_null(e->content_type));
    json_object_set_new(o, "stored_at", rfc3339(e->stored_at));
    json_object_set_new(o, "expires", rfc3339(expires));
    json_object_set_new(o, "fresh", json_boolean(gw_wall_ms() < expires));
    json_object_set_new(o, "last_access", rfc3339(e->last_access));
    json_object_set_new(o, "blob_bytes", json_integer((json_int_t)e->size));
    return o;
}

static void set_answer(struct inspect_job *job, int status, json_t *o)
{
    job->status = status;
    job->body = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    gw_assert(job->body != NULL);
    json_decref(o);
}

static void set_error(struct inspect_job *job, int status, const char *why)
{
    set_answer(job, status, json_pack("{s:s, s:s}", "uuid", job->uuid, "error", why));
}

/* 404: not cached, and whether Swift's 404 for it is remembered. */
static void set_not_cached(struct inspect_job *job)
{
    if (!job->neg) {
        set_error(job, 404, "not cached");
        return;
    }
    set_answer(job, 404, json_pack("{s:s, s:s, s:b, s:f}", "uuid", job->uuid, "error",
                                   "not cached", "remembered_404", 1, "remembered_for_s",
                                   (double)job->neg_left_ms / 1000.0));
}

static void inspect_work(uv_work_t *w)
{
    struct inspect_job *job = w->data;
    struct gw_cache_entry *e = gw_malloc(sizeof(*e));
    int rc = gw_cache_get(job->cache, job->key, e);
    /* What a request would not serve (an old NEGATIVE record) is not cached either. */
    if (rc == GW_ENOTFOUND || (rc == 0 && e->kind != GW_CACHE_KIND_OBJECT &&
                               e->kind != GW_CACHE_KIND_MANIFEST)) {
        set_not_cached(job);
    } else if (rc != 0) {
        set_error(job, 500, gw_strerror(rc));
    } else {
        json_t *o = entry_json(job, e);
        rc = e->kind == GW_CACHE_KIND_MANIFEST ? add_plan(job, e, o) : 0;
        if (rc == 0)
            set_answer(job, 200, o);
        else {
            json_decref(o);
            if (rc == -ENOENT) set_error(job, 404, "not cached");
            else set_error(job, 500, "the cached plan cannot be read");
        }
    }
    free(e);
}

/* ---- the loop side ---- */

static void answer(struct gw_sink *s, int status, const char *json, int head_only)
{
    const struct gw_http_req *req = gw_sink_request(s);
    size_t len = strlen(json) + 1; /* and a newline */
    struct gw_buf head = {0};
    gw_http_head_begin(&head, status);
    gw_buf_printf(&head, "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                         "Cache-Control: no-store\r\n", len);
    if (req->request_id[0]) gw_buf_printf(&head, "X-Request-Id: %s\r\n", req->request_id);
    gw_http_head_end(&head, gw_sink_keepalive(s), req->http_minor);
    gw_sink_set_status(s, status);
    gw_sink_set_bytes(s, head_only ? 0 : len);
    gw_sink_write_buf(s, &head);
    if (!head_only) {
        gw_sink_write(s, json, len - 1);
        gw_sink_write(s, "\n", 1);
    }
    gw_sink_end(s);
}

static void inspect_done(uv_work_t *w, int status)
{
    struct inspect_job *job = w->data;
    struct inspect *in = job->owner;
    if (in != NULL) {
        GW_CHECK_MAGIC(in, INSPECT_MAGIC);
        in->job = NULL;
        if (status != 0 || job->body == NULL)
            gw_respond_simple(in->sink, 500, "inspection failed", NULL);
        else
            answer(in->sink, job->status, job->body, in->head_only);
    }
    free(job->body);
    free(job);
}

static void on_drain(void *ud)
{
    (void)ud; /* the answer is queued whole: nothing waits for a drain */
}

static void release(void *ud)
{
    struct inspect *in = ud;
    GW_CHECK_MAGIC(in, INSPECT_MAGIC);
    if (in->job) in->job->owner = NULL;
    in->magic = 0;
    free(in);
}

static const struct gw_sink_owner inspect_owner = {.on_drain = on_drain, .release = release};

void gw_inspect(struct gw_sink *s, const struct gw_services *svc, const char *name,
                int head_only)
{
    if (svc->cache == NULL) {
        gw_respond_simple(s, 404, "no cache configured", NULL);
        return;
    }
    struct inspect_job *job = gw_calloc(1, sizeof(*job));
    job->work.data = job;
    job->cache = svc->cache;
    job->ttl_ms = svc->conf->ttl_ms;
    snprintf(job->uuid, sizeof(job->uuid), "%s", name);
    gw_cache_key(svc->conf->container, name, job->key);
    job->neg = gw_neg_peek(svc->neg, job->key, gw_now_ms(), &job->neg_left_ms);
    struct inspect *in = gw_calloc(1, sizeof(*in));
    in->magic = INSPECT_MAGIC;
    in->sink = s;
    in->head_only = head_only;
    gw_sink_attach(s, &inspect_owner, in);
    if (uv_queue_work(svc->loop, &job->work, inspect_work, inspect_done) != 0) {
        free(job);
        gw_respond_simple(s, 500, "inspection failed", NULL);
        return;
    }
    job->owner = in;
    in->job = job;
}
