/*
 * manifest.c - SLO manifests and DLO listings into segment plans; the ETag
 * rules of Swift's slo.py and dlo.py; byte ranges onto segments; a byte
 * form of a plan for the cache.
 *
 * Invariants of every plan this file hands out: segment i's bytes start at
 * seg[i].offset == sum of range_len of the segments before it; total is the
 * sum of all range_len and at most GW_PLAN_MAX_BYTES; range_start +
 * range_len <= size; an object-backed segment has valid, non-empty
 * container and object names; a data segment has size == data_len and
 * empty names.  Every input is checked before anything is kept, so a bad
 * manifest, listing page or cache entry leaves no partial plan behind.
 *
 * The ETag rules follow openstack/swift: slo.py (update_from_segments and
 * the PUT path: hash, "hash:range;", md5(data)) and dlo.py (md5 of the
 * listing's normalised hashes).  Nesting follows slo.py's
 * _byterange_listing_iterator: a sub-SLO listed by a manifest of depth
 * max_slo_recursion_depth is an error.
 */
#include "manifest.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static int fail(const char **why, const char *reason, int err)
{
    if (why) *why = reason;
    return err;
}

/* ---- MD5 ---- */

static EVP_MD_CTX *md5_new(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    gw_assert(c != NULL);
    gw_assert(EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1);
    return c;
}

static void md5_add(EVP_MD_CTX *c, const void *p, size_t n)
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

static void md5_end_hex(EVP_MD_CTX *c, char out[33])
{
    unsigned char d[16];
    md5_end_raw(c, d);
    gw_hex(d, 16, out);
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    EVP_MD_CTX *c = md5_new();
    md5_add(c, p, n);
    md5_end_hex(c, out);
}

/* ---- small checks ---- */

static int is_hex32(const char *s, size_t n)
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

static int container_ok(const char *s, size_t n)
{
    return n >= 1 && n <= GW_CONTAINER_MAX && memchr(s, '/', n) == NULL &&
           utf8_ok((const unsigned char *)s, n);
}

static int object_ok(const char *s, size_t n)
{
    return n >= 1 && n <= GW_OBJECT_MAX && utf8_ok((const unsigned char *)s, n);
}

/* A decimal number of digits only (no sign, no space), at most max. */
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * An SLO segment's range, "M-N", "M-" or "-N", against the segment's size:
 * the single satisfiable range Swift's PUT accepts, which it then stores
 * as M-N.  A range reaching past the segment is refused rather than
 * clamped: Swift never stores one.
 */
static int parse_range(const char *r, size_t n, uint64_t size, uint64_t *start, uint64_t *len)
{
    const char *dash = memchr(r, '-', n);
    if (dash == NULL) return -1;
    size_t a = (size_t)(dash - r), b = n - a - 1;
    uint64_t m, e;
    if (a == 0) {
        /* -N: the last N bytes. */
        if (parse_dec(dash + 1, b, GW_PLAN_MAX_BYTES, &e) < 0) return -1;
        if (e == 0 || e > size) return -1;
        *start = size - e;
        *len = e;
        return 0;
    }
    if (parse_dec(r, a, GW_PLAN_MAX_BYTES, &m) < 0) return -1;
    if (b == 0) {
        e = size - 1; /* M-: to the end (checked below with m < size) */
        if (size == 0) return -1;
    } else if (parse_dec(dash + 1, b, GW_PLAN_MAX_BYTES, &e) < 0) {
        return -1;
    }
    if (m > e || e >= size) return -1;
    *start = m;
    *len = e - m + 1;
    return 0;
}

/*
 * Strict base64 (RFC 4648 alphabet, padded to a multiple of 4): what
 * Swift stores after re-encoding a data segment.  Returns the decoded
 * length, or -1.
 */
static long b64_decode(const char *s, size_t n, unsigned char *out)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char local[256];
    /* Build the table on the stack: no static state to race on. */
    memset(local, 0xff, sizeof(local));
    for (int i = 0; i < 64; i++) local[(unsigned char)alpha[i]] = (unsigned char)i;

    if (n == 0 || n % 4 != 0) return -1;
    size_t pad = 0;
    if (s[n - 1] == '=') pad++;
    if (s[n - 2] == '=') pad++;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        unsigned v[4];
        for (size_t j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == n && j >= 4 - pad) {
                v[j] = 0;
                continue;
            }
            if (local[c] == 0xff) return -1;
            v[j] = local[c];
        }
        uint32_t w = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (i + 4 < n || pad < 2) out[o++] = (unsigned char)(w >> 8);
        if (i + 4 < n || pad < 1) out[o++] = (unsigned char)w;
    }
    return (long)o;
}

