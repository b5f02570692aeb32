/*
 * plan.c - the segment plan itself: its storage and release, byte ranges
 * onto segments, a sub-SLO expanded in place, and the byte form kept in
 * the manifest's cache entry; also the checks and MD5 helpers that slo.c
 * and dlo.c share with it (declared in manifest_int.h).
 *
 * Invariants of every plan this module hands out: segment i's bytes start at
 * seg[i].offset == sum of range_len of the segments before it; total is the
 * sum of all range_len and at most GW_PLAN_MAX_BYTES; range_start +
 * range_len <= size; an object-backed segment has valid, non-empty
 * container and object names; a data segment has size == data_len and
 * empty names.  Every input is checked before anything is kept, so a bad
 * manifest, listing page or cache entry leaves no partial plan behind.
 *
 * Nesting follows slo.py's _byterange_listing_iterator: a sub-SLO listed by
 * a manifest of depth max_slo_recursion_depth is an error.
 */
#include "manifest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* ---- MD5 ---- */

EVP_MD_CTX *gwm_md5_new(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    gw_assert(c != NULL);
    gw_assert(EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1);
    return c;
}

void gwm_md5_add(EVP_MD_CTX *c, const void *p, size_t n)
{
    gw_assert(EVP_DigestUpdate(c, p, n) == 1);
}

/* Finish into 16 raw bytes and free the context. */
static void md5_end_raw(EVP_MD_CTX *c, unsigned char out[16])
{
    unsigned int n = 0;
    gw_assert(EVP_DigestFinal_ex(c, out, &n) == 1 && n == 16);
    EVP_MD_CTX_free(c);
}

void gwm_md5_end_hex(EVP_MD_CTX *c, char out[33])
{
    unsigned char d[16];
    md5_end_raw(c, d);
    gw_hex(d, 16, out);
}

void gwm_md5_hex(const void *p, size_t n, char out[33])
{
    EVP_MD_CTX *c = gwm_md5_new();
    gwm_md5_add(c, p, n);
    gwm_md5_end_hex(c, out);
}

/* ---- small checks ---- */

