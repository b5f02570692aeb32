/*
 * http.h - the request as llhttp parsed it, and response heads.  No I/O here:
 * server.c feeds bytes in and writes what comes out.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

struct gw_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

/*
 * One request head.  Every string lives in `buf`, one allocation of the
 * configured max_header_size, so a request costs a bounded amount of memory
 * whatever the client sends; when it is full the request fails with 431
 * (or 414 while the URL is still arriving).  The raw head (request line,
 * fields, every CRLF) is held to the same size, so a head padded with
 * whitespace llhttp skips is refused too.
 */
#define GW_HTTP_REQ_MAGIC 0x48545251u

#define GW_REQUEST_ID_MAX 64

struct gw_http_req {
    uint32_t magic;
    char *buf;
    uint32_t cap, used;
    uint32_t url_off, url_len;
    struct gw_header *hdrs;
    uint32_t nhdrs, max_hdrs;
    uint32_t max_url;
    uint64_t max_body;        /* larger Content-Length: 413 */
    /* 0: no request body is ever streamed.  Otherwise a PUT's body (with a
     * Content-Length or chunked) of at most this many bytes is streamed:
     * the head is handed over first (GW_HTTP_HEAD), then the body through
     * gw_http_feed_body() and on_body_data; a larger one gets 413. */
    uint64_t max_upload;
    int body_streams;         /* this request's body is streamed */
    void (*on_body_data)(void *ud, const char *at, size_t len); /* borrowed bytes */
    void *body_ud;
    int last_cb;              /* 0 none, 1 field, 2 value: llhttp splits tokens */
    int method;               /* llhttp_method_t, valid when method_known */
    int method_known;
    int http_major, http_minor;
    int keepalive;            /* llhttp_should_keep_alive() at headers end */
    int error_status;         /* 0, or the status we must answer (400, 414, 431...) */
    const char *error_reason; /* static text for the error body */
    int url_done;
    int headers_done;         /* the head is whole; what follows is body */
    int head_paused;          /* llhttp stopped at the end of the head */
    int complete;             /* whole message, body included, parsed */
    uint32_t nhost;           /* Host fields seen */
    uint32_t head_bytes;      /* raw bytes of the head so far */
    uint64_t body_bytes;      /* body bytes read (and dropped) */
    int scan;                 /* the head scanner's state (http.c) */
    int scan_spaces;          /* spaces seen in the request line */
    /* The client's X-Request-Id if it was 1-64 of [A-Za-z0-9._-], else one
     * made up; "" until the head is whole. */
    char request_id[GW_REQUEST_ID_MAX + 1];
};

/* Parser settings shared by every connection (llhttp only reads them). */
extern const llhttp_settings_t gw_http_settings;

/*
 * Limits: the raw head and its stored strings at most max_head bytes, at
 * most max_headers fields, a URL of at most max_url bytes, a body (read
 * and dropped) of at most max_body bytes.  Allocates (the head's buffer
 * and field table, the biggest part of an idle connection); returns 0, or
 * -ENOMEM with nothing held when that fails, so that a connection can be
 * refused rather than the process die.  gw_http_req_free() releases.
 * p->data must point at r before the first gw_http_feed().
 */
int gw_http_req_init(struct gw_http_req *r, uint32_t max_head, uint32_t max_headers,
                      uint32_t max_url, uint64_t max_body);
void gw_http_req_reset(struct gw_http_req *r);
void gw_http_req_free(struct gw_http_req *r);

/* What gw_http_feed() made of the bytes. */
enum gw_http_feed_result {
    GW_HTTP_MORE,     /* all consumed; the request is not whole yet */
    GW_HTTP_REQUEST,  /* a whole request is in r; *used bytes were consumed */
    GW_HTTP_ERROR,    /* answer r->error_status (r->error_reason) and close */
    GW_HTTP_HEAD,     /* a whole head whose body streams (r->body_streams): *used
                         bytes were consumed; the body goes to gw_http_feed_body() */
};

