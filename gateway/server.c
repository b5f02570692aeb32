/*
 * server.c - listeners, worker threads, connection lifetime, timeouts, the
 * write queue and the access log.
 *
 * A connection reads only while it has no request to answer: once llhttp
 * has a whole request it pauses, the rest of what was read is kept in a
 * stash, and reading stops until the answer is queued and the queue has
 * drained below its low watermark.  So pipelined requests are answered in
 * order, and a connection never holds more than one read buffer of input
 * plus one write buffer (the high watermark) of output.
 *
 * Ownership: struct gw_conn embeds its uv_tcp_t and uv_timer_t and is freed
 * only by the close callback of the last of them.  A request never closes
 * its connection on the spot: gw_conn_abort() and write errors only mark it,
 * and the close runs from the connection's own timer, so no callback chain
 * ever returns into freed memory.  The one timer serves every purpose in
 * turn: idle keep-alive, header read, send progress, lingering, and a zero
 * timeout that runs deferred work ("next") from the loop.
 *
 * A connection that is to close after its answer lingers first: it shuts
 * its write side (FIN after the last queued byte), then reads and drops
 * what the client still sends until EOF, for a bounded time and byte
 * count.  Closing a socket with unread input sends a RST, which can destroy
 * an answer (a 400, a 431, a 503) before the client has read it.
 *
 * Draining has two phases, both flags of struct gw_server set once by the
 * main thread: `draining` (/healthz says 503, all else as usual) and, after
 * drain_delay, `closing` (listeners and idle connections close, no more
 * keep-alive).  max_connections is counted over every worker in
 * srv->nconns, so the cap does not depend on how SO_REUSEPORT spreads.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "blobmap.h"
#include "cache.h"
#include "conf.h"
#include "fill.h"
#include "origin.h"
#include "req.h"
#include "swift.h"
#include "util.h"

#define WORKER_MAGIC 0x574f524bu
#define CONN_MAGIC 0x434f4e4eu

struct wreq {
    uv_write_t req;
    struct gw_conn *c;
    size_t len;
    char *owned;      /* freed with the request; NULL when data is inline */
    const char *borrowed;          /* gw_conn_write_ref(): someone else's bytes */
    void (*release)(void *arg);    /* ...given back through this */
    void *release_arg;
    char data[];
};

static void wreq_free(struct wreq *wr)
{
    free(wr->owned);
    if (wr->release) wr->release(wr->release_arg);
    free(wr);
}

/* Input dropped while lingering before the connection is cut anyway. */
#define LINGER_MAX_BYTES (1u << 20)

static void conn_close(struct gw_conn *c);
static void conn_next(uv_timer_t *t);
static void conn_read_start(struct gw_conn *c);
static void conn_parse(struct gw_conn *c, const char *data, size_t len);
static void worker_maybe_stop(struct gw_worker *w);

/* ---- access log ---- */

/*
 * The first `max` bytes of a URL, escaped: a client must not be able to
 * forge log lines.  out needs 4 * max + 1 bytes.
 */
#define URL_LOG_MAX 400
static void escape_url(const char *url, size_t ulen, size_t max, char *out, size_t outlen)
{
    gw_assert(outlen >= 4 * max + 1);
    if (ulen > max) ulen = max;
    size_t e = 0;
    for (size_t i = 0; i < ulen; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch < 0x21 || ch >= 0x7f || ch == '"' || ch == '\\')
            e += (size_t)snprintf(out + e, outlen - e, "\\x%02x", ch);
        else
            out[e++] = (char)ch;
    }
    out[e] = '\0';
}

/*
 * 'peer "METHOD URL"' for error log lines, so that each names its request;
 * the URL escaped and cut at 100 bytes.
 */
#define WHAT_URL_MAX 100
#define WHAT_LEN (sizeof(((struct gw_conn *)0)->peer) + 32 + 4 * WHAT_URL_MAX)
static const char *conn_what(struct gw_conn *c, char *out, size_t len)
{
    char esc[4 * WHAT_URL_MAX + 1];
    size_t ulen;
    const char *url = gw_http_url(&c->hreq, &ulen);
    escape_url(url, ulen, WHAT_URL_MAX, esc, sizeof(esc));
    const char *m = c->hreq.method_known ? llhttp_method_name((llhttp_method_t)c->hreq.method)
                                         : "-";
    snprintf(out, len, "%s \"%.16s %s\"", c->peer, m, esc);
    return out;
}