/* ---- plan storage ---- */

static void plan_reserve(struct gw_plan *p, size_t extra)
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
static void seg_set_names(struct gw_segment *s, const char *c, size_t cl, const char *o, size_t ol)
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
    seg_set_names(dst, src->container, strlen(src->container), src->object, strlen(src->object));
    if (src->data) {
        dst->data = gw_malloc(src->data_len);
        memcpy(dst->data, src->data, src->data_len);
    }
}

/* Set offsets from the ranges; returns the sum of range_len. */
static uint64_t plan_reoffset(struct gw_plan *p)
{
    uint64_t off = 0;
    for (size_t i = 0; i < p->n; i++) {
        p->seg[i].offset = off;
        off += p->seg[i].range_len;
    }
    return off;
}

void gw_plan_free(struct gw_plan *p)
{
    if (p == NULL) return;
    for (size_t i = 0; i < p->n; i++) seg_free(&p->seg[i]);
    free(p->seg);
    memset(p, 0, sizeof(*p));
}

/* ---- SLO ---- */

/*
 * A legacy sub-SLO entry's real size from ";swift_bytes=N" in its
 * content_type (slo.py _annotate_segments -> override_bytes_from_content_type).
 */
static int swift_bytes_param(const char *ct, uint64_t *out)
{
    const char *p = ct;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "swift_bytes=", 12) == 0) {
            const char *v = p + 12;
            size_t n = strcspn(v, "; \t");
            return parse_dec(v, n, GW_PLAN_MAX_BYTES, out);
        }
    }
    return -1;
}

/* One {"name": ...} entry into s (names allocated only on success). */
static int slo_object_entry(json_t *e, struct gw_segment *s, int *ranged, const char **why)
{
    json_t *jn = json_object_get(e, "name");
    json_t *jb = json_object_get(e, "bytes");
    json_t *jh = json_object_get(e, "hash");
    json_t *jr = json_object_get(e, "range");
    json_t *js = json_object_get(e, "sub_slo");

    if (!json_is_string(jn)) return fail(why, "segment without a name", GW_EPARSE);
    if (!json_is_integer(jb)) return fail(why, "segment without integer bytes", GW_EPARSE);
    if (!json_is_string(jh)) return fail(why, "segment without a hash", GW_EPARSE);

    const char *name = json_string_value(jn);
    size_t nl = json_string_length(jn);
    if (nl < 3 || name[0] != '/') return fail(why, "segment name is not /container/object", GW_EPARSE);
    const char *slash = memchr(name + 1, '/', nl - 1);
    if (slash == NULL) return fail(why, "segment name is not /container/object", GW_EPARSE);
    size_t cl = (size_t)(slash - name - 1), ol = nl - cl - 2;
    if (!container_ok(name + 1, cl)) return fail(why, "bad segment container name", GW_EPARSE);
    if (!object_ok(slash + 1, ol)) return fail(why, "bad segment object name", GW_EPARSE);

    json_int_t b = json_integer_value(jb);
    if (b < 0) return fail(why, "negative segment bytes", GW_EPARSE);
    uint64_t size = (uint64_t)b;

    if (js == NULL || json_is_null(js) || json_is_false(js)) {
        s->sub_slo = 0;
    } else if (json_is_true(js)) {
        s->sub_slo = 1;
    } else {
        return fail(why, "sub_slo is not a boolean", GW_EPARSE);
    }
    if (s->sub_slo) {
        json_t *jc = json_object_get(e, "content_type");
        uint64_t sb;
        if (json_is_string(jc) && swift_bytes_param(json_string_value(jc), &sb) == 0) size = sb;
    }

    const char *hash = json_string_value(jh);
    if (!is_hex32(hash, json_string_length(jh)))
        return fail(why, "segment hash is not an MD5", GW_EPARSE);

    s->size = size;
    s->range_start = 0;
    s->range_len = size;
    *ranged = 0;
    if (jr != NULL && !json_is_null(jr)) {
        if (!json_is_string(jr)) return fail(why, "segment range is not a string", GW_EPARSE);
        if (parse_range(json_string_value(jr), json_string_length(jr), size, &s->range_start,
                        &s->range_len) < 0)
            return fail(why, "bad or unsatisfiable segment range", GW_EPARSE);
        *ranged = 1;
    }
    memcpy(s->etag, hash, 33);
    seg_set_names(s, name + 1, cl, slash + 1, ol);
    return 0;
}

