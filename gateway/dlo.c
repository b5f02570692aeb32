/*
 * dlo.c - a DLO: its X-Object-Manifest value into container and prefix,
 * its container listing pages into a plan, and its ETag.
 *
 * The rules follow openstack/swift's dlo.py: the header checks of its PUT
 * and wsgi_unquote on GET; listing names strictly ascending across pages;
 * the ETag md5 of the listing's normalised hashes.  A page is checked and
 * built aside and joins the plan only whole, so a bad page leaves the plan
 * as it was.
 */
#include "manifest_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- listings ---- */

/*
 * The MD5 in a listing's hash: swob.normalize_etag (no quotes), then what
 * comes before any "; param" (s3api), without trailing blanks.  Points
 * into h; NULL when that is not 32 hex digits.
 */
static const char *dlo_hash(const char *h, size_t hl)
{
    if (hl >= 2 && h[0] == '"' && h[hl - 1] == '"') h++, hl -= 2;
    const char *semi = memchr(h, ';', hl);
    if (semi) hl = (size_t)(semi - h);
    while (hl && (h[hl - 1] == ' ' || h[hl - 1] == '\t')) hl--;
    return gwm_is_hex32(h, hl) ? h : NULL;
}

/*
 * Listing entry e into s, a whole segment of container (cl bytes).  Its
 * name must sort after prev (NULL: nothing before it) and its bytes keep
 * *total within GW_PLAN_MAX_BYTES; *total grows by them.  s is written
 * only on success, so on error there is nothing to free.
 */
static int dlo_entry(json_t *e, const char *container, size_t cl, const char *prev,
                     uint64_t *total, struct gw_segment *s, const char **why)
{
    json_t *jn = json_object_get(e, "name");
    json_t *jh = json_object_get(e, "hash");
    json_t *jb = json_object_get(e, "bytes");
    if (!json_is_object(e) || !json_is_string(jn) || !json_is_string(jh) || !json_is_integer(jb))
        return gwm_fail(why, "listing entry is not {name, hash, bytes}", GW_EPARSE);
    const char *name = json_string_value(jn);
    size_t nl = json_string_length(jn);
    if (!gwm_object_ok(name, nl)) return gwm_fail(why, "bad listing entry name", GW_EPARSE);
    if (prev && strcmp(prev, name) >= 0)
        return gwm_fail(why, "listing names out of order", GW_EPARSE);
    const char *h = dlo_hash(json_string_value(jh), json_string_length(jh));
    if (h == NULL) return gwm_fail(why, "listing hash is not an MD5", GW_EPARSE);
    json_int_t b = json_integer_value(jb);
    if (b < 0) return gwm_fail(why, "negative listing bytes", GW_EPARSE);
    if ((uint64_t)b > GW_PLAN_MAX_BYTES - *total)
        return gwm_fail(why, "DLO total is too large", GW_EPARSE);
    *total += (uint64_t)b;
    memset(s, 0, sizeof(*s));
    gwm_seg_set_names(s, container, cl, name, nl);
    memcpy(s->etag, h, 32);
    s->etag[32] = '\0';
    s->size = s->range_len = (uint64_t)b;
    s->depth = 1;
    return 0;
}

