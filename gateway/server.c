/*
 * server.c - a connection's life: reading and dispatch, timeouts, the
 * output queue, lingering close and the access log.  struct gw_conn is
 * private to this file; handlers see it as a sink (sink.h), and the one
 * call into them is gw_route().
 *
 * The connection drives its socket through a uv_poll_t (libuv's streams
 * cannot send a file): bodies go out of outq.c with sendfile, after their
 * head in the same call.  Reading stays on across keep-alive requests;
 * what arrives while a request is answered (pipelining) waits in the
 * stash, and reading stops only while the stash is full (STASH_MAX).  A
 * streamed body (a PUT) is dispatched at the end of its head; its bytes go
 * from the stash to the handler as it has room for them (bodyin.h).
 *
 * A handler's writes are queued, never sent from inside its call: the
 * queue goes out when the loop comes back to the connection (conn_run), at
 * the end of its poll callback or from the worker's run list (workers.c)
 * for writes made from elsewhere (a fill, a blob open).  So a head and a
 * small body, or a head and a file range, leave in one system call.
 * conn_run sends at most SEND_BUDGET bytes per loop turn (RUN_LIST_BUDGET
 * from the run list, so that answers woken together all start), then
 * waits for POLLOUT, which (level-triggered) comes back next turn if the
 * socket has room: a connection sending a big object yields to the others.
 * A handler stops producing above write_buffer queued and is called back
 * below half.
 *
 * Ownership: struct gw_conn embeds its uv_poll_t and uv_timer_t and is freed
 * only by the close callback of the last of them.  gw_sink_abort() and
 * write errors only mark the connection; conn_run closes it, so no callback
 * chain returns into freed memory.  The one timer serves each state in
 * turn: keep-alive, header read, send progress, lingering.
 *
 * A connection that is to close after its answer lingers: it shuts its
 * write side (FIN after the last byte), then reads and drops until EOF,
 * for a bounded time and byte count, because closing a socket with unread
 * input sends a RST, which can destroy an answer before it is read.
 *
 * max_connections is counted over every worker in srv->nconns, so the cap
 * does not depend on how SO_REUSEPORT spreads.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "bodyin.h"
#include "conf.h"
#include "http.h"
#include "outq.h"
#include "respond.h"
#include "route.h"
#include "server_int.h"
#include "sink.h"
#include "stash.h"
#include "util.h"

#define CONN_MAGIC 0x434f4e4eu
/* Input dropped while lingering before the connection is cut anyway. */
#define LINGER_MAX_BYTES (1u << 20)
/* Pipelined input kept while a request is answered; reading stops past it. */
#define STASH_MAX (64u * 1024)
/* Bytes a connection sends per loop turn before the others get theirs. */
#define SEND_BUDGET (512u * 1024)
/* The same from the run list, where answers woken together (a fill's readers)
 * start: each gets its head and first bytes before any of them gets more. */
#define RUN_LIST_BUDGET (64u * 1024)
/* Answers (pipelined requests) a connection goes through per loop turn. */
#define RUN_ROUNDS 16
/* on_drain calls per conn_flush: a handler that keeps asking is cut off. */
#define DRAIN_ROUNDS 64

enum gw_conn_state {
    GW_CONN_IDLE,       /* between requests, reading */
    GW_CONN_HEAD,       /* part of a request head has arrived */
    GW_CONN_BUSY,       /* a request is being answered; input goes to the stash */
    GW_CONN_FLUSHING,   /* the answer is queued; waiting for the queue to drain */
    GW_CONN_LINGER,     /* answered, write side shut: reading and dropping until EOF */
    GW_CONN_CLOSING,
};