/*
 * Feed the next bytes of a connection to the parser p (initialised with
 * gw_http_settings, p->data = r).  On GW_HTTP_REQUEST the bytes after
 * data[*used] belong to the next request: keep them and feed them after
 * gw_http_next().  On GW_HTTP_ERROR the connection cannot be trusted past
 * this point; r->error_status is set (400 when nothing more precise
 * applies).  Besides llhttp's own checks, the raw head is scanned for what
 * llhttp's non-strict build lets through and a front proxy might read
 * differently: obs-fold, bare LF or CR, control or non-ASCII bytes in the
 * request line, doubled spaces.  The data is only borrowed.
 */
enum gw_http_feed_result gw_http_feed(llhttp_t *p, struct gw_http_req *r, const char *data,
                                      size_t len, size_t *used);

/*
 * After GW_HTTP_HEAD: the next bytes of the body (len may be 0: a body of
 * length 0 completes then).  Body bytes go to r->on_body_data, never more
 * than len.  GW_HTTP_MORE: all consumed, more body to come;
 * GW_HTTP_REQUEST: the body is whole, *used bytes were consumed and the
 * rest belongs to the next request; GW_HTTP_ERROR: r->error_status (400
 * for bad chunking, 413 past max_upload).
 */
enum gw_http_feed_result gw_http_feed_body(llhttp_t *p, struct gw_http_req *r, const char *data,
                                           size_t len, size_t *used);

/* The request in r is answered: let the parser go on to the next one. */
void gw_http_next(llhttp_t *p, struct gw_http_req *r);

/* The URL (path and query) as the client sent it; not NUL-terminated. */
static inline const char *gw_http_url(const struct gw_http_req *r, size_t *len)
{
    *len = r->url_len;
    return r->buf + r->url_off;
}

/* First header named `name` (case-insensitive) or NULL; *len gets its length. */
const char *gw_http_header(const struct gw_http_req *r, const char *name, size_t *len);

const char *gw_http_status_text(int status);

/*
 * The current time as an IMF-fixdate ("Tue, 24 Nov 2026 16:03:08 GMT"),
 * 29 characters and a NUL; cached per second and per thread.
 */
const char *gw_http_date(void);

/*
 * Whether `len` bytes (leading and trailing whitespace already dropped) may
 * stand as a field value in a head the gateway sends: 1 when every byte is
 * HTAB, SP to '~' or 0x80 and above (RFC 9110 §5.5 field-vchar, obs-text
 * included), 0 when one is CR, LF, NUL, another control byte or DEL.
 *
 * obs-text is let through: no HTTP/1.1 recipient splits a line or a field
 * on it, so it cannot forge a header or end a head, and Swift keeps
 * Content-Type and metadata as UTF-8, which a gateway refusing every byte
 * over 0x7E could not serve at all.  The gateway never interprets such a
 * value beyond comparing it; it passes it on as it came.
 */
int gw_http_field_value_ok(const char *v, size_t len);

/*
 * A growable byte buffer for response heads (small, heap, freed by caller).
 */
struct gw_buf {
    char *data;
    size_t len, cap;
};
void gw_buf_append(struct gw_buf *b, const void *data, size_t len);
void gw_buf_printf(struct gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_buf_free(struct gw_buf *b);

/*
 * Start a response head: status line, Date, Server.  The caller adds its
 * headers with gw_buf_printf and ends with gw_http_head_end(), which adds
 * Connection and the empty line.
 */
void gw_http_head_begin(struct gw_buf *b, int status);
void gw_http_head_end(struct gw_buf *b, int keepalive, int http_minor);

/*
 * A whole small response with a text body: "<status> <reason>\n", never
 * stored (no-store, unless extra has a Cache-Control of its own) and never
 * re-typed by a browser (nosniff).  `extra` is NULL or more header lines,
 * each ending in CRLF.  Returns the body's
 * length (0 when head_only).
 */
size_t gw_http_simple(struct gw_buf *b, int status, const char *reason, const char *extra,
                      int keepalive, int http_minor, int head_only);

#endif
