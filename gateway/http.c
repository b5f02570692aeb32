/*
 * http.c - llhttp callbacks that collect one request head, and the
 * formatting of response heads.  No I/O.
 *
 * llhttp hands over the URL and each header name and value in pieces that
 * borrow the read buffer, so every piece is copied into the request's own
 * bounded buffer at once.  The tokens of one head arrive in order and never
 * interleave, so each token is one contiguous span of that buffer.  The
 * parser is strict (no lenient flags): llhttp itself rejects obs-fold, bare
 * LF, Content-Length together with Transfer-Encoding and conflicting
 * Content-Lengths.  on_message_complete pauses the parser so that pipelined
 * requests are answered one at a time, in order.
 */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

static struct gw_http_req *req_of(llhttp_t *p)
{
    struct gw_http_req *r = p->data;
    GW_CHECK_MAGIC(r, GW_HTTP_REQ_MAGIC);
    return r;
}

static int fail(struct gw_http_req *r, int status, const char *reason)
{
    if (r->error_status == 0) {
        r->error_status = status;
        r->error_reason = reason;
    }
    return -1;
}

static int append(struct gw_http_req *r, const char *at, size_t len, int in_url)
{
    if (len > r->cap - r->used)
        return in_url ? fail(r, 414, "URI too long") : fail(r, 431, "request header too large");
    memcpy(r->buf + r->used, at, len);
    r->used += (uint32_t)len;
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    gw_http_req_reset(req_of(p));
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct gw_http_req *r = req_of(p);
    if (len > r->max_url - r->url_len) return fail(r, 414, "URI too long");
    if (r->url_len == 0) r->url_off = r->used;
    if (append(r, at, len, 1) != 0) return -1;
    r->url_len += (uint32_t)len;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct gw_http_req *r = req_of(p);
    if (r->last_cb != 1) {
        if (r->nhdrs == r->max_hdrs) return fail(r, 431, "too many header fields");
        struct gw_header *h = &r->hdrs[r->nhdrs++];
        h->name_off = r->used;
        h->name_len = 0;
        h->value_off = r->used;
        h->value_len = 0;
        r->last_cb = 1;
    }
    if (append(r, at, len, 0) != 0) return -1;
    r->hdrs[r->nhdrs - 1].name_len += (uint32_t)len;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct gw_http_req *r = req_of(p);
    gw_assert(r->nhdrs > 0);
    struct gw_header *h = &r->hdrs[r->nhdrs - 1];
    if (r->last_cb != 2) {
        h->value_off = r->used;
        h->value_len = 0;
        r->last_cb = 2;
    }
    if (append(r, at, len, 0) != 0) return -1;
    h->value_len += (uint32_t)len;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct gw_http_req *r = req_of(p);
    r->method = llhttp_get_method(p);
    r->http_major = llhttp_get_http_major(p);
    r->http_minor = llhttp_get_http_minor(p);
    r->keepalive = llhttp_should_keep_alive(p);
    if (r->http_major != 1) return fail(r, 505, "HTTP version not supported");
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    /* A body on GET or HEAD means nothing to us: it is read and dropped. */
    (void)p;
    (void)at;
    (void)len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    req_of(p)->complete = 1;
    return HPE_PAUSED;
}

const llhttp_settings_t gw_http_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void gw_http_req_init(struct gw_http_req *r, uint32_t max_head, uint32_t max_headers,
                      uint32_t max_url)
{
    memset(r, 0, sizeof(*r));
    r->magic = GW_HTTP_REQ_MAGIC;
    r->cap = max_head;
    r->max_hdrs = max_headers;
    r->max_url = max_url;
    r->buf = gw_malloc(max_head);
    r->hdrs = gw_calloc(max_headers, sizeof(*r->hdrs));
}

void gw_http_req_reset(struct gw_http_req *r)
{
    r->used = 0;
    r->url_off = r->url_len = 0;
    r->nhdrs = 0;
    r->last_cb = 0;
    r->method = 0;
    r->http_major = r->http_minor = 0;
    r->keepalive = 0;
    r->error_status = 0;
    r->error_reason = NULL;
    r->complete = 0;
}

void gw_http_req_free(struct gw_http_req *r)
{
    free(r->buf);
    free(r->hdrs);
    r->buf = NULL;
    r->hdrs = NULL;
    r->magic = 0;
}

const char *gw_http_header(const struct gw_http_req *r, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const struct gw_header *h = &r->hdrs[i];
        if (h->name_len == n && strncasecmp(r->buf + h->name_off, name, n) == 0) {
            *len = h->value_len;
            return r->buf + h->value_off;
        }
    }
    *len = 0;
    return NULL;
}

const char *gw_http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

const char *gw_http_date(void)
{
    static __thread time_t last;
    static __thread char buf[32];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

void gw_buf_append(struct gw_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + len + 1) cap *= 2;
        b->data = gw_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    gw_assert(n >= 0);
    if ((size_t)n < sizeof(small)) {
        gw_buf_append(b, small, (size_t)n);
        return;
    }
    char *big = gw_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gw_buf_append(b, big, (size_t)n);
    free(big);
}

void gw_buf_free(struct gw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void gw_http_head_begin(struct gw_buf *b, int status)
{
    gw_buf_printf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: swiftgate/" GW_VERSION "\r\n",
                  status, gw_http_status_text(status), gw_http_date());
}

void gw_http_head_end(struct gw_buf *b, int keepalive, int http_minor)
{
    if (!keepalive)
        gw_buf_printf(b, "Connection: close\r\n\r\n");
    else if (http_minor == 0)
        gw_buf_printf(b, "Connection: keep-alive\r\n\r\n");
    else
        gw_buf_printf(b, "\r\n");
}

size_t gw_http_simple(struct gw_buf *b, int status, const char *reason, const char *extra,
                      int keepalive, int http_minor, int head_only)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s\n", status,
                     reason ? reason : gw_http_status_text(status));
    if (n < 0 || (size_t)n >= sizeof(body)) n = (int)sizeof(body) - 1;
    gw_http_head_begin(b, status);
    gw_buf_printf(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                     "Cache-Control: no-store\r\n", n);
    if (extra) gw_buf_append(b, extra, strlen(extra));
    gw_http_head_end(b, keepalive, http_minor);
    if (head_only) return 0;
    gw_buf_append(b, body, (size_t)n);
    return (size_t)n;
}