int gw_dlo_listing_add(struct gw_plan *plan, const char *json, size_t len, const char *container,
                       size_t *count_out, char *last_name, size_t last_cap, const char **why)
{
    gw_assert(plan->kind == GW_PLAN_NONE || plan->kind == GW_PLAN_DLO);
    gw_assert(last_name == NULL || last_cap >= GW_OBJECT_MAX + 1);
    size_t cl = strlen(container);
    if (!gwm_container_ok(container, cl)) return gwm_fail(why, "bad DLO container name", GW_EPARSE);

    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) return gwm_fail(why, "listing is not JSON", GW_EPARSE);
    int rc = 0;
    struct gw_plan page = {0};
    size_t n = json_array_size(root);
    if (!json_is_array(root)) {
        rc = gwm_fail(why, "listing is not a list", GW_EPARSE);
        goto leave;
    }
    /* The count is known before any entry is built: a listing past the
     * limit stops here, at the page that passes it. */
    if (n > GW_PLAN_MAX_SEGMENTS || plan->n > GW_PLAN_MAX_SEGMENTS - n) {
        rc = gwm_fail(why, "too many segments", GW_ELIMIT);
        goto leave;
    }
    size_t bytes = plan->n ? plan->bytes : gwm_plan_empty_bytes();
    if ((rc = gwm_plan_fits(plan, plan->n + n, bytes, why)) != 0) goto leave;
    gwm_plan_reserve(&page, n);
    const char *prev = plan->n ? plan->seg[plan->n - 1].object : NULL;
    uint64_t total = plan->total;
    for (size_t i = 0; i < n; i++) {
        struct gw_segment *s = &page.seg[page.n];
        rc = dlo_entry(json_array_get(root, i), container, cl, prev, &total, s, why);
        if (rc < 0) goto leave;
        page.n++;
        prev = s->object;
        bytes += gwm_seg_bytes(s);
    }
    if ((rc = gwm_plan_fits(plan, plan->n + n, bytes, why)) != 0) goto leave;

    /* All good: move the page's segments over. */
    gwm_plan_reserve(plan, page.n);
    if (page.n) memcpy(&plan->seg[plan->n], page.seg, page.n * sizeof(*page.seg));
    plan->n += page.n;
    page.n = 0;
    plan->kind = GW_PLAN_DLO;
    plan->etag[0] = '\0';
    plan->total = gwm_plan_reoffset(plan);
    gw_assert(plan->total == total);
    if (count_out) *count_out = n;
    if (last_name) {
        const char *last = n ? plan->seg[plan->n - 1].object : "";
        memcpy(last_name, last, strlen(last) + 1);
    }

leave:
    gw_plan_free(&page);
    json_decref(root);
    return rc;
}

int gw_dlo_finish(struct gw_plan *plan)
{
    gw_assert(plan->kind == GW_PLAN_NONE || plan->kind == GW_PLAN_DLO);
    plan->kind = GW_PLAN_DLO;
    EVP_MD_CTX *c = gwm_md5_new();
    for (size_t i = 0; i < plan->n; i++)
        gwm_md5_add(c, plan->seg[i].etag, strlen(plan->seg[i].etag));
    gwm_md5_end_hex(c, plan->etag);
    plan->total = gwm_plan_reoffset(plan);
    return 0;
}

/* ---- X-Object-Manifest ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int gw_dlo_manifest_parse(const char *value, char *container, size_t ccap, char *prefix,
                          size_t pcap)
{
    /* What dlo.py's _validate_x_object_manifest_header demands at PUT. */
    const char *slash = strchr(value, '/');
    if (slash == NULL || slash == value || slash[1] == '\0' || slash[1] == '/' ||
        strpbrk(value, "?&") != NULL)
        return GW_EPARSE;

    /* wsgi_unquote, then split at the first '/' (as dlo.py's GET does). */
    size_t n = strlen(value), o = 0;
    char *d = gw_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (value[i] == '%' && i + 2 < n && (hi = hexval(value[i + 1])) >= 0 &&
            (lo = hexval(value[i + 2])) >= 0) {
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[o++] = value[i];
        }
    }
    int rc = GW_EPARSE;
    const char *cut = memchr(d, '/', o);
    if (cut == NULL) goto leave;
    size_t cl = (size_t)(cut - d), pl = o - cl - 1;
    if (!gwm_container_ok(d, cl) || !gwm_object_ok(cut + 1, pl) || cl >= ccap || pl >= pcap)
        goto leave;
    memcpy(container, d, cl);
    container[cl] = '\0';
    memcpy(prefix, cut + 1, pl);
    prefix[pl] = '\0';
    rc = 0;
leave:
    free(d);
    return rc;
}

