/*
 * test_manifest.c - SLO manifests, DLO listings, nested SLOs, ranges and the
 * byte form of plans, checked against what a real Swift (2.30.1) answered
 * (transcripts of a real Swift 2.30).
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"

#include "manifest.h"
#include "util.h"

#define H1 "0633caee6849f5ed48464461a4020440"
#define H2 "d4d6edb35b96355d76356d4746e59950"
#define H3 "aef5830b7e8f5d13590826c66b2726f1"
#define SLO1_ETAG "d3a2e719226a62b927c24f76cc4b2f0f"
#define NESTED_ETAG "5414c28e332f164da73a71f578565443"
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"
#define MD5_HELLO "5d41402abc4b2a76b9719d911017c592"
#define SEG "bbbbbbbb-0000-0000-0000-000000000001/"

/* The exact ?multipart-manifest=get body of the 3-segment SLO. */
static const char slo1[] =
    "[{\"name\": \"/fractals_segments/" SEG "00000001\", \"bytes\": 1048576, \"hash\": \"" H1
    "\", \"content_type\": \"application/octet-stream\", \"last_modified\": "
    "\"2026-11-24T16:03:37.000000\"}, {\"name\": \"/fractals_segments/" SEG
    "00000002\", \"bytes\": 1048576, \"hash\": \"" H2
    "\", \"content_type\": \"application/octet-stream\", \"last_modified\": "
    "\"2026-11-24T16:03:37.000000\"}, {\"name\": \"/fractals_segments/" SEG
    "00000003\", \"bytes\": 777, \"hash\": \"" H3
    "\", \"content_type\": \"application/octet-stream\", \"last_modified\": "
    "\"2026-11-24T16:03:37.000000\"}]";

/* The nested SLO: a ranged segment, the SLO above, inline "hello", seg 3. */
static const char nested[] =
    "[{\"name\": \"/fractals_segments/" SEG "00000001\", \"bytes\": 1048576, \"hash\": \"" H1
    "\", \"content_type\": \"application/octet-stream\", \"last_modified\": "
    "\"2026-11-24T16:03:37.000000\", \"range\": \"10-19\"},\n"
    " {\"name\": \"/fractals/bbbbbbbb-0000-0000-0000-000000000001\", \"bytes\": 2097929, "
    "\"hash\": \"" SLO1_ETAG "\", \"content_type\": \"image/png\", \"last_modified\": "
    "\"2026-11-24T16:03:37.000000\", \"sub_slo\": true},\n"
    " {\"data\": \"aGVsbG8=\"},\n"
    " {\"name\": \"/fractals_segments/" SEG "00000003\", \"bytes\": 777, \"hash\": \"" H3
    "\", \"content_type\": \"application/octet-stream\", \"last_modified\": "
    "\"2026-11-24T16:03:37.000000\"}]";

static void md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[16];
    unsigned int dl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ck_assert(EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1);
    ck_assert(EVP_DigestUpdate(c, p, n) == 1);
    ck_assert(EVP_DigestFinal_ex(c, d, &dl) == 1);
    EVP_MD_CTX_free(c);
    gw_hex(d, 16, out);
}

static int parse(const char *json, struct gw_plan *p, const char **why)
{
    return gw_slo_parse(json, strlen(json), 0, p, why);
}

/* Everything a plan promises; fails the test otherwise. */
static void check_plan(const struct gw_plan *p)
{
    ck_assert(p->kind == GW_PLAN_SLO || p->kind == GW_PLAN_DLO);
    ck_assert_uint_eq(strlen(p->etag), 32);
    uint64_t off = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct gw_segment *s = &p->seg[i];
        ck_assert_uint_eq(s->offset, off);
        ck_assert(s->range_start <= s->size && s->range_len <= s->size - s->range_start);
        ck_assert(s->depth >= 1 && s->depth <= GW_SLO_MAX_DEPTH);
        ck_assert_ptr_nonnull(s->container);
        ck_assert_ptr_nonnull(s->object);
        if (s->data) {
            ck_assert_uint_eq(s->size, s->data_len);
            ck_assert_str_eq(s->container, "");
            ck_assert(!s->sub_slo);
        } else {
            ck_assert(strlen(s->container) >= 1 && strlen(s->container) <= GW_CONTAINER_MAX);
            ck_assert(strlen(s->object) >= 1 && strlen(s->object) <= GW_OBJECT_MAX);
            ck_assert_ptr_null(strchr(s->container, '/'));
        }
        off += s->range_len;
    }
    ck_assert_uint_eq(off, p->total);
}

static void check_seg(const struct gw_segment *s, const char *container, const char *object,
                      uint64_t size, const char *etag, uint64_t rs, uint64_t rl, uint64_t offset)
{
    ck_assert_str_eq(s->container, container);
    ck_assert_str_eq(s->object, object);
    ck_assert_uint_eq(s->size, size);
    ck_assert_str_eq(s->etag, etag);
    ck_assert_uint_eq(s->range_start, rs);
    ck_assert_uint_eq(s->range_len, rl);
    ck_assert_uint_eq(s->offset, offset);
}

START_TEST(slo_transcript)
{
    struct gw_plan p;
    const char *why = NULL;
    ck_assert_int_eq(parse(slo1, &p, &why), 0);
    ck_assert_int_eq(p.kind, GW_PLAN_SLO);
    ck_assert_uint_eq(p.n, 3);
    ck_assert_str_eq(p.etag, SLO1_ETAG);
    ck_assert_uint_eq(p.total, 2097929);
    check_seg(&p.seg[0], "fractals_segments", SEG "00000001", 1048576, H1, 0, 1048576, 0);
    check_seg(&p.seg[1], "fractals_segments", SEG "00000002", 1048576, H2, 0, 1048576, 1048576);
    check_seg(&p.seg[2], "fractals_segments", SEG "00000003", 777, H3, 0, 777, 2097152);
    for (size_t i = 0; i < 3; i++) {
        ck_assert(gw_segment_whole(&p.seg[i]));
        ck_assert_int_eq(p.seg[i].depth, 1);
        ck_assert(!p.seg[i].sub_slo);
        ck_assert_ptr_null(p.seg[i].data);
    }
    check_plan(&p);
    gw_plan_free(&p);
    ck_assert_uint_eq(p.n, 0);
    ck_assert_ptr_null(p.seg);
    gw_plan_free(&p); /* twice is fine */
}
END_TEST

