/*
 * assemble.c - a large object's byte ranges from its segments (assemble.h).
 *
 * A range is a walk over the plan's segments.  The walk keeps a window of
 * up to segment_parallelism slots, the piece being sent first: each slot is
 * one piece (a segment, or the part of one the range covers) and how its
 * bytes will come: inline data, a mapped blob, a blob being opened in the
 * thread pool, or a fill.  A slot is started when it enters the window, so
 * the segments ahead are looked up, opened and fetched while the one at the
 * front is sent; it is freed when its last byte is queued.
 *
 * A cached segment is used only when its entry's size and MD5 are those
 * the plan names: a segment overwritten in Swift since is fetched again,
 * and its fill fails rather than mix bytes of two versions.
 *
 * When the client asked for a Range, a piece that starts [cache]
 * range_passthrough or more into a segment that is not cached is asked of
 * Swift as a Range of its own, as a cold far Range on an object is (the
 * whole segment fills behind it with range_fill): Swift's 206 must name the
 * plan's ETag and the segment's size, and its bytes are streamed through as
 * they come, the fetch paused while the slot is not at the front or the
 * connection is full.  Those bytes can be checked no further (an MD5 needs
 * the whole segment), so a whole object never takes this way: a manifest's
 * ranged entry far into a segment is read from the segment's start and
 * verified.
 */
#include "assemble.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blobmap.h"
#include "cache.h"
#include "conf.h"
#include "fill.h"
#include "manifest.h"
#include "origin.h"
#include "server.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

#define ASM_MAGIC 0x41534d42u
#define SLOTS_MAX 64
#define READ_CHUNK 65536

enum slot_state { S_DATA, S_OPENING, S_MAP, S_FILL, S_RANGE };

struct slot {
    struct gw_asm *a;           /* NULL once the assembler is gone (opening) */
    struct gw_cache *cache;
    struct gw_piece pc;
    uint64_t done;              /* bytes of the piece queued */
    enum slot_state st;
    uint8_t key[GW_CACHE_KEY_LEN];
    struct gw_cache_entry entry;
    struct gw_blobmap *map;
    int open_rc;
    uv_work_t work;
    struct gw_fill_reader reader;
    int following;
    int checked;                /* the fill's (or range's) head matched the plan */
    struct gw_fetch *fetch;     /* S_RANGE */
    struct gw_swift_creds creds;
    int paused;
    int range_over;             /* S_RANGE: the fetch ended well */
    const char *why;            /* S_RANGE: what was wrong with Swift's answer */
};

struct gw_asm {
    uint32_t magic;
    struct gw_conn *c;
    struct gw_plan plan;
    int sink;
    int ranges;                 /* GW_ASM_RANGES */
    gw_asm_cb cb;
    void *ud;
    size_t window;              /* segment_parallelism */

    /* The range: pieces from (next_seg, next_pos) to last are not started. */
    uint64_t last;
    uint64_t next_pos;
    size_t next_seg;
    int hold;
    int over;                   /* DONE or FAILED reported */
    struct slot *slots[SLOTS_MAX];
    size_t head, nslots;        /* a ring */

    int status;
    const char *why;
    uint64_t sent;
    uint64_t fetched;
};

static void slot_event(struct gw_fill_reader *rd);

/* ---- slots ---- */

static void slot_free(struct slot *s)
{
    if (s->fetch) {
        gw_fetch_cancel(s->fetch);
        s->fetch = NULL;
    }
    gw_swift_creds_free(&s->creds);
    if (s->following) {
        gw_fill_leave(&s->reader);
        s->following = 0;
    }
    if (s->st == S_OPENING) {
        s->a = NULL; /* open_done frees it */
        return;
    }
    if (s->map) gw_blobmap_release(s->map);
    free(s);
}

/* What a fill of segment seg must fetch and match. */
static struct gw_fill_spec segment_spec(const struct gw_segment *seg)
{
    return (struct gw_fill_spec){
        .container = seg->container,
        .object = seg->object,
        .segment = 1,
        .expect_md5 = seg->etag,
        .expect_size = seg->size,
    };
}