static void access_log(struct gw_conn *c)
{
    int fd = c->w->srv->access_fd;
    if (c->resp_status == 0 || c->logged) return;
    c->logged = 1;
    if (!c->admin) gw_stats_request(c->w->id, c->resp_status, c->cache, c->resp_bytes);
    if (fd < 0) return;
    struct gw_http_req *r = &c->hreq;
    char line[1024], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t ulen;
    const char *url = gw_http_url(r, &ulen);
    char esc[4 * URL_LOG_MAX + 1];
    escape_url(url, ulen, URL_LOG_MAX, esc, sizeof(esc));
    /* A request refused before its request line was read is logged as "-". */
    char reqline[4 * URL_LOG_MAX + 64] = "-";
    if (r->method_known)
        snprintf(reqline, sizeof(reqline), "%s %s HTTP/%d.%d",
                 llhttp_method_name((llhttp_method_t)r->method), esc, r->http_major,
                 r->http_minor);
    int n = snprintf(line, sizeof(line),
                     "%s %s \"%s\" %d %llu %s %.3f %.3f\n", c->peer, ts, reqline,
                     c->resp_status, (unsigned long long)c->resp_bytes,
                     c->cache == GW_CACHE_NONE ? "-" : gw_cache_result_name(c->cache),
                     (double)(gw_now_ms() - c->req_start_ms) / 1000.0,
                     (double)c->origin_ms / 1000.0);
    if (n > 0) {
        if ((size_t)n >= sizeof(line)) n = (int)sizeof(line) - 1;
        if (write(fd, line, (size_t)n) < 0) {
            /* A full disk must not stop the serving. */
        }
    }
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *wr = (struct wreq *)req;
    struct gw_conn *c = wr->c;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    c->queued -= wr->len;
    wreq_free(wr);
    if (c->state == GW_CONN_CLOSING || c->aborting) return;
    if (status < 0) {
        char what[WHAT_LEN];
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
            if (c->queued == 0 || c->keepalive) uv_timer_start(&c->timer, conn_next, 0, 0);
        } else if (c->want_drain && c->req && c->on_drain) {
            c->want_drain = 0;
            c->on_drain(c->req);
        }
    }
}

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
        gw_conn_abort(c);
        return;
    }
    if (c->queued == 0)
        uv_timer_start(&c->timer, conn_next, c->w->srv->conf->send_timeout_ms, 0);
    c->queued += wr->len;
}

void gw_conn_write(struct gw_conn *c, const void *data, size_t len)
{
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (len == 0) return;
    struct wreq *wr = gw_malloc(sizeof(*wr) + len);
    memcpy(wr->data, data, len);
    wr->len = len;
    wr->owned = NULL;
    wr->borrowed = NULL;
    wr->release = NULL;
    queue_write(c, wr);
}

void gw_conn_write_ref(struct gw_conn *c, const void *data, size_t len, void (*release)(void *),
                       void *arg)
{
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    struct wreq *wr = gw_malloc(sizeof(*wr));
    wr->len = len;
    wr->owned = NULL;
    wr->borrowed = data;
    wr->release = release;
    wr->release_arg = arg;
    if (len == 0) {
        wreq_free(wr);
        return;
    }
    queue_write(c, wr);
}

void gw_conn_write_buf(struct gw_conn *c, struct gw_buf *b)
{
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (b->len == 0) {
        gw_buf_free(b);
        return;
    }
    struct wreq *wr = gw_malloc(sizeof(*wr));
    wr->len = b->len;
    wr->borrowed = NULL;
    wr->release = NULL;
    wr->owned = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    queue_write(c, wr);
}

int gw_conn_congested(const struct gw_conn *c)
{
    return c->queued > c->w->srv->conf->write_buffer;
}

