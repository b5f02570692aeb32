/*
 * origin.c - libcurl's multi interface on a libuv loop, as curl's
 * docs/examples/multi-uv.c does it: one uv_timer_t for
 * CURLMOPT_TIMERFUNCTION, one uv_poll_t per socket kept with
 * curl_multi_assign(), curl_multi_info_read() drained after every
 * curl_multi_socket_action(), per-fetch state in CURLOPT_PRIVATE.
 *
 * Invariants:
 *  - curl_multi_remove_handle() is never called from inside a curl
 *    callback.  A fetch that is cancelled is only marked; the reaper (a
 *    zero timer) removes and frees it from the loop.  A fetch started from
 *    inside a curl callback (where curl refuses new transfers) is added to
 *    the multi handle by the reaper too.
 *  - on_done is called exactly once for a fetch that was started and not
 *    cancelled, always from a loop callback.
 *  - Connections to Swift are kept alive and reused by the multi handle.
 *  - No header value that holds a control byte is ever kept: such a head
 *    fails the fetch with GW_EBADHEADER (bad_header), so nothing a caller
 *    reads with gw_fetch_header() can break a head it is copied into.
 *  - Timeouts: connect_timeout (curl), stall_timeout (curl's low-speed
 *    limit: no byte for that long, before or after the headers), and
 *    first_byte_timeout, checked by a sweep timer four times a second.
 *  - Every fetch but an ungated one (authentication) holds one of the
 *    process's max_fetches slots (gate.h) from its transfer's start to its
 *    free, or waits for one without a transfer.  A refusal or a wait past
 *    fetch_queue_timeout ends it with GW_EBUSY, from a loop callback.
 */
#include "origin.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "conf.h"
#include "gate.h"
#include "http.h"
#include "stats.h"
#include "util.h"

#define ORIGIN_MAGIC 0x4f524947u
#define FETCH_MAGIC 0x46544348u
#define SOCK_MAGIC 0x534f434bu

struct gw_origin {
    uint32_t magic;
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    uv_timer_t reaper;
    uv_timer_t sweep;           /* first_byte_timeout */
    int closing;
    int handles_open;           /* timers not yet closed */
    struct gw_fetch *all;       /* every fetch not yet freed */
    const struct gw_conf *conf;
    struct gw_gate_queue *gate; /* NULL: no conf, nothing gated */
};

struct resp_header {
    char *name, *value;
};

struct gw_fetch {
    uint32_t magic;
    struct gw_origin *o;
    struct gw_fetch *prev, *next;
    CURL *easy;
    struct curl_slist *req_headers;
    const struct gw_fetch_cbs *cbs;
    void *ud;
    struct resp_header *hdrs;
    size_t nhdrs, caphdrs;
    int started, added, cancelled, done, headers_seen, paused;
    int read_paused;            /* on_read said GW_FETCH_READ_PAUSE */
    int body_sending;           /* an upload whose body is not over yet */
    int add_pending;            /* started from inside a curl callback */
    int abort_err;              /* what a callback asked to abort with */
    int ungated;                /* takes no max_fetches slot */
    int slot;                   /* holds a max_fetches slot */
    int refused;                /* the gate said no: ends with GW_EBUSY */
    struct gw_gate_waiter wait; /* while it waits for a slot */
    char bad_name[64];          /* the header that made it GW_EBADHEADER ("" for a fold) */
    uint64_t start_ms, ttfb_ms;
    int sock_errno;             /* socket() failed with it (open_socket) */
    char errbuf[CURL_ERROR_SIZE];
};

struct sock_ctx {
    uint32_t magic;
    uv_poll_t poll;
    curl_socket_t fd;
    struct gw_origin *o;
};

static void fetch_free(struct gw_fetch *f);
static void on_reap(uv_timer_t *t);

/* ---- sockets and timers, as multi-uv.c ---- */

/*
 * curl refused the response head as malformed before it was whole: a NUL
 * in a header line (a line curl never passes to header_cb) or a status
 * line it cannot read.  Swift sent a head that must not be replayed:
 * counted with the bad header values.
 */
static int head_refused_by_curl(void)
{
    gw_stats_error(GW_ERR_BAD_ORIGIN_HEADER);
    return GW_EBADHEADER;
}

