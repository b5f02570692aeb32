/*
 * server.c - a connection's life: reading and dispatch, timeouts, the
 * write queue, lingering close and the access log.  struct gw_conn is
 * private to this file; handlers see it as a sink (sink.h), and the one
 * call into them is gw_route().
 *
 * A connection reads only while it has no request to answer: once llhttp
 * has a whole request it pauses, the rest of what was read is kept in a
 * stash, and reading stops until the answer is queued and the queue has
 * drained below its low watermark.  So pipelined requests are answered in
 * order, and a connection never holds more than one read buffer of input
 * plus one write buffer (the high watermark) of output.
 *
 * Ownership: struct gw_conn embeds its uv_tcp_t and uv_timer_t and is freed
 * only by the close callback of the last of them.  A handler never closes
 * its connection on the spot: gw_sink_abort() and write errors only mark
 * it, and the close runs from the connection's own timer, so no callback
 * chain ever returns into freed memory.  The one timer serves every
 * purpose in turn: idle keep-alive, header read, send progress, lingering,
 * and a zero timeout that runs deferred work ("next") from the loop.  The
 * handler that took the answer over (gw_sink_attach) is released from
 * there too, never from inside its own calls.
 *
 * A connection that is to close after its answer lingers first: it shuts
 * its write side (FIN after the last queued byte), then reads and drops
 * what the client still sends until EOF, for a bounded time and byte
 * count.  Closing a socket with unread input sends a RST, which can destroy
 * an answer (a 400, a 431, a 503) before the client has read it.
 *
 * max_connections is counted over every worker in srv->nconns, so the cap
 * does not depend on how SO_REUSEPORT spreads.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "conf.h"
#include "http.h"
#include "respond.h"
#include "route.h"
#include "server_int.h"
#include "sink.h"
#include "util.h"

#define CONN_MAGIC 0x434f4e4eu
/* Input dropped while lingering before the connection is cut anyway. */
#define LINGER_MAX_BYTES (1u << 20)

enum gw_conn_state {
    GW_CONN_IDLE,       /* between requests, reading */
    GW_CONN_HEAD,       /* part of a request head has arrived */
    GW_CONN_BUSY,       /* a request is being answered; reading paused */
    GW_CONN_FLUSHING,   /* the answer is queued; waiting for the queue to drain */
    GW_CONN_LINGER,     /* answered, write side shut: reading and dropping until EOF */
    GW_CONN_CLOSING,
};

struct gw_conn {
    uint32_t magic;
    struct gw_worker *w;
    struct gw_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int closes_pending;
    enum gw_conn_state state;
    llhttp_t parser;
    struct gw_http_req hreq;
    char *stash;                /* bytes read but not parsed yet */
    size_t stash_len, stash_off;
    int reading, eof, aborting;
    size_t queued;              /* bytes handed to uv_write, not yet written */
    int want_drain;             /* the handler waits for the queue to drain */
    const struct gw_sink_owner *owner;  /* the handler that took the answer over */
    void *owner_ud;
    char peer[64];
    uv_shutdown_t shutdown;     /* GW_CONN_LINGER */
    uint64_t lingered;          /* bytes dropped while lingering */
    int admin;                  /* accepted on the admin listener */
    /* This answer: the sink (status, bytes, cache, keep-alive), reset per request. */
    struct gw_sink sink;
    uint64_t req_start_ms;
    int logged;                 /* this request's access log line is written */
};

struct wreq {
    uv_write_t req;
    struct gw_conn *c;
    size_t len;
    char *owned;      /* freed with the request; NULL when data is inline */
    const char *borrowed;          /* someone else's bytes */
    void (*release)(void *arg);    /* ...given back through this */
    void *release_arg;
    char data[];
};

static void conn_close(struct gw_conn *c);
static void conn_next(uv_timer_t *t);
static void conn_read_start(struct gw_conn *c);
static void conn_parse(struct gw_conn *c, const char *data, size_t len);

static struct gw_conn *conn_of(const struct gw_sink *s)
{
    /* The sink is embedded in its connection; the ops that take it const only read. */
    struct gw_conn *c =
        (struct gw_conn *)(uintptr_t)((const char *)s - offsetof(struct gw_conn, sink));
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    return c;
}

