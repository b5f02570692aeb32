/*
 * assemble.c - a large object's byte ranges from its segments (assemble.h).
 *
 * A range is a walk over the plan's segments.  The walk keeps a window of
 * up to segment_parallelism slots, the piece being sent first: each slot is
 * one piece (a segment, or the part of one the range covers) and how its
 * bytes will come: inline data, an open blob, a blob being opened in the
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
 *
 * The assembler may be freed from inside its owner's callback (the answer
 * ended or failed there): every way in (the public calls, fill events, the
 * thread pool, the range fetches) counts itself in `depth`, and the memory
 * goes when the outermost of them returns.
 */
#include "assemble.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blobfd.h"
#include "cache.h"
#include "conf.h"
#include "fill.h"
#include "http.h"
#include "manifest.h"
#include "origin.h"
#include "plancache.h"
#include "respond.h"
#include "services.h"
#include "sink.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

#define ASM_MAGIC 0x41534d42u
#define SLOTS_MAX 64

enum slot_state { S_DATA, S_OPENING, S_BLOB, S_FILL, S_RANGE };

struct slot {
    struct gw_asm *a;
    struct gw_piece pc;
    uint64_t done;              /* bytes of the piece queued */
    enum slot_state st;
    uint8_t key[GW_CACHE_KEY_LEN];
    struct gw_cache_entry entry;
    struct gw_blobfd *blob;
    struct gw_blob_open *open;  /* S_OPENING */
    struct gw_fill_reader reader;
    int following;
    int checked;                /* the fill's (or range's) head matched the plan */
    struct gw_swift_req q;      /* S_RANGE */
    int paused;
    int range_over;             /* S_RANGE: the fetch ended well */
    const char *why;            /* S_RANGE: what was wrong with Swift's answer */
};

struct gw_asm {
    uint32_t magic;
    struct gw_sink *sink;
    const struct gw_services *svc;
    struct gw_plan_ref *ref;    /* our hold on the plan */
    const struct gw_plan *plan;
    int sink_only;              /* GW_ASM_SINK: no byte is written */
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
    int depth;                  /* calls into the assembler under way */
    int doomed;                 /* gw_asm_free() came inside one of them */
};

static void slot_event(struct gw_fill_reader *rd);
static void asm_destroy(struct gw_asm *a);

/* ---- ways in ---- */

static void enter(struct gw_asm *a)
{
    a->depth++;
}

/* The last way in to return frees a doomed assembler. */
static void leave(struct gw_asm *a)
{
    if (--a->depth == 0 && a->doomed) asm_destroy(a);
}

/* ---- slots ---- */

static void slot_free(struct slot *s)
{
    gw_swift_req_cancel(&s->q);
    if (s->following) {
        gw_fill_leave(&s->reader);
        s->following = 0;
    }
    gw_blobfd_open_cancel(s->open);
    if (s->blob) gw_blobfd_release(s->blob);
    free(s);
}

/* What a fill of segment seg must fetch and match, for a's client. */
static struct gw_fill_spec segment_spec(const struct gw_asm *a, const struct gw_segment *seg)
{
    return (struct gw_fill_spec){
        .request_id = gw_sink_request(a->sink)->request_id,
        .container = seg->container,
        .object = seg->object,
        .segment = 1,
        .expect_md5 = seg->etag,
        .expect_size = seg->size,
    };
}

static void slot_fill(struct gw_asm *a, struct slot *s)
{
    struct gw_fill_spec spec = segment_spec(a, &a->plan->seg[s->pc.seg]);
    s->st = S_FILL;
    s->following = 1;
    s->reader.on_event = slot_event;
    s->reader.on_takeover = NULL;
    gw_fill_join(a->svc, s->key, &spec, &s->reader);
    /* Following another request's fill is a hit on a busy object, as for
     * whole objects: only a fill this request started is a fetch. */
    if (s->reader.primary) a->fetched++;
    else gw_stats_joined(GW_JOIN_SEGMENT);
}

static void fail(struct gw_asm *a, int status, const char *why)
{
    if (a->over) return;
    a->over = 1;
    a->status = status;
    a->why = why;
    a->cb(a->ud, GW_ASM_FAILED);
}