START_TEST(slo_nested_transcript)
{
    struct gw_plan p;
    ck_assert_int_eq(parse(nested, &p, NULL), 0);
    ck_assert_str_eq(p.etag, NESTED_ETAG);
    ck_assert_uint_eq(p.total, 2098721);
    ck_assert_uint_eq(p.n, 4);
    check_seg(&p.seg[0], "fractals_segments", SEG "00000001", 1048576, H1, 10, 10, 0);
    ck_assert(!gw_segment_whole(&p.seg[0]));
    check_seg(&p.seg[1], "fractals", "bbbbbbbb-0000-0000-0000-000000000001", 2097929, SLO1_ETAG,
              0, 2097929, 10);
    ck_assert(p.seg[1].sub_slo);
    check_seg(&p.seg[2], "", "", 5, MD5_HELLO, 0, 5, 2097939);
    ck_assert_uint_eq(p.seg[2].data_len, 5);
    ck_assert_mem_eq(p.seg[2].data, "hello", 5);
    check_seg(&p.seg[3], "fractals_segments", SEG "00000003", 777, H3, 0, 777, 2097944);
    check_plan(&p);
    gw_plan_free(&p);
}
END_TEST

START_TEST(slo_nested_expand)
{
    struct gw_plan p, c;
    const char *why = NULL;
    ck_assert_int_eq(parse(nested, &p, NULL), 0);
    ck_assert_int_eq(parse(slo1, &c, NULL), 0);
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, &why), 0);
    gw_plan_free(&c); /* the parent keeps copies */
    ck_assert_uint_eq(p.n, 6);
    ck_assert_uint_eq(p.total, 2098721);
    ck_assert_str_eq(p.etag, NESTED_ETAG);
    check_seg(&p.seg[0], "fractals_segments", SEG "00000001", 1048576, H1, 10, 10, 0);
    check_seg(&p.seg[1], "fractals_segments", SEG "00000001", 1048576, H1, 0, 1048576, 10);
    check_seg(&p.seg[2], "fractals_segments", SEG "00000002", 1048576, H2, 0, 1048576, 1048586);
    check_seg(&p.seg[3], "fractals_segments", SEG "00000003", 777, H3, 0, 777, 2097162);
    check_seg(&p.seg[4], "", "", 5, MD5_HELLO, 0, 5, 2097939);
    check_seg(&p.seg[5], "fractals_segments", SEG "00000003", 777, H3, 0, 777, 2097944);
    ck_assert_int_eq(p.seg[0].depth, 1);
    ck_assert_int_eq(p.seg[1].depth, 2);
    ck_assert_int_eq(p.seg[3].depth, 2);
    ck_assert_int_eq(p.seg[4].depth, 1);
    for (size_t i = 0; i < p.n; i++) ck_assert(!p.seg[i].sub_slo);
    check_plan(&p);
    gw_plan_free(&p);
}
END_TEST

/* A nested SLO counts against its parent's limits: expanding past them is refused. */
START_TEST(slo_expand_limit)
{
    struct gw_plan p, c;
    const char *why = NULL;
    ck_assert_int_eq(parse(nested, &p, NULL), 0);
    ck_assert_int_eq(parse(slo1, &c, NULL), 0);
    /* 4 entries, the sub-SLO one becoming 3: 6 in all. */
    ck_assert_int_eq(gw_plan_limit(&p, 5, 0, &why), 0);
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, &why), GW_ELIMIT);
    ck_assert_str_eq(why, "too many segments");
    ck_assert_uint_eq(p.n, 4);
    ck_assert(p.seg[1].sub_slo);
    ck_assert_int_eq(gw_plan_limit(&p, 6, p.bytes + 100, &why), 0);
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, &why), GW_ELIMIT);
    ck_assert_str_eq(why, "plan too large");
    ck_assert_int_eq(gw_plan_limit(&p, 6, 0, &why), 0);
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, &why), 0);
    ck_assert_uint_eq(p.n, 6);
    gw_plan_free(&c);
    gw_plan_free(&p);
}
END_TEST

/* A parent holding bytes [range] of the 3-segment SLO as a sub-SLO. */
static void ranged_parent(const char *range, struct gw_plan *p)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "[{\"name\": \"/fractals/sub\", \"bytes\": 2097929, \"hash\": \"" SLO1_ETAG
             "\", \"sub_slo\": true, \"range\": \"%s\"}]",
             range);
    const char *why = NULL;
    ck_assert_msg(parse(buf, p, &why) == 0, "%s", why);
}

START_TEST(slo_ranged_sub_slo)
{
    struct gw_plan p, c;
    char want[33], in[128];
    ck_assert_int_eq(parse(slo1, &c, NULL), 0);

    /* Across the edge of segments 1 and 2: both are cut. */
    ranged_parent("1048570-1048585", &p);
    ck_assert_uint_eq(p.total, 16);
    snprintf(in, sizeof(in), "%s:1048570-1048585;", SLO1_ETAG);
    md5_hex(in, strlen(in), want);
    ck_assert_str_eq(p.etag, want);
    ck_assert_int_eq(gw_plan_expand(&p, 0, &c, NULL), 0);
    ck_assert_uint_eq(p.n, 2);
    check_seg(&p.seg[0], "fractals_segments", SEG "00000001", 1048576, H1, 1048570, 6, 0);
    check_seg(&p.seg[1], "fractals_segments", SEG "00000002", 1048576, H2, 0, 10, 6);
    ck_assert_str_eq(p.etag, want);
    check_plan(&p);
    gw_plan_free(&p);

    /* A suffix range: normalised to M-N, in the plan and in the ETag. */
    ranged_parent("-5", &p);
    snprintf(in, sizeof(in), "%s:2097924-2097928;", SLO1_ETAG);
    md5_hex(in, strlen(in), want);
    ck_assert_str_eq(p.etag, want);
    ck_assert_int_eq(gw_plan_expand(&p, 0, &c, NULL), 0);
    ck_assert_uint_eq(p.n, 1);
    check_seg(&p.seg[0], "fractals_segments", SEG "00000003", 777, H3, 772, 5, 0);
    gw_plan_free(&p);

    /* Inside one segment, and the whole middle segment exactly. */
    ranged_parent("1048576-2097151", &p);
    ck_assert_int_eq(gw_plan_expand(&p, 0, &c, NULL), 0);
    ck_assert_uint_eq(p.n, 1);
    check_seg(&p.seg[0], "fractals_segments", SEG "00000002", 1048576, H2, 0, 1048576, 0);
    ck_assert(gw_segment_whole(&p.seg[0]));
    gw_plan_free(&p);
    gw_plan_free(&c);
}
END_TEST

START_TEST(slo_expand_mismatch)
{
    struct gw_plan p, c;
    const char *why = NULL;
    ck_assert_int_eq(parse(nested, &p, NULL), 0);

    /* The sub-SLO was replaced by one of another size... */
    ck_assert_int_eq(parse("[{\"name\": \"/c/o\", \"bytes\": 5, \"hash\": \"" H1 "\"}]", &c, NULL),
                     0);
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, &why), GW_EDIGEST);
    ck_assert_ptr_nonnull(why);
    gw_plan_free(&c);

    /* ...or of the same size and other content. */
    char body[256];
    snprintf(body, sizeof(body), "[{\"name\": \"/c/o\", \"bytes\": 2097929, \"hash\": \"%s\"}]", H1);
    ck_assert_int_eq(parse(body, &c, NULL), 0);
    why = NULL;
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, &why), GW_EDIGEST);
    ck_assert_ptr_nonnull(why);
    gw_plan_free(&c);

    /* The parent is as it was. */
    ck_assert_uint_eq(p.n, 4);
    ck_assert(p.seg[1].sub_slo);
    ck_assert_str_eq(p.etag, NESTED_ETAG);
    check_plan(&p);
    gw_plan_free(&p);
}
END_TEST