/*
 * Swift failed this fetch (a 5xx, a broken or timed-out transfer, a
 * malformed head): one line naming the request and Swift's transaction
 * id, so that the operator finds the same request in Swift's logs.  What
 * a caller refused on its own (a 404, a changed segment) is the caller's
 * to log.
 */
static void log_origin_error(struct gw_fetch *f, int transport)
{
    long status = 0;
    char *method = NULL, *url = NULL;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 500 && !transport) return;
    curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_METHOD, &method);
    curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url);
    const char *tx = gw_fetch_header(f, "X-Trans-Id");
    const char *m = method ? method : "GET", *u = url ? url : "?", *t = tx ? tx : "(none)";
    if (transport && f->errbuf[0])
        gw_warn("origin", "%s %s: %s; X-Trans-Id %s", m, u, f->errbuf, t);
    else
        gw_warn("origin", "%s %s: Swift answered %ld; X-Trans-Id %s", m, u, status, t);
}

static void check_multi_info(struct gw_origin *o)
{
    CURLMsg *msg;
    int pending;
    while ((msg = curl_multi_info_read(o->multi, &pending)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct gw_fetch *f = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        GW_CHECK_MAGIC(f, FETCH_MAGIC);
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(o->multi, f->easy);
        f->added = 0;
        f->done = 1;
        if (!f->cancelled && f->cbs->on_done) {
            int err = 0;
            if (f->abort_err)
                err = f->abort_err;
            else if (rc == CURLE_WEIRD_SERVER_REPLY && !f->headers_seen)
                err = head_refused_by_curl();
            else if (rc == CURLE_OK)
                err = 0;
            else if (rc == CURLE_COULDNT_CONNECT && gw_err_no_files(-f->sock_errno))
                err = -f->sock_errno; /* not Swift's fault: the process is out of descriptors */
            else if (rc == CURLE_OPERATION_TIMEDOUT)
                err = GW_ETIMEOUT;
            else if (rc == CURLE_PARTIAL_FILE)
                err = GW_ESHORT;
            else
                err = GW_EORIGIN;
            if (err == GW_EBADHEADER && f->abort_err)
                snprintf(f->errbuf, sizeof(f->errbuf), "a control byte in the value of "
                         "header \"%s\", or a folded line", f->bad_name);
            else if (rc != CURLE_OK && f->errbuf[0] == '\0')
                snprintf(f->errbuf, sizeof(f->errbuf), "%s", curl_easy_strerror(rc));
            log_origin_error(f, err == GW_EBADHEADER || (rc != CURLE_OK && !f->abort_err));
            f->cbs->on_done(f->ud, f, err);
        }
        fetch_free(f);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *s = h->data;
    GW_CHECK_MAGIC(s, SOCK_MAGIC);
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    struct gw_origin *o = s->o;
    curl_multi_socket_action(o->multi, s->fd, flags, &running);
    check_multi_info(o);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct sock_ctx *s = h->data;
    GW_CHECK_MAGIC(s, SOCK_MAGIC);
    s->magic = 0;
    free(s);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    (void)easy;
    struct gw_origin *o = userp;
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    struct sock_ctx *s = socketp;

    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(o->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = gw_calloc(1, sizeof(*s));
        s->magic = SOCK_MAGIC;
        s->fd = fd;
        s->o = o;
        if (uv_poll_init_socket(o->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(o->multi, fd, s);
    }
    int events = 0;
    if (action != CURL_POLL_IN) events |= UV_WRITABLE;
    if (action != CURL_POLL_OUT) events |= UV_READABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct gw_origin *o = t->data;
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    int running;
    curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(o);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct gw_origin *o = userp;
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    if (timeout_ms < 0)
        uv_timer_stop(&o->timer);
    else
        uv_timer_start(&o->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- first-byte timeouts ---- */

static void on_sweep(uv_timer_t *t)
{
    struct gw_origin *o = t->data;
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    if (o->conf == NULL) return;
    uint64_t now = gw_now_ms(), limit = o->conf->first_byte_timeout_ms;
    struct gw_fetch *f = o->all, *next;
    for (; f; f = next) {
        next = f->next;
        if (f->cancelled || !f->added || f->ttfb_ms != 0 || f->body_sending ||
            now - f->start_ms < limit)
            continue;
        /* Not inside any curl callback here: the fetch can end now. */
        curl_multi_remove_handle(o->multi, f->easy);
        f->added = 0;
        f->done = 1;
        snprintf(f->errbuf, sizeof(f->errbuf), "no answer within %llu ms",
                 (unsigned long long)limit);
        log_origin_error(f, 1);
        if (f->cbs->on_done) f->cbs->on_done(f->ud, f, GW_ETIMEOUT);
        /* on_done may have freed others; start the walk again next time. */
        fetch_free(f);
        return;
    }
}

/* ---- the gate: a slot, or a wait for one ---- */

/* End f that is in no transfer with err, from a loop callback, and free it. */
static void fetch_end(struct gw_fetch *f, int err, const char *why)
{
    f->done = 1;
    snprintf(f->errbuf, sizeof(f->errbuf), "%s", why);
    if (f->cbs->on_done) f->cbs->on_done(f->ud, f, err);
    fetch_free(f);
}

static void fetch_add(struct gw_fetch *f)
{
    f->start_ms = gw_now_ms();
    if (curl_multi_add_handle(f->o->multi, f->easy) == CURLM_OK) {
        f->added = 1;
        return;
    }
    fetch_end(f, GW_EORIGIN, "cannot add the transfer");
}

static struct gw_fetch *waiter_fetch(struct gw_gate_waiter *w)
{
    struct gw_fetch *f = (struct gw_fetch *)((char *)w - offsetof(struct gw_fetch, wait));
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    return f;
}

static int unwanted(struct gw_gate_waiter *w)
{
    struct gw_fetch *f = waiter_fetch(w);
    return !f->cancelled && !f->refused && f->cbs->wanted != NULL && !f->cbs->wanted(f->ud);
}

static void on_granted(struct gw_gate_waiter *w)
{
    struct gw_fetch *f = waiter_fetch(w);
    f->slot = 1;
    if (f->cancelled) {
        fetch_free(f);
    } else if (unwanted(w)) {
        /* Nobody waits for it any more: the slot goes to the next one. */
        fetch_end(f, GW_EBUSY, "nobody waits for it any more");
    } else {
        fetch_add(f);
    }
}

/*
 * The queue is full: the first waiter of this loop that nobody wants any
 * more gives its place up (it ends with GW_EBUSY, from the reaper), and f
 * asks again.  The gate's answer for f.
 */
static int enter_evicting(struct gw_fetch *f)
{
    struct gw_origin *o = f->o;
    int rc = gw_gate_enter(o->gate, &f->wait);
    if (rc != GW_ELIMIT) return rc;
    struct gw_gate_waiter *w = gw_gate_find(o->gate, unwanted);
    if (w != NULL) {
        gw_gate_cancel(o->gate, w);
        waiter_fetch(w)->refused = 1;
        if (!o->closing) uv_timer_start(&o->reaper, on_reap, 0, 0);
        rc = gw_gate_enter(o->gate, &f->wait);
    }
    if (rc == GW_ELIMIT) gw_gate_refused();
    return rc;
}

static void on_expired(struct gw_gate_waiter *w)
{
    struct gw_fetch *f = waiter_fetch(w);
    if (f->cancelled) {
        fetch_free(f);
        return;
    }
    char why[96];
    snprintf(why, sizeof(why), "waited %llu ms for one of max_fetches",
             (unsigned long long)f->o->conf->fetch_queue_timeout_ms);
    fetch_end(f, GW_EBUSY, why);
}

/* ---- the reaper: cancelled fetches leave the multi handle here ---- */

static void on_reap(uv_timer_t *t)
{
    struct gw_origin *o = t->data;
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    struct gw_fetch *f = o->all, *next;
    for (; f; f = next) {
        next = f->next;
        if (f->cancelled) {
            fetch_free(f);
        } else if (f->refused) {
            fetch_end(f, GW_EBUSY, "too many requests to Swift waiting");
            uv_timer_start(&o->reaper, on_reap, 0, 0);
            return;
        } else if (f->add_pending) {
            f->add_pending = 0;
            if (curl_multi_add_handle(o->multi, f->easy) == CURLM_OK) {
                f->added = 1;
                continue;
            }
            f->done = 1;
            snprintf(f->errbuf, sizeof(f->errbuf), "cannot add the transfer");
            if (f->cbs->on_done) f->cbs->on_done(f->ud, f, GW_EORIGIN);
            fetch_free(f);
            /* on_done may have freed others; go on from the loop. */
            uv_timer_start(&o->reaper, on_reap, 0, 0);
            return;
        }
    }
}

/* ---- curl callbacks ---- */

/*
 * A header line that must not reach a client: a value with a control byte
 * (a CR inside it, DEL, 0x01...) or an obs-fold continuation, which a
 * gateway must refuse or rewrite (RFC 9112 §5.2).  The whole answer is
 * refused, so nothing of it is replayed or cached: the transfer stops now
 * and on_done gets GW_EBADHEADER.  A NUL never comes here: curl fails the
 * transfer itself (check_multi_info).
 */
static size_t bad_header(struct gw_fetch *f, const char *line, const char *colon)
{
    int nlen = colon ? (int)(colon - line) : 0;
    snprintf(f->bad_name, sizeof(f->bad_name), "%.*s", nlen > 60 ? 60 : nlen, line);
    f->abort_err = GW_EBADHEADER;
    gw_stats_error(GW_ERR_BAD_ORIGIN_HEADER);
    return 0;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct gw_fetch *f = userp;
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    size_t len = size * n;
    if (f->cancelled) return 0;
    if (f->ttfb_ms == 0) f->ttfb_ms = gw_now_ms() - f->start_ms + 1;

    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new status line: an interim 1xx before it is forgotten. */
        for (size_t i = 0; i < f->nhdrs; i++) {
            free(f->hdrs[i].name);
            free(f->hdrs[i].value);
        }
        f->nhdrs = 0;
        return len;
    }
    if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
        long status = 0;
        curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 100 && status < 200) return len;
        f->headers_seen = 1;
        if (f->cbs->on_headers) {
            int rc = f->cbs->on_headers(f->ud, f, status);
            if (rc < 0 || f->cancelled) {
                if (rc < 0) f->abort_err = rc;
                return 0;
            }
        }
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (colon == NULL && buf[0] != ' ' && buf[0] != '\t') return len;
    const char *v = colon ? colon + 1 : buf, *end = buf + len;
    /* curl hands over the line with its own end: LF, or CRLF.  Any other
     * CR stays in the value, and refuses it. */
    if (end > v && end[-1] == '\n') end--;
    if (end > v && end[-1] == '\r') end--;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (buf[0] == ' ' || buf[0] == '\t' || !gw_http_field_value_ok(v, (size_t)(end - v)))
        return bad_header(f, buf, colon);
    size_t nlen = (size_t)(colon - buf);
    if (f->nhdrs == f->caphdrs) {
        f->caphdrs = f->caphdrs ? f->caphdrs * 2 : 16;
        f->hdrs = gw_realloc(f->hdrs, f->caphdrs * sizeof(*f->hdrs));
    }
    f->hdrs[f->nhdrs].name = gw_strndup(buf, nlen);
    f->hdrs[f->nhdrs].value = gw_strndup(v, (size_t)(end - v));
    f->nhdrs++;
    return len;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct gw_fetch *f = userp;
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    size_t len = size * n;
    /* A callback asked to abort: curl may still hand over bytes it kept
     * while paused (from inside curl_easy_pause); refuse them too. */
    if (f->cancelled || f->abort_err) return 0;
    if (f->cbs->on_data == NULL) return len;
    int rc = f->cbs->on_data(f->ud, buf, len);
    if (f->cancelled) return 0;
    if (rc == GW_FETCH_PAUSE) {
        f->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (rc < 0) {
        f->abort_err = rc;
        return 0;
    }
    return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct gw_fetch *f = userp;
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    if (f->cancelled || f->abort_err) return CURL_READFUNC_ABORT;
    size_t got = f->cbs->on_read(f->ud, buf, size * n);
    if (f->cancelled || got == GW_FETCH_READ_ABORT) return CURL_READFUNC_ABORT;
    if (got == GW_FETCH_READ_PAUSE) {
        f->read_paused = 1;
        return CURL_READFUNC_PAUSE;
    }
    if (got == 0) {
        /* The body is over: Swift's answer is awaited from now on. */
        f->body_sending = 0;
        f->start_ms = gw_now_ms();
    }
    return got;
}

/* ---- public ---- */

static void on_origin_timer_closed(uv_handle_t *h)
{
    struct gw_origin *o = h->data;
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    if (--o->handles_open == 0) {
        curl_multi_cleanup(o->multi);
        o->magic = 0;
        free(o);
    }
}

void gw_origin_easy_defaults(void *easy)
{
    CURL *e = easy;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* Bytes are passed on exactly as Swift stored them. */
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
}

struct gw_origin *gw_origin_new(uv_loop_t *loop, const struct gw_conf *conf)
{
    struct gw_origin *o = gw_calloc(1, sizeof(*o));
    o->magic = ORIGIN_MAGIC;
    o->loop = loop;
    o->conf = conf;
    o->multi = curl_multi_init();
    if (o->multi == NULL) {
        free(o);
        return NULL;
    }
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
    curl_multi_setopt(o->multi, CURLMOPT_MAXCONNECTS, 64L);
    uv_timer_init(loop, &o->timer);
    uv_timer_init(loop, &o->reaper);
    uv_timer_init(loop, &o->sweep);
    o->timer.data = o;
    o->reaper.data = o;
    o->sweep.data = o;
    o->handles_open = 3;
    uv_timer_start(&o->sweep, on_sweep, 250, 250);
    if (conf != NULL) {
        gw_gate_configure(conf);
        o->gate = gw_gate_queue_new(loop, on_granted, on_expired);
    }
    return o;
}

void gw_origin_set_conf(struct gw_origin *o, const struct gw_conf *conf)
{
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    gw_assert(o->conf != NULL && conf != NULL);
    o->conf = conf;
}

void gw_origin_close(struct gw_origin *o)
{
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    if (o->closing) return;
    o->closing = 1;
    while (o->all) {
        o->all->cancelled = 1;
        fetch_free(o->all);
    }
    uv_timer_stop(&o->timer);
    uv_timer_stop(&o->reaper);
    uv_timer_stop(&o->sweep);
    uv_close((uv_handle_t *)&o->timer, on_origin_timer_closed);
    uv_close((uv_handle_t *)&o->reaper, on_origin_timer_closed);
    uv_close((uv_handle_t *)&o->sweep, on_origin_timer_closed);
    if (o->gate) gw_gate_queue_close(o->gate);
    o->gate = NULL;
}

/*
 * curl's socket(), as curl would make it, but keeping why it failed: out
 * of descriptors (EMFILE, ENFILE) is the gateway's trouble, not Swift's,
 * and its clients get a 503 that says so rather than a 502.
 */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct gw_fetch *f = clientp;
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    (void)purpose;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0) {
        f->sock_errno = errno;
        return CURL_SOCKET_BAD;
    }
    return fd;
}

struct gw_fetch *gw_fetch_new(struct gw_origin *o, const char *method, const char *url,
                              const struct gw_fetch_cbs *cbs, void *ud)
{
    GW_CHECK_MAGIC(o, ORIGIN_MAGIC);
    const struct gw_conf *c = o->conf;
    struct gw_fetch *f = gw_calloc(1, sizeof(*f));
    f->magic = FETCH_MAGIC;
    f->o = o;
    f->cbs = cbs;
    f->ud = ud;
    f->easy = curl_easy_init();
    gw_assert(f->easy != NULL);

    CURL *e = f->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f);
    gw_origin_easy_defaults(e);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 65536L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "swiftgate/" GW_VERSION);
    if (c) {
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
        /* A transfer that moves no byte for stall_timeout is dead. */
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        long stall_s = (long)((c->stall_timeout_ms + 999) / 1000);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall_s > 0 ? stall_s : 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
        if (c->ca_path && c->ca_path[0]) curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_path);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);

    f->next = o->all;
    if (o->all) o->all->prev = f;
    o->all = f;
    return f;
}

