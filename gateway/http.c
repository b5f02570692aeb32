/*
 * http.c - llhttp callbacks that collect one request head, the checks
 * around them, and the formatting of response heads.  No I/O.
 *
 * llhttp hands over the URL and each header name and value in pieces that
 * borrow the read buffer, so every piece is copied into the request's own
 * bounded buffer at once.  The tokens of one head arrive in order and never
 * interleave, so each token is one contiguous span of that buffer.
 *
 * Two pauses split every request: on_headers_complete stops the parser at
 * the end of the head, so gw_http_feed() can scan exactly the head's raw
 * bytes, and on_message_complete stops it at the end of the message, so
 * pipelined requests are answered one at a time, in order.  llhttp (built
 * non-strict, as Debian ships it) rejects Content-Length together with
 * Transfer-Encoding, duplicate Content-Lengths and most bare LFs itself;
 * the scanner adds what it lets through (obs-fold, a bare LF ending the
 * head, control, tab or 8-bit bytes and doubled spaces in the request line)
 * and checks that it and llhttp agree on where the head ends.  A request
 * body means nothing here but for an upload: a Content-Length body up to
 * max_body is read and dropped, a larger one gets 413, a chunked one 411.
 * An upload (a PUT, when max_upload is set) is handed over at the end of
 * its head, and its body, Content-Length or chunked (trailer fields
 * refused), streams through gw_http_feed_body() to on_body_data, at most
 * max_upload bytes of it.
 */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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

static int on_method_complete(llhttp_t *p)
{
    struct gw_http_req *r = req_of(p);
    r->method = p->method;
    r->method_known = 1;
    return 0;
}