static const char *conn_what(struct gw_conn *c, char *out, size_t len)
{
    return gw_access_what(c->peer, &c->hreq, out, len);
}

static void access_log(struct gw_conn *c)
{
    if (c->sink.status == 0 || c->logged) return;
    c->logged = 1;
    if (!c->admin) gw_stats_request(c->w->id, c->sink.status, c->sink.cache, c->sink.bytes);
    if (c->w->srv->access_fd < 0) return;
    struct gw_access_rec rec = {
        .peer = c->peer,
        .req = &c->hreq,
        .status = c->sink.status,
        .bytes = c->sink.bytes,
        .cache = c->sink.cache,
        .total_ms = gw_now_ms() - c->req_start_ms,
        .origin_ms = c->sink.origin_ms,
    };
    gw_access_log_write(c->w->srv->access_fd, &rec);
}

/* The handler is done with (or must let go of) the answer: release it. */
static void owner_release(struct gw_conn *c)
{
    const struct gw_sink_owner *o = c->owner;
    void *ud = c->owner_ud;
    c->owner = NULL;
    c->owner_ud = NULL;
    c->want_drain = 0;
    if (o) o->release(ud);
}

/* ---- writing ---- */

static void wreq_free(struct wreq *wr)
{
    free(wr->owned);
    if (wr->release) wr->release(wr->release_arg);
    free(wr);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *wr = (struct wreq *)req;
    struct gw_conn *c = wr->c;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    c->queued -= wr->len;
    wreq_free(wr);
    if (c->state == GW_CONN_CLOSING || c->aborting) return;
    if (status < 0) {
        char what[GW_ACCESS_WHAT_LEN];
        gw_debug("server", "%s: write failed: %s", conn_what(c, what, sizeof(what)),
                 uv_strerror(status));
        conn_close(c);
        return;
    }
    const struct gw_conf *conf = c->w->srv->conf;
    /* Progress: the send timeout starts again, or stops with nothing queued. */
    if (c->queued > 0)
        uv_timer_start(&c->timer, conn_next, conf->send_timeout_ms, 0);
    else if (c->state == GW_CONN_BUSY)
        uv_timer_stop(&c->timer);
    if (c->queued <= conf->write_buffer / 2) {
        if (c->state == GW_CONN_FLUSHING) {
            if (c->queued == 0 || c->sink.keepalive) uv_timer_start(&c->timer, conn_next, 0, 0);
        } else if (c->want_drain && c->owner) {
            c->want_drain = 0;
            c->owner->on_drain(c->owner_ud);
        }
    }
}

static void conn_abort(struct gw_conn *c);

static void queue_write(struct gw_conn *c, struct wreq *wr)
{
    wr->c = c;
    if (c->state == GW_CONN_CLOSING || c->aborting) {
        wreq_free(wr);
        return;
    }
    char *base = wr->owned ? wr->owned : wr->borrowed ? (char *)(uintptr_t)wr->borrowed : wr->data;
    uv_buf_t b = uv_buf_init(base, (unsigned)wr->len);
    int rc = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        wreq_free(wr);
        conn_abort(c);
        return;
    }
    if (c->queued == 0)
        uv_timer_start(&c->timer, conn_next, c->w->srv->conf->send_timeout_ms, 0);
    c->queued += wr->len;
}

static struct wreq *wreq_new(size_t inline_len)
{
    struct wreq *wr = gw_malloc(sizeof(*wr) + inline_len);
    wr->len = inline_len;
    wr->owned = NULL;
    wr->borrowed = NULL;
    wr->release = NULL;
    wr->release_arg = NULL;
    return wr;
}

static void sink_write(struct gw_sink *s, const void *data, size_t len)
{
    struct gw_conn *c = conn_of(s);
    if (len == 0) return;
    struct wreq *wr = wreq_new(len);
    memcpy(wr->data, data, len);
    queue_write(c, wr);
}