static void slot_fill(struct gw_asm *a, struct slot *s)
{
    struct gw_fill_spec spec = segment_spec(&a->plan.seg[s->pc.seg]);
    s->st = S_FILL;
    s->following = 1;
    s->reader.on_event = slot_event;
    s->reader.on_takeover = NULL;
    gw_fill_join(a->c->w, s->key, &spec, &s->reader);
    /* Following another request's fill is a hit on a busy object, as for
     * whole objects: only a fill this request started is a fetch. */
    if (s->reader.primary) a->fetched++;
}

static void fail(struct gw_asm *a, int status, const char *why)
{
    if (a->over) return;
    a->over = 1;
    a->status = status;
    a->why = why;
    a->cb(a->ud, GW_ASM_FAILED);
}

static void open_work(uv_work_t *w)
{
    struct slot *s = w->data;
    s->open_rc = gw_blobmap_open(s->cache, &s->entry, &s->map);
}

static void open_done(uv_work_t *w, int status)
{
    struct slot *s = w->data;
    struct gw_asm *a = s->a;
    if (status != 0 && s->open_rc == 0) s->open_rc = status;
    s->st = S_MAP;
    if (a == NULL) {
        if (s->open_rc == 0 && s->map) gw_blobmap_release(s->map);
        free(s);
        return;
    }
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    if (s->open_rc != 0) {
        /* Evicted or replaced since the lookup: fetch it. */
        s->map = NULL;
        slot_fill(a, s);
        return;
    }
    if (a->nslots > 0 && a->slots[a->head] == s) gw_asm_pump(a);
}

static int is_front(const struct gw_asm *a, const struct slot *s)
{
    return a->nslots > 0 && a->slots[a->head] == s;
}

static int range_on_headers(void *ud, struct gw_fetch *fe, long status)
{
    struct slot *s = ud;
    struct gw_asm *a = s->a;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    const struct gw_segment *seg = &a->plan.seg[s->pc.seg];
    gw_stats_origin("segment", (int)status, gw_fetch_ttfb_ms(fe));
    char etag[80], want[96];
    gw_etag_unquote(etag, sizeof(etag), gw_fetch_header(fe, "ETag"));
    snprintf(want, sizeof(want), "bytes %llu-%llu/%llu", (unsigned long long)s->pc.offset,
             (unsigned long long)(s->pc.offset + s->pc.len - 1), (unsigned long long)seg->size);
    const char *cr = gw_fetch_header(fe, "Content-Range");
    if (status != 206 || cr == NULL || strcmp(cr, want) != 0 || strcasecmp(etag, seg->etag)) {
        gw_warn("asm", "%s/%s: Range answered %ld, Content-Range %s, ETag %s; wanted %s, %s",
                seg->container, seg->object, status, cr ? cr : "-", etag, want, seg->etag);
        if (status == 206 || status == 200) {
            s->why = "segment changed in Swift";
            gw_stats_error(GW_ERR_SEGMENT);
        } else if (status == 404) {
            s->why = "segment missing in Swift";
            gw_stats_error(GW_ERR_SEGMENT);
        } else {
            s->why = "Swift failed on a segment";
            gw_stats_error(GW_ERR_ORIGIN_STATUS);
        }
        return GW_EORIGIN;
    }
    s->checked = 1;
    if (is_front(a, s) && a->hold) gw_asm_pump(a); /* READY is only a callback away */
    return 0;
}

static int range_on_data(void *ud, const char *buf, size_t len)
{
    struct slot *s = ud;
    struct gw_asm *a = s->a;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    if (a->over) return GW_EORIGIN;
    if (!is_front(a, s) || a->hold || gw_conn_congested(a->c)) {
        s->paused = 1;
        if (is_front(a, s) && !a->hold) a->c->want_drain = 1;
        return GW_FETCH_PAUSE;
    }
    if (len > s->pc.len - s->done) return GW_EORIGIN;
    gw_conn_write(a->c, buf, len);
    s->done += len;
    a->sent += len;
    return 0;
}

static void range_on_done(void *ud, struct gw_fetch *fe, int err)
{
    struct slot *s = ud;
    struct gw_asm *a = s->a;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    (void)fe;
    s->fetch = NULL;
    if (err != 0 || s->done != s->pc.len) {
        fail(a, err == GW_ETIMEOUT ? 504 : 502,
             s->why ? s->why : "Swift failed on a segment range");
        return;
    }
    s->range_over = 1;
    if (is_front(a, s)) gw_asm_pump(a);
}