static int is_front(const struct gw_asm *a, const struct slot *s)
{
    return a->nslots > 0 && a->slots[a->head] == s;
}

static void on_open(void *ud, int rc, struct gw_blobfd *blob)
{
    struct slot *s = ud;
    struct gw_asm *a = s->a;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    s->open = NULL;
    enter(a);
    if (rc != 0) {
        /* Evicted or replaced since the lookup: fetch it. */
        slot_fill(a, s);
    } else {
        s->blob = blob;
        s->st = S_BLOB;
        if (is_front(a, s)) gw_asm_pump(a);
    }
    leave(a);
}

/* ---- a piece asked of Swift as a Range ---- */

static int range_on_headers(void *ud, struct gw_fetch *fe, long status)
{
    struct slot *s = ud;
    struct gw_asm *a = s->a;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    const struct gw_segment *seg = &a->plan->seg[s->pc.seg];
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
    if (is_front(a, s) && a->hold) {
        enter(a);
        gw_asm_pump(a); /* READY is only a callback away */
        leave(a);
    }
    return 0;
}

static int range_on_data(void *ud, const char *buf, size_t len)
{
    struct slot *s = ud;
    struct gw_asm *a = s->a;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    if (a->over) return GW_EORIGIN;
    if (!is_front(a, s) || a->hold || gw_sink_congested(a->sink)) {
        s->paused = 1;
        if (is_front(a, s) && !a->hold) gw_sink_wait_drain(a->sink);
        return GW_FETCH_PAUSE;
    }
    if (len > s->pc.len - s->done) return GW_EORIGIN;
    gw_sink_write(a->sink, buf, len);
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
    enter(a);
    if (err == GW_EBADHEADER && s->why == NULL) s->why = "bad header from Swift";
    if (err != 0 || s->done != s->pc.len) {
        if (err == GW_EBUSY) gw_stats_error(GW_ERR_FETCH_BUSY);
        fail(a, err ? gw_fetch_err_status(err) : 502,
             s->why        ? s->why
             : err == GW_EBUSY ? GW_FETCH_BUSY_REASON : "Swift failed on a segment range");
    } else {
        s->range_over = 1;
        if (is_front(a, s)) gw_asm_pump(a);
    }
    leave(a);
}

static const struct gw_fetch_cbs range_cbs = {
    .on_headers = range_on_headers,
    .on_data = range_on_data,
    .on_done = range_on_done,
};

static void add_range(void *ud, struct gw_fetch *f)
{
    struct slot *s = ud;
    gw_swift_trans_extra(f, gw_sink_request(s->a->sink)->request_id);
    char *h = gw_asprintf("Range: bytes=%llu-%llu", (unsigned long long)s->pc.offset,
                          (unsigned long long)(s->pc.offset + s->pc.len - 1));
    gw_fetch_add_header(f, h);
    free(h);
}

/* Ask Swift for just the piece; 0, or -1 when a fill must do instead. */
static int slot_range(struct gw_asm *a, struct slot *s)
{
    const struct gw_segment *seg = &a->plan->seg[s->pc.seg];
    struct gw_swift_target t = {.kind = "segment", .method = "GET",
                                .container = seg->container, .object = seg->object,
                                .prepare = add_range};
    gw_swift_req_init(&s->q, a->svc, &t, &range_cbs, s);
    if (gw_swift_req_start(&s->q) != 0) return -1;
    s->st = S_RANGE;
    a->fetched++;
    if (a->svc->conf->range_fill) {
        struct gw_fill_spec spec = segment_spec(a, seg);
        gw_fill_prefetch(a->svc, s->key, &spec);
    }
    return 0;
}

/* ---- the window ---- */