/* For now the file's bytes are read and queued as a copy. */
static void sink_write_file(struct gw_sink *s, int fd, uint64_t off, uint64_t len,
                            void (*release)(void *), void *arg)
{
    struct gw_conn *c = conn_of(s);
    if (len == 0) {
        release(arg);
        return;
    }
    struct wreq *wr = wreq_new(0);
    wr->owned = gw_malloc((size_t)len);
    ssize_t n = pread(fd, wr->owned, (size_t)len, (off_t)off);
    release(arg);
    if (n != (ssize_t)len) {
        wreq_free(wr);
        conn_abort(c);
        return;
    }
    wr->len = (size_t)len;
    queue_write(c, wr);
}

static void sink_write_buf(struct gw_sink *s, struct gw_buf *b)
{
    struct gw_conn *c = conn_of(s);
    if (b->len == 0) {
        gw_buf_free(b);
        return;
    }
    struct wreq *wr = wreq_new(0);
    wr->len = b->len;
    wr->owned = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    queue_write(c, wr);
}

static int sink_congested(const struct gw_sink *s)
{
    const struct gw_conn *c = conn_of(s);
    return c->queued > c->w->srv->conf->write_buffer;
}

static void sink_wait_drain(struct gw_sink *s)
{
    struct gw_conn *c = conn_of(s);
    if (c->state == GW_CONN_BUSY && !c->aborting) c->want_drain = 1;
}

static void sink_end(struct gw_sink *s)
{
    struct gw_conn *c = conn_of(s);
    if (c->state == GW_CONN_CLOSING || c->aborting) return;
    gw_assert(c->state == GW_CONN_BUSY);
    c->state = GW_CONN_FLUSHING;
    c->want_drain = 0;
    if (atomic_load(&c->w->srv->closing) || c->eof) c->sink.keepalive = 0;
    access_log(c);
    /* Go on from the loop: the caller may still be inside its callbacks. */
    if (c->queued == 0 || (c->sink.keepalive && c->queued <= c->w->srv->conf->write_buffer / 2))
        uv_timer_start(&c->timer, conn_next, 0, 0);
}

static void conn_abort(struct gw_conn *c)
{
    if (c->state == GW_CONN_CLOSING || c->aborting) return;
    if (c->state == GW_CONN_BUSY) {
        gw_stats_error(GW_ERR_CLIENT_ABORT);
        access_log(c);
    }
    c->aborting = 1;
    c->sink.keepalive = 0;
    c->want_drain = 0;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    /* Close from the loop, without waiting for the queue. */
    uv_timer_start(&c->timer, conn_next, 0, 0);
}

static void sink_abort(struct gw_sink *s)
{
    conn_abort(conn_of(s));
}

static void sink_attach(struct gw_sink *s, const struct gw_sink_owner *owner, void *ud)
{
    struct gw_conn *c = conn_of(s);
    gw_assert(c->owner == NULL);
    c->owner = owner;
    c->owner_ud = ud;
}

static const struct gw_sink_ops conn_sink_ops = {
    .write = sink_write,
    .write_buf = sink_write_buf,
    .write_file = sink_write_file,
    .congested = sink_congested,
    .wait_drain = sink_wait_drain,
    .end = sink_end,
    .abort = sink_abort,
    .attach = sink_attach,
};

/* A new answer begins: the sink's facts start over. */
static void answer_begin(struct gw_conn *c, int keepalive)
{
    c->state = GW_CONN_BUSY;
    c->sink.keepalive = keepalive;
    c->sink.status = 0;
    c->sink.bytes = 0;
    c->sink.origin_ms = 0;
    c->sink.cache = GW_CACHE_NONE;
    c->logged = 0;
}