static const struct gw_fetch_cbs range_cbs = {
    .on_headers = range_on_headers,
    .on_data = range_on_data,
    .on_done = range_on_done,
};

/* Ask Swift for just the piece; 0, or -1 when a fill must do instead. */
static int slot_range(struct gw_asm *a, struct slot *s)
{
    struct gw_worker *w = a->c->w;
    const struct gw_segment *seg = &a->plan.seg[s->pc.seg];
    if (gw_swift_creds(w->srv->swift, &s->creds) != 0) return -1;
    struct gw_fetch *fe = gw_swift_object_fetch(w->origin, &s->creds, seg->container,
                                                seg->object, NULL, "GET", &range_cbs, s);
    char *h = gw_asprintf("Range: bytes=%llu-%llu", (unsigned long long)s->pc.offset,
                          (unsigned long long)(s->pc.offset + s->pc.len - 1));
    gw_fetch_add_header(fe, h);
    free(h);
    if (gw_fetch_start(fe) != 0) {
        gw_fetch_cancel(fe);
        return -1;
    }
    s->fetch = fe;
    s->st = S_RANGE;
    a->fetched++;
    if (w->srv->conf->range_fill) {
        struct gw_fill_spec spec = segment_spec(seg);
        gw_fill_prefetch(w, s->key, &spec);
    }
    return 0;
}

/* A new slot for piece pc: how will its bytes come? */
static struct slot *slot_start(struct gw_asm *a, const struct gw_piece *pc)
{
    struct slot *s = gw_calloc(1, sizeof(*s));
    s->a = a;
    s->pc = *pc;
    const struct gw_segment *seg = &a->plan.seg[pc->seg];
    if (seg->data) {
        s->st = S_DATA;
        return s;
    }
    struct gw_cache *cache = a->c->w->srv->cache;
    s->cache = cache;
    gw_cache_key(seg->container, seg->object, s->key);
    if (gw_cache_get(cache, s->key, &s->entry) == 0 &&
        (s->entry.kind == GW_CACHE_KIND_SEGMENT || s->entry.kind == GW_CACHE_KIND_OBJECT) &&
        s->entry.size == seg->size && strcasecmp(s->entry.md5, seg->etag) == 0) {
        gw_cache_touch(cache, s->key);
        s->map = gw_blobmap_get(s->key, s->entry.blob_id);
        if (s->map) {
            s->st = S_MAP;
            return s;
        }
        s->st = S_OPENING;
        s->work.data = s;
        if (uv_queue_work(&a->c->w->loop, &s->work, open_work, open_done) == 0) return s;
    }
    uint64_t far = a->c->w->srv->conf->range_passthrough;
    if (a->ranges && far > 0 && s->pc.offset >= far && slot_range(a, s) == 0) return s;
    slot_fill(a, s);
    return s;
}

/* Start pieces until the window is full or the range is all started. */
static void window_fill(struct gw_asm *a)
{
    while (a->nslots < a->window && a->next_pos <= a->last) {
        while (a->next_seg < a->plan.n && a->plan.seg[a->next_seg].range_len == 0) a->next_seg++;
        gw_assert(a->next_seg < a->plan.n);
        const struct gw_segment *seg = &a->plan.seg[a->next_seg];
        uint64_t from = a->next_pos - seg->offset;
        uint64_t end = seg->offset + seg->range_len - 1;
        uint64_t to = (a->last < end ? a->last : end) - seg->offset;
        struct gw_piece pc = {.seg = a->next_seg, .offset = seg->range_start + from,
                              .len = to - from + 1};
        a->slots[(a->head + a->nslots) % SLOTS_MAX] = slot_start(a, &pc);
        a->nslots++;
        a->next_pos += pc.len;
        a->next_seg++;
    }
}

/*
 * What a fill slot can give now: -1 failed (fail() called), else the bytes
 * readable past the piece's start (the fill holds a segment's last byte back
 * until the segment is verified and cached).
 */
