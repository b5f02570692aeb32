/*
 * fuzz_dlo.c - libFuzzer target: a DLO as the gateway reads it, an
 * X-Object-Manifest value and then the pages of its container listing,
 * through gw_dlo_manifest_parse(), gw_dlo_listing_add() and
 * gw_dlo_finish().
 *
 * The input's first line (up to LF) is the X-Object-Manifest value; the
 * rest is split into listing pages at form feeds ('\f', which JSON never
 * holds outside a string and never raw inside one), at most FZ_PAGES.  A
 * refused manifest value does not stop the listing: its pages are added
 * for the container FZ_CONTAINER.  The plan is bounded as the gateway
 * bounds one (FZ_MAX_SEGMENTS segments, FZ_MAX_BYTES encoded bytes); pages
 * are added until one is refused.
 *
 * Verdict (fuzz.h): the manifest value's word, then one per page added:
 * "ok", "bad" (GW_EPARSE) or "limit" (GW_ELIMIT).  "bad.ok.limit": a bad
 * value, a first page taken and a second one past the plan's limits.
 *
 * Invariants (abort on violation):
 *   - a parsed value has a valid container (no '/') and a non-empty prefix,
 *     each within its bound; it needs exactly strlen + 1 bytes of room:
 *     with one byte less it is refused, and nothing is written past the
 *     buffers (they are heap blocks of exactly that size, for ASan);
 *   - a page taken adds as many segments as it says it has entries, all of
 *     the container, names strictly ascending across pages, and reports
 *     the last name; a page refused says why and leaves the plan as it was;
 *   - the plan stays within its limits, and once finished keeps every
 *     invariant of fz_plan_check(), its ETag the MD5 of its segments'
 *     hashes in order.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "manifest.h"
#include "util.h"

#define FZ_PAGES 8
#define FZ_CONTAINER "segments"
#define FZ_MAX_SEGMENTS 64
#define FZ_MAX_BYTES 16384

static char *copy_str(const uint8_t *p, size_t n)
{
    char *s = gw_malloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Parse value with exact room, then with one byte less of each part. */
static int manifest(const char *value, char *container, char *prefix)
{
    char *c = gw_malloc(GW_CONTAINER_MAX + 1), *p = gw_malloc(GW_OBJECT_MAX + 1);
    int rc = gw_dlo_manifest_parse(value, c, GW_CONTAINER_MAX + 1, p, GW_OBJECT_MAX + 1);
    FZ_CHECK(rc == 0 || rc == GW_EPARSE);
    if (rc == 0) {
        size_t cl = strlen(c), pl = strlen(p);
        FZ_CHECK(cl >= 1 && cl <= GW_CONTAINER_MAX && strchr(c, '/') == NULL);
        FZ_CHECK(pl >= 1 && pl <= GW_OBJECT_MAX);
        char *c2 = gw_malloc(cl + 1), *p2 = gw_malloc(pl + 1);
        FZ_CHECK(gw_dlo_manifest_parse(value, c2, cl + 1, p2, pl + 1) == 0);
        FZ_CHECK(strcmp(c, c2) == 0 && strcmp(p, p2) == 0);
        FZ_CHECK(gw_dlo_manifest_parse(value, c2, cl, p2, pl + 1) == GW_EPARSE);
        FZ_CHECK(gw_dlo_manifest_parse(value, c2, cl + 1, p2, pl) == GW_EPARSE);
        free(c2);
        free(p2);
        memcpy(container, c, cl + 1);
        memcpy(prefix, p, pl + 1);
    }
    free(c);
    free(p);
    return rc;
}

