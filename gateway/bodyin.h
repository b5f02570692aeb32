/*
 * bodyin.h - a request body streamed to its handler (sink.h's
 * gw_sink_body), for the connection (server.c): from the connection's
 * stash through the parser, never more at a time than the handler has
 * room for.
 *
 * The connection keeps one struct gw_body_in, cleared for each request.
 * Its state only moves forward: NONE (no streamed body), WAITING (the head
 * is dispatched, nobody reads the body yet), READING, DONE (end() was
 * called).  The stash holds the body's bytes as read, then, once the body
 * is whole, what follows it (the next request).
 */
#ifndef GW_BODYIN_H
#define GW_BODYIN_H

#include <stddef.h>

#include <llhttp.h>

struct gw_http_req;
struct gw_sink_body;
struct gw_stash;

enum gw_body_state { GW_BODY_NONE, GW_BODY_WAITING, GW_BODY_READING, GW_BODY_DONE };

struct gw_body_in {
    enum gw_body_state state;
    int whole;                      /* DONE: the body came whole */
    const struct gw_sink_body *cbs;
    void *ud;
};

/* "HTTP/1.1 100 Continue" and its empty line. */
#define GW_BODY_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/*
 * WAITING -> READING with the handler's callbacks.  Returns 1 when the
 * client asked for "100 Continue" (Expect: 100-continue, HTTP/1.1), which
 * the connection then sends, else 0.
 */
int gw_body_in_start(struct gw_body_in *b, const struct gw_http_req *r,
                     const struct gw_sink_body *cbs, void *ud);

/*
 * READING: feed the stashed bytes to the parser while the handler has
 * room; end() the body when it is whole, malformed, too large, or the
 * client's EOF (eof) came before it was whole.  Returns the bytes taken
 * from the stash (progress, for the idle timeout).
 */
size_t gw_body_in_pump(struct gw_body_in *b, llhttp_t *p, struct gw_http_req *r,
                       struct gw_stash *st, int eof);

/*
 * The client sent no body byte for the idle timeout.  Returns 1 when that
 * ended the body (408), 0 when it was the handler that took none (room()
 * was 0: the client waits for us, not we for it).
 */
int gw_body_in_stalled(struct gw_body_in *b);

/* The handler let go of the request: its body, if still unread, is dropped
 * (no callback follows, and the connection closes after the answer). */
static inline void gw_body_in_release(struct gw_body_in *b)
{
    if (b->state != GW_BODY_NONE && b->state != GW_BODY_DONE) b->state = GW_BODY_DONE;
}

/* No body is left unread: the connection may serve another request. */
static inline int gw_body_in_clean(const struct gw_body_in *b)
{
    return b->state == GW_BODY_NONE || (b->state == GW_BODY_DONE && b->whole);
}

#endif