/*
 * A chain of `levels` manifests: level k holds one sub-SLO entry naming
 * level k+1; the last holds a plain 7-byte segment.  Expanding from the top
 * needs levels - 1 expansions.  Returns how many succeeded and the error.
 */
static int expand_chain(int levels, int *done, struct gw_plan *top)
{
    char etag[16][33];
    char body[512];
    ck_assert(levels >= 1 && levels <= 16);
    /* Bottom up: each level's ETag is md5 of the level below's. */
    strcpy(etag[levels - 1], "0123456789abcdef0123456789abcdef");
    md5_hex(etag[levels - 1], 32, etag[levels - 1]);
    for (int k = levels - 2; k >= 0; k--) md5_hex(etag[k + 1], 32, etag[k]);

    struct gw_plan lv[16];
    for (int k = 0; k < levels; k++) {
        if (k == levels - 1)
            snprintf(body, sizeof(body),
                     "[{\"name\": \"/c/leaf\", \"bytes\": 7, \"hash\": "
                     "\"0123456789abcdef0123456789abcdef\"}]");
        else
            snprintf(body, sizeof(body),
                     "[{\"name\": \"/c/level%d\", \"bytes\": 7, \"hash\": \"%s\", "
                     "\"sub_slo\": true}]",
                     k + 1, etag[k + 1]);
        ck_assert_int_eq(parse(body, &lv[k], NULL), 0);
        ck_assert_str_eq(lv[k].etag, etag[k]);
    }
    *top = lv[0];
    int rc = 0;
    *done = 0;
    for (int k = 1; k < levels; k++) {
        rc = gw_plan_expand(top, 0, &lv[k], NULL);
        if (rc < 0) break;
        ++*done;
    }
    for (int k = 1; k < levels; k++) gw_plan_free(&lv[k]);
    return rc;
}

START_TEST(slo_depth_limit)
{
    struct gw_plan top;
    int done;
    /* Ten manifests (depths 1..10) are fine, as in Swift. */
    ck_assert_int_eq(expand_chain(GW_SLO_MAX_DEPTH, &done, &top), 0);
    ck_assert_int_eq(done, GW_SLO_MAX_DEPTH - 1);
    ck_assert_uint_eq(top.n, 1);
    ck_assert_str_eq(top.seg[0].object, "leaf");
    ck_assert_int_eq(top.seg[0].depth, GW_SLO_MAX_DEPTH);
    ck_assert_uint_eq(top.total, 7);
    gw_plan_free(&top);

    /* An eleventh is refused: the sub-SLO entry at depth 10 stays. */
    ck_assert_int_eq(expand_chain(GW_SLO_MAX_DEPTH + 1, &done, &top), GW_ELIMIT);
    ck_assert_int_eq(done, GW_SLO_MAX_DEPTH - 1);
    ck_assert(top.seg[0].sub_slo);
    ck_assert_int_eq(top.seg[0].depth, GW_SLO_MAX_DEPTH);
    gw_plan_free(&top);

    /* A child expanded already counts with its own depth. */
    struct gw_plan deep, parent;
    ck_assert_int_eq(expand_chain(6, &done, &deep), 0); /* leaf at depth 6 */
    char body[256];
    snprintf(body, sizeof(body),
             "[{\"name\": \"/c/x\", \"bytes\": 7, \"hash\": \"%s\", \"sub_slo\": true}]", deep.etag);
    ck_assert_int_eq(parse(body, &parent, NULL), 0);
    parent.seg[0].depth = 5; /* as if it came from a depth-5 manifest */
    const char *why = NULL;
    ck_assert_int_eq(gw_plan_expand(&parent, 0, &deep, &why), GW_ELIMIT);
    parent.seg[0].depth = 4;
    ck_assert_int_eq(gw_plan_expand(&parent, 0, &deep, &why), 0);
    ck_assert_int_eq(parent.seg[0].depth, 10);
    gw_plan_free(&parent);
    gw_plan_free(&deep);
}
END_TEST

START_TEST(slo_range_forms)
{
    static const char *const forms[] = {"90-99", "90-", "-10"};
    char body[256], in[64], want[33];
    snprintf(in, sizeof(in), "%s:90-99;", H1);
    md5_hex(in, strlen(in), want);
    for (size_t i = 0; i < 3; i++) {
        struct gw_plan p;
        snprintf(body, sizeof(body),
                 "[{\"name\": \"/c/o\", \"bytes\": 100, \"hash\": \"%s\", \"range\": \"%s\"}]", H1,
                 forms[i]);
        ck_assert_int_eq(parse(body, &p, NULL), 0);
        ck_assert_uint_eq(p.seg[0].range_start, 90);
        ck_assert_uint_eq(p.seg[0].range_len, 10);
        ck_assert_uint_eq(p.total, 10);
        ck_assert_str_eq(p.etag, want);
        gw_plan_free(&p);
    }
    /* A null range is no range; an object name may hold slashes and UTF-8. */
    struct gw_plan p;
    snprintf(body, sizeof(body),
             "[{\"name\": \"/c/a/b/\\u00e9t\\u00e9\", \"bytes\": 100, \"hash\": \"%s\", "
             "\"range\": null}]",
             H1);
    ck_assert_int_eq(parse(body, &p, NULL), 0);
    ck_assert_str_eq(p.seg[0].object, "a/b/\xc3\xa9t\xc3\xa9");
    ck_assert(gw_segment_whole(&p.seg[0]));
    md5_hex(H1, 32, want);
    ck_assert_str_eq(p.etag, want);
    gw_plan_free(&p);
}
END_TEST

START_TEST(slo_legacy_swift_bytes)
{
    struct gw_plan p;
    ck_assert_int_eq(parse("[{\"name\": \"/c/sub\", \"bytes\": 1234, \"hash\": \"" SLO1_ETAG
                           "\", \"sub_slo\": true, "
                           "\"content_type\": \"image/png;swift_bytes=2097929\"}]",
                           &p, NULL),
                     0);
    ck_assert_uint_eq(p.seg[0].size, 2097929);
    ck_assert_uint_eq(p.total, 2097929);
    gw_plan_free(&p);
    /* Only a sub-SLO's size is taken from there. */
    ck_assert_int_eq(parse("[{\"name\": \"/c/o\", \"bytes\": 1234, \"hash\": \"" H1
                           "\", \"content_type\": \"image/png;swift_bytes=99\"}]",
                           &p, NULL),
                     0);
    ck_assert_uint_eq(p.seg[0].size, 1234);
    gw_plan_free(&p);
}
END_TEST

