/*
 * realip.c - the client behind trusted proxies (realip.h).
 *
 * Invariants:
 *  - A header is believed only from a trusted peer, and only as far as the
 *    chain of trusted proxies goes: the first address from the right that
 *    is not trusted is the client, so a client cannot name itself by
 *    sending an X-Forwarded-For of its own.
 *  - What is returned is always an address inet_pton read, printed back by
 *    inet_ntop: nothing a client wrote reaches a log line as it came.
 */
#include "realip.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "http.h"

#define MAX_HOPS 32

struct addr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char b[16];
};

static int parse_addr(const char *s, size_t n, struct addr *a)
{
    char buf[64];
    while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 0 || n >= sizeof(buf)) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, a->b) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, a->b) == 1) {
        a->family = AF_INET6;
        return 0;
    }
    return -1;
}

/* One CIDR ("10.0.0.0/8", "::1", "2001:db8::/32"): *net and *bits, or -1. */
static int parse_cidr(const char *s, size_t n, struct addr *net, int *bits)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    if (parse_addr(s, alen, net) != 0) return -1;
    int max = net->family == AF_INET ? 32 : 128;
    *bits = max;
    if (slash) {
        char tmp[8];
        size_t blen = n - alen - 1;
        if (blen == 0 || blen >= sizeof(tmp)) return -1;
        memcpy(tmp, slash + 1, blen);
        tmp[blen] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (*end != '\0' || v < 0 || v > max) return -1;
        *bits = (int)v;
    }
    return 0;
}

static int in_cidr(const struct addr *a, const struct addr *net, int bits)
{
    if (a->family != net->family) return 0;
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a->b, net->b, (size_t)full) != 0) return 0;
    if (rest == 0) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a->b[full] & mask) == (net->b[full] & mask);
}

static int trusted_addr(const char *list, const struct addr *a)
{
    const char *s = list, *item;
    size_t n;
    while (gw_conf_list_next(&s, &item, &n)) {
        struct addr net;
        int bits;
        if (parse_cidr(item, n, &net, &bits) == 0 && in_cidr(a, &net, bits)) return 1;
    }
    return 0;
}

const char *gw_realip_client(const char *trusted, const char *peer,
                             const struct gw_http_req *req, char *out, size_t len)
{
    struct addr a;
    size_t hlen;
    if (trusted == NULL || trusted[0] == '\0') return peer;
    if (parse_addr(peer, strlen(peer), &a) != 0 || !trusted_addr(trusted, &a)) return peer;
    const char *xff = req->method_known ? gw_http_header(req, "X-Forwarded-For", &hlen) : NULL;
    if (xff == NULL) return peer;
    /* From the right: the nearest hop first, as each proxy appended it. */
    struct addr found = a;
    size_t end = hlen;
    for (int hop = 0; hop < MAX_HOPS && end > 0; hop++) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',') start--;
        if (parse_addr(xff + start, end - start, &found) != 0) break;
        if (!trusted_addr(trusted, &found)) break;
        end = start > 0 ? start - 1 : 0;
    }
    if (inet_ntop(found.family, found.b, out, (socklen_t)len) == NULL) return peer;
    return out;
}

const char *gw_realip_check(const char *v)
{
    const char *s = v, *item;
    size_t n, count = 0;
    while (gw_conf_list_next(&s, &item, &n)) {
        struct addr net;
        int bits;
        if (parse_cidr(item, n, &net, &bits) != 0)
            return "must be addresses or networks such as 10.0.0.0/8, ::1, separated by commas";
        if (++count > 64) return "must name at most 64 networks";
    }
    return NULL;
}
