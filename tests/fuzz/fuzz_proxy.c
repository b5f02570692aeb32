/*
 * fuzz_proxy.c - libFuzzer target: the first bytes of a connection through
 * gw_proxy_parse(), the PROXY protocol header of [server] proxy_protocol.
 *
 * The input's first byte picks the versions accepted (its value mod 3: v1,
 * v2, both); the rest is what the connection sent.
 *
 * The properties: the verdict on the whole input agrees with the verdict on
 * every prefix of it, as when the bytes come in pieces: a header found
 * (DONE, length L) is MORE on every prefix shorter than L and the same
 * header, address for address, on every longer one, so nothing after the
 * header is ever read; BAD stays BAD once it is said, and MORE is said only
 * before it.  A header found is of a version accepted, at most 107 bytes
 * ending in CRLF (v1) or exactly its declared length within
 * GW_PROXY_HEADER_MAX (v2); its addresses, when it has them, are both of
 * one family and print as addresses inet_pton reads back.  BAD has a reason.
 *
 * Verdict (fuzz.h): ACCEPTED.RESULT, ACCEPTED v1, v2 or both; RESULT more,
 * bad, or VERSION.addr / VERSION.local (a header naming a client, or one
 * keeping the socket's peer: v2 LOCAL, v1 UNKNOWN, other families).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "proxyproto.h"
#include "util.h"

static const int accepted[3] = {GW_PROXY_V1, GW_PROXY_V2, GW_PROXY_BOTH};
static const char *const accepted_name[3] = {"v1", "v2", "both"};

static int same_header(const struct gw_proxy_header *a, const struct gw_proxy_header *b)
{
    return a->len == b->len && a->version == b->version && a->has_addr == b->has_addr &&
           memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
           memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

static void check_address(const struct sockaddr_storage *ss)
{
    char name[64];
    unsigned char back[16];
    FZ_CHECK(ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
    gw_proxy_addr_name(ss, name, sizeof(name));
    FZ_CHECK(inet_pton(ss->ss_family, name, back) == 1);
}

/* What a whole header must be, whatever the bytes after it. */
static void check_done(const uint8_t *d, size_t n, int allowed, const struct gw_proxy_header *h)
{
    FZ_CHECK(h->len > 0 && h->len <= n);
    FZ_CHECK(h->version == 1 || h->version == 2);
    FZ_CHECK(allowed & (h->version == 1 ? GW_PROXY_V1 : GW_PROXY_V2));
    if (h->version == 1) {
        FZ_CHECK(h->len <= GW_PROXY_V1_MAX && memcmp(d, "PROXY ", 6) == 0);
        FZ_CHECK(d[h->len - 2] == '\r' && d[h->len - 1] == '\n');
        FZ_CHECK(memchr(d, '\n', h->len - 1) == NULL);
    } else {
        FZ_CHECK(h->len == GW_PROXY_V2_FIXED + ((size_t)d[14] << 8 | d[15]));
        FZ_CHECK(h->len <= GW_PROXY_HEADER_MAX);
    }
    if (h->has_addr) {
        FZ_CHECK(h->src.ss_family == h->dst.ss_family);
        check_address(&h->src);
        check_address(&h->dst);
    }
}

/* Every prefix of d[0..n) against the verdict v (header *h) on all of it. */
static void check_prefixes(const uint8_t *d, size_t n, int allowed, enum gw_proxy_verdict v,
                           const struct gw_proxy_header *h)
{
    size_t upto = n < GW_PROXY_HEADER_MAX + 1 ? n : GW_PROXY_HEADER_MAX + 1;
    int bad_seen = 0;
    for (size_t k = 0; k <= upto; k++) {
        struct gw_proxy_header p;
        enum gw_proxy_verdict pv = gw_proxy_parse(d, k, allowed, GW_PROXY_HEADER_MAX, &p);
        if (v == GW_PROXY_DONE) {
            FZ_CHECK(pv == (k < h->len ? GW_PROXY_MORE : GW_PROXY_DONE));
            if (pv == GW_PROXY_DONE) FZ_CHECK(same_header(&p, h));
        } else if (v == GW_PROXY_MORE) {
            FZ_CHECK(pv == GW_PROXY_MORE);
        } else {
            FZ_CHECK(pv != GW_PROXY_DONE && (pv == GW_PROXY_BAD || !bad_seen));
            bad_seen |= pv == GW_PROXY_BAD;
        }
    }
}

int fuzz_proxy_verdict(const uint8_t *data, size_t size, char *out, size_t len)
{
    int pick = size > 0 ? data[0] % 3 : 2;
    const uint8_t *d = size > 0 ? data + 1 : data;
    size_t n = size > 0 ? size - 1 : 0;
    /* An exactly-sized heap copy, so that ASan sees a read past the end. */
    uint8_t *copy = gw_malloc(n ? n : 1);
    if (n) memcpy(copy, d, n);
    struct gw_proxy_header h;
    enum gw_proxy_verdict v = gw_proxy_parse(copy, n, accepted[pick], GW_PROXY_HEADER_MAX, &h);
    if (v == GW_PROXY_DONE) check_done(copy, n, accepted[pick], &h);
    if (v == GW_PROXY_BAD) FZ_CHECK(h.error != NULL && h.error[0] != '\0');
    check_prefixes(copy, n, accepted[pick], v, &h);
    free(copy);
    if (v != GW_PROXY_DONE)
        return fz_verdict(out, len, "%s.%s", accepted_name[pick],
                          v == GW_PROXY_MORE ? "more" : "bad");
    return fz_verdict(out, len, "%s.v%d.%s", accepted_name[pick], h.version,
                      h.has_addr ? "addr" : "local");
}