#define OBJ(extra) "{\"name\": \"/c/o\", \"bytes\": 10, \"hash\": \"" H1 "\"" extra "}"

START_TEST(slo_malformed)
{
    static const char *const bad[] = {
        "",
        "not json",
        "{}",
        "[]",
        "[1]",
        "[\"/c/o\"]",
        "[" OBJ("") "] trailing",
        "[{\"name\": \"/c/o\", \"bytes\": 10}]",
        "[{\"name\": \"/c/o\", \"hash\": \"" H1 "\"}]",
        "[{\"bytes\": 10, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": \"10\", \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": -1, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": 1.5, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": 1e30, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": 99999999999999999999, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": 9223372036854775807, \"hash\": \"" H1 "\"},"
        " {\"name\": \"/c/p\", \"bytes\": 1, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": null, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": 10, \"hash\": null}]",
        "[{\"name\": \"/c/o\", \"bytes\": 10, \"hash\": \"0633caee\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": 10, \"hash\": \"0633caee6849f5ed48464461a402044g\"}]",
        "[{\"name\": \"/c/o\", \"bytes\": 10, \"hash\": \"\\\"" H1 "\\\"\"}]",
        "[{\"name\": 5, \"bytes\": 10, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"c/o\", \"bytes\": 10, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c\", \"bytes\": 10, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"/c/\", \"bytes\": 10, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"//o\", \"bytes\": 10, \"hash\": \"" H1 "\"}]",
        "[{\"name\": \"\", \"bytes\": 10, \"hash\": \"" H1 "\"}]",
        "[" OBJ(", \"range\": \"5-2\"") "]",
        "[" OBJ(", \"range\": \"0-10\"") "]",
        "[" OBJ(", \"range\": \"10-\"") "]",
        "[" OBJ(", \"range\": \"-0\"") "]",
        "[" OBJ(", \"range\": \"-11\"") "]",
        "[" OBJ(", \"range\": \"-\"") "]",
        "[" OBJ(", \"range\": \"\"") "]",
        "[" OBJ(", \"range\": \"1-2-3\"") "]",
        "[" OBJ(", \"range\": \" 1-2\"") "]",
        "[" OBJ(", \"range\": \"0-1,3-4\"") "]",
        "[" OBJ(", \"range\": \"bytes=0-1\"") "]",
        "[" OBJ(", \"range\": 5") "]",
        "[{\"name\": \"/c/o\", \"bytes\": 0, \"hash\": \"" H1 "\", \"range\": \"0-0\"}]",
        "[" OBJ(", \"sub_slo\": \"yes\"") "]",
        "[" OBJ(", \"sub_slo\": 1") "]",
        "[" OBJ("") ", {\"data\": \"aGVsbG8\"}]",
        "[" OBJ("") ", {\"data\": \"aGV$bG8=\"}]",
        "[" OBJ("") ", {\"data\": \"aGVsbG8=aGVs\"}]",
        "[" OBJ("") ", {\"data\": \"a===\"}]",
        "[" OBJ("") ", {\"data\": \"\"}]",
        "[" OBJ("") ", {\"data\": 5}]",
        "[" OBJ("") ", {\"data\": null}]",
        "[{\"data\": \"aGVsbG8=\", \"name\": \"/c/o\", \"bytes\": 5, \"hash\": \"" H1 "\"}]",
        "[{\"data\": \"aGVsbG8=\"}]",
        "[" OBJ(", \"bytes\": 11") "]",
        "[" OBJ("") ", [1]]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_plan p;
        const char *why = NULL;
        int rc = parse(bad[i], &p, &why);
        ck_assert_msg(rc == GW_EPARSE, "case %zu: rc %d for %s", i, rc, bad[i]);
        ck_assert_msg(why != NULL && why[0] != '\0', "case %zu: no reason", i);
        ck_assert_uint_eq(p.n, 0);
        ck_assert_ptr_null(p.seg);
    }
    /* A container or object name over Swift's limits. */
    char body[2400], name[1100];
    memset(name, 'x', 257);
    name[257] = '\0';
    snprintf(body, sizeof(body), "[{\"name\": \"/%s/o\", \"bytes\": 1, \"hash\": \"" H1 "\"}]",
             name);
    struct gw_plan p;
    ck_assert_int_eq(parse(body, &p, NULL), GW_EPARSE);
    name[256] = '\0';
    snprintf(body, sizeof(body), "[{\"name\": \"/%s/o\", \"bytes\": 1, \"hash\": \"" H1 "\"}]",
             name);
    ck_assert_int_eq(parse(body, &p, NULL), 0);
    gw_plan_free(&p);
    memset(name, 'y', 1025);
    name[1025] = '\0';
    snprintf(body, sizeof(body), "[{\"name\": \"/c/%s\", \"bytes\": 1, \"hash\": \"" H1 "\"}]",
             name);
    ck_assert_int_eq(parse(body, &p, NULL), GW_EPARSE);
    name[1024] = '\0';
    snprintf(body, sizeof(body), "[{\"name\": \"/c/%s\", \"bytes\": 1, \"hash\": \"" H1 "\"}]",
             name);
    ck_assert_int_eq(parse(body, &p, NULL), 0);
    gw_plan_free(&p);
}
END_TEST

/* A manifest of `objects` object entries and `datas` data entries. */
static char *many(size_t objects, size_t datas)
{
    size_t cap = (objects + datas) * 96 + 16, o = 0;
    char *b = gw_malloc(cap);
    b[o++] = '[';
    for (size_t i = 0; i < objects + datas; i++) {
        if (i) b[o++] = ',';
        if (i < datas)
            o += (size_t)snprintf(b + o, cap - o, "{\"data\": \"eHl6\"}");
        else
            o += (size_t)snprintf(b + o, cap - o,
                                  "{\"name\": \"/c/s%06zu\", \"bytes\": 3, \"hash\": \"" H1 "\"}",
                                  i);
    }
    b[o++] = ']';
    b[o] = '\0';
    return b;
}

START_TEST(slo_max_segments)
{
    struct gw_plan p;
    const char *why = NULL;
    char *b = many(GW_SLO_MAX_SEGMENTS, 0);
    ck_assert_int_eq(parse(b, &p, NULL), 0);
    ck_assert_uint_eq(p.n, GW_SLO_MAX_SEGMENTS);
    ck_assert_uint_eq(p.total, 3 * GW_SLO_MAX_SEGMENTS);
    gw_plan_free(&p);
    free(b);

    b = many(GW_SLO_MAX_SEGMENTS + 1, 0);
    ck_assert_int_eq(parse(b, &p, &why), GW_EPARSE);
    ck_assert_ptr_nonnull(why);
    /* An operator's higher max_manifest_segments. */
    ck_assert_int_eq(gw_slo_parse(b, strlen(b), 2000, &p, NULL), 0);
    ck_assert_uint_eq(p.n, GW_SLO_MAX_SEGMENTS + 1);
    gw_plan_free(&p);
    free(b);

    /* Data segments do not count (slo.py). */
    b = many(GW_SLO_MAX_SEGMENTS, 5);
    ck_assert_int_eq(parse(b, &p, NULL), 0);
    ck_assert_uint_eq(p.n, GW_SLO_MAX_SEGMENTS + 5);
    ck_assert_mem_eq(p.seg[0].data, "xyz", 3);
    check_plan(&p);
    gw_plan_free(&p);
    free(b);
}
END_TEST

