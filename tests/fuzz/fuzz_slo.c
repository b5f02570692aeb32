/*
 * fuzz_slo.c - libFuzzer target: bytes as the body of an SLO's
 * ?multipart-manifest=get, through gw_slo_parse().
 *
 * Verdict (fuzz.h): "ok" (a plan) or "bad" (refused).
 *
 * Invariants (abort on violation):
 *   - a refusal says why and leaves the plan zeroed;
 *   - a plan keeps every invariant of fz_plan_check() (plancheck.c): its
 *     segments, offsets and total, the byte form's round trip, ranges
 *     mapped onto segments; each segment at depth 1;
 *   - max_segments counts object-backed entries exactly: a manifest of c
 *     of them is accepted with max_segments = c, as the same plan, and
 *     refused with c - 1;
 *   - gw_plan_limit() accepts the plan at its own size and segment count
 *     and refuses it one below either.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "manifest.h"
#include "util.h"

static uint64_t seed_of(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size && i < 256; i++) h = (h ^ data[i]) * 0x100000001b3ull;
    return h;
}

static void check_limits(struct gw_plan *p)
{
    size_t objects = 0;
    for (size_t i = 0; i < p->n; i++) {
        FZ_CHECK(p->seg[i].depth == 1);
        if (p->seg[i].data == NULL) objects++;
    }
    FZ_CHECK(objects >= 1 && objects <= GW_SLO_MAX_SEGMENTS);
    const char *why = NULL;
    FZ_CHECK(gw_plan_limit(p, p->n, p->bytes, &why) == 0);
    if (p->n > 1) FZ_CHECK(gw_plan_limit(p, p->n - 1, 0, &why) == GW_ELIMIT && why != NULL);
    FZ_CHECK(gw_plan_limit(p, 0, p->bytes - 1, &why) == GW_ELIMIT && why != NULL);
    gw_plan_limit(p, 0, 0, NULL);
}

/* The same manifest with max_segments at the plan's object count, and one less. */
static void check_max_segments(const char *json, size_t size, const struct gw_plan *p)
{
    size_t objects = 0;
    for (size_t i = 0; i < p->n; i++) objects += p->seg[i].data == NULL;
    struct gw_plan q;
    const char *why = NULL;
    FZ_CHECK(gw_slo_parse(json, size, objects, &q, &why) == 0);
    FZ_CHECK(fz_plan_equal(p, &q));
    gw_plan_free(&q);
    if (objects > 1) {
        FZ_CHECK(gw_slo_parse(json, size, objects - 1, &q, &why) == GW_EPARSE);
        FZ_CHECK(why != NULL && q.n == 0 && q.seg == NULL && q.kind == GW_PLAN_NONE);
    }
}

int fuzz_slo_verdict(const uint8_t *data, size_t size, char *out, size_t len)
{
    /* A copy of exactly size bytes, so that ASan sees a read past the end. */
    char *json = gw_malloc(size ? size : 1);
    if (size) memcpy(json, data, size);
    struct gw_plan p;
    const char *why = NULL;
    int rc = gw_slo_parse(json, size, 0, &p, &why);
    if (rc != 0) {
        FZ_CHECK(rc == GW_EPARSE && why != NULL && why[0] != '\0');
        FZ_CHECK(p.n == 0 && p.seg == NULL && p.kind == GW_PLAN_NONE && p.total == 0);
        free(json);
        return fz_verdict(out, len, "bad");
    }
    FZ_CHECK(p.kind == GW_PLAN_SLO);
    fz_plan_check(&p, seed_of(data, size));
    check_max_segments(json, size, &p);
    check_limits(&p);
    gw_plan_free(&p);
    free(json);
    return fz_verdict(out, len, "ok");
}
