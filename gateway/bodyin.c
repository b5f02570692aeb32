/*
 * bodyin.c - a request body streamed to its handler (bodyin.h).
 *
 * The parser is fed at most room() bytes at a time: what it passes on as
 * body is never more than it was fed (chunk framing only takes away), so
 * the handler never gets more than it said it could take.  A pump goes on
 * while the handler has room and the stash has bytes (each round takes at
 * least one, and the stash holds at most 64 KiB), so it never stops with
 * both: nobody would wake it.  end() is called exactly once, after which
 * nothing more is fed.
 */
#include "bodyin.h"

#include <strings.h>

#include "http.h"
#include "sink.h"
#include "stash.h"
#include "util.h"

int gw_body_in_start(struct gw_body_in *b, const struct gw_http_req *r,
                     const struct gw_sink_body *cbs, void *ud)
{
    gw_assert(b->state == GW_BODY_WAITING);
    b->state = GW_BODY_READING;
    b->cbs = cbs;
    b->ud = ud;
    size_t n;
    const char *expect = gw_http_header(r, "Expect", &n);
    return r->http_minor >= 1 && expect != NULL && n == 12 &&
           strncasecmp(expect, "100-continue", 12) == 0;
}

static void body_end(struct gw_body_in *b, int status, const char *reason)
{
    b->state = GW_BODY_DONE;
    b->whole = status == 0;
    b->cbs->end(b->ud, status, reason);
}

static void deliver(void *ud, const char *at, size_t len)
{
    struct gw_body_in *b = ud;
    b->cbs->data(b->ud, at, len);
}

size_t gw_body_in_pump(struct gw_body_in *b, llhttp_t *p, struct gw_http_req *r,
                       struct gw_stash *st, int eof)
{
    size_t taken = 0, rounds = st->len + 2; /* a bound: each round takes a byte or stops */
    r->on_body_data = deliver;
    r->body_ud = b;
    while (b->state == GW_BODY_READING && rounds-- > 0) {
        size_t room = b->cbs->room(b->ud);
        if (room == 0) break;
        size_t n = st->len < room ? st->len : room, used;
        const char *data = st->len ? gw_stash_data(st) : NULL;
        enum gw_http_feed_result rc = gw_http_feed_body(p, r, data, n, &used);
        if (rc == GW_HTTP_ERROR) {
            body_end(b, r->error_status, r->error_reason);
            break;
        }
        if (used > 0) gw_stash_keep(st, data, data + used, st->len - used);
        taken += used;
        if (rc == GW_HTTP_REQUEST)
            body_end(b, 0, NULL);
        else if (used == 0)
            break;
    }
    r->on_body_data = NULL;
    if (b->state == GW_BODY_READING && eof && st->len == 0)
        body_end(b, 400, "request body cut short");
    return taken;
}

int gw_body_in_stalled(struct gw_body_in *b)
{
    if (b->state != GW_BODY_READING || b->cbs->room(b->ud) == 0) return 0;
    body_end(b, 408, "request body timeout");
    return 1;
}