/* ---- closing ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct gw_conn *c = h->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (--c->closes_pending > 0) return;
    struct gw_worker *w = c->w;
    gw_http_req_free(&c->hreq);
    free(c->stash);
    c->magic = 0;
    free(c);
    gw_worker_maybe_stop(w);
}

static void conn_close(struct gw_conn *c)
{
    if (c->state == GW_CONN_CLOSING) return;
    if (c->state == GW_CONN_BUSY && !c->logged) {
        /* The client went away (or stalled past send_timeout) mid-answer:
         * log and count it, as nginx's 499 when no head was sent yet. */
        gw_stats_error(GW_ERR_CLIENT_ABORT);
        if (c->sink.status == 0) c->sink.status = 499;
        access_log(c);
    }
    c->state = GW_CONN_CLOSING;
    owner_release(c);
    struct gw_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    if (!c->admin) {
        gw_stats_conn_close(w->id);
        atomic_fetch_sub_explicit(&w->srv->nconns, 1, memory_order_relaxed);
    }
    uv_timer_stop(&c->timer);
    c->closes_pending = 2;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

/* ---- reading and dispatch ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct gw_conn *c = h->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    *buf = uv_buf_init(c->w->rbuf, sizeof(c->w->rbuf));
}

static void respond_error_and_close(struct gw_conn *c, int status, const char *reason)
{
    if (c->req_start_ms == 0) c->req_start_ms = gw_now_ms();
    answer_begin(c, 0);
    gw_respond_simple(&c->sink, status, reason, NULL);
}

static void read_stop(struct gw_conn *c)
{
    if (!c->reading) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct gw_conn *c = s->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    (void)buf;
    if (nread == 0) return;
    if (c->state == GW_CONN_LINGER) {
        /* What the client still sends is dropped; its EOF ends the linger. */
        if (nread < 0 || (c->lingered += (uint64_t)nread) > LINGER_MAX_BYTES) conn_close(c);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && c->state == GW_CONN_HEAD) {
            /* Half a request and then EOF: say why nothing more will come. */
            c->eof = 1;
            read_stop(c);
            respond_error_and_close(c, 400, "incomplete request");
            return;
        }
        conn_close(c);
        return;
    }
    conn_parse(c, c->w->rbuf, (size_t)nread);
}

/* Keep what follows a whole request for after its answer. */
static void stash_rest(struct gw_conn *c, const char *data, const char *pos, size_t rest)
{
    int from_stash = c->stash && data >= c->stash && data <= c->stash + c->stash_off + c->stash_len;
    if (rest == 0) {
        c->stash_len = c->stash_off = 0;
    } else if (from_stash) {
        c->stash_off = (size_t)(pos - c->stash);
        c->stash_len = rest;
    } else {
        /* Pipelined bytes borrowed from the read buffer: keep a copy. */
        char *copy = gw_malloc(rest);
        memcpy(copy, pos, rest);
        free(c->stash);
        c->stash = copy;
        c->stash_off = 0;
        c->stash_len = rest;
    }
}

/* A whole request is in c->hreq: hand it to the handlers. */
static void dispatch(struct gw_conn *c)
{
    const struct gw_conf *conf = c->w->srv->conf;
    read_stop(c);
    /* The previous answer may still be queued: its send timeout goes on. */
    if (c->queued > 0)
        uv_timer_start(&c->timer, conn_next, conf->send_timeout_ms, 0);
    else
        uv_timer_stop(&c->timer);
    answer_begin(c, c->hreq.keepalive);
    struct gw_route_ctx ctx = {
        .admin = c->admin,
        .admin_token = conf->admin_token,
        .draining = atomic_load(&c->w->srv->draining),
    };
    gw_route(&c->sink, &c->w->svc, &ctx);
}

/* Feed bytes to llhttp; dispatch a request when one is whole. */
static void conn_parse(struct gw_conn *c, const char *data, size_t len)
{
    if (c->state == GW_CONN_IDLE) {
        c->state = GW_CONN_HEAD;
        c->req_start_ms = gw_now_ms();
        uv_timer_start(&c->timer, conn_next, c->w->srv->conf->header_timeout_ms, 0);
    }
    size_t used;
    enum gw_http_feed_result rc = gw_http_feed(&c->parser, &c->hreq, data, len, &used);
    if (rc == GW_HTTP_MORE) return;
    if (rc == GW_HTTP_REQUEST) {
        stash_rest(c, data, data + used, len - used);
        dispatch(c);
        return;
    }
    /* A bad request: the connection cannot be trusted past this point. */
    read_stop(c);
    c->stash_len = c->stash_off = 0;
    int status = c->hreq.error_status ? c->hreq.error_status : 400;
    const char *reason = c->hreq.error_reason;
    if (reason == NULL) reason = "malformed request";
    char what[GW_ACCESS_WHAT_LEN];
    gw_debug("server", "%s: bad request: %s (%s: %s)", conn_what(c, what, sizeof(what)), reason,
             llhttp_errno_name(llhttp_get_errno(&c->parser)),
             llhttp_get_error_reason(&c->parser));
    gw_stats_error(GW_ERR_CLIENT_BAD_REQUEST);
    respond_error_and_close(c, status, reason);
}