/* A DLO listing page in Swift's format, with full 32-hex hashes. */
#define DH1 "713ba612f0c2b1a8e2a4b5e0d8c1a3f7"
#define DH2 "d2da262b9a4e6c1f3b5d7e9f0a1c3e5b"
#define DH3 "4ead7191c3e5a7b9d1f3e5a7c9b1d3f5"
#define DSEG "aaaaaaaa-0000-0000-0000-000000000001/"
#define DENT(n, h, b)                                                                    \
    "{\"bytes\": " #b ", \"hash\": \"" h "\", \"name\": \"" DSEG n                         \
    "\", \"content_type\": \"application/octet-stream\", \"last_modified\": "            \
    "\"2026-11-24T16:03:25.000000\"}"

static int add(struct gw_plan *p, const char *json, size_t *count, char *last, const char **why)
{
    return gw_dlo_listing_add(p, json, strlen(json), "fractals_segments", count, last,
                              GW_OBJECT_MAX + 1, why);
}

START_TEST(dlo_transcript)
{
    char want[33];
    md5_hex(DH1 DH2 DH3, 96, want);

    /* One page. */
    struct gw_plan p = {0};
    size_t count = 99;
    char last[GW_OBJECT_MAX + 1];
    ck_assert_int_eq(add(&p, "[" DENT("00000001", DH1, 1048576) ", " DENT("00000002", DH2, 1048576)
                             ", " DENT("00000003", DH3, 12345) "]",
                         &count, last, NULL),
                     0);
    ck_assert_uint_eq(count, 3);
    ck_assert_str_eq(last, DSEG "00000003");
    ck_assert_str_eq(p.etag, ""); /* not until finished */
    ck_assert_int_eq(gw_dlo_finish(&p), 0);
    ck_assert_int_eq(p.kind, GW_PLAN_DLO);
    ck_assert_str_eq(p.etag, want);
    ck_assert_uint_eq(p.total, 2109497);
    ck_assert_uint_eq(p.n, 3);
    check_seg(&p.seg[0], "fractals_segments", DSEG "00000001", 1048576, DH1, 0, 1048576, 0);
    check_seg(&p.seg[2], "fractals_segments", DSEG "00000003", 12345, DH3, 0, 12345, 2097152);
    check_plan(&p);
    gw_plan_free(&p);

    /* Two pages (marker paging), a quoted hash: the same DLO. */
    ck_assert_int_eq(add(&p, "[" DENT("00000001", DH1, 1048576) ", "
                             DENT("00000002", "\\\"" DH2 "\\\"", 1048576) "]",
                         &count, last, NULL),
                     0);
    ck_assert_uint_eq(count, 2);
    ck_assert_str_eq(last, DSEG "00000002");
    ck_assert_int_eq(add(&p, "[" DENT("00000003", DH3, 12345) "]", &count, last, NULL), 0);
    ck_assert_int_eq(add(&p, "[]", &count, last, NULL), 0);
    ck_assert_uint_eq(count, 0);
    ck_assert_str_eq(last, "");
    ck_assert_int_eq(gw_dlo_finish(&p), 0);
    ck_assert_str_eq(p.etag, want);
    ck_assert_uint_eq(p.total, 2109497);
    ck_assert_str_eq(p.seg[1].etag, DH2);
    gw_plan_free(&p);
}
END_TEST

START_TEST(dlo_empty_and_zero_bytes)
{
    struct gw_plan p = {0};
    ck_assert_int_eq(gw_dlo_finish(&p), 0);
    ck_assert_int_eq(p.kind, GW_PLAN_DLO);
    ck_assert_str_eq(p.etag, MD5_EMPTY);
    ck_assert_uint_eq(p.total, 0);
    ck_assert_uint_eq(p.n, 0);
    gw_plan_free(&p);

    size_t count = 7;
    ck_assert_int_eq(add(&p, "[]", &count, NULL, NULL), 0);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(gw_dlo_finish(&p), 0);
    ck_assert_str_eq(p.etag, MD5_EMPTY);
    ck_assert_uint_eq(p.total, 0);
    gw_plan_free(&p);

    /* A zero-byte entry adds its hash to the ETag, no bytes to the body. */
    char want[33];
    md5_hex(DH1 MD5_EMPTY DH3, 96, want);
    ck_assert_int_eq(add(&p, "[" DENT("00000001", DH1, 3) ", " DENT("00000002", MD5_EMPTY, 0)
                             ", " DENT("00000003", DH3, 4) "]",
                         NULL, NULL, NULL),
                     0);
    ck_assert_int_eq(gw_dlo_finish(&p), 0);
    ck_assert_str_eq(p.etag, want);
    ck_assert_uint_eq(p.total, 7);
    struct gw_piece pc[4];
    ck_assert_uint_eq(gw_plan_cover(&p, 0, 6, pc, 4), 2);
    ck_assert_uint_eq(pc[0].seg, 0);
    ck_assert_uint_eq(pc[1].seg, 2);
    ck_assert_uint_eq(pc[1].offset, 0);
    ck_assert_uint_eq(pc[1].len, 4);
    ck_assert_uint_eq(gw_plan_cover(&p, 3, 3, pc, 4), 1);
    ck_assert_uint_eq(pc[0].seg, 2);
    gw_plan_free(&p);
}
END_TEST