void gw_conn_end_response(struct gw_conn *c)
{
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (c->state == GW_CONN_CLOSING || c->aborting) return;
    gw_assert(c->state == GW_CONN_BUSY);
    c->state = GW_CONN_FLUSHING;
    c->want_drain = 0;
    if (c->w->srv->closing || c->eof) c->keepalive = 0;
    access_log(c);
    /* Go on from the loop: the caller may still be inside its callbacks. */
    if (c->queued == 0 || (c->keepalive && c->queued <= c->w->srv->conf->write_buffer / 2))
        uv_timer_start(&c->timer, conn_next, 0, 0);
}

void gw_conn_abort(struct gw_conn *c)
{
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (c->state == GW_CONN_CLOSING || c->aborting) return;
    if (c->state == GW_CONN_BUSY) {
        gw_stats_error(GW_ERR_CLIENT_ABORT);
        access_log(c);
    }
    c->aborting = 1;
    c->keepalive = 0;
    c->want_drain = 0;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    /* Close from the loop, without waiting for the queue. */
    uv_timer_start(&c->timer, conn_next, 0, 0);
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
    worker_maybe_stop(w);
}

static void conn_close(struct gw_conn *c)
{
    if (c->state == GW_CONN_CLOSING) return;
    if (c->state == GW_CONN_BUSY && !c->logged) {
        /* The client went away (or stalled past send_timeout) mid-answer:
         * log and count it, as nginx's 499 when no head was sent yet. */
        gw_stats_error(GW_ERR_CLIENT_ABORT);
        if (c->resp_status == 0) c->resp_status = 499;
        access_log(c);
    }
    c->state = GW_CONN_CLOSING;
    if (c->req) {
        struct gw_req *r = c->req;
        c->req = NULL;
        gw_req_free(r);
    }
    struct gw_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    if (!c->admin) {
        gw_stats_conn_close(w->id);
        __atomic_sub_fetch(&w->srv->nconns, 1, __ATOMIC_RELAXED);
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
    c->state = GW_CONN_BUSY;
    c->keepalive = 0;
    if (c->req_start_ms == 0) c->req_start_ms = gw_now_ms();
    c->resp_bytes = 0;
    c->logged = 0;
    c->cache = GW_CACHE_NONE;
    gw_respond_simple(c, status, reason, NULL);
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
            uv_read_stop(s);
            c->reading = 0;
            respond_error_and_close(c, 400, "incomplete request");
            return;
        }
        conn_close(c);
        return;
    }
    conn_parse(c, c->w->rbuf, (size_t)nread);
}

/* Feed bytes to llhttp; dispatch a request when one is whole. */
static void conn_parse(struct gw_conn *c, const char *data, size_t len)
{
    const struct gw_conf *conf = c->w->srv->conf;
    if (c->state == GW_CONN_IDLE) {
        c->state = GW_CONN_HEAD;
        c->req_start_ms = gw_now_ms();
        uv_timer_start(&c->timer, conn_next, conf->header_timeout_ms, 0);
    }
    size_t used;
    enum gw_http_feed_result rc = gw_http_feed(&c->parser, &c->hreq, data, len, &used);
    if (rc == GW_HTTP_MORE) return;
    int from_stash = c->stash && data >= c->stash && data <= c->stash + c->stash_off + c->stash_len;
    if (rc == GW_HTTP_REQUEST) {
        const char *pos = data + used;
        size_t rest = len - used;
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
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
        /* The previous answer may still be queued: its send timeout goes on. */
        if (c->queued > 0)
            uv_timer_start(&c->timer, conn_next, conf->send_timeout_ms, 0);
        else
            uv_timer_stop(&c->timer);
        c->state = GW_CONN_BUSY;
        c->keepalive = c->hreq.keepalive;
        c->resp_status = 0;
        c->logged = 0;
        c->resp_bytes = 0;
        c->origin_ms = 0;
        c->cache = GW_CACHE_NONE;
        gw_route(c);
        return;
    }
    /* A bad request: the connection cannot be trusted past this point. */
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    c->stash_len = c->stash_off = 0;
    int status = c->hreq.error_status ? c->hreq.error_status : 400;
    const char *reason = c->hreq.error_reason;
    if (reason == NULL) reason = "malformed request";
    char what[WHAT_LEN];
    gw_debug("server", "%s: bad request: %s (%s: %s)", conn_what(c, what, sizeof(what)), reason,
             llhttp_errno_name(llhttp_get_errno(&c->parser)),
             llhttp_get_error_reason(&c->parser));
    gw_stats_error(GW_ERR_CLIENT_BAD_REQUEST);
    respond_error_and_close(c, status, reason);
}