static void send_timeout(struct gw_conn *c)
{
    char what[GW_ACCESS_WHAT_LEN];
    gw_info("server", "%s: send timeout", conn_what(c, what, sizeof(what)));
    gw_stats_error(GW_ERR_CLIENT_TIMEOUT);
    conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    /* Nothing to do: the linger ends on EOF or on its timer. */
    (void)req;
    (void)status;
}

/*
 * Close after an answer without resetting the client: shut our side (a FIN
 * after the last queued byte), read and drop until the client's EOF, for at
 * most lingering_timeout and LINGER_MAX_BYTES.  A drain's force-close, an
 * EOF already seen, or a zero timeout close at once.
 */
static void conn_linger(struct gw_conn *c)
{
    const struct gw_conf *conf = c->w->srv->conf;
    if (c->eof || atomic_load(&c->w->force_close) || conf->lingering_timeout_ms == 0 ||
        uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    c->state = GW_CONN_LINGER;
    free(c->stash);
    c->stash = NULL;
    c->stash_len = c->stash_off = 0;
    c->lingered = 0;
    uv_timer_start(&c->timer, conn_next, conf->lingering_timeout_ms, 0);
    conn_read_start(c);
}

static void conn_read_start(struct gw_conn *c)
{
    if (c->reading || c->eof) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
}

/* The next request: first what is already read, then the socket. */
static void next_request(struct gw_conn *c)
{
    c->state = GW_CONN_IDLE;
    gw_http_next(&c->parser, &c->hreq);
    if (c->stash_len > 0) {
        char *stash = c->stash;
        conn_parse(c, stash + c->stash_off, c->stash_len);
        if (c->state == GW_CONN_HEAD || c->state == GW_CONN_IDLE) {
            /* The stash held only part of a head; the rest comes from the socket. */
            if (c->stash == stash) {
                free(c->stash);
                c->stash = NULL;
                c->stash_len = c->stash_off = 0;
            }
            conn_read_start(c);
        }
        return;
    }
    free(c->stash);
    c->stash = NULL;
    c->stash_off = 0;
    uv_timer_start(&c->timer, conn_next, c->w->srv->conf->keepalive_timeout_ms, 0);
    conn_read_start(c);
}

/* The answer is out (or queued below the low watermark): close, or go on. */
static void answer_over(struct gw_conn *c)
{
    const struct gw_conf *conf = c->w->srv->conf;
    if (c->queued > conf->write_buffer / 2) {
        /* on_write re-arms this timer on progress: this is a send timeout. */
        send_timeout(c);
        return;
    }
    owner_release(c);
    if (!c->sink.keepalive) {
        /*
         * Close once the last byte is written: on_write comes back here then.
         * With bytes still queued only the send timer runs this (no zero
         * timeout is started for a closing answer until its queue is empty),
         * so the client has taken nothing for send_timeout.
         */
        if (c->queued == 0)
            conn_linger(c);
        else
            send_timeout(c);
        return;
    }
    if (atomic_load(&c->w->srv->closing) || atomic_load(&c->w->force_close)) {
        if (c->queued == 0) {
            conn_linger(c);
        } else {
            c->sink.keepalive = 0;
            uv_timer_start(&c->timer, conn_next, conf->send_timeout_ms, 0);
        }
        return;
    }
    next_request(c);
}

/*
 * The connection's timer fired.  What that means depends on the state: a
 * deferred step (zero timeout) or one of the timeouts.
 */
static void conn_next(uv_timer_t *t)
{
    struct gw_conn *c = t->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (c->aborting) {
        conn_close(c);
        return;
    }
    switch (c->state) {
    case GW_CONN_IDLE:
        conn_close(c); /* keep-alive timeout */
        return;
    case GW_CONN_HEAD:
        /* The head did not arrive in time. */
        read_stop(c);
        gw_stats_error(GW_ERR_CLIENT_TIMEOUT);
        respond_error_and_close(c, 408, "request header timeout");
        return;
    case GW_CONN_BUSY:
        /* Armed only while bytes are queued: no write progress in send_timeout. */
        send_timeout(c);
        return;
    case GW_CONN_LINGER:
        conn_close(c); /* lingering_timeout: the client never sent its EOF */
        return;
    case GW_CONN_CLOSING:
        return;
    case GW_CONN_FLUSHING:
        answer_over(c);
        return;
    }
}

/* ---- accepting ---- */

static void peer_name(struct gw_conn *c)
{
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    snprintf(c->peer, sizeof(c->peer), "-");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0) return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
}

