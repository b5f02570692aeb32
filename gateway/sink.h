/*
 * sink.h - what a request handler may do with its connection.
 *
 * A handler writes its answer into a sink and says what the access log
 * should record (status, body bytes, cache result, time spent on Swift).
 * server.c is the one real implementation; the respond module's unit tests
 * use a fake one.  A handler never sees the connection itself, so it can
 * neither close it on the spot nor read its fields.
 *
 * Rules every implementation keeps:
 *  - Writes never close the connection from inside the call; a write error
 *    or gw_sink_abort() only marks it, and the close runs from the loop.
 *  - After gw_sink_end() or gw_sink_abort() the handler writes nothing more;
 *    the connection calls the owner's release() later, from the loop.
 *  - on_drain() comes only after gw_sink_wait_drain(), once, from the loop.
 *  - A request body streams (a PUT) only to a handler that asked for it
 *    with gw_sink_read_body(); its callbacks come from the loop, never from
 *    inside a sink call, and stop at end() or at the owner's release().
 *    A handler that answers without reading the whole body closes the
 *    connection after its answer (what is left is drained, not parsed).
 */
#ifndef GW_SINK_H
#define GW_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct gw_buf;
struct gw_http_req;
struct gw_sink;

/* Who answers on a sink past the handler call: the request's callbacks. */
struct gw_sink_owner {
    void (*on_drain)(void *ud);     /* the write queue is below its low watermark */
    void (*release)(void *ud);      /* the connection is done with ud: free it */
};

/*
 * A request body, read as it arrives.  Backpressure both ways: bytes are
 * read from the client only while room() says the handler can take them
 * (then the socket waits: the connection stops reading once its own small
 * buffer is full), and gw_sink_body_resume() says there is room again.
 */
struct gw_sink_body {
    /* Body bytes the handler can take now; 0 pauses the body. */
    size_t (*room)(void *ud);
    /* Body bytes, at most room() of them; borrowed until it returns. */
    void (*data)(void *ud, const char *buf, size_t len);
    /*
     * The body is over, once: status 0 when it came whole; otherwise the
     * answer the client is owed and why (400 bad chunking or cut short by
     * the client, 408 no byte for header_timeout, 413 past max_upload).
     */
    void (*end)(void *ud, int status, const char *reason);
};

struct gw_sink_ops {
    void (*write)(struct gw_sink *s, const void *data, size_t len);
    void (*write_buf)(struct gw_sink *s, struct gw_buf *b);
    void (*write_file)(struct gw_sink *s, int fd, uint64_t off, uint64_t len,
                       void (*release)(void *), void *arg);
    int (*congested)(const struct gw_sink *s);
    void (*wait_drain)(struct gw_sink *s);
    void (*end)(struct gw_sink *s);
    void (*abort)(struct gw_sink *s);
    void (*attach)(struct gw_sink *s, const struct gw_sink_owner *owner, void *ud);
    void (*read_body)(struct gw_sink *s, const struct gw_sink_body *body, void *ud);
    void (*body_resume)(struct gw_sink *s);
};

/*
 * The sink, embedded in its connection.  The fields below ops are the
 * answer's facts: the handler sets them through the setters (the access
 * log and the counters read them when the answer ends) and reads the
 * request head and keep-alive through the getters.
 */
struct gw_sink {
    const struct gw_sink_ops *ops;
    const struct gw_http_req *req;  /* the whole parsed head, read-only */
    const char *peer;               /* the client's address, for log lines */
    int keepalive;                  /* the connection stays open after this answer */
    int status;                     /* 0 until a head is queued */
    uint64_t bytes;                 /* body bytes queued */
    uint64_t origin_ms;             /* time to Swift's first byte, 0 if none */
    enum gw_cache_result cache;
};

/* Queue bytes, copied. */
static inline void gw_sink_write(struct gw_sink *s, const void *data, size_t len)
{
    s->ops->write(s, data, len);
}
/* Queue a buffer, taking b->data (b is left empty). */
static inline void gw_sink_write_buf(struct gw_sink *s, struct gw_buf *b)
{
    s->ops->write_buf(s, b);
}
/*
 * Queue bytes [off, off + len) of the file fd (a blob, a fill's file): sent
 * from the page cache (sendfile), never copied into the process.  fd must
 * stay open until release(arg), which is called once the bytes are sent or
 * dropped, even when len is 0 or the connection is closing.  The bytes must
 * already be in the file.
 */
static inline void gw_sink_write_file(struct gw_sink *s, int fd, uint64_t off, uint64_t len,
                                      void (*release)(void *), void *arg)
{
    s->ops->write_file(s, fd, off, len, release, arg);
}
/* More is queued than the high watermark: stop producing until on_drain. */
static inline int gw_sink_congested(const struct gw_sink *s)
{
    return s->ops->congested(s);
}
/* Call the owner's on_drain once the queue is below its low watermark. */
static inline void gw_sink_wait_drain(struct gw_sink *s)
{
    s->ops->wait_drain(s);
}
/* The answer is complete. */
static inline void gw_sink_end(struct gw_sink *s)
{
    s->ops->end(s);
}
/* Cut the connection: an answer already begun stays short of its length. */
static inline void gw_sink_abort(struct gw_sink *s)
{
    s->ops->abort(s);
}
/* From now on the answer is owner's: on_drain and release go to ud. */
static inline void gw_sink_attach(struct gw_sink *s, const struct gw_sink_owner *owner,
                                  void *ud)
{
    s->ops->attach(s, owner, ud);
}

/*
 * Start reading the request's streamed body (gw_sink_request(s)->body_streams)
 * into body's callbacks, with ud; a client that asked for "100 Continue"
 * gets it now.  Once per request, after gw_sink_attach().
 */
static inline void gw_sink_read_body(struct gw_sink *s, const struct gw_sink_body *body,
                                     void *ud)
{
    s->ops->read_body(s, body, ud);
}
/* room() is above 0 again: the body goes on (from the loop). */
static inline void gw_sink_body_resume(struct gw_sink *s)
{
    s->ops->body_resume(s);
}

static inline void gw_sink_set_status(struct gw_sink *s, int status)
{
    s->status = status;
}
static inline void gw_sink_set_bytes(struct gw_sink *s, uint64_t bytes)
{
    s->bytes = bytes;
}
static inline void gw_sink_set_cache(struct gw_sink *s, enum gw_cache_result how)
{
    s->cache = how;
}
static inline void gw_sink_set_origin_ms(struct gw_sink *s, uint64_t ms)
{
    s->origin_ms = ms;
}
static inline const struct gw_http_req *gw_sink_request(const struct gw_sink *s)
{
    return s->req;
}
static inline const char *gw_sink_peer(const struct gw_sink *s)
{
    return s->peer;
}
static inline int gw_sink_keepalive(const struct gw_sink *s)
{
    return s->keepalive;
}
static inline enum gw_cache_result gw_sink_cache(const struct gw_sink *s)
{
    return s->cache;
}
static inline uint64_t gw_sink_bytes(const struct gw_sink *s)
{
    return s->bytes;
}
/* The connection closes after this answer (e.g. an HTTP/1.0 body of unknown length). */
static inline void gw_sink_no_keepalive(struct gw_sink *s)
{
    s->keepalive = 0;
}

#endif
