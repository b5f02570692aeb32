/*
 * proxyaccept.c - the PROXY protocol header ([server] proxy_protocol) a
 * connection on the public listener opens with, read before server.c takes
 * the connection over (server_int.h).
 *
 * The header is read at accept: it usually came with the handshake, and
 * then gw_conn_accept() gets the descriptor at once, with the header's
 * client as the connection's peer (the socket's own peer for v2 LOCAL and
 * v1 UNKNOWN, as HAProxy's health checks send).  Otherwise the connection
 * waits here, with a uv_poll_t and a timer of its own, until its header is
 * whole; then both handles close and server.c takes it over the same way.  Input is peeked (MSG_PEEK) and only the header's own bytes are
 * consumed, so HTTP that came in the same packet stays in the socket for
 * server.c.  A header still incomplete after a peek is consumed into the
 * wait's buffer (every byte of it is header): a level-triggered poll would
 * otherwise wake at once for the same bytes, again and again.
 *
 * No HTTP answer is ever sent from here: a peer that does not open with a
 * header the gateway accepts is not speaking HTTP to it yet.  A bad header,
 * a connection closed inside one, or no header within header_timeout
 * closes the connection, counted as bad_proxy_header and warned about at
 * most once a second.  At most max_connections wait per worker; past that,
 * a new connection is closed at once (connection_limit).
 *
 * Ownership: struct gw_proxy_wait embeds its two handles and is freed by the
 * close callback of the second.  It is on its worker's list, and counted in
 * w->nproxy_waits, from accept until it closes or is handed over, so a drain
 * closes it and the worker stops only when no wait is left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "conf.h"
#include "proxyproto.h"
#include "server_int.h"
#include "stats.h"
#include "util.h"

#define PROXY_WAIT_MAGIC 0x50524f58u

struct gw_proxy_wait {
    uint32_t magic;
    struct gw_worker *w;
    struct gw_proxy_wait *prev, *next;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    int closes_pending;
    char peer[64];              /* the socket's own peer, for log lines */
    unsigned char *kept;        /* the part of the header already read */
    size_t nkept;
};

static void on_wait_closed(uv_handle_t *h)
{
    struct gw_proxy_wait *pw = h->data;
    GW_CHECK_MAGIC(pw, PROXY_WAIT_MAGIC);
    if (--pw->closes_pending > 0) return;
    struct gw_worker *w = pw->w;
    free(pw->kept);
    pw->magic = 0;
    free(pw);
    gw_worker_maybe_stop(w);
}

/* Off the worker's list and its handles closing; the descriptor is the caller's. */
static void wait_end(struct gw_proxy_wait *pw)
{
    struct gw_worker *w = pw->w;
    if (pw->prev)
        pw->prev->next = pw->next;
    else
        w->proxy_waits = pw->next;
    if (pw->next) pw->next->prev = pw->prev;
    w->nproxy_waits--;
    pw->closes_pending = 2;
    uv_close((uv_handle_t *)&pw->poll, on_wait_closed);
    uv_close((uv_handle_t *)&pw->timer, on_wait_closed);
}

static void wait_close(struct gw_proxy_wait *pw)
{
    wait_end(pw);
    close(pw->fd); /* the poll handle has stopped watching it */
    pw->fd = -1;
}

/* Not a header the gateway accepts: counted, and warned about once a second. */
static void note_refusal(const char *peer, const char *why)
{
    static __thread uint64_t last_warn_ms;
    uint64_t now = gw_now_ms();
    if (now - last_warn_ms >= 1000) {
        last_warn_ms = now;
        gw_warn("proxy", "%s: connection closed: %s", peer, why);
    }
    gw_stats_error(GW_ERR_BAD_PROXY_HEADER);
}

static void wait_refuse(struct gw_proxy_wait *pw, const char *why)
{
    note_refusal(pw->peer, why);
    wait_close(pw);
}

/* The header is read: server.c takes fd, from the client the header names
 * (else from sock_peer, the socket's own, or fd's when that is NULL). */
static void hand_over(struct gw_worker *w, int fd, const struct gw_proxy_header *h,
                      const char *sock_peer)
{
    char peer[64];
    if (h->has_addr)
        gw_proxy_addr_name(&h->src, peer, sizeof(peer));
    else if (sock_peer != NULL)
        snprintf(peer, sizeof(peer), "%s", sock_peer);
    else
        gw_access_peer(fd, peer, sizeof(peer));
    if (gw_conn_accept(w, fd, 0, peer) == -ENOMEM) gw_refuse_for_memory(fd);
}

static void wait_done(struct gw_proxy_wait *pw, const struct gw_proxy_header *h)
{
    int fd = pw->fd;
    /* The poll handle lets go of fd here, before server.c watches it. */
    wait_end(pw);
    pw->fd = -1;
    hand_over(pw->w, fd, h, pw->peer);
}

_Static_assert(GW_PROXY_HEADER_MAX <= sizeof(((struct gw_worker *)0)->rbuf),
               "a header is peeked into the worker's read buffer");

/* What reading a connection's header came to. */
enum header_step {
    HEADER_WAIT,    /* not whole yet: wait for the socket */
    HEADER_DONE,    /* whole, and consumed: *h */
    HEADER_BAD,     /* not a header the gateway accepts: h->error */
    HEADER_GONE,    /* the peer closed or reset before a byte of header */
};

/* Take n bytes of header, already peeked, off fd into `into`. */
static int consume(int fd, unsigned char *into, size_t n)
{
    return recv(fd, into, n, 0) == (ssize_t)n ? 0 : -1;
}

/*
 * Peek at what fd has after the *nkept bytes of header already read into
 * *kept (allocated here when first needed; the worker's read buffer serves
 * until then), and consume the header once it is whole, or as much of it
 * as came.
 */