/*
 * Over max_connections: refuse this one cleanly (an answer, then a
 * lingering close); the others go on.  Warned about once a second at most.
 */
static void refuse_over_cap(struct gw_conn *c)
{
    const struct gw_conf *conf = c->w->srv->conf;
    static __thread uint64_t last_warn_ms;
    uint64_t now = gw_now_ms();
    if (now - last_warn_ms >= 1000) {
        last_warn_ms = now;
        gw_warn("server", "%s: connection refused: max_connections (%llu) reached", c->peer,
                (unsigned long long)conf->max_connections);
    }
    gw_stats_error(GW_ERR_CONN_LIMIT);
    c->req_start_ms = gw_now_ms();
    answer_begin(c, 0);
    gw_respond_simple(&c->sink, 503, "too many connections", "Retry-After: 1\r\n");
}

static struct gw_conn *conn_new(struct gw_worker *w, int admin)
{
    const struct gw_conf *conf = w->srv->conf;
    struct gw_conn *c = gw_calloc(1, sizeof(*c));
    c->magic = CONN_MAGIC;
    c->w = w;
    c->admin = admin;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    gw_http_req_init(&c->hreq, (uint32_t)conf->max_header_size, (uint32_t)conf->max_headers,
                     (uint32_t)conf->max_url_size, conf->max_body_size);
    llhttp_init(&c->parser, HTTP_REQUEST, &gw_http_settings);
    c->parser.data = &c->hreq;
    c->sink.ops = &conn_sink_ops;
    c->sink.req = &c->hreq;
    c->sink.peer = c->peer;
    return c;
}

void gw_conn_accept(struct gw_worker *w, uv_stream_t *server, int admin)
{
    const struct gw_conf *conf = w->srv->conf;
    struct gw_conn *c = conn_new(w, admin);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closes_pending = 2;
        c->state = GW_CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        uv_close((uv_handle_t *)&c->timer, on_conn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(c);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    c->state = GW_CONN_IDLE;
    uint64_t open = 0;
    if (!admin) {
        gw_stats_conn_open(w->id);
        open = atomic_fetch_add_explicit(&w->srv->nconns, 1, memory_order_relaxed) + 1;
    }
    if (!admin && open > conf->max_connections) {
        refuse_over_cap(c);
        return;
    }
    /* A new connection gets header_timeout for its first byte, as a head would. */
    uint64_t first = conf->header_timeout_ms < conf->keepalive_timeout_ms
                         ? conf->header_timeout_ms : conf->keepalive_timeout_ms;
    uv_timer_start(&c->timer, conn_next, first, 0);
    conn_read_start(c);
}

void gw_conns_wakeup(struct gw_worker *w)
{
    /* Idle connections go now; busy ones when their answer is out. */
    int force = atomic_load(&w->force_close);
    struct gw_conn *c = w->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (force || c->state == GW_CONN_IDLE)
            conn_close(c);
        else if (c->state == GW_CONN_HEAD)
            c->sink.keepalive = 0;
    }
}