static void send_timeout(struct gw_conn *c)
{
    char what[WHAT_LEN];
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
    if (c->eof || c->w->force_close || conf->lingering_timeout_ms == 0 ||
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

/*
 * The connection's timer fired.  What that means depends on the state: a
 * deferred step (zero timeout) or one of the timeouts.
 */
static void conn_next(uv_timer_t *t)
{
    struct gw_conn *c = t->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    const struct gw_conf *conf = c->w->srv->conf;

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
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
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
        break;
    }

    if (c->queued > conf->write_buffer / 2) {
        /* on_write re-arms this timer on progress: this is a send timeout. */
        send_timeout(c);
        return;
    }
    if (c->req) {
        struct gw_req *r = c->req;
        c->req = NULL;
        gw_req_free(r);
    }
    c->on_drain = NULL;
    if (!c->keepalive) {
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
    if (c->w->srv->closing || c->w->force_close) {
        if (c->queued == 0) {
            conn_linger(c);
        } else {
            c->keepalive = 0;
            uv_timer_start(&c->timer, conn_next, conf->send_timeout_ms, 0);
        }
        return;
    }
    /* Next request: first what is already read, then the socket. */
    c->state = GW_CONN_IDLE;
    gw_http_next(&c->parser, &c->hreq);
    if (c->stash_len > 0) {
        char *stash = c->stash;
        const char *p = stash + c->stash_off;
        size_t n = c->stash_len;
        conn_parse(c, p, n);
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
    uv_timer_start(&c->timer, conn_next, conf->keepalive_timeout_ms, 0);
    conn_read_start(c);
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *server, int status)
{
    struct gw_worker *w = server->data;
    int admin = server == (uv_stream_t *)&w->admin_listener;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    if (status < 0) {
        gw_warn("server", "accept failed: %s", uv_strerror(status));
        return;
    }
    const struct gw_conf *conf = w->srv->conf;
    struct gw_conn *c = gw_calloc(1, sizeof(*c));
    c->magic = CONN_MAGIC;
    c->w = w;
    c->admin = admin;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closes_pending = 2;
        c->state = GW_CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        uv_close((uv_handle_t *)&c->timer, on_conn_closed);
        return;
    }
    gw_http_req_init(&c->hreq, (uint32_t)conf->max_header_size, (uint32_t)conf->max_headers,
                     (uint32_t)conf->max_url_size, conf->max_body_size);
    llhttp_init(&c->parser, HTTP_REQUEST, &gw_http_settings);
    c->parser.data = &c->hreq;
    uv_tcp_nodelay(&c->tcp, 1);

    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    snprintf(c->peer, sizeof(c->peer), "-");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
        else if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
    }

    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    c->state = GW_CONN_IDLE;
    uint64_t open = 0;
    if (!admin) {
        gw_stats_conn_open(w->id);
        open = __atomic_add_fetch(&w->srv->nconns, 1, __ATOMIC_RELAXED);
    }

    if (!admin && open > conf->max_connections) {
        /*
         * Over the cap: refuse this one cleanly (an answer, then a lingering
         * close); the others go on.  Warned about once a second at most.
         */
        static __thread uint64_t last_warn_ms;
        uint64_t now = gw_now_ms();
        if (now - last_warn_ms >= 1000) {
            last_warn_ms = now;
            gw_warn("server", "%s: connection refused: max_connections (%llu) reached", c->peer,
                    (unsigned long long)conf->max_connections);
        }
        gw_stats_error(GW_ERR_CONN_LIMIT);
        c->state = GW_CONN_BUSY;
        c->keepalive = 0;
        c->req_start_ms = gw_now_ms();
        gw_respond_simple(c, 503, "too many connections", "Retry-After: 1\r\n");
        return;
    }
    /* A new connection gets header_timeout for its first byte, as a head would. */
    uint64_t first = conf->header_timeout_ms < conf->keepalive_timeout_ms
                         ? conf->header_timeout_ms : conf->keepalive_timeout_ms;
    uv_timer_start(&c->timer, conn_next, first, 0);
    conn_read_start(c);
}

/* ---- workers ---- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/*
 * Cache upkeep, off the loop: accesses noted by hits are written to the
 * index in one transaction, and the cache is brought under its caps.
 */
static void maint_work(uv_work_t *req)
{
    struct gw_worker *w = req->data;
    gw_cache_flush_touches(w->srv->cache);
    gw_cache_evict(w->srv->cache);
    gw_blobmap_sweep(w->srv->cache);
}

static void maint_done(uv_work_t *req, int status)
{
    (void)status;
    struct gw_worker *w = req->data;
    w->maint_busy = 0;
}

static void on_maint(uv_timer_t *t)
{
    struct gw_worker *w = t->data;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    if (w->maint_busy || w->srv->cache == NULL) return;
    w->maint_busy = 1;
    w->maint_work.data = w;
    if (uv_queue_work(&w->loop, &w->maint_work, maint_work, maint_done) != 0) w->maint_busy = 0;
}

static void worker_stop_check(uv_timer_t *t)
{
    struct gw_worker *w = t->data;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    if (!w->stopping || w->nconns > 0) return;
    /* Last connection gone: close what the loop still holds, then it ends. */
    gw_fill_worker_close(w);
    uv_close((uv_handle_t *)&w->maint, on_handle_closed);
    gw_swift_client_free(w->swift);
    w->swift = NULL;
    gw_origin_close(w->origin);
    w->origin = NULL;
    uv_close((uv_handle_t *)&w->wakeup, on_handle_closed);
    uv_close((uv_handle_t *)&w->stop_check, on_handle_closed);
}

static void worker_maybe_stop(struct gw_worker *w)
{
    if (w->stopping && w->nconns == 0 && !uv_is_closing((uv_handle_t *)&w->stop_check))
        uv_timer_start(&w->stop_check, worker_stop_check, 0, 0);
}

static void on_wakeup(uv_async_t *a)
{
    struct gw_worker *w = a->data;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    /* While only `draining`, /healthz reads the flag and nothing else changes. */
    if (!w->srv->closing && !w->force_close) return;
    if (!w->stopping) {
        w->stopping = 1;
        uv_close((uv_handle_t *)&w->listener, on_handle_closed);
        if (w->admin_fd >= 0) uv_close((uv_handle_t *)&w->admin_listener, on_handle_closed);
    }
    /* Idle connections go now; busy ones when their answer is out. */
    struct gw_conn *c = w->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (w->force_close || c->state == GW_CONN_IDLE)
            conn_close(c);
        else if (c->state == GW_CONN_HEAD)
            c->keepalive = 0;
    }
    worker_maybe_stop(w);
}