START_TEST(dlo_bad_listings)
{
    static const char *const bad[] = {
        "",
        "{}",
        "[1]",
        "[{\"name\": \"a\", \"hash\": \"" DH1 "\"}]",
        "[{\"name\": \"a\", \"bytes\": 1}]",
        "[{\"hash\": \"" DH1 "\", \"bytes\": 1}]",
        "[{\"subdir\": \"a/\"}]",
        "[{\"name\": \"a\", \"hash\": \"xyz\", \"bytes\": 1}]",
        "[{\"name\": \"a\", \"hash\": \"" DH1 "\", \"bytes\": -1}]",
        "[{\"name\": \"a\", \"hash\": \"" DH1 "\", \"bytes\": 1.0}]",
        "[{\"name\": \"\", \"hash\": \"" DH1 "\", \"bytes\": 1}]",
        "[{\"name\": \"b\", \"hash\": \"" DH1 "\", \"bytes\": 1},"
        " {\"name\": \"a\", \"hash\": \"" DH1 "\", \"bytes\": 1}]",
        "[{\"name\": \"a\", \"hash\": \"" DH1 "\", \"bytes\": 1},"
        " {\"name\": \"a\", \"hash\": \"" DH1 "\", \"bytes\": 1}]",
        "[{\"name\": \"a\", \"hash\": \"" DH1 "\", \"bytes\": 9223372036854775807},"
        " {\"name\": \"b\", \"hash\": \"" DH1 "\", \"bytes\": 1}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_plan p = {0};
        const char *why = NULL;
        int rc = add(&p, bad[i], NULL, NULL, &why);
        ck_assert_msg(rc == GW_EPARSE, "case %zu: rc %d", i, rc);
        ck_assert_msg(why != NULL, "case %zu: no reason", i);
        ck_assert_uint_eq(p.n, 0);
        gw_plan_free(&p);
    }

    /* A page that goes back before the last one leaves the plan as it was. */
    struct gw_plan p = {0};
    ck_assert_int_eq(add(&p, "[" DENT("00000002", DH2, 10) "]", NULL, NULL, NULL), 0);
    const char *why = NULL;
    ck_assert_int_eq(add(&p, "[" DENT("00000003", DH3, 10) ", " DENT("00000001", DH1, 10) "]",
                         NULL, NULL, &why),
                     GW_EPARSE);
    ck_assert_int_eq(add(&p, "[" DENT("00000001", DH1, 10) "]", NULL, NULL, &why), GW_EPARSE);
    ck_assert_uint_eq(p.n, 1);
    ck_assert_uint_eq(p.total, 10);
    ck_assert_int_eq(gw_dlo_listing_add(&p, "[]", 2, "bad/container", NULL, NULL, 0, &why),
                     GW_EPARSE);
    ck_assert_int_eq(gw_dlo_listing_add(&p, "[]", 2, "", NULL, NULL, 0, &why), GW_EPARSE);
    gw_plan_free(&p);
}
END_TEST

START_TEST(dlo_too_many)
{
    size_t n = GW_PLAN_MAX_SEGMENTS + 1, cap = n * 80 + 16, o = 0;
    char *b = gw_malloc(cap);
    b[o++] = '[';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(b + o, cap - o, "%s{\"name\": \"s%07zu\", \"hash\": \"" DH1
                                              "\", \"bytes\": 1}",
                              i ? "," : "", i);
    b[o++] = ']';
    struct gw_plan p = {0};
    const char *why = NULL;
    ck_assert_int_eq(gw_dlo_listing_add(&p, b, o, "c", NULL, NULL, 0, &why), GW_ELIMIT);
    ck_assert_ptr_nonnull(why);
    ck_assert_uint_eq(p.n, 0);
    free(b);
}
END_TEST

/* A page of n entries "<prefix>%07zu" (hash DH1, 1 byte each), in a new buffer. */
static char *dlo_page(const char *prefix, size_t first, size_t n, size_t *len)
{
    size_t cap = n * (80 + strlen(prefix)) + 16, o = 0;
    char *b = gw_malloc(cap);
    b[o++] = '[';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(b + o, cap - o, "%s{\"name\": \"%s%07zu\", \"hash\": \"" DH1
                                              "\", \"bytes\": 1}",
                              i ? "," : "", prefix, first + i);
    b[o++] = ']';
    *len = o;
    return b;
}

/* max_segments is checked on each page, before it is built. */
START_TEST(dlo_limit_segments)
{
    struct gw_plan p = {0};
    const char *why = NULL;
    size_t len, count = 0;
    char last[GW_OBJECT_MAX + 1];
    ck_assert_int_eq(gw_plan_limit(&p, 5, 0, &why), 0);
    char *b = dlo_page("s", 0, 3, &len);
    ck_assert_int_eq(gw_dlo_listing_add(&p, b, len, "c", &count, last, sizeof(last), &why), 0);
    free(b);
    ck_assert_uint_eq(p.n, 3);
    /* 3 + 3 > 5: refused whole, the plan as it was. */
    b = dlo_page("s", 3, 3, &len);
    ck_assert_int_eq(gw_dlo_listing_add(&p, b, len, "c", &count, last, sizeof(last), &why),
                     GW_ELIMIT);
    ck_assert_str_eq(why, "too many segments");
    ck_assert_uint_eq(p.n, 3);
    free(b);
    /* 3 + 2 = 5 fits. */
    b = dlo_page("s", 3, 2, &len);
    ck_assert_int_eq(gw_dlo_listing_add(&p, b, len, "c", &count, last, sizeof(last), &why), 0);
    free(b);
    ck_assert_uint_eq(p.n, 5);
    gw_dlo_finish(&p);
    unsigned char *enc;
    size_t elen;
    gw_plan_encode(&p, &enc, &elen);
    ck_assert_uint_eq(elen, p.bytes); /* the size kept is the encoded size */
    free(enc);
    gw_plan_free(&p);
}
END_TEST

/* max_plan_size: long names pass it before the count does. */
START_TEST(dlo_limit_bytes)
{
    char prefix[901];
    memset(prefix, 'n', 900);
    prefix[900] = '\0';
    struct gw_plan p = {0};
    const char *why = NULL;
    size_t len;
    /* Each segment costs about 35 + 32 + 1 + 907 bytes: 10 fit in 10K, 11 do not. */
    ck_assert_int_eq(gw_plan_limit(&p, 0, 10240, &why), 0);
    char *b = dlo_page(prefix, 0, 10, &len);
    ck_assert_int_eq(gw_dlo_listing_add(&p, b, len, "c", NULL, NULL, 0, &why), 0);
    free(b);
    size_t before = p.bytes;
    ck_assert_uint_le(before, 10240);
    b = dlo_page(prefix, 10, 1, &len);
    ck_assert_int_eq(gw_dlo_listing_add(&p, b, len, "c", NULL, NULL, 0, &why), GW_ELIMIT);
    ck_assert_str_eq(why, "plan too large");
    ck_assert_uint_eq(p.n, 10);
    ck_assert_uint_eq(p.bytes, before);
    free(b);
    /* Limits lowered below what the plan holds already: refused at once. */
    ck_assert_int_eq(gw_plan_limit(&p, 9, 0, &why), GW_ELIMIT);
    ck_assert_str_eq(why, "too many segments");
    gw_plan_free(&p);
}
END_TEST