struct gw_conn {
    uint32_t magic;
    struct gw_worker *w;
    struct gw_conn *prev, *next;
    int fd;
    uv_poll_t poll;
    int events;                 /* what poll watches: UV_READABLE, UV_WRITABLE */
    uv_timer_t timer;
    int closes_pending;
    struct gw_run_node run;     /* on the worker's run list (workers.c) */
    int running;                /* inside conn_run: writes need no scheduling */
    enum gw_conn_state state;
    llhttp_t parser;
    struct gw_http_req hreq;
    struct gw_stash stash;      /* bytes read but not parsed yet */
    struct gw_body_in body;     /* a streamed request body (a PUT) */
    int eof, aborting;
    struct gw_outq out;
    int blocked;                /* the socket took less than offered: POLLOUT */
    int want_drain;             /* the handler waits for the queue to drain */
    const struct gw_sink_owner *owner;  /* the handler that took the answer over */
    void *owner_ud;
    char peer[64];
    uint64_t lingered;          /* bytes dropped while lingering */
    int admin;                  /* accepted on the admin listener */
    /* This answer: the sink (status, bytes, cache, keep-alive), reset per request. */
    struct gw_sink sink;
    uint64_t req_start_ms;
    int logged;                 /* this request's access log line is written */
};

static void conn_close(struct gw_conn *c);
static void conn_next(uv_timer_t *t);
static void conn_parse(struct gw_conn *c, const char *data, size_t len);
static void conn_run(struct gw_conn *c, uint64_t budget);

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
    uint64_t ms = gw_now_ms() - c->req_start_ms;
    if (!c->admin) gw_stats_request(c->w->id, c->sink.status, c->sink.cache, c->sink.bytes, ms);
    gw_access_log_sink(c->w->srv->access_fd, c->w->access_format,
                       c->w->svc.conf->trusted_proxies, &c->sink, c->req_start_ms);
}

/* The handler is done with (or must let go of) the answer: release it. */
static void owner_release(struct gw_conn *c)
{
    const struct gw_sink_owner *o = c->owner;
    void *ud = c->owner_ud;
    c->owner = NULL;
    c->owner_ud = NULL;
    c->want_drain = 0;
    gw_body_in_release(&c->body);
    if (o) o->release(ud);
}

/* Something changed outside conn_run: have the loop come back to c. */
static void conn_schedule(struct gw_conn *c)
{
    if (!c->running && c->state != GW_CONN_CLOSING) gw_run_schedule(c->w, &c->run);
}

/* ---- the sink ---- */

static int conn_dead(const struct gw_conn *c) { return c->state == GW_CONN_CLOSING || c->aborting; }

static void sink_write(struct gw_sink *s, const void *data, size_t len)
{
    struct gw_conn *c = conn_of(s);
    if (len == 0 || conn_dead(c)) return;
    gw_outq_push_copy(&c->out, data, len);
    conn_schedule(c);
}

static void sink_write_buf(struct gw_sink *s, struct gw_buf *b)
{
    struct gw_conn *c = conn_of(s);
    if (b->len == 0 || conn_dead(c)) {
        gw_buf_free(b);
        return;
    }
    gw_outq_push_taken(&c->out, b->data, b->len);
    b->data = NULL;
    b->len = b->cap = 0;
    conn_schedule(c);
}

static void sink_write_file(struct gw_sink *s, int fd, uint64_t off, uint64_t len,
                            void (*release)(void *), void *arg)
{
    struct gw_conn *c = conn_of(s);
    if (len == 0 || conn_dead(c)) {
        release(arg);
        return;
    }
    gw_outq_push_file(&c->out, fd, off, len, release, arg);
    conn_schedule(c);
}

static int sink_congested(const struct gw_sink *s)
{
    const struct gw_conn *c = conn_of(s);
    return c->out.bytes > c->w->svc.conf->write_buffer;
}

static void sink_wait_drain(struct gw_sink *s)
{
    struct gw_conn *c = conn_of(s);
    if (c->state != GW_CONN_BUSY || c->aborting) return;
    c->want_drain = 1;
    conn_schedule(c);
}