static int slo_data_entry(json_t *e, struct gw_segment *s, const char **why)
{
    json_t *jd = json_object_get(e, "data");
    if (json_object_get(e, "name") != NULL)
        return fail(why, "segment has both name and data", GW_EPARSE);
    if (!json_is_string(jd)) return fail(why, "data segment is not a string", GW_EPARSE);
    size_t n = json_string_length(jd);
    unsigned char *buf = gw_malloc(n / 4 * 3 + 1);
    long got = b64_decode(json_string_value(jd), n, buf);
    if (got <= 0) {
        free(buf);
        return fail(why, got == 0 ? "empty data segment" : "data segment is not base64", GW_EPARSE);
    }
    s->data = buf;
    s->data_len = (size_t)got;
    s->size = s->range_len = (uint64_t)got;
    s->range_start = 0;
    md5_hex(buf, s->data_len, s->etag);
    seg_set_names(s, "", 0, "", 0);
    return 0;
}

int gw_slo_parse(const char *json, size_t len, size_t max_segments, struct gw_plan *out,
                 const char **why)
{
    memset(out, 0, sizeof(*out));
    if (max_segments == 0) max_segments = GW_SLO_MAX_SEGMENTS;

    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) return fail(why, "manifest is not JSON", GW_EPARSE);

    int rc = 0;
    struct gw_plan p = {0};
    EVP_MD_CTX *etag = NULL;
    size_t n = json_array_size(root), objects = 0;
    if (!json_is_array(root)) {
        rc = fail(why, "manifest is not a list", GW_EPARSE);
        goto leave;
    }
    if (n == 0) {
        rc = fail(why, "manifest has no segments", GW_EPARSE);
        goto leave;
    }
    if (n > GW_PLAN_MAX_SEGMENTS) {
        rc = fail(why, "manifest has too many segments", GW_EPARSE);
        goto leave;
    }
    p.kind = GW_PLAN_SLO;
    plan_reserve(&p, n);
    etag = md5_new();
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(root, i);
        struct gw_segment *s = &p.seg[p.n];
        memset(s, 0, sizeof(*s));
        if (!json_is_object(e)) {
            rc = fail(why, "manifest entry is not an object", GW_EPARSE);
            goto leave;
        }
        int ranged = 0;
        if (json_object_get(e, "data") != NULL) {
            rc = slo_data_entry(e, s, why);
        } else {
            if (++objects > max_segments) {
                rc = fail(why, "manifest has too many segments", GW_EPARSE);
                goto leave;
            }
            rc = slo_object_entry(e, s, &ranged, why);
        }
        if (rc < 0) goto leave;
        s->depth = 1;
        p.n++;
        if (s->range_len > GW_PLAN_MAX_BYTES - total) {
            rc = fail(why, "manifest total is too large", GW_EPARSE);
            goto leave;
        }
        total += s->range_len;

        /* Swift's SLO ETag: what each entry adds to the digest. */
        if (ranged) {
            char r[96];
            int k = snprintf(r, sizeof(r), "%s:%llu-%llu;", s->etag,
                             (unsigned long long)s->range_start,
                             (unsigned long long)(s->range_start + s->range_len - 1));
            gw_assert(k > 0 && (size_t)k < sizeof(r));
            md5_add(etag, r, (size_t)k);
        } else {
            md5_add(etag, s->etag, 32);
        }
    }
    if (objects == 0) {
        rc = fail(why, "manifest has only data segments", GW_EPARSE);
        goto leave;
    }
    md5_end_hex(etag, p.etag);
    etag = NULL;
    p.total = plan_reoffset(&p);
    gw_assert(p.total == total);
    *out = p;
    memset(&p, 0, sizeof(p));

leave:
    if (etag) EVP_MD_CTX_free(etag);
    gw_plan_free(&p);
    json_decref(root);
    return rc;
}

