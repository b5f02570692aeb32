/*
 * proxyproto.c - the PROXY protocol header (proxyproto.h), after HAProxy's
 * doc/proxy-protocol.txt.
 *
 * Invariants:
 *  - A verdict of DONE covers exactly the header (a v1 line through its
 *    CRLF, a v2 header through the length it declares) and never a byte
 *    after it, so the HTTP that follows in the same packet is left alone.
 *  - MORE only while the bytes so far can still begin an accepted header:
 *    anything else (plain HTTP, a version not accepted, a v1 line longer
 *    than 107 bytes, a v2 header longer than max_len) is BAD as soon as it
 *    shows, rather than after a timeout.
 *  - An address reported is one inet_pton read (v1) or raw bytes of the
 *    declared family (v2): nothing the peer wrote is passed on as text.
 */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* v2's version and command byte, and its address families. */
#define V2_VERSION 0x20
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_AF_UNSPEC 0x0
#define V2_AF_INET 0x1
#define V2_AF_INET6 0x2
#define V2_AF_UNIX 0x3
#define V2_STREAM 0x1
#define V2_TRANSPORT_MAX 0x2

static enum gw_proxy_verdict bad(struct gw_proxy_header *out, const char *why)
{
    out->error = why;
    return GW_PROXY_BAD;
}

/* data[0..len) is the start of sig (or all of it, and more). */
static int starts_like(const unsigned char *data, size_t len, const unsigned char *sig,
                       size_t siglen)
{
    return memcmp(data, sig, len < siglen ? len : siglen) == 0;
}

/* *ss as family's address (4 or 16 bytes at addr) and port (network order at port). */
static void endpoint_set(struct sockaddr_storage *ss, int family, const void *addr,
                         const void *port)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, addr, 4);
        memcpy(&sin->sin_port, port, 2);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, addr, 16);
        memcpy(&sin6->sin6_port, port, 2);
    }
}

/* ---- version 1: "PROXY TCP4 src dst sport dport\r\n" ---- */

/*
 * The next space-separated field of the line at *p (before end) into
 * buf, NUL-terminated, *p moved past it and its space; -1 when it is
 * empty or longer than cap - 1.
 */
static int v1_field(const char **p, const char *end, char *buf, size_t cap)
{
    const char *sp = memchr(*p, ' ', (size_t)(end - *p));
    const char *stop = sp ? sp : end;
    size_t n = (size_t)(stop - *p);
    if (n == 0 || n >= cap) return -1;
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p = sp ? sp + 1 : end;
    return 0;
}

/* A port: 0..65535 in decimal, without a sign or a leading zero. */
static int v1_port(const char *s, uint16_t *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return -1;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535) return -1;
    *port = (uint16_t)v;
    return 0;
}

/* One address and port of family af into *ss. */
static int v1_endpoint(int af, const char *addr, const char *port,
                       struct sockaddr_storage *ss)
{
    uint16_t p;
    unsigned char a[16];
    if (v1_port(port, &p) != 0 || inet_pton(af, addr, a) != 1) return -1;
    p = htons(p);
    endpoint_set(ss, af, a, &p);
    return 0;
}

/* The line's words after "PROXY ", its CRLF cut off: [p, end). */
static enum gw_proxy_verdict v1_words(const char *p, const char *end,
                                      struct gw_proxy_header *out)
{
    size_t n = (size_t)(end - p);
    /* UNKNOWN: whatever follows it on the line is to be ignored. */
    if (n >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (n == 7 || p[7] == ' ')) return GW_PROXY_DONE;
    int af;
    if (n >= 5 && memcmp(p, "TCP4 ", 5) == 0)
        af = AF_INET;
    else if (n >= 5 && memcmp(p, "TCP6 ", 5) == 0)
        af = AF_INET6;
    else
        return bad(out, "version 1 line names no protocol the gateway knows (TCP4, TCP6, UNKNOWN)");
    p += 5;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], sport[8], dport[8];
    if (v1_field(&p, end, src, sizeof(src)) != 0 || v1_field(&p, end, dst, sizeof(dst)) != 0 ||
        v1_field(&p, end, sport, sizeof(sport)) != 0 ||
        v1_field(&p, end, dport, sizeof(dport)) != 0 || p != end || end[-1] == ' ')
        return bad(out, "version 1 line is not \"PROXY TCPx src dst sport dport\"");
    if (v1_endpoint(af, src, sport, &out->src) != 0 || v1_endpoint(af, dst, dport, &out->dst) != 0)
        return bad(out, "version 1 line has a bad address or port");
    out->has_addr = 1;
    return GW_PROXY_DONE;
}