START_TEST(dlo_manifest_header)
{
    char c[GW_CONTAINER_MAX + 1], pre[GW_OBJECT_MAX + 1];
    ck_assert_int_eq(gw_dlo_manifest_parse("fractals_segments/" DSEG, c, sizeof(c), pre,
                                           sizeof(pre)),
                     0);
    ck_assert_str_eq(c, "fractals_segments");
    ck_assert_str_eq(pre, DSEG);
    /* Percent-encoded, as libcloud sends it (urlquote). */
    ck_assert_int_eq(gw_dlo_manifest_parse("my%20cont/pre%2Ffix%C3%A9+x", c, sizeof(c), pre,
                                           sizeof(pre)),
                     0);
    ck_assert_str_eq(c, "my cont");
    ck_assert_str_eq(pre, "pre/fix\xc3\xa9+x");
    /* Decoded, then split at the first '/', as dlo.py does. */
    ck_assert_int_eq(gw_dlo_manifest_parse("a%2Fb/c", c, sizeof(c), pre, sizeof(pre)), 0);
    ck_assert_str_eq(c, "a");
    ck_assert_str_eq(pre, "b/c");
    /* An invalid escape stays as it is (urllib's unquote). */
    ck_assert_int_eq(gw_dlo_manifest_parse("c/p%zz%4", c, sizeof(c), pre, sizeof(pre)), 0);
    ck_assert_str_eq(pre, "p%zz%4");
    ck_assert_int_eq(gw_dlo_manifest_parse("c/%2Fx", c, sizeof(c), pre, sizeof(pre)), 0);
    ck_assert_str_eq(pre, "/x");

    static const char *const bad[] = {
        "", "noslash", "/prefix", "cont/", "cont//x", "c/p?x", "c/p&x", "c/p%00",
        "c/%FF", "c/%C0%AF", "%2F/x", "c/%ED%A0%80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(gw_dlo_manifest_parse(bad[i], c, sizeof(c), pre, sizeof(pre)) == GW_EPARSE,
                      "case %s", bad[i]);

    char longc[300];
    memset(longc, 'c', 257);
    strcpy(longc + 257, "/p");
    ck_assert_int_eq(gw_dlo_manifest_parse(longc, c, sizeof(c), pre, sizeof(pre)), GW_EPARSE);
    strcpy(longc + 256, "/p");
    ck_assert_int_eq(gw_dlo_manifest_parse(longc, c, sizeof(c), pre, sizeof(pre)), 0);
    ck_assert_uint_eq(strlen(c), 256);
    /* The caller's buffers bound it too. */
    ck_assert_int_eq(gw_dlo_manifest_parse("abcd/p", c, 4, pre, sizeof(pre)), GW_EPARSE);
    ck_assert_int_eq(gw_dlo_manifest_parse("abc/pq", c, 4, pre, 2), GW_EPARSE);
    ck_assert_int_eq(gw_dlo_manifest_parse("abc/p", c, 4, pre, 2), 0);
}
END_TEST

static void piece_is(const struct gw_piece *pc, size_t seg, uint64_t offset, uint64_t len)
{
    ck_assert_uint_eq(pc->seg, seg);
    ck_assert_uint_eq(pc->offset, offset);
    ck_assert_uint_eq(pc->len, len);
}

START_TEST(cover_ranges)
{
    struct gw_plan p;
    struct gw_piece pc[8];
    ck_assert_int_eq(parse(slo1, &p, NULL), 0);

    /* Range: bytes=1048570-1048585 from the transcript: across an edge. */
    ck_assert_uint_eq(gw_plan_cover(&p, 1048570, 1048585, pc, 8), 2);
    piece_is(&pc[0], 0, 1048570, 6);
    piece_is(&pc[1], 1, 0, 10);
    /* Range: bytes=-1000 (2096929-2097928). */
    ck_assert_uint_eq(gw_plan_cover(&p, 2096929, 2097928, pc, 8), 2);
    piece_is(&pc[0], 1, 1048353, 223);
    piece_is(&pc[1], 2, 0, 777);
    /* The last byte; the first; exactly one whole segment; everything. */
    ck_assert_uint_eq(gw_plan_cover(&p, 2097928, 2097928, pc, 8), 1);
    piece_is(&pc[0], 2, 776, 1);
    ck_assert_uint_eq(gw_plan_cover(&p, 0, 0, pc, 8), 1);
    piece_is(&pc[0], 0, 0, 1);
    ck_assert_uint_eq(gw_plan_cover(&p, 1048576, 2097151, pc, 8), 1);
    piece_is(&pc[0], 1, 0, 1048576);
    ck_assert_uint_eq(gw_plan_cover(&p, 0, 2097928, pc, 8), 3);
    piece_is(&pc[2], 2, 0, 777);
    /* Too small an out: the count, and only max written. */
    pc[1].seg = 42;
    ck_assert_uint_eq(gw_plan_cover(&p, 0, 2097928, pc, 1), 3);
    ck_assert_uint_eq(pc[1].seg, 42);
    ck_assert_uint_eq(gw_plan_cover(&p, 0, 2097928, NULL, 0), 3);
    /* Outside the object, or reversed. */
    ck_assert_uint_eq(gw_plan_cover(&p, 0, 2097929, pc, 8), 0);
    ck_assert_uint_eq(gw_plan_cover(&p, 5000000, 6000000, pc, 8), 0);
    ck_assert_uint_eq(gw_plan_cover(&p, 10, 9, pc, 8), 0);
    gw_plan_free(&p);

    /* The nested SLO: a ranged segment, a sub-SLO, data. */
    ck_assert_int_eq(parse(nested, &p, NULL), 0);
    ck_assert_uint_eq(gw_plan_cover(&p, 5, 12, pc, 8), 2);
    piece_is(&pc[0], 0, 15, 5); /* range 10-19 of the segment object */
    piece_is(&pc[1], 1, 0, 3);  /* the sub-SLO's first bytes */
    /* Inside the data segment ("hello" at 2097939). */
    ck_assert_uint_eq(gw_plan_cover(&p, 2097940, 2097942, pc, 8), 1);
    piece_is(&pc[0], 2, 1, 3);
    /* Suffix: the last 780 bytes, data tail and all of segment 3. */
    ck_assert_uint_eq(gw_plan_cover(&p, p.total - 780, p.total - 1, pc, 8), 2);
    piece_is(&pc[0], 2, 2, 3);
    piece_is(&pc[1], 3, 0, 777);
    /* Everything: one piece per segment, lengths adding up. */
    ck_assert_uint_eq(gw_plan_cover(&p, 0, p.total - 1, pc, 8), 4);
    ck_assert_uint_eq(pc[0].len + pc[1].len + pc[2].len + pc[3].len, 2098721);
    gw_plan_free(&p);
}
END_TEST

/* Two plans hold the same things. */
static void same_plan(const struct gw_plan *a, const struct gw_plan *b)
{
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_uint_eq(a->n, b->n);
    ck_assert_uint_eq(a->total, b->total);
    ck_assert_str_eq(a->etag, b->etag);
    for (size_t i = 0; i < a->n; i++) {
        const struct gw_segment *x = &a->seg[i], *y = &b->seg[i];
        check_seg(y, x->container, x->object, x->size, x->etag, x->range_start, x->range_len,
                  x->offset);
        ck_assert_int_eq(x->sub_slo, y->sub_slo);
        ck_assert_int_eq(x->depth, y->depth);
        ck_assert_uint_eq(x->data_len, y->data_len);
        ck_assert((x->data == NULL) == (y->data == NULL));
        if (x->data) ck_assert_mem_eq(x->data, y->data, x->data_len);
    }
}