static int64_t fill_ready(struct gw_asm *a, struct slot *s, int *verified)
{
    const struct gw_segment *seg = &a->plan.seg[s->pc.seg];
    struct gw_fill_info info;
    gw_fill_info(&s->reader, &info);
    *verified = 0;
    switch (info.state) {
    case GW_FILL_HEAD:
        return 0;
    case GW_FILL_BODY:
    case GW_FILL_VERIFIED:
        break;
    case GW_FILL_NOT_FOUND:
        fail(a, 502, "segment missing in Swift");
        return -1;
    case GW_FILL_UNCACHEABLE:
        fail(a, 503, "segment cannot be cached");
        return -1;
    case GW_FILL_FAILED:
        fail(a, info.error_status ? info.error_status : 502,
             info.error_reason ? info.error_reason : "Swift failed on a segment");
        return -1;
    case GW_FILL_NOT_MODIFIED:
    case GW_FILL_MANIFEST:
        fail(a, 502, "segment is a large object itself");
        return -1;
    }
    if (!s->checked) {
        /* The fill may have been started by someone else, for other ends. */
        if (info.length != seg->size || strcasecmp(info.etag, seg->etag) != 0) {
            gw_stats_error(GW_ERR_SEGMENT);
            fail(a, 502, "segment changed in Swift");
            return -1;
        }
        s->checked = 1;
    }
    *verified = info.state == GW_FILL_VERIFIED;
    uint64_t readable = info.readable;
    if (readable <= s->pc.offset) return 0;
    uint64_t n = readable - s->pc.offset;
    if (n > s->pc.len) n = s->pc.len;
    /* A piece ends only once its segment is verified, so no response can
     * be complete with a byte that was not. */
    if (n == s->pc.len && !*verified) n--;
    return (int64_t)n;
}

static void slot_event(struct gw_fill_reader *rd)
{
    struct slot *s = (struct slot *)((char *)rd - offsetof(struct slot, reader));
    struct gw_asm *a = s->a;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    if (a->over) return;
    if (a->nslots > 0 && a->slots[a->head] == s) {
        gw_asm_pump(a);
        return;
    }
    /* A slot ahead: only a failure matters now. */
    int verified;
    (void)fill_ready(a, s, &verified);
}

static void map_release(void *arg)
{
    gw_blobmap_release(arg);
}

/*
 * Queue what slot s has.  1 when the piece is all queued, 0 when it waits
 * (for bytes or for the connection), -1 when the range failed.
 */
static int slot_send(struct gw_asm *a, struct slot *s)
{
    struct gw_conn *c = a->c;
    const struct gw_segment *seg = &a->plan.seg[s->pc.seg];
    if (a->sink) {
        if (s->st == S_FILL) {
            int verified;
            if (fill_ready(a, s, &verified) < 0) return -1;
            return verified;
        }
        return s->st != S_OPENING;
    }
    switch (s->st) {
    case S_OPENING:
        return 0;
    case S_RANGE:
        if (a->hold) return 0;
        if (s->range_over) return 1;
        if (s->paused && s->fetch) {
            s->paused = 0;
            gw_fetch_resume(s->fetch); /* may write at once, or pause again */
        }
        if (a->over) return -1;
        return s->range_over;
    case S_DATA:
        if (a->hold) return 0;
        gw_conn_write(c, seg->data + s->pc.offset, (size_t)s->pc.len);
        s->done = s->pc.len;
        a->sent += s->pc.len;
        return 1;
    case S_MAP: {
        if (a->hold) return 0;
        const uint64_t slice = c->w->srv->conf->write_buffer;
        while (s->done < s->pc.len) {
            if (gw_conn_congested(c)) return 0;
            uint64_t n = s->pc.len - s->done;
            if (n > slice) n = slice;
            gw_blobmap_ref(s->map);
            gw_conn_write_ref(c, s->map->addr + s->pc.offset + s->done, (size_t)n, map_release,
                              s->map);
            s->done += n;
            a->sent += n;
        }
        return 1;
    }
    case S_FILL: {
        int verified;
        int64_t avail = fill_ready(a, s, &verified);
        if (avail < 0) return -1;
        if (a->hold) return 0;
        while (s->done < (uint64_t)avail) {
            if (gw_conn_congested(c)) return 0;
            uint64_t n = (uint64_t)avail - s->done;
            if (n > READ_CHUNK) n = READ_CHUNK;
            struct gw_buf b = {0};
            b.data = gw_malloc((size_t)n);
            b.cap = (size_t)n;
            long got = gw_fill_read(&s->reader, s->pc.offset + s->done, b.data, n);
            if (got <= 0) {
                gw_buf_free(&b);
                gw_warn("asm", "%s: reading the fill of %s/%s: %s", c->peer, seg->container,
                        seg->object, got < 0 ? strerror((int)-got) : "short read");
                fail(a, 502, "cannot read a segment");
                return -1;
            }
            b.len = (size_t)got;
            s->done += (uint64_t)got;
            a->sent += (uint64_t)got;
            gw_conn_write_buf(c, &b);
        }
        return s->done == s->pc.len;
    }
    }
    return 0;
}