/* One page onto plan; the word it earns. */
static const char *add_page(struct gw_plan *plan, const uint8_t *page, size_t n,
                            const char *container)
{
    char *json = gw_malloc(n ? n : 1), last[GW_OBJECT_MAX + 1];
    if (n) memcpy(json, page, n);
    size_t before = plan->n, bytes = plan->bytes, count = 12345;
    uint64_t total = plan->total;
    char *tail = before ? gw_strdup(plan->seg[before - 1].object) : NULL;
    const char *why = NULL;
    int rc = gw_dlo_listing_add(plan, json, n, container, &count, last, sizeof(last), &why);
    free(json);
    FZ_CHECK(plan->kind == GW_PLAN_DLO || (rc != 0 && plan->kind == GW_PLAN_NONE));
    if (rc != 0) {
        FZ_CHECK((rc == GW_EPARSE || rc == GW_ELIMIT) && why != NULL);
        FZ_CHECK(plan->n == before && plan->bytes == bytes && plan->total == total);
        FZ_CHECK(!tail || strcmp(tail, plan->seg[before - 1].object) == 0);
        free(tail);
        return rc == GW_EPARSE ? "bad" : "limit";
    }
    FZ_CHECK(plan->n == before + count && plan->n <= FZ_MAX_SEGMENTS);
    FZ_CHECK(plan->bytes <= FZ_MAX_BYTES);
    FZ_CHECK(strcmp(last, count ? plan->seg[plan->n - 1].object : "") == 0);
    for (size_t i = before; i < plan->n; i++) {
        FZ_CHECK(strcmp(plan->seg[i].container, container) == 0);
        const char *prev = i ? plan->seg[i - 1].object : NULL;
        FZ_CHECK(prev == NULL || strcmp(prev, plan->seg[i].object) < 0);
    }
    free(tail);
    return "ok";
}

static void check_etag(const struct gw_plan *p)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char d[16];
    unsigned int dn = 0;
    char hex[33];
    FZ_CHECK(c != NULL && EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1);
    for (size_t i = 0; i < p->n; i++) {
        FZ_CHECK(strlen(p->seg[i].etag) == 32);
        EVP_DigestUpdate(c, p->seg[i].etag, 32);
    }
    FZ_CHECK(EVP_DigestFinal_ex(c, d, &dn) == 1 && dn == 16);
    EVP_MD_CTX_free(c);
    gw_hex(d, 16, hex);
    FZ_CHECK(strcmp(hex, p->etag) == 0);
}

int fuzz_dlo_verdict(const uint8_t *data, size_t size, char *out, size_t len)
{
    const uint8_t *eol = memchr(data, '\n', size), *end = data + size;
    char *value = copy_str(data, eol ? (size_t)(eol - data) : size);
    char container[GW_CONTAINER_MAX + 1] = FZ_CONTAINER, prefix[GW_OBJECT_MAX + 1];
    char words[128];
    int rc = manifest(value, container, prefix);
    free(value);
    snprintf(words, sizeof(words), "%s", rc == 0 ? "ok" : "bad");

    struct gw_plan plan = {0};
    FZ_CHECK(gw_plan_limit(&plan, FZ_MAX_SEGMENTS, FZ_MAX_BYTES, NULL) == 0);
    const uint8_t *p = eol ? eol + 1 : end;
    int stop = 0;
    for (int i = 0; i < FZ_PAGES && eol != NULL && !stop && p <= end; i++) {
        const uint8_t *ff = memchr(p, '\f', (size_t)(end - p));
        const uint8_t *pe = ff ? ff : end;
        const char *w = add_page(&plan, p, (size_t)(pe - p), container);
        size_t wl = strlen(words);
        snprintf(words + wl, sizeof(words) - wl, ".%s", w);
        stop = strcmp(w, "ok") != 0 || ff == NULL;
        p = pe + 1;
    }
    FZ_CHECK(gw_dlo_finish(&plan) == 0);
    FZ_CHECK(plan.kind == GW_PLAN_DLO);
    check_etag(&plan);
    uint64_t seed = size ? data[size - 1] * 0x9e3779b97f4a7c15ull + size : 0;
    fz_plan_check(&plan, seed);
    gw_plan_free(&plan);
    return fz_verdict(out, len, "%s", words);
}