void gw_fetch_ungated(struct gw_fetch *f)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    gw_assert(!f->started);
    f->ungated = 1;
}

void gw_fetch_add_header(struct gw_fetch *f, const char *line)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    struct curl_slist *l = curl_slist_append(f->req_headers, line);
    gw_assert(l != NULL);
    f->req_headers = l;
}

void gw_fetch_set_body(struct gw_fetch *f, const char *data, size_t len)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(f->easy, CURLOPT_COPYPOSTFIELDS, data);
}

int gw_fetch_start(struct gw_fetch *f)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    gw_assert(!f->started);
    f->started = 1;
    f->start_ms = gw_now_ms();
    /* "Expect: 100-continue" would only add a round trip. */
    gw_fetch_add_header(f, "Expect:");
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->req_headers);
    if (f->o->gate != NULL && !f->ungated) {
        int rc = enter_evicting(f);
        if (rc == GW_GATE_QUEUED) return 0;
        if (rc != GW_GATE_NOW) {
            /* on_done must come from the loop: the reaper says no. */
            f->refused = 1;
            if (!f->o->closing) uv_timer_start(&f->o->reaper, on_reap, 0, 0);
            return 0;
        }
        f->slot = 1;
    }
    CURLMcode mc = curl_multi_add_handle(f->o->multi, f->easy);
    if (mc == CURLM_RECURSIVE_API_CALL) {
        /* Started from inside a curl callback: the reaper adds it. */
        f->add_pending = 1;
        if (!f->o->closing) uv_timer_start(&f->o->reaper, on_reap, 0, 0);
        return 0;
    }
    if (mc != CURLM_OK) return GW_EORIGIN;
    f->added = 1;
    return 0;
}