/* Is the front slot's first byte at hand (for a held range)? */
static int front_ready(struct gw_asm *a, struct slot *s)
{
    int verified;
    switch (s->st) {
    case S_DATA:
    case S_MAP:
        return 1;
    case S_FILL:
        /* The fill's Swift answer matched the plan: the head may go. */
        return fill_ready(a, s, &verified) >= 0 && s->checked;
    case S_RANGE:
        return s->checked;
    default:
        return 0;
    }
}

/* ---- the interface ---- */

struct gw_asm *gw_asm_new(struct gw_conn *c, struct gw_plan *plan, int flags, gw_asm_cb cb,
                          void *ud)
{
    gw_assert(c->w->srv->cache != NULL);
    struct gw_asm *a = gw_calloc(1, sizeof(*a));
    a->magic = ASM_MAGIC;
    a->c = c;
    a->plan = *plan;
    memset(plan, 0, sizeof(*plan));
    a->sink = (flags & GW_ASM_SINK) != 0;
    a->ranges = (flags & GW_ASM_RANGES) && !a->sink;
    a->cb = cb;
    a->ud = ud;
    uint64_t p = c->w->srv->conf->segment_parallelism;
    a->window = p < 1 ? 1 : p > SLOTS_MAX ? SLOTS_MAX : (size_t)p;
    a->over = 1;
    return a;
}

void gw_asm_range(struct gw_asm *a, uint64_t first, uint64_t last, int hold)
{
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    gw_assert(a->nslots == 0 && first <= last && last < a->plan.total);
    struct gw_piece pc;
    gw_assert(gw_plan_cover(&a->plan, first, first, &pc, 1) == 1);
    a->next_seg = pc.seg;
    a->next_pos = first;
    a->last = last;
    a->hold = hold && !a->sink;
    a->over = 0;
    window_fill(a);
}

void gw_asm_pump(struct gw_asm *a)
{
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    while (!a->over) {
        window_fill(a);
        if (a->nslots == 0) {
            a->over = 1;
            a->cb(a->ud, GW_ASM_DONE);
            return;
        }
        struct slot *s = a->slots[a->head];
        if (a->hold) {
            if (!front_ready(a, s)) return;
            a->hold = 0;
            a->cb(a->ud, GW_ASM_READY);
            return;
        }
        int rc = slot_send(a, s);
        if (rc < 0 || a->over) return;
        if (rc == 0) {
            if (!a->sink && gw_conn_congested(a->c)) a->c->want_drain = 1;
            return;
        }
        a->slots[a->head] = NULL;
        a->head = (a->head + 1) % SLOTS_MAX;
        a->nslots--;
        slot_free(s);
    }
}

int gw_asm_error(const struct gw_asm *a, const char **why)
{
    if (why) *why = a->why ? a->why : "Swift failed on a segment";
    return a->status ? a->status : 502;
}

uint64_t gw_asm_sent(const struct gw_asm *a)
{
    return a->sent;
}

uint64_t gw_asm_fetched(const struct gw_asm *a)
{
    return a->fetched;
}

void gw_asm_free(struct gw_asm *a)
{
    if (a == NULL) return;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    while (a->nslots > 0) {
        struct slot *s = a->slots[a->head];
        a->head = (a->head + 1) % SLOTS_MAX;
        a->nslots--;
        slot_free(s);
    }
    gw_plan_free(&a->plan);
    a->magic = 0;
    free(a);
}