static void roundtrip(const struct gw_plan *p)
{
    unsigned char *buf, *buf2;
    size_t len, len2;
    struct gw_plan q;
    ck_assert_int_eq(gw_plan_encode(p, &buf, &len), 0);
    ck_assert_int_eq(gw_plan_decode(buf, len, &q), 0);
    same_plan(p, &q);
    check_plan(&q);
    ck_assert_int_eq(gw_plan_encode(&q, &buf2, &len2), 0);
    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(buf, buf2, len);
    gw_plan_free(&q);
    free(buf);
    free(buf2);
}

START_TEST(encode_roundtrip)
{
    struct gw_plan p, c;
    ck_assert_int_eq(parse(nested, &p, NULL), 0);
    roundtrip(&p);
    ck_assert_int_eq(parse(slo1, &c, NULL), 0);
    roundtrip(&c);
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, NULL), 0);
    roundtrip(&p);
    gw_plan_free(&p);
    gw_plan_free(&c);

    ck_assert_int_eq(add(&p, "[" DENT("00000001", DH1, 1048576) ", " DENT("00000002", DH2, 0) "]",
                         NULL, NULL, NULL),
                     0);
    ck_assert_int_eq(gw_dlo_finish(&p), 0);
    roundtrip(&p);
    gw_plan_free(&p);
    ck_assert_int_eq(gw_dlo_finish(&p), 0); /* empty DLO */
    roundtrip(&p);
    gw_plan_free(&p);
}
END_TEST

/* Re-seal an altered buffer with the MD5 the decoder checks last. */
static void reseal(unsigned char *b, size_t len)
{
    unsigned int dl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ck_assert(EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1);
    ck_assert(EVP_DigestUpdate(c, b, len - 16) == 1);
    ck_assert(EVP_DigestFinal_ex(c, b + len - 16, &dl) == 1);
    EVP_MD_CTX_free(c);
}

/* The decoder must say EPARSE or give a plan that keeps every promise. */
static int decode_safely(const unsigned char *b, size_t len)
{
    struct gw_plan q;
    int rc = gw_plan_decode(b, len, &q);
    if (rc == 0) {
        check_plan(&q);
        /* Covering any of it stays inside the segments. */
        if (q.total) {
            struct gw_piece pc[4];
            size_t k = gw_plan_cover(&q, 0, q.total - 1, pc, 4);
            for (size_t i = 0; i < k && i < 4; i++) {
                const struct gw_segment *s = &q.seg[pc[i].seg];
                ck_assert(pc[i].offset >= s->range_start &&
                          pc[i].offset + pc[i].len <= s->range_start + s->range_len);
            }
        }
    } else {
        ck_assert_int_eq(rc, GW_EPARSE);
        ck_assert_uint_eq(q.n, 0);
        ck_assert_ptr_null(q.seg);
    }
    gw_plan_free(&q);
    return rc;
}

START_TEST(decode_corrupt)
{
    struct gw_plan p, c;
    unsigned char *buf;
    size_t len;
    ck_assert_int_eq(parse(nested, &p, NULL), 0);
    ck_assert_int_eq(parse(slo1, &c, NULL), 0);
    ck_assert_int_eq(gw_plan_expand(&p, 1, &c, NULL), 0);
    ck_assert_int_eq(gw_plan_encode(&p, &buf, &len), 0);

    /* Every truncation (into a buffer of exactly that size, for ASan). */
    for (size_t n = 0; n < len; n++) {
        unsigned char *t = gw_malloc(n ? n : 1);
        memcpy(t, buf, n);
        ck_assert_int_eq(decode_safely(t, n), GW_EPARSE);
        free(t);
    }
    /* Every single bit flipped: the checksum catches it. */
    unsigned char *t = gw_malloc(len);
    for (size_t bit = 0; bit < len * 8; bit++) {
        memcpy(t, buf, len);
        t[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ck_assert_int_eq(decode_safely(t, len), GW_EPARSE);
    }
    /* Every bit flipped and the checksum made right again: the structure
     * checks alone must hold. */
    size_t ok = 0, refused = 0;
    for (size_t bit = 0; bit < (len - 16) * 8; bit++) {
        memcpy(t, buf, len);
        t[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        reseal(t, len);
        if (decode_safely(t, len) == 0)
            ok++;
        else
            refused++;
    }
    ck_assert_uint_gt(refused, 0);
    ck_assert_uint_gt(ok, 0); /* e.g. a flipped letter in a name is a valid plan */
    /* Random bytes after a valid header, sealed. */
    srand(1234);
    for (int round = 0; round < 2000; round++) {
        memcpy(t, buf, len);
        for (int k = 0; k < 4; k++) t[6 + (size_t)rand() % (len - 22)] = (unsigned char)rand();
        reseal(t, len);
        decode_safely(t, len);
    }
    /* Another version is refused. */
    memcpy(t, buf, len);
    t[6] = 2;
    reseal(t, len);
    ck_assert_int_eq(decode_safely(t, len), GW_EPARSE);
    /* Extra bytes are refused. */
    unsigned char *longer = gw_malloc(len + 1);
    memcpy(longer, buf, len - 16);
    longer[len - 16] = 0;
    memcpy(longer + len - 15, buf + len - 16, 16);
    reseal(longer, len + 1);
    ck_assert_int_eq(decode_safely(longer, len + 1), GW_EPARSE);
    free(longer);
    free(t);
    free(buf);
    gw_plan_free(&p);
    gw_plan_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, slo_transcript);
    tcase_add_test(tc, slo_nested_transcript);
    tcase_add_test(tc, slo_nested_expand);
    tcase_add_test(tc, slo_ranged_sub_slo);
    tcase_add_test(tc, slo_expand_mismatch);
    tcase_add_test(tc, slo_depth_limit);
    tcase_add_test(tc, slo_range_forms);
    tcase_add_test(tc, slo_legacy_swift_bytes);
    tcase_add_test(tc, slo_malformed);
    tcase_add_test(tc, slo_max_segments);
    tcase_add_test(tc, dlo_transcript);
    tcase_add_test(tc, dlo_empty_and_zero_bytes);
    tcase_add_test(tc, dlo_bad_listings);
    tcase_add_test(tc, dlo_too_many);
    tcase_add_test(tc, dlo_manifest_header);
    tcase_add_test(tc, dlo_limit_segments);
    tcase_add_test(tc, dlo_limit_bytes);
    tcase_add_test(tc, slo_expand_limit);
    tcase_add_test(tc, cover_ranges);
    tcase_add_test(tc, encode_roundtrip);
    tcase_add_test(tc, decode_corrupt);
    suite_add_tcase(s, tc);
    return unit_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