int gw_plan_expand(struct gw_plan *parent, size_t index, const struct gw_plan *child,
                   const char **why)
{
    gw_assert(parent->kind == GW_PLAN_SLO && index < parent->n);
    const struct gw_segment *e = &parent->seg[index];
    gw_assert(e->sub_slo);

    if (child->kind != GW_PLAN_SLO) return fail(why, "sub-SLO plan is not an SLO", GW_EPARSE);
    if (e->depth >= GW_SLO_MAX_DEPTH) return fail(why, "SLOs nested too deep", GW_ELIMIT);
    if (child->total != e->size)
        return fail(why, "sub-SLO size differs from its manifest entry", GW_EDIGEST);
    if (strcasecmp(child->etag, e->etag) != 0)
        return fail(why, "sub-SLO ETag differs from its manifest entry", GW_EDIGEST);

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
    if (k > GW_PLAN_MAX_SEGMENTS || parent->n - 1 > GW_PLAN_MAX_SEGMENTS - k) {
        free(pieces);
        return fail(why, "too many segments", GW_ELIMIT);
    }

    for (size_t i = 0; i < k; i++) {
        const struct gw_segment *c = &child->seg[whole ? i : pieces[i].seg];
        if (c->depth > GW_SLO_MAX_DEPTH - e->depth) {
            free(pieces);
            return fail(why, "SLOs nested too deep", GW_ELIMIT);
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
    if (k > 1) plan_reserve(parent, k - 1);
    memmove(&parent->seg[index + k], &parent->seg[index + 1],
            (parent->n - index - 1) * sizeof(struct gw_segment));
    if (k) memcpy(&parent->seg[index], fresh, k * sizeof(*fresh));
    parent->n = parent->n - 1 + k;
    free(fresh);
    gw_assert(plan_reoffset(parent) == total);
    return 0;
}

/* ---- DLO ---- */

int gw_dlo_listing_add(struct gw_plan *plan, const char *json, size_t len, const char *container,
                       size_t *count_out, char *last_name, size_t last_cap, const char **why)
{
    gw_assert(plan->kind == GW_PLAN_NONE || plan->kind == GW_PLAN_DLO);
    gw_assert(last_name == NULL || last_cap >= GW_OBJECT_MAX + 1);
    size_t cl = strlen(container);
    if (!container_ok(container, cl)) return fail(why, "bad DLO container name", GW_EPARSE);

    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) return fail(why, "listing is not JSON", GW_EPARSE);
    int rc = 0;
    struct gw_plan page = {0};
    size_t n = json_array_size(root);
    if (!json_is_array(root)) {
        rc = fail(why, "listing is not a list", GW_EPARSE);
        goto leave;
    }
    if (n > GW_PLAN_MAX_SEGMENTS || plan->n > GW_PLAN_MAX_SEGMENTS - n) {
        rc = fail(why, "DLO has too many segments", GW_ELIMIT);
        goto leave;
    }
    plan_reserve(&page, n);
    const char *prev = plan->n ? plan->seg[plan->n - 1].object : NULL;
    uint64_t total = plan->total;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(root, i);
        json_t *jn = json_object_get(e, "name");
        json_t *jh = json_object_get(e, "hash");
        json_t *jb = json_object_get(e, "bytes");
        if (!json_is_object(e) || !json_is_string(jn) || !json_is_string(jh) ||
            !json_is_integer(jb)) {
            rc = fail(why, "listing entry is not {name, hash, bytes}", GW_EPARSE);
            goto leave;
        }
        const char *name = json_string_value(jn);
        size_t nl = json_string_length(jn);
        if (!object_ok(name, nl)) {
            rc = fail(why, "bad listing entry name", GW_EPARSE);
            goto leave;
        }
        if (prev && strcmp(prev, name) >= 0) {
            rc = fail(why, "listing names out of order", GW_EPARSE);
            goto leave;
        }
        /* swob.normalize_etag, then the MD5 before any "; param" (s3api). */
        const char *h = json_string_value(jh);
        size_t hl = json_string_length(jh);
        if (hl >= 2 && h[0] == '"' && h[hl - 1] == '"') h++, hl -= 2;
        const char *semi = memchr(h, ';', hl);
        if (semi) hl = (size_t)(semi - h);
        while (hl && (h[hl - 1] == ' ' || h[hl - 1] == '\t')) hl--;
        if (!is_hex32(h, hl)) {
            rc = fail(why, "listing hash is not an MD5", GW_EPARSE);
            goto leave;
        }
        json_int_t b = json_integer_value(jb);
        if (b < 0) {
            rc = fail(why, "negative listing bytes", GW_EPARSE);
            goto leave;
        }
        if ((uint64_t)b > GW_PLAN_MAX_BYTES - total) {
            rc = fail(why, "DLO total is too large", GW_EPARSE);
            goto leave;
        }
        total += (uint64_t)b;
        struct gw_segment *s = &page.seg[page.n++];
        memset(s, 0, sizeof(*s));
        seg_set_names(s, container, cl, name, nl);
        memcpy(s->etag, h, 32);
        s->etag[32] = '\0';
        s->size = s->range_len = (uint64_t)b;
        s->depth = 1;
        prev = s->object;
    }

    /* All good: move the page's segments over. */
    plan_reserve(plan, page.n);
    if (page.n) memcpy(&plan->seg[plan->n], page.seg, page.n * sizeof(*page.seg));
    plan->n += page.n;
    page.n = 0;
    plan->kind = GW_PLAN_DLO;
    plan->etag[0] = '\0';
    plan->total = plan_reoffset(plan);
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
    EVP_MD_CTX *c = md5_new();
    for (size_t i = 0; i < plan->n; i++) md5_add(c, plan->seg[i].etag, strlen(plan->seg[i].etag));
    md5_end_hex(c, plan->etag);
    plan->total = plan_reoffset(plan);
    return 0;
}

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
    if (!container_ok(d, cl) || !object_ok(cut + 1, pl) || cl >= ccap || pl >= pcap) goto leave;
    memcpy(container, d, cl);
    container[cl] = '\0';
    memcpy(prefix, cut + 1, pl);
    prefix[pl] = '\0';
    rc = 0;