/* A verified copy of the segment is cached: open it (or share its open blob). */
static int slot_cached(struct gw_asm *a, struct slot *s, const struct gw_segment *seg)
{
    struct gw_cache *cache = a->svc->cache;
    if (gw_cache_get(cache, s->key, &s->entry) != 0 ||
        (s->entry.kind != GW_CACHE_KIND_SEGMENT && s->entry.kind != GW_CACHE_KIND_OBJECT) ||
        s->entry.size != seg->size || strcasecmp(s->entry.md5, seg->etag) != 0)
        return 0;
    gw_cache_touch(cache, s->key);
    s->blob = gw_blobfd_get(s->key, s->entry.blob_id);
    if (s->blob) {
        s->st = S_BLOB;
        return 1;
    }
    s->open = gw_blobfd_open_async(a->svc->loop, cache, &s->entry, on_open, s);
    if (s->open == NULL) return 0;
    s->st = S_OPENING;
    return 1;
}

/* A new slot for piece pc: how will its bytes come? */
static struct slot *slot_start(struct gw_asm *a, const struct gw_piece *pc)
{
    struct slot *s = gw_calloc(1, sizeof(*s));
    s->a = a;
    s->pc = *pc;
    const struct gw_segment *seg = &a->plan->seg[pc->seg];
    if (seg->data) {
        s->st = S_DATA;
        return s;
    }
    gw_cache_key(seg->container, seg->object, s->key);
    if (slot_cached(a, s, seg)) return s;
    uint64_t far = a->svc->conf->range_passthrough;
    if (a->ranges && far > 0 && s->pc.offset >= far && slot_range(a, s) == 0) return s;
    slot_fill(a, s);
    return s;
}