static enum gw_proxy_verdict parse_v1(const unsigned char *data, size_t len,
                                      struct gw_proxy_header *out)
{
    size_t lim = len < GW_PROXY_V1_MAX ? len : GW_PROXY_V1_MAX;
    const unsigned char *lf = memchr(data, '\n', lim);
    if (lf == NULL)
        return len >= GW_PROXY_V1_MAX ? bad(out, "version 1 line longer than 107 bytes")
                                      : GW_PROXY_MORE;
    size_t eol = (size_t)(lf - data);
    if (eol < sizeof(v1_sig) + 1 || data[eol - 1] != '\r')
        return bad(out, "version 1 line does not end in CRLF");
    for (size_t i = 0; i < eol - 1; i++)
        if (data[i] < 0x20 || data[i] >= 0x7f)
            return bad(out, "version 1 line holds a control or non-ASCII byte");
    out->version = 1;
    out->len = eol + 1;
    const char *line = (const char *)data;
    return v1_words(line + sizeof(v1_sig), line + eol - 1, out);
}

/* ---- version 2: signature, version/command, family, length, addresses, TLVs ---- */

/* The TLVs in [p, end) each fit in it (their contents are not used). */
static int v2_tlvs_fit(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        if (end - p < 3) return -1;
        size_t vlen = (size_t)p[1] << 8 | p[2];
        if ((size_t)(end - p) - 3 < vlen) return -1;
        p += 3 + vlen;
    }
    return 0;
}

/* A PROXY command's addresses, TCP over IPv4 or IPv6, into out: source and
 * destination address, then source and destination port. */
static void v2_addresses(int af, const unsigned char *a, struct gw_proxy_header *out)
{
    int family = af == V2_AF_INET ? AF_INET : AF_INET6;
    size_t n = family == AF_INET ? 4 : 16;
    endpoint_set(&out->src, family, a, a + 2 * n);
    endpoint_set(&out->dst, family, a + n, a + 2 * n + 2);
    out->has_addr = 1;
}

static enum gw_proxy_verdict parse_v2(const unsigned char *data, size_t len, size_t max_len,
                                      struct gw_proxy_header *out)
{
    if (len < GW_PROXY_V2_FIXED) return GW_PROXY_MORE;
    int version = data[12] & 0xf0, cmd = data[12] & 0x0f;
    int af = data[13] >> 4, transport = data[13] & 0x0f;
    size_t body = (size_t)data[14] << 8 | data[15];
    if (version != V2_VERSION) return bad(out, "version 2 signature with another version");
    if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
        return bad(out, "version 2 header with an unknown command");
    if (GW_PROXY_V2_FIXED + body > max_len)
        return bad(out, "version 2 header longer than the gateway accepts");
    if (len < GW_PROXY_V2_FIXED + body) return GW_PROXY_MORE;
    out->version = 2;
    out->len = GW_PROXY_V2_FIXED + body;
    /* LOCAL: the proxy speaks for itself; the rest of the block is ignored. */
    if (cmd == V2_CMD_LOCAL) return GW_PROXY_DONE;
    static const size_t addr_len[] = {[V2_AF_UNSPEC] = 0, [V2_AF_INET] = 12,
                                      [V2_AF_INET6] = 36, [V2_AF_UNIX] = 216};
    if (af > V2_AF_UNIX || transport > V2_TRANSPORT_MAX)
        return bad(out, "version 2 header with an unknown address family or transport");
    if (body < addr_len[af]) return bad(out, "version 2 address block shorter than its family");
    const unsigned char *tlv = data + GW_PROXY_V2_FIXED + addr_len[af];
    if (v2_tlvs_fit(tlv, data + out->len) != 0)
        return bad(out, "version 2 TLV runs past the end of the header");
    /* Other families (UNSPEC, UNIX) and datagrams say nothing of a TCP
     * client: as with LOCAL, the connection keeps its own peer. */
    if ((af == V2_AF_INET || af == V2_AF_INET6) && transport == V2_STREAM)
        v2_addresses(af, data + GW_PROXY_V2_FIXED, out);
    return GW_PROXY_DONE;
}

enum gw_proxy_verdict gw_proxy_parse(const void *data, size_t len, int allowed, size_t max_len,
                                     struct gw_proxy_header *out)
{
    const unsigned char *d = data;
    memset(out, 0, sizeof(*out));
    if (len == 0) return GW_PROXY_MORE;
    if (starts_like(d, len, v2_sig, sizeof(v2_sig))) {
        if (!(allowed & GW_PROXY_V2))
            return bad(out, "a version 2 header, but proxy_protocol accepts version 1 only");
        return len < sizeof(v2_sig) ? GW_PROXY_MORE : parse_v2(d, len, max_len, out);
    }
    if (starts_like(d, len, v1_sig, sizeof(v1_sig))) {
        if (!(allowed & GW_PROXY_V1))
            return bad(out, "a version 1 header, but proxy_protocol accepts version 2 only");
        return parse_v1(d, len, out);
    }
    return bad(out, "no PROXY protocol header");
}

void gw_proxy_addr_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (len == 0) return;
    if ((ss->ss_family != AF_INET && ss->ss_family != AF_INET6) ||
        inet_ntop(ss->ss_family, a, out, (socklen_t)len) == NULL)
        snprintf(out, len, "-");
}