static void worker_main(void *arg)
{
    struct gw_worker *w = arg;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&w->loop);
    if (rc != 0) gw_error("server", "worker %d: loop did not close: %s", w->id, uv_strerror(rc));
    gw_assert(rc == 0);
    __atomic_add_fetch(&w->srv->workers_done, 1, __ATOMIC_RELEASE);
    uv_async_send(&w->srv->worker_exit);
}

static int bind_socket(const char *hostport, int *fd_out, int port_override, char *err,
                       size_t errlen)
{
    char host[256];
    int port;
    if (gw_parse_hostport(hostport, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "listen: bad address %s", hostport);
        return -EINVAL;
    }
    if (port_override >= 0) port = port_override;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0) {
        sl = sizeof(struct sockaddr_in);
    } else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
        sl = sizeof(struct sockaddr_in6);
    } else if (strcmp(host, "localhost") == 0) {
        uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&ss);
        sl = sizeof(struct sockaddr_in);
    } else {
        snprintf(err, errlen, "listen: %s is not an IP address", host);
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 511) != 0) {
        int e = errno;
        snprintf(err, errlen, "listen %s: %s", hostport, strerror(e));
        close(fd);
        return -e;
    }
    *fd_out = fd;
    return 0;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int open_access_log(const char *path)
{
    if (path[0] == '\0' || strcmp(path, "off") == 0) return -1;
    if (strcmp(path, "-") == 0) return dup(1);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void on_worker_exit(uv_async_t *a)
{
    struct gw_server *srv = a->data;
    if (__atomic_load_n(&srv->workers_done, __ATOMIC_ACQUIRE) == srv->nworkers &&
        srv->on_stopped) {
        void (*cb)(struct gw_server *) = srv->on_stopped;
        srv->on_stopped = NULL;
        cb(srv);
    }
}

int gw_server_init(struct gw_server *srv, const struct gw_conf *conf, uv_loop_t *main_loop,
                   char *err, size_t errlen)
{
    memset(srv, 0, sizeof(*srv));
    srv->conf = conf;
    srv->main_loop = main_loop;
    srv->access_fd = -1;
    int n = conf->workers;
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
        if (n > 64) n = 64;
    }
    srv->nworkers = n;
    srv->workers = gw_calloc((size_t)n, sizeof(*srv->workers));
    int port = -1;
    for (int i = 0; i < n; i++) {
        struct gw_worker *w = &srv->workers[i];
        w->magic = WORKER_MAGIC;
        w->id = i;
        w->srv = srv;
        w->listen_fd = -1;
        int rc = bind_socket(conf->listen, &w->listen_fd, port, err, errlen);
        if (rc != 0) return rc;
        /* Port 0: the first socket picks a port, the others share it. */
        if (port < 0) port = bound_port(w->listen_fd);
    }
    srv->listen_fd0 = srv->workers[0].listen_fd;
    srv->admin_fd = -1;
    for (int i = 0; i < n; i++) srv->workers[i].admin_fd = -1;
    if (conf->admin_listen[0]) {
        /* The admin listener is small traffic: worker 0 serves it. */
        int rc = bind_socket(conf->admin_listen, &srv->admin_fd, -1, err, errlen);
        if (rc != 0) return rc;
        srv->workers[0].admin_fd = srv->admin_fd;
    }
    gw_stats_init(n);
    srv->access_fd = open_access_log(conf->access_log);
    if (srv->access_fd < 0 && strcmp(conf->access_log, "-") != 0 && conf->access_log[0] &&
        strcmp(conf->access_log, "off") != 0) {
        snprintf(err, errlen, "access_log %s: %s", conf->access_log, strerror(errno));
        return -errno;
    }
    if (conf->dir[0]) {
        struct gw_cache_options co = {
            .dir = conf->dir,
            .max_size = conf->max_size,
            .max_entries = conf->max_entries,
            .index_size = conf->index_size,
        };
        char cerr[256];
        int rc = gw_cache_open(&srv->cache, &co, cerr, sizeof(cerr));
        if (rc != 0) {
            snprintf(err, errlen, "cache %s: %s", conf->dir, cerr);
            return rc;
        }
        uint64_t tmp, orphans, dropped, entries, bytes;
        gw_cache_last_sweep(srv->cache, &tmp, &orphans, &dropped);
        gw_cache_usage(srv->cache, &entries, &bytes);
        gw_info("cache", "%s: %llu entries, %llu bytes; swept %llu temp files, %llu orphans, "
                         "%llu broken entries", conf->dir, (unsigned long long)entries,
                (unsigned long long)bytes, (unsigned long long)tmp,
                (unsigned long long)orphans, (unsigned long long)dropped);
    }
    srv->swift = gw_swift_new(conf);
    uv_async_init(main_loop, &srv->worker_exit, on_worker_exit);
    srv->worker_exit.data = srv;
    return 0;
}