static void sink_end(struct gw_sink *s)
{
    struct gw_conn *c = conn_of(s);
    if (conn_dead(c)) return;
    gw_assert(c->state == GW_CONN_BUSY);
    c->state = GW_CONN_FLUSHING;
    c->want_drain = 0;
    if (atomic_load(&c->w->srv->closing) || !gw_body_in_clean(&c->body)) c->sink.keepalive = 0;
    access_log(c);
    conn_schedule(c);
}

/* The handler cuts the answer short (Swift failed under it): the client did
 * nothing, so no client_abort; the handler counted the cause. */
static void conn_abort(struct gw_conn *c)
{
    if (conn_dead(c)) return;
    if (c->state == GW_CONN_BUSY) access_log(c);
    c->aborting = 1;
    c->sink.keepalive = 0;
    c->want_drain = 0;
    /* Closed from conn_run, without waiting for the queue to drain. */
    conn_schedule(c);
}

static void sink_abort(struct gw_sink *s) { conn_abort(conn_of(s)); }

static void sink_attach(struct gw_sink *s, const struct gw_sink_owner *owner, void *ud)
{
    struct gw_conn *c = conn_of(s);
    gw_assert(c->owner == NULL);
    c->owner = owner;
    c->owner_ud = ud;
}

static void sink_read_body(struct gw_sink *s, const struct gw_sink_body *body, void *ud)
{
    struct gw_conn *c = conn_of(s);
    if (gw_body_in_start(&c->body, &c->hreq, body, ud))
        gw_outq_push_copy(&c->out, GW_BODY_CONTINUE, sizeof(GW_BODY_CONTINUE) - 1);
    uv_timer_start(&c->timer, conn_next, c->w->svc.conf->header_timeout_ms, 0);
    conn_schedule(c);
}

static void sink_body_resume(struct gw_sink *s) { conn_schedule(conn_of(s)); }

static const struct gw_sink_ops conn_sink_ops = {
    .write = sink_write, .write_buf = sink_write_buf, .write_file = sink_write_file,
    .congested = sink_congested, .wait_drain = sink_wait_drain, .end = sink_end,
    .abort = sink_abort, .attach = sink_attach, .read_body = sink_read_body,
    .body_resume = sink_body_resume,
};

/* A new answer begins: the sink's facts start over. */
static void answer_begin(struct gw_conn *c, int keepalive)
{
    c->state = GW_CONN_BUSY;
    c->sink.keepalive = keepalive;
    c->sink.status = 0;
    c->sink.bytes = c->sink.origin_ms = 0;
    c->sink.cache = GW_CACHE_NONE;
    c->logged = 0;
    c->body = (struct gw_body_in){0};
}

/* ---- the timer and the socket's events ---- */

/*
 * The timer as the state and the queue ask: while bytes are queued, the
 * send timeout (restarted on progress); otherwise keep-alive when idle and
 * nothing while a handler works.  A head being read and a linger keep
 * their own timeouts.
 */
static void timer_for_state(struct gw_conn *c)
{
    const struct gw_conf *conf = c->w->svc.conf;
    switch (c->state) {
    case GW_CONN_IDLE:
        uv_timer_start(&c->timer, conn_next,
                       c->out.bytes ? conf->send_timeout_ms : conf->keepalive_timeout_ms, 0);
        return;
    case GW_CONN_BUSY:
    case GW_CONN_FLUSHING:
        if (c->out.bytes)
            uv_timer_start(&c->timer, conn_next, conf->send_timeout_ms, 0);
        else if (c->body.state == GW_BODY_READING)
            uv_timer_start(&c->timer, conn_next, conf->header_timeout_ms, 0);
        else
            uv_timer_stop(&c->timer);
        return;
    case GW_CONN_HEAD:
    case GW_CONN_LINGER:
    case GW_CONN_CLOSING:
        return;
    }
}

