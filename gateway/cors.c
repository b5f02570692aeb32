/*
 * cors.c - CORS lines for object answers, and preflights (cors.h).
 *
 * Invariants:
 *  - With allow_origin "" nothing here writes a byte: the hit path pays a
 *    test of one character.
 *  - An origin is echoed only when it equals, byte for byte but for the
 *    case of its scheme and host, an origin of the list; "null" and an
 *    Origin with anything past host[:port] are never allowed.
 */
#include "cors.h"

#include <string.h>
#include <strings.h>

#include "conf.h"
#include "http.h"
#include "sink.h"

/* The request headers a preflight may ask for: ranges and validators. */
#define ALLOW_HEADERS "Range, If-Match, If-None-Match, If-Modified-Since, " \
                      "If-Unmodified-Since, If-Range"

static int is_wildcard(const char *v)
{
    return strcmp(v, "*") == 0;
}

/* The allowed origin for req: "*", req's own Origin (len in *olen), or NULL. */
static const char *allowed(const struct gw_conf *conf, const struct gw_http_req *req,
                           size_t *olen)
{
    size_t len;
    const char *origin = gw_http_header(req, "Origin", &len);
    if (origin == NULL || len == 0) return NULL;
    if (is_wildcard(conf->cors_allow_origin)) {
        *olen = 1;
        return "*";
    }
    const char *s = conf->cors_allow_origin, *item;
    size_t n;
    while (gw_conf_list_next(&s, &item, &n))
        if (n == len && strncasecmp(item, origin, n) == 0) {
            *olen = len;
            return origin;
        }
    return NULL;
}

void gw_cors_headers(struct gw_buf *b, const struct gw_conf *conf, const struct gw_http_req *req)
{
    if (conf->cors_allow_origin[0] == '\0') return;
    if (!is_wildcard(conf->cors_allow_origin)) gw_buf_append(b, "Vary: Origin\r\n", 14);
    size_t n;
    const char *o = allowed(conf, req, &n);
    if (o == NULL) return;
    gw_buf_printf(b, "Access-Control-Allow-Origin: %.*s\r\nTiming-Allow-Origin: %.*s\r\n",
                  (int)n, o, (int)n, o);
    if (conf->cors_expose_headers[0])
        gw_buf_printf(b, "Access-Control-Expose-Headers: %s\r\n", conf->cors_expose_headers);
}

void gw_cors_preflight(struct gw_sink *s, const struct gw_conf *conf)
{
    const struct gw_http_req *req = gw_sink_request(s);
    struct gw_buf h = {0};
    size_t n;
    gw_http_head_begin(&h, 204);
    gw_buf_append(&h, "Allow: GET, HEAD, OPTIONS\r\n", 27);
    if (req->request_id[0]) gw_buf_printf(&h, "X-Request-Id: %s\r\n", req->request_id);
    gw_cors_headers(&h, conf, req);
    if (conf->cors_allow_origin[0] && allowed(conf, req, &n) != NULL)
        gw_buf_printf(&h, "Access-Control-Allow-Methods: GET, HEAD\r\n"
                          "Access-Control-Allow-Headers: " ALLOW_HEADERS "\r\n"
                          "Access-Control-Max-Age: %llu\r\n",
                      (unsigned long long)(conf->cors_max_age_ms / 1000));
    gw_http_head_end(&h, gw_sink_keepalive(s), req->http_minor);
    gw_sink_set_status(s, 204);
    gw_sink_write_buf(s, &h);
    gw_sink_end(s);
}

/* One origin of a list: scheme://host[:port], nothing after. */
static int origin_ok(const char *o, size_t n)
{
    size_t skip;
    if (n > 7 && strncasecmp(o, "http://", 7) == 0)
        skip = 7;
    else if (n > 8 && strncasecmp(o, "https://", 8) == 0)
        skip = 8;
    else
        return 0;
    for (size_t i = skip; i < n; i++) {
        char ch = o[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == ':' ||
                 ch == '[' || ch == ']';
        if (!ok) return 0;
    }
    return 1;
}

const char *gw_cors_check_origins(const char *v)
{
    if (v[0] == '\0' || is_wildcard(v)) return NULL;
    const char *s = v, *item;
    size_t n, count = 0;
    while (gw_conf_list_next(&s, &item, &n)) {
        if (!origin_ok(item, n))
            return "must be empty, * or origins such as https://app.example.com, "
                   "separated by commas";
        if (++count > 64) return "must name at most 64 origins";
    }
    return NULL;
}