static int on_version_complete(llhttp_t *p)
{
    /* Known before the head ends, so that an error answer can say it. */
    struct gw_http_req *r = req_of(p);
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
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

static int on_url_complete(llhttp_t *p)
{
    req_of(p)->url_done = 1;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct gw_http_req *r = req_of(p);
    if (r->headers_done) return fail(r, 400, "trailer fields not accepted");
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

static int on_header_field_complete(llhttp_t *p)
{
    struct gw_http_req *r = req_of(p);
    if (r->nhdrs == 0) return 0;
    const struct gw_header *h = &r->hdrs[r->nhdrs - 1];
    if (h->name_len == 4 && strncasecmp(r->buf + h->name_off, "host", 4) == 0) r->nhost++;
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

/* A client's request id: 1 to GW_REQUEST_ID_MAX of [A-Za-z0-9._-]. */
static int request_id_ok(const char *v, size_t n)
{
    if (n == 0 || n > GW_REQUEST_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* The client's X-Request-Id, or 16 hex digits unique enough to find a
 * request in the logs of every gateway and of Swift. */
static void set_request_id(struct gw_http_req *r)
{
    static _Thread_local uint64_t state;
    size_t n;
    const char *v = gw_http_header(r, "X-Request-Id", &n);
    if (v != NULL && request_id_ok(v, n)) {
        memcpy(r->request_id, v, n);
        r->request_id[n] = '\0';
        return;
    }
    if (state == 0 && getrandom(&state, sizeof(state), 0) != sizeof(state))
        state = gw_now_ms() ^ (uint64_t)(uintptr_t)&state;
    state |= 1;
    /* xorshift64*: a new value per request, the seed per thread. */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    snprintf(r->request_id, sizeof(r->request_id), "%016llx",
             (unsigned long long)(state * 2685821657736338717ull));
}

static int on_headers_complete(llhttp_t *p)
{
    struct gw_http_req *r = req_of(p);
    set_request_id(r);
    r->method = llhttp_get_method(p);
    r->method_known = 1;
    r->http_major = llhttp_get_http_major(p);
    r->http_minor = llhttp_get_http_minor(p);
    r->keepalive = llhttp_should_keep_alive(p);
    r->headers_done = 1;
    if (r->http_major != 1) return fail(r, 505, "HTTP version not supported");
    /* After a CONNECT the bytes are another protocol: nothing to serve. */
    if (r->method == HTTP_CONNECT) return fail(r, 405, "CONNECT not supported");
    if (r->http_minor >= 1 && r->nhost == 0) return fail(r, 400, "Host header missing");
    if (r->nhost > 1) return fail(r, 400, "more than one Host header");
    int upload = r->max_upload > 0 && r->method == HTTP_PUT;
    if (!upload && (p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)))
        return fail(r, 411, "request bodies need a Content-Length");
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > (upload ? r->max_upload : r->max_body))
        return fail(r, 413, "request body too large");
    r->body_streams = upload;
    /*
     * An Upgrade (h2c, websocket) is ignored, as RFC 9110 lets a server do:
     * the request is answered as plain HTTP/1.1.
     */
    p->upgrade = 0;
    r->head_paused = 1;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    /* A body on GET or HEAD means nothing to us: it is read and dropped. */
    struct gw_http_req *r = req_of(p);
    r->body_bytes += len;
    if (r->body_bytes > (r->body_streams ? r->max_upload : r->max_body))
        return fail(r, 413, "request body too large");
    if (r->body_streams && r->on_body_data) r->on_body_data(r->body_ud, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    req_of(p)->complete = 1;
    return HPE_PAUSED;
}

const llhttp_settings_t gw_http_settings = {
    .on_message_begin = on_message_begin,
    .on_method_complete = on_method_complete,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_version_complete = on_version_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int gw_http_req_init(struct gw_http_req *r, uint32_t max_head, uint32_t max_headers,
                     uint32_t max_url, uint64_t max_body)
{
    memset(r, 0, sizeof(*r));
    r->magic = GW_HTTP_REQ_MAGIC;
    r->cap = max_head;
    r->max_hdrs = max_headers;
    r->max_url = max_url;
    r->max_body = max_body;
    r->buf = malloc(max_head);
    r->hdrs = calloc(max_headers, sizeof(*r->hdrs));
    if (r->buf != NULL && r->hdrs != NULL) return 0;
    gw_http_req_free(r);
    return -ENOMEM;
}

void gw_http_req_reset(struct gw_http_req *r)
{
    r->used = 0;
    r->url_off = r->url_len = 0;
    r->nhdrs = 0;
    r->last_cb = 0;
    r->method = 0;
    r->method_known = 0;
    r->http_major = r->http_minor = 0;
    r->keepalive = 0;
    r->error_status = 0;
    r->error_reason = NULL;
    r->url_done = 0;
    r->headers_done = 0;
    r->head_paused = 0;
    r->complete = 0;
    r->nhost = 0;
    r->body_bytes = 0;
    r->body_streams = 0;
    r->request_id[0] = '\0';
    /*
     * The scanner's state and the raw head count are left alone: they cover
     * the bytes before the message begins (empty lines) as well, and are
     * reset by gw_http_next(), so that the same bytes are judged the same
     * however the reads cut them.
     */
}

void gw_http_req_free(struct gw_http_req *r)
{
    free(r->buf);
    free(r->hdrs);
    r->buf = NULL;
    r->hdrs = NULL;
    r->magic = 0;
}

/* ---- the head scanner ---- */

/*
 * States of the scanner, one byte at a time over the raw head.  It starts
 * before the request line (where empty lines are tolerated, RFC 9112 2.2)
 * and ends after the empty line that closes the head.
 */
enum {
    SCAN_START,       /* before the request line */
    SCAN_START_CR,    /* a CR before the request line */
    SCAN_REQLINE,
    SCAN_REQLINE_SP,  /* the last byte was a space of the request line */
    SCAN_LINE_CR,     /* a CR ending a line: LF must follow */
    SCAN_LINE_START,  /* at the start of a field line, or of the empty line */
    SCAN_NAME,        /* in a field name: token characters up to the colon */
    SCAN_FIELD,       /* in a field value */
    SCAN_END_CR,      /* the CR of the empty line */
    SCAN_DONE,
};

/* RFC 9110 5.6.2 tchar: what a field name is made of. */
static int is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int scan_fail(struct gw_http_req *r, const char *reason)
{
    fail(r, 400, reason);
    return -1;
}

/* Scan n raw head bytes; 0, or -1 with r->error_status set. */
static int scan_head(struct gw_http_req *r, const char *data, size_t n)
{
    if (n > r->cap - r->head_bytes) {
        r->head_bytes = r->cap + 1;
        return r->nhdrs == 0 && !r->url_done ? fail(r, 414, "URI too long")
                                             : fail(r, 431, "request header too large");
    }
    r->head_bytes += (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)data[i];
        /* The first byte of a line can end the state it starts in. */
        if (r->scan == SCAN_START) {
            if (ch == ' ' || ch == '\t') return scan_fail(r, "whitespace before the request line");
            if (ch != '\r' && ch != '\n') r->scan = SCAN_REQLINE;
        } else if (r->scan == SCAN_LINE_START) {
            if (ch == ' ' || ch == '\t') return scan_fail(r, "obsolete line folding");
            if (ch == ':') return scan_fail(r, "invalid header field name");
            if (ch != '\r' && ch != '\n') r->scan = SCAN_NAME;
        }
        switch (r->scan) {
        case SCAN_START:
            if (ch == '\n') return scan_fail(r, "bare LF");
            r->scan = SCAN_START_CR;
            break;
        case SCAN_START_CR:
            if (ch != '\n') return scan_fail(r, "bare CR");
            r->scan = SCAN_START;
            break;
        case SCAN_REQLINE:
        case SCAN_REQLINE_SP:
            if (ch == ' ') {
                if (r->scan == SCAN_REQLINE_SP || ++r->scan_spaces > 2)
                    return scan_fail(r, "extra space in the request line");
                r->scan = SCAN_REQLINE_SP;
            } else if (ch == '\r') {
                if (r->scan_spaces != 2 || r->scan == SCAN_REQLINE_SP)
                    return scan_fail(r, "malformed request line");
                r->scan = SCAN_LINE_CR;
            } else if (ch == '\n') {
                return scan_fail(r, "bare LF");
            } else if (ch < 0x21 || ch >= 0x7f) {
                /* Control, tab, NUL or 8-bit bytes: never part of a target. */
                return scan_fail(r, "invalid byte in the request line");
            } else {
                r->scan = SCAN_REQLINE;
            }
            break;
        case SCAN_LINE_CR:
            if (ch != '\n') return scan_fail(r, "bare CR");
            r->scan = SCAN_LINE_START;
            break;
        case SCAN_LINE_START:
            if (ch == '\n') return scan_fail(r, "bare LF");
            r->scan = SCAN_END_CR;
            break;
        case SCAN_NAME:
            /* Never empty: the line start refused a colon. */
            if (ch == ':')
                r->scan = SCAN_FIELD;
            else if (!is_tchar(ch))
                return scan_fail(r, "invalid header field name");
            break;
        case SCAN_FIELD:
            if (ch == '\r')
                r->scan = SCAN_LINE_CR;
            else if (ch == '\n')
                return scan_fail(r, "bare LF");
            else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return scan_fail(r, "control byte in a header field");
            break;
        case SCAN_END_CR:
            if (ch != '\n') return scan_fail(r, "bare CR");
            r->scan = SCAN_DONE;
            break;
        default:
            return scan_fail(r, "bytes after the end of the head");
        }
    }
    return 0;
}

static const char *parse_error_reason(llhttp_errno_t e)
{
    switch (e) {
    case HPE_INVALID_METHOD: return "unknown method";
    case HPE_INVALID_URL: return "invalid request target";
    case HPE_INVALID_VERSION: return "invalid HTTP version";
    case HPE_INVALID_CONTENT_LENGTH: return "invalid Content-Length";
    case HPE_UNEXPECTED_CONTENT_LENGTH: return "conflicting Content-Length or Transfer-Encoding";
    case HPE_INVALID_TRANSFER_ENCODING: return "invalid Transfer-Encoding";
    case HPE_INVALID_HEADER_TOKEN: return "invalid header field";
    case HPE_PAUSED_H2_UPGRADE: return "HTTP/2 is not spoken here";
    default: return "malformed request";
    }
}

enum gw_http_feed_result gw_http_feed(llhttp_t *p, struct gw_http_req *r, const char *data,
                                      size_t len, size_t *used)
{
    GW_CHECK_MAGIC(r, GW_HTTP_REQ_MAGIC);
    size_t off = 0;
    *used = 0;
    /* At most two stops per call: the end of the head, then of the message. */
    for (int round = 0; round < 3; round++) {
        const char *start = data + off;
        size_t n = len - off;
        llhttp_errno_t rc = llhttp_execute(p, start, n);
        if (rc == HPE_OK) {
            if (!r->headers_done && scan_head(r, start, n) != 0) return GW_HTTP_ERROR;
            return GW_HTTP_MORE;
        }
        const char *pos = llhttp_get_error_pos(p);
        if (rc == HPE_PAUSED && r->head_paused) {
            r->head_paused = 0;
            gw_assert(pos >= start && pos <= start + n);
            if (scan_head(r, start, (size_t)(pos - start)) != 0) return GW_HTTP_ERROR;
            if (r->scan != SCAN_DONE) {
                /* llhttp and the scanner disagree on where the head ends. */
                fail(r, 400, "malformed request head");
                return GW_HTTP_ERROR;
            }
            if (r->body_streams) {
                /* The parser stays paused until gw_http_feed_body(). */
                *used = (size_t)(pos - data);
                return GW_HTTP_HEAD;
            }
            llhttp_resume(p);
            off = (size_t)(pos - data);
            continue;
        }
        if (rc == HPE_PAUSED && r->complete) {
            gw_assert(pos >= start && pos <= start + n);
            *used = (size_t)(pos - data);
            return GW_HTTP_REQUEST;
        }
        if (r->error_status == 0) fail(r, 400, parse_error_reason(rc));
        return GW_HTTP_ERROR;
    }
    gw_panic(__FILE__, __LINE__, "gw_http_feed: the parser stopped more than twice");
}

enum gw_http_feed_result gw_http_feed_body(llhttp_t *p, struct gw_http_req *r, const char *data,
                                           size_t len, size_t *used)
{
    GW_CHECK_MAGIC(r, GW_HTTP_REQ_MAGIC);
    gw_assert(r->body_streams && !r->complete);
    if (data == NULL) data = "";
    if (llhttp_get_errno(p) == HPE_PAUSED) llhttp_resume(p);
    llhttp_errno_t rc = llhttp_execute(p, data, len);
    *used = len;
    if (rc == HPE_OK) return GW_HTTP_MORE;
    if (rc == HPE_PAUSED && r->complete) {
        *used = (size_t)(llhttp_get_error_pos(p) - data);
        return GW_HTTP_REQUEST;
    }
    if (r->error_status == 0) fail(r, 400, parse_error_reason(rc));
    return GW_HTTP_ERROR;
}

void gw_http_next(llhttp_t *p, struct gw_http_req *r)
{
    GW_CHECK_MAGIC(r, GW_HTTP_REQ_MAGIC);
    /*
     * Bytes between this message and the next one (empty lines) are
     * scanned as the start of the next head, so the scanner starts over
     * now rather than at the next on_message_begin.
     */
    r->scan = SCAN_START;
    r->scan_spaces = 0;
    r->head_bytes = 0;
    r->headers_done = 0;
    r->url_done = 0;
    r->complete = 0;
    llhttp_resume(p);
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
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Content";
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

int gw_http_field_value_ok(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
    }
    return 1;
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
    char line[64];
    const char *text = gw_http_status_text(status), *date = gw_http_date();
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
    gw_buf_append(b, line, (size_t)n);
    gw_buf_append(b, text, strlen(text));
    gw_buf_append(b, "\r\nDate: ", 8);
    gw_buf_append(b, date, strlen(date));
    static const char server[] = "\r\nServer: swiftgate/" GW_VERSION "\r\n";
    gw_buf_append(b, server, sizeof(server) - 1);
}

void gw_http_head_end(struct gw_buf *b, int keepalive, int http_minor)
{
    static const char close[] = "Connection: close\r\n\r\n";
    static const char keep[] = "Connection: keep-alive\r\n\r\n";
    if (!keepalive)
        gw_buf_append(b, close, sizeof(close) - 1);
    else if (http_minor == 0)
        gw_buf_append(b, keep, sizeof(keep) - 1);
    else
        gw_buf_append(b, "\r\n", 2);
}

size_t gw_http_simple(struct gw_buf *b, int status, const char *reason, const char *extra,
                      int keepalive, int http_minor, int head_only)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s\n", status,
                     reason ? reason : gw_http_status_text(status));
    if (n < 0 || (size_t)n >= sizeof(body)) n = (int)sizeof(body) - 1;
    gw_http_head_begin(b, status);
    if (status == 204) {
        /* No content, so no body and no Content-Length (RFC 9110 8.6). */
        gw_buf_append(b, "Cache-Control: no-store\r\n", 25);
        if (extra) gw_buf_append(b, extra, strlen(extra));
        gw_http_head_end(b, keepalive, http_minor);
        return 0;
    }
    /* nosniff here too: an error's text is never to be taken for HTML. */
    gw_buf_printf(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                     "X-Content-Type-Options: nosniff\r\n", n);
    /* Not to be kept, unless extra says for how long (a 404). */
    if (extra == NULL || strstr(extra, "Cache-Control:") == NULL)
        gw_buf_append(b, "Cache-Control: no-store\r\n", 25);
    if (extra) gw_buf_append(b, extra, strlen(extra));
    gw_http_head_end(b, keepalive, http_minor);
    if (head_only) return 0;
    gw_buf_append(b, body, (size_t)n);
    return (size_t)n;
}