static int wants_read(const struct gw_conn *c)
{
    if (c->eof || conn_dead(c)) return 0;
    if (c->state == GW_CONN_BUSY || c->state == GW_CONN_FLUSHING)
        return c->stash.len < STASH_MAX;
    return 1;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watch what c waits for; epoll is told only when that changes. */
static void conn_watch(struct gw_conn *c)
{
    if (c->state == GW_CONN_CLOSING) return;
    int want = 0;
    if (wants_read(c)) want |= UV_READABLE;
    if (c->blocked && c->out.bytes > 0) want |= UV_WRITABLE;
    if (want == c->events) return;
    c->events = want;
    if (want)
        uv_poll_start(&c->poll, want, on_poll);
    else
        uv_poll_stop(&c->poll);
}

/* ---- writing ---- */

/* Call the handler back if it waits and the queue is low enough. */
static int drain_due(const struct gw_conn *c)
{
    return c->want_drain && c->owner && c->state == GW_CONN_BUSY &&
           c->out.bytes <= c->w->svc.conf->write_buffer / 2;
}

/*
 * Send what is queued, within what is left of this turn's *budget, calling
 * the handler back when it waits for room.  -1 when the connection broke
 * (closed now).
 */
static int conn_flush(struct gw_conn *c, uint64_t *budget)
{
    for (int round = 0; round < DRAIN_ROUNDS; round++) {
        if (c->out.bytes > 0 && !c->blocked) {
            uint64_t sent = 0;
            int rc = gw_outq_send(&c->out, c->fd, *budget, &sent);
            if (rc < 0) {
                char what[GW_ACCESS_WHAT_LEN];
                gw_debug("server", "%s: send failed: %s", conn_what(c, what, sizeof(what)),
                         gw_strerror(rc));
                conn_close(c);
                return -1;
            }
            c->blocked = rc != 0;
            *budget -= sent < *budget ? sent : *budget;
            if (sent > 0 || (c->blocked && !uv_is_active((uv_handle_t *)&c->timer)))
                timer_for_state(c);
        }
        if (!drain_due(c)) return 0;
        c->want_drain = 0;
        c->owner->on_drain(c->owner_ud);
        if (c->blocked || c->aborting) return 0;
    }
    return 0;
}

/* ---- closing ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct gw_conn *c = h->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (--c->closes_pending > 0) return;
    struct gw_worker *w = c->w;
    gw_http_req_free(&c->hreq);
    gw_stash_free(&c->stash);
    c->magic = 0;
    free(c);
    gw_worker_maybe_stop(w);
}

static void conn_unlink(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    gw_worker_conn_closed(w, c->admin);
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
    gw_run_cancel(c->w, &c->run);
    conn_unlink(c);
    gw_outq_clear(&c->out);
    uv_timer_stop(&c->timer);
    c->closes_pending = 2;
    uv_close((uv_handle_t *)&c->poll, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    close(c->fd); /* the poll handle has stopped watching it */
    c->fd = -1;
}

/* ---- reading and dispatch ---- */

static void respond_error_and_close(struct gw_conn *c, int status, const char *reason)
{
    if (c->req_start_ms == 0) c->req_start_ms = gw_now_ms();
    answer_begin(c, 0);
    gw_respond_simple(&c->sink, status, reason, NULL);
}

/*
 * No more requests (the client closed its side, the server drains), but
 * the last answer is still queued: it goes out, then the connection closes.
 */
static void conn_finish_queue(struct gw_conn *c)
{
    c->state = GW_CONN_FLUSHING;
    c->sink.keepalive = 0;
    timer_for_state(c);
}

/* The client closed its side: what that means depends on where c is. */
static void conn_eof(struct gw_conn *c)
{
    c->eof = 1;
    switch (c->state) {
    case GW_CONN_IDLE:
        if (c->out.bytes > 0)
            conn_finish_queue(c);
        else
            conn_close(c);
        return;
    case GW_CONN_HEAD:
        /* Half a request and then EOF: say why nothing more will come. */
        respond_error_and_close(c, 400, "incomplete request");
        return;
    case GW_CONN_BUSY:
    case GW_CONN_FLUSHING:
        return; /* answered all the same; what is stashed too, then closed */
    default:
        conn_close(c);
        return;
    }
}