void gw_fetch_upload(struct gw_fetch *f)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    gw_assert(!f->started && f->cbs->on_read != NULL);
    f->body_sending = 1;
    curl_easy_setopt(f->easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(f->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(f->easy, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(f->easy, CURLOPT_READDATA, f);
}

void gw_fetch_retarget(struct gw_fetch *f, const struct gw_fetch_cbs *cbs, void *ud)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    f->cbs = cbs;
    f->ud = ud;
}

void gw_fetch_resume(struct gw_fetch *f)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    if ((!f->paused && !f->read_paused) || f->cancelled || f->done) return;
    f->paused = f->read_paused = 0;
    /* This may call write_cb at once, and on_data may pause again.  When
     * on_data refuses those bytes, curl only says so here: the transfer
     * fails with that error when curl next reads (write_cb refuses all). */
    if (curl_easy_pause(f->easy, CURLPAUSE_CONT) != CURLE_OK && !f->abort_err)
        f->abort_err = GW_EORIGIN;
}

void gw_fetch_cancel(struct gw_fetch *f)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    if (f->cancelled) return;
    f->cancelled = 1;
    f->ud = NULL;
    /* Waiting for a slot: it leaves the queue at once. */
    if (f->wait.queued) gw_gate_cancel(f->o->gate, &f->wait);
    if (!f->o->closing) uv_timer_start(&f->o->reaper, on_reap, 0, 0);
}