int gwm_is_hex32(const char *s, size_t n)
{
    if (n != 32) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF) without NUL: what Swift's check_utf8 lets into a name. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned min, cp;
        if ((c & 0xe0) == 0xc0) {
            k = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            unsigned cc = s[i + j];
            if ((cc & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k + 1;
    }
    return 1;
}

int gwm_container_ok(const char *s, size_t n)
{
    return n >= 1 && n <= GW_CONTAINER_MAX && memchr(s, '/', n) == NULL &&
           utf8_ok((const unsigned char *)s, n);
}

int gwm_object_ok(const char *s, size_t n)
{
    return n >= 1 && n <= GW_OBJECT_MAX && utf8_ok((const unsigned char *)s, n);
}

/* ---- plan storage ---- */

void gwm_plan_reserve(struct gw_plan *p, size_t extra)
{
    gw_assert(extra <= SIZE_MAX / sizeof(struct gw_segment) - p->n);
    size_t need = p->n + extra;
    if (need <= p->cap) return;
    size_t cap = p->cap ? p->cap : 8;
    while (cap < need) cap = cap > SIZE_MAX / 2 / sizeof(struct gw_segment) ? need : cap * 2;
    p->seg = gw_realloc(p->seg, cap * sizeof(struct gw_segment));
    p->cap = cap;
}

/* One allocation holds "container\0object\0". */
void gwm_seg_set_names(struct gw_segment *s, const char *c, size_t cl, const char *o, size_t ol)
{
    char *buf = gw_malloc(cl + ol + 2);
    memcpy(buf, c, cl);
    buf[cl] = '\0';
    memcpy(buf + cl + 1, o, ol);
    buf[cl + 1 + ol] = '\0';
    s->container = buf;
    s->object = buf + cl + 1;
}

static void seg_free(struct gw_segment *s)
{
    free(s->container);
    free(s->data);
    memset(s, 0, sizeof(*s));
}

static void seg_copy(struct gw_segment *dst, const struct gw_segment *src)
{
    *dst = *src;
    gwm_seg_set_names(dst, src->container, strlen(src->container), src->object,
                      strlen(src->object));
    if (src->data) {
        dst->data = gw_malloc(src->data_len);
        memcpy(dst->data, src->data, src->data_len);
    }
}

/* The byte form's parts (see "byte form" below): its head and checksum,
 * and each segment's fixed fields. */
#define PLAN_FIXED (6 + 1 + 1 + 4 + 8 + 32 + 16)
#define SEG_FIXED (1 + 1 + 2 + 2 + 8 + 8 + 8 + 1 + 4)

size_t gwm_plan_empty_bytes(void)
{
    return PLAN_FIXED;
}

size_t gwm_seg_bytes(const struct gw_segment *s)
{
    return SEG_FIXED + strlen(s->etag) + s->data_len + strlen(s->container) + strlen(s->object);
}

/* Set offsets from the ranges, and the encoded size; returns the sum of
 * range_len. */
uint64_t gwm_plan_reoffset(struct gw_plan *p)
{
    uint64_t off = 0;
    size_t bytes = PLAN_FIXED;
    for (size_t i = 0; i < p->n; i++) {
        p->seg[i].offset = off;
        off += p->seg[i].range_len;
        bytes += gwm_seg_bytes(&p->seg[i]);
    }
    p->bytes = bytes;
    return off;
}

int gwm_plan_fits(const struct gw_plan *p, size_t n, size_t bytes, const char **why)
{
    size_t max_n = p->max_segments ? p->max_segments : GW_PLAN_MAX_SEGMENTS;
    if (n > max_n) return gwm_fail(why, "too many segments", GW_ELIMIT);
    if (p->max_bytes && bytes > p->max_bytes) return gwm_fail(why, "plan too large", GW_ELIMIT);
    return 0;
}

int gw_plan_limit(struct gw_plan *p, size_t max_segments, size_t max_bytes, const char **why)
{
    gw_assert(max_segments <= GW_PLAN_MAX_SEGMENTS);
    p->max_segments = max_segments;
    p->max_bytes = max_bytes;
    if (p->n == 0) p->bytes = PLAN_FIXED;
    return gwm_plan_fits(p, p->n, p->bytes, why);
}

void gw_plan_free(struct gw_plan *p)
{
    if (p == NULL) return;
    for (size_t i = 0; i < p->n; i++) seg_free(&p->seg[i]);
    free(p->seg);
    memset(p, 0, sizeof(*p));
}

/* ---- ranges ---- */

size_t gw_plan_cover(const struct gw_plan *p, uint64_t first, uint64_t last, struct gw_piece *out,
                     size_t max)
{
    if (first > last || last >= p->total) return 0;
    /* The first segment whose bytes end after `first`. */
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct gw_segment *s = &p->seg[mid];
        if (s->offset + s->range_len <= first)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t count = 0;
    for (size_t i = lo; i < p->n && p->seg[i].offset <= last; i++) {
        const struct gw_segment *s = &p->seg[i];
        if (s->range_len == 0) continue;
        uint64_t a = first > s->offset ? first - s->offset : 0;
        uint64_t end = s->offset + s->range_len - 1;
        uint64_t b = (last < end ? last : end) - s->offset;
        if (count < max) {
            out[count].seg = i;
            out[count].offset = s->range_start + a;
            out[count].len = b - a + 1;
        }
        count++;
    }
    return count;
}

/* ---- nesting ---- */

int gw_plan_expand(struct gw_plan *parent, size_t index, const struct gw_plan *child,
                   const char **why)
{
    gw_assert(parent->kind == GW_PLAN_SLO && index < parent->n);
    const struct gw_segment *e = &parent->seg[index];
    gw_assert(e->sub_slo);

    if (child->kind != GW_PLAN_SLO) return gwm_fail(why, "sub-SLO plan is not an SLO", GW_EPARSE);
    if (e->depth >= GW_SLO_MAX_DEPTH) return gwm_fail(why, "SLOs nested too deep", GW_ELIMIT);
    if (child->total != e->size)
        return gwm_fail(why, "sub-SLO size differs from its manifest entry", GW_EDIGEST);
    if (strcasecmp(child->etag, e->etag) != 0)
        return gwm_fail(why, "sub-SLO ETag differs from its manifest entry", GW_EDIGEST);

    /* The child's segments that the entry's range selects. */
    size_t k;
    struct gw_piece *pieces = NULL;
    int whole = gw_segment_whole(e);
    if (whole) {
        k = child->n;
    } else if (e->range_len == 0) {
        k = 0;
    } else {
        uint64_t first = e->range_start, last = e->range_start + e->range_len - 1;
        k = gw_plan_cover(child, first, last, NULL, 0);
        pieces = gw_malloc(k * sizeof(*pieces));
        gw_assert(gw_plan_cover(child, first, last, pieces, k) == k);
    }
    /* What the parent would hold: its other entries and the k pieces. */
    size_t add = 0;
    for (size_t i = 0; i < k && add <= SIZE_MAX / 2; i++)
        add += gwm_seg_bytes(&child->seg[whole ? i : pieces[i].seg]);
    int rc = 0;
    if (k > GW_PLAN_MAX_SEGMENTS || parent->n - 1 > GW_PLAN_MAX_SEGMENTS - k)
        rc = gwm_fail(why, "too many segments", GW_ELIMIT);
    else
        rc = gwm_plan_fits(parent, parent->n - 1 + k,
                           (parent->bytes > gwm_seg_bytes(e) ? parent->bytes - gwm_seg_bytes(e)
                                                             : 0) + add,
                           why);
    if (rc != 0) {
        free(pieces);
        return rc;
    }

    for (size_t i = 0; i < k; i++) {
        const struct gw_segment *c = &child->seg[whole ? i : pieces[i].seg];
        if (c->depth > GW_SLO_MAX_DEPTH - e->depth) {
            free(pieces);
            return gwm_fail(why, "SLOs nested too deep", GW_ELIMIT);
        }
    }

    struct gw_segment *fresh = gw_calloc(k ? k : 1, sizeof(*fresh));
    for (size_t i = 0; i < k; i++) {
        const struct gw_segment *c = &child->seg[whole ? i : pieces[i].seg];
        seg_copy(&fresh[i], c);
        if (!whole) {
            fresh[i].range_start = pieces[i].offset;
            fresh[i].range_len = pieces[i].len;
        }
        fresh[i].depth = e->depth + c->depth;
    }
    free(pieces);

    uint64_t total = parent->total;
    seg_free(&parent->seg[index]);
    if (k > 1) gwm_plan_reserve(parent, k - 1);
    memmove(&parent->seg[index + k], &parent->seg[index + 1],
            (parent->n - index - 1) * sizeof(struct gw_segment));
    if (k) memcpy(&parent->seg[index], fresh, k * sizeof(*fresh));
    parent->n = parent->n - 1 + k;
    free(fresh);
    gw_assert(gwm_plan_reoffset(parent) == total);
    return 0;
}

/* ---- byte form ---- */

/*
 * Version 1, integers big-endian:
 *   "SGPLAN" u8 version, u8 kind, u32 n, u64 total, 32 etag
 *   n x { u8 flags (1 sub_slo, 2 data), u8 depth, u16 clen, u16 olen,
 *         u64 size, u64 range_start, u64 range_len, u8 etag_len (0|32),
 *         etag, u32 data_len, data, container, object }
 *   16 bytes MD5 of everything before.
 */
#define PLAN_MAGIC "SGPLAN"
#define PLAN_VERSION 1

static unsigned char *put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

int gw_plan_encode(const struct gw_plan *p, unsigned char **buf, size_t *len)
{
    gw_assert(p->kind == GW_PLAN_SLO || p->kind == GW_PLAN_DLO);
    gw_assert(strlen(p->etag) == 32 && p->n <= GW_PLAN_MAX_SEGMENTS);
    size_t size = PLAN_FIXED;
    for (size_t i = 0; i < p->n; i++) size += gwm_seg_bytes(&p->seg[i]);
    unsigned char *b = gw_malloc(size), *w = b;
    memcpy(w, PLAN_MAGIC, 6);
    w += 6;
    w = put_be(w, PLAN_VERSION, 1);
    w = put_be(w, (uint64_t)p->kind, 1);
    w = put_be(w, p->n, 4);
    w = put_be(w, p->total, 8);
    memcpy(w, p->etag, 32);
    w += 32;
    for (size_t i = 0; i < p->n; i++) {
        const struct gw_segment *s = &p->seg[i];
        size_t cl = strlen(s->container), ol = strlen(s->object), el = strlen(s->etag);
        gw_assert(cl <= GW_CONTAINER_MAX && ol <= GW_OBJECT_MAX && s->data_len <= UINT32_MAX);
        gw_assert(s->depth >= 1 && s->depth <= 255);
        w = put_be(w, (uint64_t)((s->sub_slo ? 1 : 0) | (s->data ? 2 : 0)), 1);
        w = put_be(w, (uint64_t)s->depth, 1);
        w = put_be(w, cl, 2);
        w = put_be(w, ol, 2);
        w = put_be(w, s->size, 8);
        w = put_be(w, s->range_start, 8);
        w = put_be(w, s->range_len, 8);
        w = put_be(w, el, 1);
        memcpy(w, s->etag, el);
        w += el;
        w = put_be(w, s->data_len, 4);
        if (s->data_len) memcpy(w, s->data, s->data_len);
        w += s->data_len;
        memcpy(w, s->container, cl);
        w += cl;
        memcpy(w, s->object, ol);
        w += ol;
    }
    EVP_MD_CTX *c = gwm_md5_new();
    gwm_md5_add(c, b, (size_t)(w - b));
    md5_end_raw(c, w);
    w += 16;
    gw_assert((size_t)(w - b) == size);
    *buf = b;
    *len = size;
    return 0;
}

struct reader {
    const unsigned char *p;
    size_t left;
    int bad;
};

static uint64_t get_be(struct reader *r, int bytes)
{
    if (r->bad || r->left < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = (v << 8) | r->p[i];
    r->p += bytes;
    r->left -= (size_t)bytes;
    return v;
}

static const unsigned char *get_bytes(struct reader *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    r->left -= n;
    return q;
}

/*
 * One segment record from r onto the end of p, which has room for it, in a
 * plan of kind; *sum_len, the range bytes so far, grows by its range.  0,
 * or -1 for a record cut short or inconsistent (p is then unchanged).
 */
static int decode_segment(struct reader *r, uint64_t kind, struct gw_plan *p, uint64_t *sum_len)
{
    uint64_t flags = get_be(r, 1), depth = get_be(r, 1);
    size_t cl = (size_t)get_be(r, 2), ol = (size_t)get_be(r, 2);
    uint64_t size = get_be(r, 8), rs = get_be(r, 8), rl = get_be(r, 8);
    size_t el = (size_t)get_be(r, 1);
    const unsigned char *e = get_bytes(r, el);
    size_t dl = (size_t)get_be(r, 4);
    const unsigned char *d = get_bytes(r, dl);
    const unsigned char *cn = get_bytes(r, cl), *on = get_bytes(r, ol);
    if (r->bad || (flags & ~3u) || depth < 1 || depth > GW_SLO_MAX_DEPTH) return -1;
    if (size > GW_PLAN_MAX_BYTES || rs > size || rl > size - rs) return -1;
    if (rl > GW_PLAN_MAX_BYTES - *sum_len) return -1;
    if (el != 0 && !(el == 32 && gwm_is_hex32((const char *)e, 32))) return -1;
    if (flags & 2) {
        /* Data: no names, not a sub-SLO, size is the data's. */
        if (flags & 1 || cl || ol || dl == 0 || size != dl) return -1;
    } else {
        if (dl || !gwm_container_ok((const char *)cn, cl) ||
            !gwm_object_ok((const char *)on, ol))
            return -1;
    }
    if (kind == GW_PLAN_DLO && (flags || depth != 1 || rs != 0 || rl != size)) return -1;
    struct gw_segment *s = &p->seg[p->n++];
    memset(s, 0, sizeof(*s));
    gwm_seg_set_names(s, (const char *)cn, cl, (const char *)on, ol);
    memcpy(s->etag, e, el);
    s->etag[el] = '\0';
    s->size = size;
    s->range_start = rs;
    s->range_len = rl;
    s->sub_slo = (int)(flags & 1);
    s->depth = (int)depth;
    if (dl) {
        s->data = gw_malloc(dl);
        memcpy(s->data, d, dl);
        s->data_len = dl;
    }
    *sum_len += rl;
    return 0;
}

int gw_plan_decode(const unsigned char *buf, size_t len, struct gw_plan *out)
{
    memset(out, 0, sizeof(*out));
    if (len < PLAN_FIXED || memcmp(buf, PLAN_MAGIC, 6) != 0) return GW_EPARSE;
    unsigned char sum[16];
    EVP_MD_CTX *c = gwm_md5_new();
    gwm_md5_add(c, buf, len - 16);
    md5_end_raw(c, sum);
    if (memcmp(sum, buf + len - 16, 16) != 0) return GW_EPARSE;

    /* The checksum only catches accidents: check everything anyway. */
    struct reader r = {buf + 6, len - 6 - 16, 0};
    struct gw_plan p = {0};
    int rc = GW_EPARSE;
    if (get_be(&r, 1) != PLAN_VERSION) goto leave;
    uint64_t kind = get_be(&r, 1), n = get_be(&r, 4), total = get_be(&r, 8);
    const unsigned char *etag = get_bytes(&r, 32);
    if (r.bad || (kind != GW_PLAN_SLO && kind != GW_PLAN_DLO)) goto leave;
    if (n > GW_PLAN_MAX_SEGMENTS || n > r.left / SEG_FIXED) goto leave;
    if (n == 0 && kind == GW_PLAN_SLO) goto leave;
    if (!gwm_is_hex32((const char *)etag, 32)) goto leave;
    p.kind = (int)kind;
    memcpy(p.etag, etag, 32);
    p.etag[32] = '\0';
    gwm_plan_reserve(&p, (size_t)n);

    uint64_t sum_len = 0;
    for (uint64_t i = 0; i < n; i++)
        if (decode_segment(&r, kind, &p, &sum_len) < 0) goto leave;
    if (r.left != 0 || sum_len != total) goto leave;
    p.total = gwm_plan_reoffset(&p);
    *out = p;
    memset(&p, 0, sizeof(p));
    rc = 0;
leave:
    gw_plan_free(&p);
    return rc;
}
