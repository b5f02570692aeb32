/*
 * test_proxyproto.c - the PROXY protocol parser (gateway/proxyproto.c):
 * version 1 lines and version 2 headers as HAProxy sends them, the bytes
 * after them left alone, every truncation asking for more, and each way a
 * header can be wrong refused with its reason.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxyproto.h"
#include "unit.h"

#define MAX_V2 4096

static const char v2sig[] = "\r\n\r\n\0\r\nQUIT\n"; /* 12 bytes and a NUL */

static enum gw_proxy_verdict parse(const void *d, size_t n, int allowed,
                                   struct gw_proxy_header *h)
{
    return gw_proxy_parse(d, n, allowed, MAX_V2, h);
}

static enum gw_proxy_verdict parse_str(const char *s, int allowed, struct gw_proxy_header *h)
{
    return parse(s, strlen(s), allowed, h);
}

static void assert_name(const struct sockaddr_storage *ss, const char *want)
{
    char name[64];
    gw_proxy_addr_name(ss, name, sizeof(name));
    ck_assert_str_eq(name, want);
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* h is a whole header of that version and length, from src:sport to dst:dport. */
static void assert_header(const struct gw_proxy_header *h, int version, size_t len,
                          const char *src, unsigned sport, const char *dst, unsigned dport)
{
    ck_assert_int_eq(h->version, version);
    ck_assert_uint_eq(h->len, len);
    ck_assert_int_eq(h->has_addr, 1);
    ck_assert_int_eq(h->src.ss_family, h->dst.ss_family);
    assert_name(&h->src, src);
    assert_name(&h->dst, dst);
    ck_assert_uint_eq(port_of(&h->src), sport);
    ck_assert_uint_eq(port_of(&h->dst), dport);
}

/* A v2 header into out: command byte, family byte, the block after the length. */
static size_t v2(unsigned char *out, int ver_cmd, int fam, const void *block, size_t n)
{
    memcpy(out, v2sig, 12);
    out[12] = (unsigned char)ver_cmd;
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(n >> 8);
    out[15] = (unsigned char)n;
    memcpy(out + 16, block, n);
    return 16 + n;
}

/* 192.0.2.7:51000 -> 198.51.100.1:8080, as v2 writes it. */
static const unsigned char tcp4_block[12] = {192, 0, 2, 7, 198, 51, 100, 1,
                                             0xc7, 0x38, 0x1f, 0x90};

/* ---- version 1 ---- */

START_TEST(v1_tcp4_stops_before_http)
{
    const char *in = "PROXY TCP4 192.0.2.7 198.51.100.1 51000 8080\r\nGET / HTTP/1.1\r\n\r\n";
    struct gw_proxy_header h;
    ck_assert_int_eq(parse_str(in, GW_PROXY_V1, &h), GW_PROXY_DONE);
    assert_header(&h, 1, strlen("PROXY TCP4 192.0.2.7 198.51.100.1 51000 8080\r\n"),
                  "192.0.2.7", 51000, "198.51.100.1", 8080);
}
END_TEST

START_TEST(v1_tcp6)
{
    const char *in = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
    struct gw_proxy_header h;
    ck_assert_int_eq(parse_str(in, GW_PROXY_BOTH, &h), GW_PROXY_DONE);
    ck_assert_int_eq(h.src.ss_family, AF_INET6);
    assert_header(&h, 1, strlen(in), "2001:db8::1", 65535, "::1", 0);
}
END_TEST

START_TEST(v1_unknown_keeps_the_socket_peer)
{
    struct gw_proxy_header h;
    ck_assert_int_eq(parse_str("PROXY UNKNOWN\r\nGET", GW_PROXY_V1, &h), GW_PROXY_DONE);
    ck_assert_uint_eq(h.len, 15);
    ck_assert_int_eq(h.has_addr, 0);
    /* What follows UNKNOWN on the line is ignored, whatever it is. */
    const char *more = "PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 x y\r\n";
    ck_assert_int_eq(parse_str(more, GW_PROXY_V1, &h), GW_PROXY_DONE);
    ck_assert_uint_eq(h.len, strlen(more));
    ck_assert_int_eq(h.has_addr, 0);
    ck_assert_int_eq(parse_str("PROXY UNKNOWNX\r\n", GW_PROXY_V1, &h), GW_PROXY_BAD);
}
END_TEST

START_TEST(v1_every_prefix_asks_for_more)
{
    const char *in = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    ck_assert_uint_eq(strlen(in), GW_PROXY_V1_MAX); /* the spec's longest line */
    struct gw_proxy_header h;
    for (size_t n = 0; n < strlen(in); n++)
        ck_assert_msg(parse(in, n, GW_PROXY_BOTH, &h) == GW_PROXY_MORE, "prefix of %zu", n);
    ck_assert_int_eq(parse_str(in, GW_PROXY_BOTH, &h), GW_PROXY_DONE);
    ck_assert_uint_eq(h.len, GW_PROXY_V1_MAX);
}
END_TEST

START_TEST(v1_over_long_line)
{
    char in[200];
    memset(in, 'x', sizeof(in));
    memcpy(in, "PROXY UNKNOWN ", 14);
    struct gw_proxy_header h;
    ck_assert_int_eq(parse(in, GW_PROXY_V1_MAX - 1, GW_PROXY_V1, &h), GW_PROXY_MORE);
    ck_assert_int_eq(parse(in, GW_PROXY_V1_MAX, GW_PROXY_V1, &h), GW_PROXY_BAD);
    ck_assert_ptr_nonnull(strstr(h.error, "longer than 107"));
    /* The CRLF one byte too late. */
    memcpy(in + GW_PROXY_V1_MAX - 1, "\r\n", 2);
    ck_assert_int_eq(parse(in, GW_PROXY_V1_MAX + 1, GW_PROXY_V1, &h), GW_PROXY_BAD);
    /* In time: 107 bytes in all. */
    memcpy(in + GW_PROXY_V1_MAX - 2, "\r\n", 2);
    ck_assert_int_eq(parse(in, sizeof(in), GW_PROXY_V1, &h), GW_PROXY_DONE);
    ck_assert_uint_eq(h.len, GW_PROXY_V1_MAX);
}
END_TEST

START_TEST(v1_bad_lines)
{
    static const char *const bad[] = {
        "PROXY TCP4 192.0.2.7 198.51.100.1 65536 80\r\n",    /* port out of range */
        "PROXY TCP4 192.0.2.7 198.51.100.1 080 80\r\n",      /* leading zero */
        "PROXY TCP4 192.0.2.7 198.51.100.1 -1 80\r\n",       /* sign */
        "PROXY TCP4 192.0.2.7 198.51.100.1 8o 80\r\n",       /* not a digit */
        "PROXY TCP4 192.0.2.7 198.51.100.1 123456 80\r\n",   /* too many digits */
        "PROXY TCP4 192.0.2.256 198.51.100.1 1 80\r\n",      /* octet out of range */
        "PROXY TCP4 2001:db8::1 198.51.100.1 1 80\r\n",      /* v6 address as TCP4 */
        "PROXY TCP6 192.0.2.7 ::1 1 80\r\n",                 /* v4 address as TCP6 */
        "PROXY TCP4 192.0.2.7 198.51.100.1 80\r\n",          /* a field missing */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 80 9\r\n",      /* a field too many */
        "PROXY TCP4 192.0.2.7  198.51.100.1 1 80\r\n",       /* two spaces */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 80 \r\n",       /* trailing space */
        "PROXY tcp4 192.0.2.7 198.51.100.1 1 80\r\n",        /* lower case */
        "PROXY UDP4 192.0.2.7 198.51.100.1 1 80\r\n",        /* not a protocol of v1 */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 80\n",          /* LF without CR */
        "PROXY TCP4 192.0.2.7\t198.51.100.1 1 80\r\n",       /* a tab */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 80\r\r\n",      /* a stray CR */
        "PROXY \r\n",                                        /* nothing */
        "PROXY\r\n",                                         /* not even the space */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_proxy_header h;
        ck_assert_msg(parse_str(bad[i], GW_PROXY_BOTH, &h) == GW_PROXY_BAD, "accepted %s",
                      bad[i]);
        ck_assert_ptr_nonnull(h.error);
    }
}
END_TEST

/* ---- version 2 ---- */

START_TEST(v2_tcp4_stops_before_http)
{
    unsigned char in[64];
    size_t n = v2(in, 0x21, 0x11, tcp4_block, sizeof(tcp4_block));
    memcpy(in + n, "GET /", 5);
    struct gw_proxy_header h;
    ck_assert_int_eq(parse(in, n + 5, GW_PROXY_V2, &h), GW_PROXY_DONE);
    assert_header(&h, 2, 28, "192.0.2.7", 51000, "198.51.100.1", 8080);
}
END_TEST

START_TEST(v2_tcp6)
{
    unsigned char block[36] = {0x20, 0x01, 0x0d, 0xb8};
    block[15] = 1;                       /* 2001:db8::1 */
    block[31] = 1;                       /* ::1 */
    block[32] = 0x01, block[33] = 0xbb;  /* 443 */
    block[34] = 0x00, block[35] = 0x50;  /* 80 */
    unsigned char in[64];
    size_t n = v2(in, 0x21, 0x21, block, sizeof(block));
    struct gw_proxy_header h;
    ck_assert_int_eq(parse(in, n, GW_PROXY_BOTH, &h), GW_PROXY_DONE);
    assert_header(&h, 2, 52, "2001:db8::1", 443, "::1", 80);
}
END_TEST

START_TEST(v2_local_keeps_the_socket_peer)
{
    unsigned char in[64];
    struct gw_proxy_header h;
    /* HAProxy's health checks: LOCAL, family UNSPEC, nothing after. */
    size_t n = v2(in, 0x20, 0x00, "", 0);
    ck_assert_int_eq(parse(in, n, GW_PROXY_V2, &h), GW_PROXY_DONE);
    ck_assert_uint_eq(h.len, 16);
    ck_assert_int_eq(h.has_addr, 0);
    /* LOCAL with an address block: skipped all the same. */
    n = v2(in, 0x20, 0x11, tcp4_block, sizeof(tcp4_block));
    ck_assert_int_eq(parse(in, n, GW_PROXY_V2, &h), GW_PROXY_DONE);
    ck_assert_uint_eq(h.len, 28);
    ck_assert_int_eq(h.has_addr, 0);
}
END_TEST

START_TEST(v2_other_families_keep_the_socket_peer)
{
    unsigned char in[300], block[216] = {0};
    struct gw_proxy_header h;
    static const int fams[] = {0x00, 0x31, 0x12 /* UDP over IPv4 */};
    static const size_t lens[] = {0, 216, 12};
    for (int i = 0; i < 3; i++) {
        size_t n = v2(in, 0x21, fams[i], block, lens[i]);
        ck_assert_int_eq(parse(in, n, GW_PROXY_V2, &h), GW_PROXY_DONE);
        ck_assert_uint_eq(h.len, n);
        ck_assert_int_eq(h.has_addr, 0);
    }
}
END_TEST

START_TEST(v2_tlvs_are_skipped)
{
    unsigned char block[12 + 3 + 2 + 3 + 0 + 3 + 5];
    memcpy(block, tcp4_block, 12);
    unsigned char *t = block + 12;
    memcpy(t, "\x01\x00\x02h2", 5);          /* ALPN */
    memcpy(t + 5, "\x04\x00\x00", 3);        /* NOOP, empty */
    memcpy(t + 8, "\x02\x00\x05" "a.b.c", 8);   /* AUTHORITY */
    unsigned char in[64];
    size_t n = v2(in, 0x21, 0x11, block, sizeof(block));
    memcpy(in + n, "GET", 3);
    struct gw_proxy_header h;
    ck_assert_int_eq(parse(in, n + 3, GW_PROXY_V2, &h), GW_PROXY_DONE);
    ck_assert_uint_eq(h.len, n);
    assert_name(&h.src, "192.0.2.7");
    /* The last TLV says one byte more than the header holds. */
    block[sizeof(block) - 6] = 6;
    n = v2(in, 0x21, 0x11, block, sizeof(block));
    ck_assert_int_eq(parse(in, n + 3, GW_PROXY_V2, &h), GW_PROXY_BAD);
    ck_assert_ptr_nonnull(strstr(h.error, "TLV"));
    /* Two bytes left over: too short for a TLV's type and length. */
    n = v2(in, 0x21, 0x11, block, 14);
    ck_assert_int_eq(parse(in, n, GW_PROXY_V2, &h), GW_PROXY_BAD);
}
END_TEST

START_TEST(v2_every_prefix_asks_for_more)
{
    unsigned char block[12 + 7];
    memcpy(block, tcp4_block, 12);
    memcpy(block + 12, "\xe0\x00\x04xyzw", 7);
    unsigned char in[64];
    size_t n = v2(in, 0x21, 0x11, block, sizeof(block));
    struct gw_proxy_header h;
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(parse(in, k, GW_PROXY_BOTH, &h) == GW_PROXY_MORE, "prefix of %zu", k);
    ck_assert_int_eq(parse(in, n, GW_PROXY_BOTH, &h), GW_PROXY_DONE);
}
END_TEST

START_TEST(v2_bad_headers)
{
    unsigned char in[64];
    struct gw_proxy_header h;
    size_t n = v2(in, 0x21, 0x11, tcp4_block, sizeof(tcp4_block));
    for (size_t i = 0; i < 12; i++) { /* each byte of the signature matters */
        in[i] ^= 0x40;
        ck_assert_msg(parse(in, n, GW_PROXY_V2, &h) == GW_PROXY_BAD, "signature byte %zu", i);
        in[i] ^= 0x40;
    }
    static const struct { int ver_cmd, fam; size_t len; } bad[] = {
        {0x11, 0x11, 12}, /* version 1 in a v2 header */
        {0x31, 0x11, 12}, /* version 3 */
        {0x22, 0x11, 12}, /* command 2 */
        {0x21, 0x41, 12}, /* family 4 */
        {0x21, 0x13, 12}, /* transport 3 */
        {0x21, 0x11, 11}, /* TCP4 block one byte short */
        {0x21, 0x21, 12}, /* TCP6 with a TCP4 block */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = v2(in, bad[i].ver_cmd, bad[i].fam, tcp4_block, bad[i].len);
        ck_assert_msg(parse(in, n, GW_PROXY_V2, &h) == GW_PROXY_BAD, "case %zu", i);
        ck_assert_ptr_nonnull(h.error);
    }
}
END_TEST

START_TEST(v2_longer_than_max_is_refused_at_once)
{
    unsigned char in[16];
    memcpy(in, v2sig, 12);
    in[12] = 0x21, in[13] = 0x11;
    in[14] = 0xff, in[15] = 0xff; /* 65535 bytes announced, none sent */
    struct gw_proxy_header h;
    ck_assert_int_eq(parse(in, 16, GW_PROXY_V2, &h), GW_PROXY_BAD);
    ck_assert_ptr_nonnull(strstr(h.error, "longer"));
    in[14] = 0, in[15] = 200;
    ck_assert_int_eq(gw_proxy_parse(in, 16, GW_PROXY_V2, 216, &h), GW_PROXY_MORE);
    ck_assert_int_eq(gw_proxy_parse(in, 16, GW_PROXY_V2, 215, &h), GW_PROXY_BAD);
}
END_TEST

/* ---- which versions, and no header at all ---- */

START_TEST(versions_not_allowed)
{
    struct gw_proxy_header h;
    ck_assert_int_eq(parse_str("PROXY UNKNOWN\r\n", GW_PROXY_V2, &h), GW_PROXY_BAD);
    ck_assert_ptr_nonnull(strstr(h.error, "version 1 header"));
    /* Known from the first byte. */
    ck_assert_int_eq(parse_str("P", GW_PROXY_V2, &h), GW_PROXY_BAD);
    unsigned char in[64];
    size_t n = v2(in, 0x20, 0x00, "", 0);
    ck_assert_int_eq(parse(in, n, GW_PROXY_V1, &h), GW_PROXY_BAD);
    ck_assert_ptr_nonnull(strstr(h.error, "version 2 header"));
    ck_assert_int_eq(parse(in, 1, GW_PROXY_V1, &h), GW_PROXY_BAD);
    ck_assert_int_eq(parse(in, n, GW_PROXY_BOTH, &h), GW_PROXY_DONE);
    ck_assert_int_eq(parse_str("PROXY UNKNOWN\r\n", GW_PROXY_BOTH, &h), GW_PROXY_DONE);
}
END_TEST

START_TEST(plain_http_is_no_header)
{
    static const char *const http[] = {"GET / HTTP/1.1\r\n", "POST", "PUT", "\r\n\r\nGET",
                                       "PROXY", "X"};
    static const enum gw_proxy_verdict want[] = {GW_PROXY_BAD, GW_PROXY_BAD, GW_PROXY_BAD,
                                                 GW_PROXY_BAD, GW_PROXY_MORE, GW_PROXY_BAD};
    struct gw_proxy_header h;
    for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++) {
        ck_assert_msg(parse_str(http[i], GW_PROXY_BOTH, &h) == want[i], "%s", http[i]);
        if (want[i] == GW_PROXY_BAD) ck_assert_str_eq(h.error, "no PROXY protocol header");
    }
    /* "PO" is as far as a POST gets. */
    ck_assert_int_eq(parse("POST", 2, GW_PROXY_BOTH, &h), GW_PROXY_BAD);
    ck_assert_int_eq(parse("", 0, GW_PROXY_BOTH, &h), GW_PROXY_MORE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxyproto");
    TCase *t = tcase_create("proxyproto");
    tcase_add_test(t, v1_tcp4_stops_before_http);
    tcase_add_test(t, v1_tcp6);
    tcase_add_test(t, v1_unknown_keeps_the_socket_peer);
    tcase_add_test(t, v1_every_prefix_asks_for_more);
    tcase_add_test(t, v1_over_long_line);
    tcase_add_test(t, v1_bad_lines);
    tcase_add_test(t, v2_tcp4_stops_before_http);
    tcase_add_test(t, v2_tcp6);
    tcase_add_test(t, v2_local_keeps_the_socket_peer);
    tcase_add_test(t, v2_other_families_keep_the_socket_peer);
    tcase_add_test(t, v2_tlvs_are_skipped);
    tcase_add_test(t, v2_every_prefix_asks_for_more);
    tcase_add_test(t, v2_bad_headers);
    tcase_add_test(t, v2_longer_than_max_is_refused_at_once);
    tcase_add_test(t, versions_not_allowed);
    tcase_add_test(t, plain_http_is_no_header);
    suite_add_tcase(s, t);
    return unit_run(s) == 0 ? 0 : 1;
}
