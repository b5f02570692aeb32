/*
 * slo.c - an SLO manifest (the body of ?multipart-manifest=get) into a
 * plan, and the SLO ETag as Swift computes it.
 *
 * The rules follow openstack/swift's slo.py: an entry is what its PUT
 * accepts (name, bytes, hash, an optional range and sub_slo, or inline
 * data), and the ETag is that of update_from_segments and the PUT path:
 * md5 over each entry's hash, "hash:M-N;" for a ranged one, md5(data) for
 * a data one.  The plan is built aside and handed out only when every
 * entry was good, so *out is either a whole plan or zeroed.
 */
#include "manifest_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- numbers, ranges, base64 ---- */

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

/* ---- entries ---- */

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

    if (!json_is_string(jn)) return gwm_fail(why, "segment without a name", GW_EPARSE);
    if (!json_is_integer(jb)) return gwm_fail(why, "segment without integer bytes", GW_EPARSE);
    if (!json_is_string(jh)) return gwm_fail(why, "segment without a hash", GW_EPARSE);

    const char *name = json_string_value(jn);
    size_t nl = json_string_length(jn);
    if (nl < 3 || name[0] != '/')
        return gwm_fail(why, "segment name is not /container/object", GW_EPARSE);
    const char *slash = memchr(name + 1, '/', nl - 1);
    if (slash == NULL) return gwm_fail(why, "segment name is not /container/object", GW_EPARSE);
    size_t cl = (size_t)(slash - name - 1), ol = nl - cl - 2;
    if (!gwm_container_ok(name + 1, cl))
        return gwm_fail(why, "bad segment container name", GW_EPARSE);
    if (!gwm_object_ok(slash + 1, ol)) return gwm_fail(why, "bad segment object name", GW_EPARSE);

    json_int_t b = json_integer_value(jb);
    if (b < 0) return gwm_fail(why, "negative segment bytes", GW_EPARSE);
    uint64_t size = (uint64_t)b;

    if (js == NULL || json_is_null(js) || json_is_false(js)) {
        s->sub_slo = 0;
    } else if (json_is_true(js)) {
        s->sub_slo = 1;
    } else {
        return gwm_fail(why, "sub_slo is not a boolean", GW_EPARSE);
    }
    if (s->sub_slo) {
        json_t *jc = json_object_get(e, "content_type");
        uint64_t sb;
        if (json_is_string(jc) && swift_bytes_param(json_string_value(jc), &sb) == 0) size = sb;
    }

    const char *hash = json_string_value(jh);
    if (!gwm_is_hex32(hash, json_string_length(jh)))
        return gwm_fail(why, "segment hash is not an MD5", GW_EPARSE);

    s->size = size;
    s->range_start = 0;
    s->range_len = size;
    *ranged = 0;
    if (jr != NULL && !json_is_null(jr)) {
        if (!json_is_string(jr)) return gwm_fail(why, "segment range is not a string", GW_EPARSE);
        if (parse_range(json_string_value(jr), json_string_length(jr), size, &s->range_start,
                        &s->range_len) < 0)
            return gwm_fail(why, "bad or unsatisfiable segment range", GW_EPARSE);
        *ranged = 1;
    }
    memcpy(s->etag, hash, 33);
    gwm_seg_set_names(s, name + 1, cl, slash + 1, ol);
    return 0;
}

static int slo_data_entry(json_t *e, struct gw_segment *s, const char **why)
{
    json_t *jd = json_object_get(e, "data");
    if (json_object_get(e, "name") != NULL)
        return gwm_fail(why, "segment has both name and data", GW_EPARSE);
    if (!json_is_string(jd)) return gwm_fail(why, "data segment is not a string", GW_EPARSE);
    size_t n = json_string_length(jd);
    unsigned char *buf = gw_malloc(n / 4 * 3 + 1);
    long got = b64_decode(json_string_value(jd), n, buf);
    if (got <= 0) {
        free(buf);
        return gwm_fail(why, got == 0 ? "empty data segment" : "data segment is not base64",
                        GW_EPARSE);
    }
    s->data = buf;
    s->data_len = (size_t)got;
    s->size = s->range_len = (uint64_t)got;
    s->range_start = 0;
    gwm_md5_hex(buf, s->data_len, s->etag);
    gwm_seg_set_names(s, "", 0, "", 0);
    return 0;
}