const char *gw_fetch_header(const struct gw_fetch *f, const char *name)
{
    for (size_t i = f->nhdrs; i-- > 0;)
        if (strcasecmp(f->hdrs[i].name, name) == 0) return f->hdrs[i].value;
    return NULL;
}

int gw_fetch_err_status(int err)
{
    return err == GW_EBUSY || gw_err_no_files(err) ? 503 : err == GW_ETIMEOUT ? 504 : 502;
}

const char *gw_fetch_error_text(const struct gw_fetch *f)
{
    return f->errbuf;
}

uint64_t gw_fetch_ttfb_ms(const struct gw_fetch *f)
{
    return f->ttfb_ms;
}

static void fetch_free(struct gw_fetch *f)
{
    GW_CHECK_MAGIC(f, FETCH_MAGIC);
    struct gw_origin *o = f->o;
    if (f->added) curl_multi_remove_handle(o->multi, f->easy);
    if (f->wait.queued) gw_gate_cancel(o->gate, &f->wait);
    if (f->slot) gw_gate_release(o->gate);
    curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->req_headers);
    for (size_t i = 0; i < f->nhdrs; i++) {
        free(f->hdrs[i].name);
        free(f->hdrs[i].value);
    }
    free(f->hdrs);
    if (f->prev)
        f->prev->next = f->next;
    else
        o->all = f->next;
    if (f->next) f->next->prev = f->prev;
    f->magic = 0;
    free(f);
}