/* Start pieces until the window is full or the range is all started. */
static void window_fill(struct gw_asm *a)
{
    while (a->nslots < a->window && a->next_pos <= a->last) {
        while (a->next_seg < a->plan->n && a->plan->seg[a->next_seg].range_len == 0) a->next_seg++;
        gw_assert(a->next_seg < a->plan->n);
        const struct gw_segment *seg = &a->plan->seg[a->next_seg];
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
    const struct gw_segment *seg = &a->plan->seg[s->pc.seg];
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
    enter(a);
    if (is_front(a, s)) {
        gw_asm_pump(a);
    } else {
        /* A slot ahead: only a failure matters now. */
        int verified;
        (void)fill_ready(a, s, &verified);
    }
    leave(a);
}

/* S_RANGE: let the paused fetch go on; 1 when its piece is all queued. */
static int range_send(struct gw_asm *a, struct slot *s)
{
    if (s->range_over) return 1;
    if (s->paused && gw_swift_req_busy(&s->q)) {
        s->paused = 0;
        gw_swift_req_resume(&s->q); /* may write at once, or pause again */
    }
    if (a->over) return -1;
    return s->range_over;
}

/* S_FILL: what the fill has of the piece; 1 when all is queued. */
static int fill_send(struct gw_asm *a, struct slot *s)
{
    int verified;
    int64_t avail = fill_ready(a, s, &verified);
    if (avail < 0) return -1;
    if (a->hold) return 0;
    if (s->done < (uint64_t)avail) {
        int64_t n = gw_respond_from_fill(a->sink, &s->reader, s->pc.offset + s->done,
                                         (uint64_t)avail - s->done);
        if (n < 0) {
            const struct gw_segment *seg = &a->plan->seg[s->pc.seg];
            gw_warn("asm", "%s: reading the fill of %s/%s: %s", gw_sink_peer(a->sink),
                    seg->container, seg->object, gw_strerror((int)n));
            fail(a, 502, "cannot read a segment");
            return -1;
        }
        s->done += (uint64_t)n;
        a->sent += (uint64_t)n;
    }
    return s->done == s->pc.len;
}

/*
 * Queue what slot s has.  1 when the piece is all queued, 0 when it waits
 * (for bytes or for the connection), -1 when the range failed.
 */
static int slot_send(struct gw_asm *a, struct slot *s)
{
    const struct gw_segment *seg = &a->plan->seg[s->pc.seg];
    if (a->sink_only) {
        if (s->st == S_FILL) {
            int verified;
            if (fill_ready(a, s, &verified) < 0) return -1;
            return verified;
        }
        return s->st != S_OPENING;
    }
    if (s->st == S_FILL) return fill_send(a, s); /* a held fill may still fail */
    if (s->st == S_OPENING || a->hold) return 0;
    switch (s->st) {
    case S_RANGE:
        return range_send(a, s);
    case S_DATA:
        gw_sink_write(a->sink, seg->data + s->pc.offset, (size_t)s->pc.len);
        s->done = s->pc.len;
        a->sent += s->pc.len;
        return 1;
    case S_BLOB: {
        uint64_t n = gw_respond_from_blob(a->sink, s->blob, s->pc.offset + s->done,
                                          s->pc.len - s->done, a->svc->conf->write_buffer);
        s->done += n;
        a->sent += n;
        return s->done == s->pc.len;
    }
    case S_FILL:
    case S_OPENING:
        break;
    }
    return 0;
}

/* Is the front slot's first byte at hand (for a held range)? */
static int front_ready(struct gw_asm *a, struct slot *s)
{
    int verified;
    switch (s->st) {
    case S_DATA:
    case S_BLOB:
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

struct gw_asm *gw_asm_new(struct gw_sink *s, const struct gw_services *svc,
                          struct gw_plan_ref *ref, int flags, gw_asm_cb cb, void *ud)
{
    gw_assert(svc->cache != NULL);
    struct gw_asm *a = gw_calloc(1, sizeof(*a));
    a->magic = ASM_MAGIC;
    a->sink = s;
    a->svc = svc;
    a->ref = ref;
    a->plan = gw_plan_ref_plan(ref);
    a->sink_only = (flags & GW_ASM_SINK) != 0;
    a->ranges = (flags & GW_ASM_RANGES) && !a->sink_only;
    a->cb = cb;
    a->ud = ud;
    uint64_t p = svc->conf->segment_parallelism;
    a->window = p < 1 ? 1 : p > SLOTS_MAX ? SLOTS_MAX : (size_t)p;
    a->over = 1;
    return a;
}

void gw_asm_range(struct gw_asm *a, uint64_t first, uint64_t last, int hold)
{
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    gw_assert(a->nslots == 0 && first <= last && last < a->plan->total);
    struct gw_piece pc;
    gw_assert(gw_plan_cover(a->plan, first, first, &pc, 1) == 1);
    a->next_seg = pc.seg;
    a->next_pos = first;
    a->last = last;
    a->hold = hold && !a->sink_only;
    a->over = 0;
    enter(a);
    window_fill(a);
    leave(a);
}

/* One step of the pump: 1 to go on, 0 to stop (waiting, or over). */
static int pump_step(struct gw_asm *a)
{
    window_fill(a);
    if (a->nslots == 0) {
        a->over = 1;
        a->cb(a->ud, GW_ASM_DONE);
        return 0;
    }
    struct slot *s = a->slots[a->head];
    if (a->hold) {
        if (!front_ready(a, s)) return 0;
        a->hold = 0;
        a->cb(a->ud, GW_ASM_READY);
        return 0;
    }
    int rc = slot_send(a, s);
    if (rc < 0 || a->over) return 0;
    if (rc == 0) {
        if (!a->sink_only && gw_sink_congested(a->sink)) gw_sink_wait_drain(a->sink);
        return 0;
    }
    a->slots[a->head] = NULL;
    a->head = (a->head + 1) % SLOTS_MAX;
    a->nslots--;
    slot_free(s);
    return 1;
}

void gw_asm_pump(struct gw_asm *a)
{
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    enter(a);
    while (!a->over && pump_step(a)) {
    }
    leave(a);
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

static void asm_destroy(struct gw_asm *a)
{
    while (a->nslots > 0) {
        struct slot *s = a->slots[a->head];
        a->head = (a->head + 1) % SLOTS_MAX;
        a->nslots--;
        slot_free(s);
    }
    gw_plan_ref_drop(a->ref);
    a->magic = 0;
    free(a);
}

void gw_asm_free(struct gw_asm *a)
{
    if (a == NULL) return;
    GW_CHECK_MAGIC(a, ASM_MAGIC);
    a->over = 1;
    if (a->depth > 0) {
        a->doomed = 1; /* inside one of our own calls: freed when it returns */
        return;
    }
    asm_destroy(a);
}