/*
 * Entry e of a manifest into s, zeroed first: a data entry, or an object
 * entry counted in *objects against max_segments.  *ranged says whether
 * the entry has a range, which changes what it adds to the ETag.
 */
static int slo_entry(json_t *e, size_t max_segments, size_t *objects, struct gw_segment *s,
                     int *ranged, const char **why)
{
    memset(s, 0, sizeof(*s));
    *ranged = 0;
    if (!json_is_object(e)) return gwm_fail(why, "manifest entry is not an object", GW_EPARSE);
    if (json_object_get(e, "data") != NULL) return slo_data_entry(e, s, why);
    if (++*objects > max_segments)
        return gwm_fail(why, "manifest has too many segments", GW_EPARSE);
    return slo_object_entry(e, s, ranged, why);
}

/* Swift's SLO ETag: what entry s adds to the digest. */
static void slo_etag_add(EVP_MD_CTX *etag, const struct gw_segment *s, int ranged)
{
    if (ranged) {
        char r[96];
        int k = snprintf(r, sizeof(r), "%s:%llu-%llu;", s->etag,
                         (unsigned long long)s->range_start,
                         (unsigned long long)(s->range_start + s->range_len - 1));
        gw_assert(k > 0 && (size_t)k < sizeof(r));
        gwm_md5_add(etag, r, (size_t)k);
    } else {
        gwm_md5_add(etag, s->etag, 32);
    }
}

int gw_slo_parse(const char *json, size_t len, size_t max_segments, struct gw_plan *out,
                 const char **why)
{
    memset(out, 0, sizeof(*out));
    if (max_segments == 0) max_segments = GW_SLO_MAX_SEGMENTS;

    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) return gwm_fail(why, "manifest is not JSON", GW_EPARSE);

    int rc = 0;
    struct gw_plan p = {0};
    EVP_MD_CTX *etag = NULL;
    size_t n = json_array_size(root), objects = 0;
    if (!json_is_array(root)) {
        rc = gwm_fail(why, "manifest is not a list", GW_EPARSE);
        goto leave;
    }
    if (n == 0) {
        rc = gwm_fail(why, "manifest has no segments", GW_EPARSE);
        goto leave;
    }
    if (n > GW_PLAN_MAX_SEGMENTS) {
        rc = gwm_fail(why, "manifest has too many segments", GW_EPARSE);
        goto leave;
    }
    p.kind = GW_PLAN_SLO;
    gwm_plan_reserve(&p, n);
    etag = gwm_md5_new();
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct gw_segment *s = &p.seg[p.n];
        int ranged;
        rc = slo_entry(json_array_get(root, i), max_segments, &objects, s, &ranged, why);
        if (rc < 0) goto leave;
        s->depth = 1;
        p.n++;          /* s owns its allocations now: freed with p */
        if (s->range_len > GW_PLAN_MAX_BYTES - total) {
            rc = gwm_fail(why, "manifest total is too large", GW_EPARSE);
            goto leave;
        }
        total += s->range_len;
        slo_etag_add(etag, s, ranged);
    }
    if (objects == 0) {
        rc = gwm_fail(why, "manifest has only data segments", GW_EPARSE);
        goto leave;
    }
    gwm_md5_end_hex(etag, p.etag);
    etag = NULL;
    p.total = gwm_plan_reoffset(&p);
    gw_assert(p.total == total);
    *out = p;
    memset(&p, 0, sizeof(p));

leave:
    if (etag) EVP_MD_CTX_free(etag);
    gw_plan_free(&p);
    json_decref(root);
    return rc;
}