static enum header_step header_read(struct gw_worker *w, int fd, unsigned char **kept,
                                    size_t *nkept, struct gw_proxy_header *h)
{
    unsigned char *buf = *kept ? *kept : (unsigned char *)w->rbuf;
    ssize_t n = recv(fd, buf + *nkept, GW_PROXY_HEADER_MAX - *nkept, MSG_PEEK);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? HEADER_WAIT
                                                                         : HEADER_GONE;
    if (n == 0) {
        /* Closed before a byte is no header at all; inside one is a bad one. */
        h->error = "the connection closed inside the PROXY header";
        return *nkept == 0 ? HEADER_GONE : HEADER_BAD;
    }
    size_t have = *nkept + (size_t)n;
    switch (gw_proxy_parse(buf, have, w->svc.conf->proxy_protocol, GW_PROXY_HEADER_MAX, h)) {
    case GW_PROXY_BAD:
        return HEADER_BAD;
    case GW_PROXY_MORE:
        /* The parser bounds both versions below GW_PROXY_HEADER_MAX. */
        gw_assert(have < GW_PROXY_HEADER_MAX);
        if (*kept == NULL) *kept = gw_malloc(GW_PROXY_HEADER_MAX);
        if (consume(fd, *kept + *nkept, (size_t)n) != 0) return HEADER_GONE;
        *nkept = have;
        return HEADER_WAIT;
    case GW_PROXY_DONE:
        break;
    }
    return consume(fd, buf + *nkept, h->len - *nkept) == 0 ? HEADER_DONE : HEADER_GONE;
}

/* Readable: read on, and end the wait as the header says. */
static void wait_read(struct gw_proxy_wait *pw)
{
    struct gw_proxy_header h;
    switch (header_read(pw->w, pw->fd, &pw->kept, &pw->nkept, &h)) {
    case HEADER_WAIT:
        return;
    case HEADER_DONE:
        wait_done(pw, &h);
        return;
    case HEADER_BAD:
        wait_refuse(pw, h.error);
        return;
    case HEADER_GONE:
        wait_close(pw);
        return;
    }
}

static void on_wait_poll(uv_poll_t *p, int status, int events)
{
    struct gw_proxy_wait *pw = p->data;
    GW_CHECK_MAGIC(pw, PROXY_WAIT_MAGIC);
    (void)events;
    if (status < 0)
        wait_close(pw); /* a reset: the peer is gone */
    else
        wait_read(pw);
}

static void on_wait_timeout(uv_timer_t *t)
{
    struct gw_proxy_wait *pw = t->data;
    GW_CHECK_MAGIC(pw, PROXY_WAIT_MAGIC);
    wait_refuse(pw, pw->nkept ? "PROXY header incomplete after header_timeout"
                              : "no PROXY header within header_timeout");
}

/* Over max_connections waiting: closed at once, warned about once a second. */
static void refuse_over_cap(struct gw_worker *w, int fd)
{
    static __thread uint64_t last_warn_ms;
    uint64_t now = gw_now_ms();
    if (now - last_warn_ms >= 1000) {
        last_warn_ms = now;
        gw_warn("proxy", "connection refused: max_connections (%llu) wait for their "
                "PROXY header", (unsigned long long)w->svc.conf->max_connections);
    }
    gw_stats_error(GW_ERR_CONN_LIMIT);
    close(fd);
}

/* A header not whole at accept: wait for the rest, with kept's nkept bytes of it. */
static void wait_start(struct gw_worker *w, int fd, unsigned char *kept, size_t nkept)
{
    struct gw_proxy_wait *pw = gw_calloc(1, sizeof(*pw));
    int rc = uv_poll_init_socket(&w->loop, &pw->poll, fd);
    if (rc != 0) {
        gw_warn("proxy", "cannot watch a new connection: %s", uv_strerror(rc));
        close(fd);
        free(kept);
        free(pw);
        return;
    }
    pw->magic = PROXY_WAIT_MAGIC;
    pw->w = w;
    pw->fd = fd;
    pw->kept = kept;
    pw->nkept = nkept;
    pw->poll.data = pw;
    uv_timer_init(&w->loop, &pw->timer);
    pw->timer.data = pw;
    gw_access_peer(fd, pw->peer, sizeof(pw->peer));
    pw->next = w->proxy_waits;
    if (w->proxy_waits) w->proxy_waits->prev = pw;
    w->proxy_waits = pw;
    w->nproxy_waits++;
    uv_timer_start(&pw->timer, on_wait_timeout, w->svc.conf->header_timeout_ms, 0);
    uv_poll_start(&pw->poll, UV_READABLE, on_wait_poll);
}

void gw_proxy_accept(struct gw_worker *w, int fd)
{
    if (w->nproxy_waits >= w->svc.conf->max_connections) {
        refuse_over_cap(w, fd);
        return;
    }
    /* The header (and the request) often came with the handshake: then the
     * connection goes to server.c at once, with no handle or memory here. */
    unsigned char *kept = NULL;
    size_t nkept = 0;
    struct gw_proxy_header h;
    char peer[64];
    switch (header_read(w, fd, &kept, &nkept, &h)) {
    case HEADER_WAIT:
        wait_start(w, fd, kept, nkept);
        return;
    case HEADER_DONE:
        hand_over(w, fd, &h, NULL);
        break;
    case HEADER_BAD:
        gw_access_peer(fd, peer, sizeof(peer));
        note_refusal(peer, h.error);
        close(fd);
        break;
    case HEADER_GONE:
        close(fd);
        break;
    }
    free(kept);
}

void gw_proxy_waits_close(struct gw_worker *w)
{
    while (w->proxy_waits) wait_close(w->proxy_waits);
}
