/*
 * proxyproto.h - HAProxy's PROXY protocol (versions 1 and 2), read from
 * the first bytes of a connection: the address of the client a proxy in
 * front of the gateway accepted, before any byte of HTTP.
 *
 * A pure parser: bytes in, a verdict out, no I/O and no allocation.  The
 * caller gives what it has read (or peeked) so far, from the first byte of
 * the connection; the verdict says whether that is too little yet, not a
 * header the gateway accepts, or a whole header of a known length, after
 * which the connection's HTTP begins.
 */
#ifndef GW_PROXYPROTO_H
#define GW_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

/* [server] proxy_protocol: which versions a connection may open with. */
enum gw_proxy_versions {
    GW_PROXY_OFF = 0,
    GW_PROXY_V1 = 1 << 0,
    GW_PROXY_V2 = 1 << 1,
    GW_PROXY_BOTH = GW_PROXY_V1 | GW_PROXY_V2,
};

/* A version 1 line, "PROXY ... \r\n" included, is at most this long. */
#define GW_PROXY_V1_MAX 107
/* A version 2 header: its fixed part, then its length field's worth. */
#define GW_PROXY_V2_FIXED 16
/* The longest header the gateway takes (a v2 one with its TLVs): HAProxy's
 * own receiving side allows no more than its buffer, 16K by default, and
 * what it sends is far shorter. */
#define GW_PROXY_HEADER_MAX 4096

enum gw_proxy_verdict {
    GW_PROXY_MORE,  /* a header may still come: read more and ask again */
    GW_PROXY_BAD,   /* not a header the gateway accepts: close the connection */
    GW_PROXY_DONE,  /* a whole header: the connection's own bytes follow it */
};

struct gw_proxy_header {
    size_t len;             /* DONE: bytes of the header, to consume */
    int version;            /* DONE: 1 or 2 */
    /* DONE: 1 when src and dst hold the client and the address it reached
     * (TCP over IPv4 or IPv6); 0 for v2 LOCAL (a proxy's own health check),
     * v1 UNKNOWN and the families the gateway does not use, whose
     * connection keeps its socket's own peer. */
    int has_addr;
    struct sockaddr_storage src, dst;
    const char *error;      /* BAD: why, a static string for a log line */
};

/*
 * Reads the header at the start of data[0..len), accepting the versions in
 * `allowed` (a set of enum gw_proxy_versions, not GW_PROXY_OFF) and a
 * version 2 header of at most max_len bytes (TLVs included; version 1 lines
 * have their own bound).  Fills *out as the verdict says; data is only read.
 */
enum gw_proxy_verdict gw_proxy_parse(const void *data, size_t len, int allowed, size_t max_len,
                                     struct gw_proxy_header *out);

/* The address in *ss (AF_INET or AF_INET6) as log lines print a peer, into out. */
void gw_proxy_addr_name(const struct sockaddr_storage *ss, char *out, size_t len);

#endif