leave:
    free(d);
    return rc;
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
#define SEG_FIXED (1 + 1 + 2 + 2 + 8 + 8 + 8 + 1 + 4)

static unsigned char *put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

int gw_plan_encode(const struct gw_plan *p, unsigned char **buf, size_t *len)
{
    gw_assert(p->kind == GW_PLAN_SLO || p->kind == GW_PLAN_DLO);
    gw_assert(strlen(p->etag) == 32 && p->n <= GW_PLAN_MAX_SEGMENTS);
    size_t size = 6 + 1 + 1 + 4 + 8 + 32 + 16;
    for (size_t i = 0; i < p->n; i++) {
        const struct gw_segment *s = &p->seg[i];
        size += SEG_FIXED + strlen(s->etag) + s->data_len + strlen(s->container) +
                strlen(s->object);
    }
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
    EVP_MD_CTX *c = md5_new();
    md5_add(c, b, (size_t)(w - b));
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

int gw_plan_decode(const unsigned char *buf, size_t len, struct gw_plan *out)
{
    memset(out, 0, sizeof(*out));
    if (len < 6 + 1 + 1 + 4 + 8 + 32 + 16 || memcmp(buf, PLAN_MAGIC, 6) != 0) return GW_EPARSE;
    unsigned char sum[16];
    EVP_MD_CTX *c = md5_new();
    md5_add(c, buf, len - 16);
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
    if (!is_hex32((const char *)etag, 32)) goto leave;
    p.kind = (int)kind;
    memcpy(p.etag, etag, 32);
    p.etag[32] = '\0';
    plan_reserve(&p, (size_t)n);

    uint64_t sum_len = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t flags = get_be(&r, 1), depth = get_be(&r, 1);
        size_t cl = (size_t)get_be(&r, 2), ol = (size_t)get_be(&r, 2);
        uint64_t size = get_be(&r, 8), rs = get_be(&r, 8), rl = get_be(&r, 8);
        size_t el = (size_t)get_be(&r, 1);
        const unsigned char *e = get_bytes(&r, el);
        size_t dl = (size_t)get_be(&r, 4);
        const unsigned char *d = get_bytes(&r, dl);
        const unsigned char *cn = get_bytes(&r, cl), *on = get_bytes(&r, ol);
        if (r.bad || (flags & ~3u) || depth < 1 || depth > GW_SLO_MAX_DEPTH) goto leave;
        if (size > GW_PLAN_MAX_BYTES || rs > size || rl > size - rs) goto leave;
        if (rl > GW_PLAN_MAX_BYTES - sum_len) goto leave;
        if (el != 0 && !(el == 32 && is_hex32((const char *)e, 32))) goto leave;
        if (flags & 2) {
            /* Data: no names, not a sub-SLO, size is the data's. */
            if (flags & 1 || cl || ol || dl == 0 || size != dl) goto leave;
        } else {
            if (dl || !container_ok((const char *)cn, cl) || !object_ok((const char *)on, ol))
                goto leave;
        }
        if (kind == GW_PLAN_DLO && (flags || depth != 1 || rs != 0 || rl != size)) goto leave;
        struct gw_segment *s = &p.seg[p.n++];
        memset(s, 0, sizeof(*s));
        seg_set_names(s, (const char *)cn, cl, (const char *)on, ol);
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
        sum_len += rl;
    }
    if (r.left != 0 || sum_len != total) goto leave;
    p.total = plan_reoffset(&p);
    *out = p;
    memset(&p, 0, sizeof(p));
    rc = 0;
leave:
    gw_plan_free(&p);
    return rc;
}