int gw_server_start(struct gw_server *srv)
{
    for (int i = 0; i < srv->nworkers; i++) {
        struct gw_worker *w = &srv->workers[i];
        uv_loop_init(&w->loop);
        uv_tcp_init(&w->loop, &w->listener);
        w->listener.data = w;
        int rc = uv_tcp_open(&w->listener, w->listen_fd);
        if (rc == 0) rc = uv_listen((uv_stream_t *)&w->listener, 511, on_connection);
        if (rc == 0 && w->admin_fd >= 0) {
            uv_tcp_init(&w->loop, &w->admin_listener);
            w->admin_listener.data = w;
            rc = uv_tcp_open(&w->admin_listener, w->admin_fd);
            if (rc == 0)
                rc = uv_listen((uv_stream_t *)&w->admin_listener, 128, on_connection);
        }
        if (rc != 0) {
            gw_error("server", "worker %d: listen: %s", i, uv_strerror(rc));
            return rc;
        }
        uv_async_init(&w->loop, &w->wakeup, on_wakeup);
        w->wakeup.data = w;
        uv_timer_init(&w->loop, &w->stop_check);
        w->stop_check.data = w;
        w->origin = gw_origin_new(&w->loop, srv->conf);
        gw_assert(w->origin != NULL);
        w->swift = gw_swift_client_new(srv->swift, w->origin, &w->loop);
        gw_fill_worker_init(w);
        uv_timer_init(&w->loop, &w->maint);
        w->maint.data = w;
        if (i == 0) uv_timer_start(&w->maint, on_maint, 1000, 1000);
    }
    for (int i = 0; i < srv->nworkers; i++) {
        int rc = uv_thread_create(&srv->workers[i].thread, worker_main, &srv->workers[i]);
        if (rc != 0) return rc;
        srv->workers_running++;
    }
    return 0;
}

