/*
 * plancheck.c - what every plan a fuzz target gets must be (fuzz.h), shared
 * by the SLO, DLO and plan targets: the invariants of manifest.h and
 * plan.c checked field by field, the byte form's round trip, and byte
 * ranges mapped onto segments.
 *
 * The round trip is the property of the cache entry: decode(encode(p))
 * equals p, and encodes to the same bytes again, so a plan read back from
 * the cache serves exactly what the manifest said.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "manifest.h"
#include "util.h"

int fz_verdict(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

static int hex32(const char *s)
{
    if (strlen(s) != 32) return 0;
    for (int i = 0; i < 32; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i])) return 0;
    return 1;
}

int fz_plan_equal(const struct gw_plan *a, const struct gw_plan *b)
{
    if (a->kind != b->kind || a->n != b->n || a->total != b->total || a->bytes != b->bytes ||
        strcmp(a->etag, b->etag) != 0)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct gw_segment *x = &a->seg[i], *y = &b->seg[i];
        if (strcmp(x->container, y->container) != 0 || strcmp(x->object, y->object) != 0 ||
            x->size != y->size || strcmp(x->etag, y->etag) != 0 ||
            x->range_start != y->range_start || x->range_len != y->range_len ||
            x->offset != y->offset || x->data_len != y->data_len ||
            (x->data == NULL) != (y->data == NULL) || x->sub_slo != y->sub_slo ||
            x->depth != y->depth)
            return 0;
        if (x->data_len && memcmp(x->data, y->data, x->data_len) != 0) return 0;
    }
    return 1;
}

static void check_segment(const struct gw_plan *p, const struct gw_segment *s)
{
    FZ_CHECK(s->container != NULL && s->object != NULL);
    FZ_CHECK(s->range_start <= s->size && s->range_len <= s->size - s->range_start);
    FZ_CHECK(s->depth >= 1 && s->depth <= GW_SLO_MAX_DEPTH);
    FZ_CHECK(s->etag[0] == '\0' || hex32(s->etag));
    if (s->data != NULL) {
        FZ_CHECK(s->data_len > 0 && s->data_len == s->size && !s->sub_slo);
        FZ_CHECK(s->container[0] == '\0' && s->object[0] == '\0');
    } else {
        FZ_CHECK(s->data_len == 0);
        size_t cl = strlen(s->container), ol = strlen(s->object);
        FZ_CHECK(cl >= 1 && cl <= GW_CONTAINER_MAX && !strchr(s->container, '/'));
        FZ_CHECK(ol >= 1 && ol <= GW_OBJECT_MAX);
    }
    if (p->kind == GW_PLAN_DLO)
        FZ_CHECK(!s->sub_slo && s->data == NULL && s->depth == 1 && gw_segment_whole(s));
}

/* Bytes [first, last] of the whole object, as pieces, are exactly those bytes. */
static void check_cover(const struct gw_plan *p, uint64_t first, uint64_t last)
{
    size_t k = gw_plan_cover(p, first, last, NULL, 0);
    if (first > last || last >= p->total) {
        FZ_CHECK(k == 0);
        return;
    }
    FZ_CHECK(k >= 1 && k <= p->n);
    struct gw_piece *pc = gw_malloc(k * sizeof(*pc));
    FZ_CHECK(gw_plan_cover(p, first, last, pc, k) == k);
    uint64_t pos = first;
    for (size_t i = 0; i < k; i++) {
        FZ_CHECK(pc[i].seg < p->n && (i == 0 || pc[i].seg > pc[i - 1].seg));
        const struct gw_segment *s = &p->seg[pc[i].seg];
        FZ_CHECK(pc[i].len >= 1 && pc[i].offset >= s->range_start);
        FZ_CHECK(pc[i].offset - s->range_start <= s->range_len - pc[i].len);
        FZ_CHECK(s->offset + (pc[i].offset - s->range_start) == pos);
        pos += pc[i].len;
    }
    FZ_CHECK(pos == last + 1);
    free(pc);
}

static void check_round_trip(const struct gw_plan *p)
{
    unsigned char *buf, *again;
    size_t len, len2;
    FZ_CHECK(gw_plan_encode(p, &buf, &len) == 0);
    FZ_CHECK(len == p->bytes);
    struct gw_plan q;
    FZ_CHECK(gw_plan_decode(buf, len, &q) == 0);
    FZ_CHECK(fz_plan_equal(p, &q));
    FZ_CHECK(gw_plan_encode(&q, &again, &len2) == 0);
    FZ_CHECK(len2 == len && memcmp(buf, again, len) == 0);
    /* One byte less, or one flipped, is refused whole. */
    struct gw_plan r;
    FZ_CHECK(gw_plan_decode(buf, len - 1, &r) != 0 && r.n == 0 && r.seg == NULL);
    again[len / 2] ^= 0x20;
    FZ_CHECK(gw_plan_decode(again, len, &r) != 0 && r.n == 0 && r.seg == NULL);
    gw_plan_free(&q);
    free(buf);
    free(again);
}

void fz_plan_check(const struct gw_plan *p, uint64_t seed)
{
    FZ_CHECK(p->kind == GW_PLAN_SLO || p->kind == GW_PLAN_DLO);
    FZ_CHECK(p->n <= GW_PLAN_MAX_SEGMENTS && p->n <= p->cap && (p->n == 0 || p->seg));
    FZ_CHECK(p->kind == GW_PLAN_DLO || p->n >= 1);
    FZ_CHECK(hex32(p->etag));
    uint64_t off = 0;
    for (size_t i = 0; i < p->n; i++) {
        check_segment(p, &p->seg[i]);
        FZ_CHECK(p->seg[i].offset == off);
        FZ_CHECK(p->seg[i].range_len <= GW_PLAN_MAX_BYTES - off);
        off += p->seg[i].range_len;
    }
    FZ_CHECK(p->total == off);
    check_round_trip(p);

    /* The whole object, the ranges past its end, and three from the seed. */
    check_cover(p, 0, p->total ? p->total - 1 : 0);
    check_cover(p, p->total, p->total);
    for (int i = 0; i < 3 && p->total > 0; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t first = (seed >> 11) % p->total;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t span = p->total - first;
        check_cover(p, first, first + (seed >> 11) % (span < 4096 ? span : 4096));
    }
}