/* The socket is readable: parse, stash or drop what it has. */
static void conn_read(struct gw_conn *c)
{
    int busy = c->state == GW_CONN_BUSY || c->state == GW_CONN_FLUSHING;
    size_t room = sizeof(c->w->rbuf);
    char *buf = busy ? gw_stash_room(&c->stash, STASH_MAX, &room) : c->w->rbuf;
    if (room == 0) return;
    ssize_t n = read(c->fd, buf, room);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        conn_close(c);
        return;
    }
    if (n == 0) {
        conn_eof(c);
        return;
    }
    if (c->state == GW_CONN_LINGER) {
        /* What the client still sends is dropped; its EOF ends the linger. */
        if ((c->lingered += (uint64_t)n) > LINGER_MAX_BYTES) conn_close(c);
        return;
    }
    if (busy) {
        gw_stash_grow(&c->stash, (size_t)n);
        return;
    }
    conn_parse(c, buf, (size_t)n);
}

/* A whole request (or a head whose body streams) is in c->hreq: hand it over. */
static void dispatch(struct gw_conn *c, int body_streams)
{
    const struct gw_conf *conf = c->w->svc.conf;
    answer_begin(c, c->hreq.keepalive);
    if (body_streams) c->body.state = GW_BODY_WAITING;
    /* The previous answer may still be queued: its send timeout goes on. */
    timer_for_state(c);
    struct gw_route_ctx ctx = {
        .admin = c->admin,
        .admin_token = conf->admin_token,
        .write_token = conf->write_token,
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
        uv_timer_start(&c->timer, conn_next, c->w->svc.conf->header_timeout_ms, 0);
    }
    size_t used;
    enum gw_http_feed_result rc = gw_http_feed(&c->parser, &c->hreq, data, len, &used);
    if (rc == GW_HTTP_MORE) return;
    if (rc == GW_HTTP_REQUEST || rc == GW_HTTP_HEAD) {
        gw_stash_keep(&c->stash, data, data + used, len - used);
        dispatch(c, rc == GW_HTTP_HEAD);
        return;
    }
    /* A bad request: the connection cannot be trusted past this point. */
    gw_stash_clear(&c->stash);
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

/*
 * Close after an answer without resetting the client: shut our side (a FIN
 * after the last queued byte), read and drop until the client's EOF, for at
 * most lingering_timeout and LINGER_MAX_BYTES.  A drain's force-close, an
 * EOF already seen, or a zero timeout close at once.
 */
static void conn_linger(struct gw_conn *c)
{
    const struct gw_conf *conf = c->w->svc.conf;
    if (c->eof || atomic_load(&c->w->force_close) || conf->lingering_timeout_ms == 0 ||
        shutdown(c->fd, SHUT_WR) != 0) {
        conn_close(c);
        return;
    }
    c->state = GW_CONN_LINGER;
    gw_stash_free(&c->stash);
    c->lingered = 0;
    uv_timer_start(&c->timer, conn_next, conf->lingering_timeout_ms, 0);
}

/* The next request: first what is already read, then the socket. */
static void next_request(struct gw_conn *c)
{
    c->state = GW_CONN_IDLE;
    gw_http_next(&c->parser, &c->hreq);
    if (c->stash.len > 0) {
        conn_parse(c, gw_stash_data(&c->stash), c->stash.len);
        /* Only part of a head was kept: llhttp has it all; the rest comes from the socket. */
        if (c->state == GW_CONN_HEAD) {
            gw_stash_clear(&c->stash);
            if (c->eof) conn_eof(c);
        }
        return;
    }
    timer_for_state(c);
}

/*
 * No request follows this answer: it said it would close, the server is
 * closing, or the client closed its side and nothing it sent is left.
 */
static int answer_is_last(const struct gw_conn *c)
{
    return !c->sink.keepalive || (c->eof && c->stash.len == 0) ||
           atomic_load(&c->w->srv->closing) || atomic_load(&c->w->force_close);
}

/* An ended answer lets go of the connection once all of it is sent, or,
 * when a request may follow, once it is below the low watermark. */
static int answer_done(const struct gw_conn *c)
{
    if (c->state != GW_CONN_FLUSHING) return 0;
    if (c->out.bytes == 0) return 1;
    return !answer_is_last(c) && c->out.bytes <= c->w->svc.conf->write_buffer / 2;
}

/* answer_done(): close, or go on to the next request. */
static void answer_over(struct gw_conn *c)
{
    owner_release(c);
    if (answer_is_last(c))
        conn_linger(c);
    else
        next_request(c);
}

/*
 * An aborted answer: what was queued before the abort goes out as far as
 * the socket takes it at once (a head, verified bytes), then the
 * connection closes, short of the length the head promised.
 */
static void conn_cut(struct gw_conn *c)
{
    uint64_t sent;
    if (!c->blocked) gw_outq_send(&c->out, c->fd, SEND_BUDGET, &sent);
    conn_close(c);
}

/*
 * The connection's pump, run from the loop only (its poll callback, the
 * worker's run list): send, call the handler back, end answers and start
 * the pipelined requests after them, then watch the socket for what is
 * left.  Bounded per turn; what remains is scheduled for the next.
 */
static void conn_run(struct gw_conn *c, uint64_t budget)
{
    int was_running = c->running;
    c->running = 1;
    int round = 0;
    for (; round < RUN_ROUNDS && c->state != GW_CONN_CLOSING; round++) {
        if (c->aborting) {
            conn_cut(c);
            break;
        }
        if (c->body.state == GW_BODY_READING &&
            gw_body_in_pump(&c->body, &c->parser, &c->hreq, &c->stash, c->eof) > 0)
            timer_for_state(c); /* the client's body moved: its idle timeout starts over */
        if (conn_flush(c, &budget) < 0) break;
        if (!answer_done(c)) break;
        answer_over(c);
    }
    c->running = was_running;
    if (c->state == GW_CONN_CLOSING) return;
    if (round == RUN_ROUNDS || c->aborting) conn_schedule(c);
    conn_watch(c);
}

void gw_conn_run(struct gw_run_node *n)
{
    struct gw_conn *c = (struct gw_conn *)(void *)((char *)n - offsetof(struct gw_conn, run));
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    conn_run(c, RUN_LIST_BUDGET);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct gw_conn *c = h->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    if (status < 0) {
        /* An error on the socket (a reset): the client is gone. */
        conn_close(c);
        return;
    }
    c->running = 1;
    if (events & UV_WRITABLE) c->blocked = 0;
    if (events & UV_READABLE) conn_read(c);
    c->running = 0;
    if (c->state != GW_CONN_CLOSING) conn_run(c, SEND_BUDGET);
}

/* The connection's timer fired: one of the timeouts its state keeps. */
static void conn_next(uv_timer_t *t)
{
    struct gw_conn *c = t->data;
    GW_CHECK_MAGIC(c, CONN_MAGIC);
    switch (c->state) {
    case GW_CONN_IDLE:
        if (c->out.bytes > 0)
            send_timeout(c); /* the last answer's bytes did not move */
        else
            conn_close(c); /* keep-alive timeout */
        return;
    case GW_CONN_HEAD:
        /* The head did not arrive in time. */
        gw_stats_error(GW_ERR_CLIENT_TIMEOUT);
        respond_error_and_close(c, 408, "request header timeout");
        return;
    case GW_CONN_BUSY:
    case GW_CONN_FLUSHING:
        if (c->out.bytes == 0 && c->body.state == GW_BODY_READING) {
            /* No body byte for header_timeout (or none taken: wait on). */
            if (gw_body_in_stalled(&c->body)) gw_stats_error(GW_ERR_CLIENT_TIMEOUT);
            timer_for_state(c);
            return;
        }
        /* Otherwise armed only while bytes are queued: no write progress in send_timeout. */
        send_timeout(c);
        return;
    case GW_CONN_LINGER:
        conn_close(c); /* lingering_timeout: the client never sent its EOF */
        return;
    case GW_CONN_CLOSING:
        return;
    }
}

/* ---- accepting ---- */

/* Over max_connections: refuse this one cleanly (an answer, then a
 * lingering close); the others go on. */
static void refuse_over_cap(struct gw_conn *c)
{
    c->req_start_ms = gw_now_ms();
    answer_begin(c, 0);
    gw_respond_simple(&c->sink, 503, "too many connections", "Retry-After: 1\r\n");
}

/* A new connection, or NULL when its memory cannot be had (nothing held then). */
static struct gw_conn *conn_new(struct gw_worker *w, int fd, int admin)
{
    const struct gw_conf *conf = w->svc.conf;
    struct gw_conn *c = calloc(1, sizeof(*c));
    if (c == NULL || gw_http_req_init(&c->hreq, (uint32_t)conf->max_header_size,
                                      (uint32_t)conf->max_headers, (uint32_t)conf->max_url_size,
                                      conf->max_body_size) != 0)
        return free(c), NULL;
    *c = (struct gw_conn){.magic = CONN_MAGIC, .w = w, .fd = fd, .admin = admin, .hreq = c->hreq};
    gw_outq_init(&c->out);
    uv_timer_init(&w->loop, &c->timer);
    c->timer.data = c;
    llhttp_init(&c->parser, HTTP_REQUEST, &gw_http_settings);
    c->parser.data = &c->hreq;
    if (!admin && conf->write_token[0]) c->hreq.max_upload = conf->max_upload_size;
    c->sink = (struct gw_sink){.ops = &conn_sink_ops, .req = &c->hreq, .peer = c->peer};
    return c;
}

int gw_conn_accept(struct gw_worker *w, int fd, int admin, const char *peer)
{
    const struct gw_conf *conf = w->svc.conf;
    struct gw_conn *c = conn_new(w, fd, admin);
    if (c == NULL) return -ENOMEM;
    int rc = uv_poll_init_socket(&w->loop, &c->poll, fd);
    if (rc != 0) {
        gw_warn("server", "cannot watch a new connection: %s", uv_strerror(rc));
        close(fd);
        c->closes_pending = 1;
        c->state = GW_CONN_CLOSING;
        uv_close((uv_handle_t *)&c->timer, on_conn_closed);
        return 0;
    }
    c->poll.data = c;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    c->state = GW_CONN_IDLE;
    if (gw_worker_conn_opened(w, admin, c->peer) != 0) {
        refuse_over_cap(c);
        conn_run(c, SEND_BUDGET);
        return 0;
    }
    /* A new connection gets header_timeout for its first byte, as a head would. */
    uint64_t first = conf->header_timeout_ms < conf->keepalive_timeout_ms
                         ? conf->header_timeout_ms : conf->keepalive_timeout_ms;
    uv_timer_start(&c->timer, conn_next, first, 0);
    conn_watch(c);
    return 0;
}

void gw_conns_wakeup(struct gw_worker *w)
{
    /* Idle connections go now; busy ones when their answer is out. */
    int force = atomic_load(&w->force_close);
    struct gw_conn *c = w->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->state == GW_CONN_IDLE && !force && c->out.bytes > 0)
            conn_finish_queue(c); /* the last answer's tail is still going out */
        else if (force || c->state == GW_CONN_IDLE)
            conn_close(c);
        else if (c->state == GW_CONN_HEAD)
            c->sink.keepalive = 0;
    }
}