void gw_server_address(const struct gw_server *srv, int admin, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[64] = "?";
    int port = 0;
    int fd = admin ? srv->admin_fd : srv->listen_fd0;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            snprintf(out, len, "%s:%d", host, port);
            return;
        }
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        snprintf(out, len, "[%s]:%d", host, port);
        return;
    }
    snprintf(out, len, "?");
}

void gw_server_drain(struct gw_server *srv)
{
    srv->draining = 1;
}

void gw_server_stop_accepting(struct gw_server *srv)
{
    srv->draining = 1;
    srv->closing = 1;
    for (int i = 0; i < srv->nworkers; i++) uv_async_send(&srv->workers[i].wakeup);
}

void gw_server_force_close(struct gw_server *srv)
{
    srv->draining = 1;
    srv->closing = 1;
    for (int i = 0; i < srv->nworkers; i++) {
        srv->workers[i].force_close = 1;
        uv_async_send(&srv->workers[i].wakeup);
    }
}

void gw_server_destroy(struct gw_server *srv)
{
    for (int i = 0; i < srv->workers_running; i++) uv_thread_join(&srv->workers[i].thread);
    srv->workers_running = 0;
    for (int i = 0; i < srv->nworkers; i++) srv->workers[i].magic = 0;
    free(srv->workers);
    srv->workers = NULL;
    gw_swift_free(srv->swift);
    srv->swift = NULL;
    gw_blobmap_shutdown(); /* every request is over: the maps are idle */
    if (srv->cache) gw_cache_close(srv->cache);
    srv->cache = NULL;
    if (srv->access_fd >= 0) close(srv->access_fd);
    srv->access_fd = -1;
    gw_stats_free();
    if (!uv_is_closing((uv_handle_t *)&srv->worker_exit))
        uv_close((uv_handle_t *)&srv->worker_exit, NULL);
}

void gw_server_reopen_logs(struct gw_server *srv)
{
    const char *path = srv->conf->access_log;
    if (srv->access_fd < 0 || strcmp(path, "-") == 0) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        gw_warn("server", "cannot reopen access log %s: %s", path, strerror(errno));
        return;
    }
    /* dup2 swaps the file under the same descriptor: writers never race. */
    dup2(fd, srv->access_fd);
    close(fd);
    gw_info("server", "access log reopened");
}
